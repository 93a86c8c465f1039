// SPDX-License-Identifier: Apache-2.0

/// Policy texts that once crashed, stalled or ballooned the policy parser (all through YAML
/// anchors and aliases; none needs a valid policy), for the parser's and the agent's tests.
package enum HostilePolicies {
    /// Anchors, each nesting `levels` deep around the previous one's alias: with 8 anchors of
    /// 900 levels, 7,200 levels expanded (a stack overflow, once).
    package static func nestedAliases(levels: Int = 900, anchors: Int = 8) -> String {
        var lines = ["a0: &a0 x"]
        for i in 1...anchors {
            lines.append(
                "a\(i): &a\(i) " + String(repeating: "[", count: levels) + "*a\(i - 1)" + String(repeating: "]", count: levels))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Merge keys that merge the previous mapping twice per line: time doubled per line (23
    /// lines took over 10 s, once).
    package static func doublingMerges(lines count: Int = 22) -> String {
        var lines = ["a: &a {x: 1, y: 2}"]
        var previous = "a"
        for i in 0..<count {
            lines.append("m\(i): &m\(i) {<<: [*\(previous), *\(previous)], k\(i): v}")
            previous = "m\(i)"
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Billion laughs: ten aliases of the previous list per level (8 levels: 8.4 s and 1.76 GB,
    /// once; 9 aborted).
    package static func billionLaughs(levels: Int = 9) -> String {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1...levels {
            lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Text whose second line holds a byte that is not UTF-8 (at byte offset 23, column 9).
    package static let invalidUTF8: [UInt8] = Array("apiVersion: v1\nkind: ü".utf8) + [0xFF, 0x0A]
}
