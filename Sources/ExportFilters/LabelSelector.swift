// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A Kubernetes label selector string (`app=web,tier!=db`, `env in (prod,staging)`, `!canary`),
/// as `kubectl get -l` and Tetragon's `labels` filter take it: requirements separated by
/// commas, all of which must hold.
package struct LabelSelector: Sendable, Hashable {
    enum Operator: Sendable, Hashable { case exists, notExists, equals, notEquals, `in`, notIn, greater, less }
    struct Requirement: Sendable, Hashable {
        var key: String
        var op: Operator
        var values: [String]
    }
    var requirements: [Requirement]

    /// Parses `text`; throws a message naming the mistake.
    package init(parsing text: String) throws(LabelSelectorError) {
        var requirements: [Requirement] = []
        // Split on commas outside parentheses.
        var parts: [String] = []
        var current = ""
        var depth = 0
        for c in text {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if c == ",", depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        if parts.count == 1, parts[0].allSatisfy(\.isWhitespace) {
            self.requirements = []
            return
        }
        for part in parts {
            requirements.append(try Self.requirement(part.trimmingSpaces))
        }
        self.requirements = requirements
    }

    private static func requirement(_ text: String) throws(LabelSelectorError) -> Requirement {
        guard !text.isEmpty else { throw LabelSelectorError("empty requirement") }
        if text.hasPrefix("!") {
            let key = String(text.dropFirst()).trimmingSpaces
            try checkKey(key)
            return Requirement(key: key, op: .notExists, values: [])
        }
        for (token, op) in [("!=", Operator.notEquals), ("==", .equals), ("=", .equals), (">", .greater), ("<", .less)] {
            if let range = text.range(of: token) {
                let key = String(text[..<range.lowerBound]).trimmingSpaces
                let value = String(text[range.upperBound...]).trimmingSpaces
                try checkKey(key)
                if op == .greater || op == .less, Int(value) == nil {
                    throw LabelSelectorError("\"\(value)\" after \(token) is not an integer")
                }
                return Requirement(key: key, op: op, values: [value])
            }
        }
        let words = text.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2 {
            let rest = words[1].trimmingSpaces
            for (word, op) in [("notin", Operator.notIn), ("in", .in)] where rest.hasPrefix(word) {
                let list = rest.dropFirst(word.count).trimmingSpaces
                guard list.hasPrefix("("), list.hasSuffix(")") else {
                    throw LabelSelectorError("\(word) needs a parenthesised list, e.g. \(words[0]) \(word) (a,b)")
                }
                let values = list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
                    .map { String($0).trimmingSpaces }
                try checkKey(words[0])
                return Requirement(key: words[0], op: op, values: values)
            }
            throw LabelSelectorError("unknown operator in \"\(text)\" (=, ==, !=, in, notin, >, <, or a key alone)")
        }
        try checkKey(text)
        return Requirement(key: text, op: .exists, values: [])
    }

    private static func checkKey(_ key: String) throws(LabelSelectorError) {
        guard !key.isEmpty, !key.contains(where: { $0 == " " || $0 == "(" || $0 == ")" || $0 == "!" || $0 == "=" }) else {
            throw LabelSelectorError("invalid label key \"\(key)\"")
        }
    }

    /// Whether labels (sorted or not) satisfy every requirement.
    package func matches(_ labels: [(key: String, value: String)]) -> Bool {
        for requirement in requirements {
            let value = labels.first(where: { $0.key == requirement.key })?.value
            switch requirement.op {
            case .exists: if value == nil { return false }
            case .notExists: if value != nil { return false }
            case .equals, .in: guard let value, requirement.values.contains(value) else { return false }
            case .notEquals, .notIn: if let value, requirement.values.contains(value) { return false }
            case .greater, .less:
                guard let value, let number = Int(value), let bound = Int(requirement.values[0]) else { return false }
                if requirement.op == .greater ? number <= bound : number >= bound { return false }
            }
        }
        return true
    }
}

package struct LabelSelectorError: Error, Sendable, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
