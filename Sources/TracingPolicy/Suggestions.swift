// SPDX-License-Identifier: Apache-2.0

/// "Did you mean" suggestions for misspelled keys and enum values.
package enum Suggestions {
    /// Edit distance (insertions, deletions, substitutions and swaps of two
    /// neighbouring characters) between two strings, compared by Unicode scalars.
    package static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs.unicodeScalars)
        let b = Array(rhs.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }

    /// The candidate `input` most likely meant: a case-insensitive exact match
    /// first, then the only candidate that starts with `input`, else the closest one by edit distance (ignoring case) if it is close
    /// enough (at most a third of the longer word, capped at 4 edits). Ties go to
    /// the earlier candidate.
    package static func closest(to input: String, among candidates: [String]) -> String? {
        let lowered = input.lowercased()
        if let exact = candidates.first(where: { $0.lowercased() == lowered }) {
            return exact
        }
        // A truncated word ("Not" for "NotIn") that only one candidate starts with.
        let extensions = candidates.filter { $0.lowercased().hasPrefix(lowered) }
        if input.count >= 3, extensions.count == 1 {
            return extensions[0]
        }
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            let allowed = max(1, min(4, max(input.count, candidate.count) / 3))
            guard distance <= allowed else { continue }
            if best == nil || distance < best!.distance {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// ` (did you mean "X"?)` or an empty string.
    static func didYouMean(_ input: String, among candidates: [String]) -> String {
        guard let suggestion = closest(to: input, among: candidates), suggestion != input else { return "" }
        return " (did you mean \(quoted(suggestion))?)"
    }

    /// The message for an unknown enum value: with a suggestion when one is close,
    /// otherwise listing the supported values.
    static func unknownValue(_ what: String, _ input: String, supported: [String]) -> String {
        let hint = didYouMean(input, among: supported)
        if !hint.isEmpty {
            return "unknown \(what) \(quoted(input))\(hint)"
        }
        return "unknown \(what) \(quoted(input)); supported: \(supported.joined(separator: ", "))"
    }
}
