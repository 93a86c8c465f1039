// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A filter flag that cannot be honoured, with where: the flag, the line (1-based) of its JSON
/// lines, the field and the reason. The agent refuses to start with it.
package struct FilterError: Error, Sendable, CustomStringConvertible, Equatable {
    package var flag: String
    package var line: Int
    /// `binary_regex[1]`, `fields`, ... ; nil for the line as a whole (bad JSON).
    package var field: String?
    package var message: String

    package init(flag: String, line: Int, field: String?, message: String) {
        self.flag = flag
        self.line = line
        self.field = field
        self.message = message
    }

    package var description: String {
        "\(flag) line \(line)\(field.map { ", \($0)" } ?? ""): \(message)"
    }
}

/// One JSON object per line, as Tetragon's filter flags take them (blank lines skipped), with
/// typed readers that report the field of a mistake.
struct FilterLines {
    let flag: String

    /// Each non-blank line as a JSON object, with its line number.
    func objects(_ text: String) throws(FilterError) -> [(line: Int, object: [String: Any])] {
        var result: [(Int, [String: Any])] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
            } catch {
                let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
                throw FilterError(flag: flag, line: index + 1, field: nil, message: "invalid JSON: \(reason)")
            }
            guard let object = parsed as? [String: Any] else {
                throw FilterError(flag: flag, line: index + 1, field: nil, message: "not a JSON object")
            }
            result.append((index + 1, object))
        }
        return result
    }

    func error(_ line: Int, _ field: String?, _ message: String) -> FilterError {
        FilterError(flag: flag, line: line, field: field, message: message)
    }

    /// Refuses keys outside `known`, naming them.
    func checkKeys(_ object: [String: Any], line: Int, known: [String]) throws(FilterError) {
        for key in object.keys.sorted() where !known.contains(key) {
            throw error(line, key, "unknown field (known: \(known.joined(separator: ", ")))")
        }
    }

    func strings(_ object: [String: Any], _ key: String, line: Int) throws(FilterError) -> [String]? {
        guard let value = object[key] else { return nil }
        if value is NSNull { return nil }
        guard let list = value as? [Any] else { throw error(line, key, "must be a list of strings") }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            guard let text = item as? String else { throw error(line, "\(key)[\(i)]", "must be a string") }
            out.append(text)
        }
        return out
    }

    func unsignedIntegers(_ object: [String: Any], _ key: String, line: Int) throws(FilterError) -> [UInt32]? {
        guard let value = object[key] else { return nil }
        if value is NSNull { return nil }
        guard let list = value as? [Any] else { throw error(line, key, "must be a list of numbers") }
        var out: [UInt32] = []
        for (i, item) in list.enumerated() {
            guard let number = item as? NSNumber, let exact = UInt32(exactly: number.doubleValue) else {
                throw error(line, "\(key)[\(i)]", "must be a whole number from 0 to 4294967295")
            }
            out.append(exact)
        }
        return out
    }

    func bool(_ object: [String: Any], _ key: String, line: Int) throws(FilterError) -> Bool? {
        guard let value = object[key] else { return nil }
        if value is NSNull { return nil }
        guard let flag = value as? Bool else { throw error(line, key, "must be true or false") }
        return flag
    }

    func string(_ object: [String: Any], _ key: String, line: Int) throws(FilterError) -> String? {
        guard let value = object[key] else { return nil }
        if value is NSNull { return nil }
        guard let text = value as? String else { throw error(line, key, "must be a string") }
        return text
    }

    /// Compiles each pattern (reported at `key[i]` when it does not compile) and returns them as
    /// one expression that matches when any of them does.
    func regex(_ patterns: [String]?, _ key: String, line: Int) throws(FilterError) -> FilterRegex? {
        guard let patterns, !patterns.isEmpty else { return nil }
        for (i, pattern) in patterns.enumerated() {
            do {
                _ = try NSRegularExpression(pattern: pattern)
            } catch {
                throw self.error(line, "\(key)[\(i)]", "invalid regular expression \"\(pattern)\"")
            }
        }
        let combined = patterns.count == 1 ? patterns[0] : patterns.map { "(?:\($0))" }.joined(separator: "|")
        do {
            return try FilterRegex(combined)
        } catch {
            throw self.error(line, key, "invalid regular expression \"\(combined)\"")
        }
    }
}

/// A compiled regular expression (ICU's, through Foundation), searched unanchored like Go's
/// `MatchString`: `^` and `$` anchor where the pattern says so.
///
/// A text without any of the pattern's required literals (``requiredLiterals(_:)``) is
/// answered without running the expression: a byte search costs tens of nanoseconds, ICU's
/// search of a bridged string microseconds, and most texts a filter sees do not match.
package final class FilterRegex: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable once made and documented thread-safe.
    package let pattern: String
    let expression: NSRegularExpression
    /// One of these appears in every match; nil: unknown.
    let literals: [[UInt8]]?

    package init(_ pattern: String) throws {
        self.pattern = pattern
        self.expression = try NSRegularExpression(pattern: pattern)
        self.literals = Self.requiredLiterals(pattern)
    }

    package func matches(_ text: String) -> Bool {
        if let literals {
            var text = text
            let found = text.withUTF8 { bytes in literals.contains { Self.contains(bytes, $0) } }
            if !found { return false }
        }
        return expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Bytes as UTF-8 (invalid sequences read as U+FFFD).
    package func matches(bytes: [UInt8]) -> Bool {
        if let literals {
            let found = bytes.withUnsafeBufferPointer { text in literals.contains { Self.contains(text, $0) } }
            if !found { return false }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static func contains(_ text: UnsafeBufferPointer<UInt8>, _ literal: [UInt8]) -> Bool {
        // memmem is a GNU extension Glibc's module does not export: first byte, then the rest.
        let n = literal.count
        guard n > 0 else { return true }
        guard text.count >= n else { return false }
        let first = literal[0]
        var i = 0
        let last = text.count - n
        while i <= last {
            if text[i] == first {
                var j = 1
                while j < n, text[i + j] == literal[j] { j += 1 }
                if j == n { return true }
            }
            i += 1
        }
        return false
    }

    /// Literals one of which every match contains, read from the top level of `pattern`: its
    /// longest run of plain characters (2 or more; a character a quantifier makes optional
    /// left out), else a group that is an alternation of plain words (`(?:token|secret)`).
    /// Nil when there is none or the pattern is beyond this reading (a top-level `|`,
    /// case-insensitive flags): the expression then always runs.
    static func requiredLiterals(_ pattern: String) -> [[UInt8]]? {
        let p = Array(pattern.utf8)
        if pattern.contains("(?i") || pattern.contains("(?x") { return nil }
        func isPlain(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || [UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: ":"),
                    UInt8(ascii: ","), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: " "), UInt8(ascii: "'"),
                    UInt8(ascii: "\""), UInt8(ascii: "#"), UInt8(ascii: "!"), UInt8(ascii: "<"), UInt8(ascii: ">"),
                    UInt8(ascii: "~"), UInt8(ascii: "&"), UInt8(ascii: ";")].contains(c)
        }
        func isQuantifier(_ i: Int) -> Bool {
            i < p.count && [UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "{")].contains(p[i])
        }
        var runs: [[UInt8]] = []
        var run: [UInt8] = []
        var alternation: [[UInt8]]?
        var i = 0
        func endRun() {
            if run.count >= 2 { runs.append(run) }
            run = []
        }
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "|") { return nil }  // top-level alternation
            if c == UInt8(ascii: "\\"), i + 1 < p.count {
                let next = p[i + 1]
                let isLetterOrDigit = (next >= 0x30 && next <= 0x39) || (next >= 0x41 && next <= 0x5A) || (next >= 0x61 && next <= 0x7A)
                if isLetterOrDigit {
                    endRun()  // \s, \d, \b, ...: not a literal
                } else if isQuantifier(i + 2) {
                    endRun()
                } else {
                    run.append(next)
                }
                i += 2
                continue
            }
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") {
                endRun()
                // Skip the balanced group or class; remember a group of plain alternatives.
                let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
                var depth = 0
                var j = i
                while j < p.count {
                    if p[j] == UInt8(ascii: "\\") {
                        j += 2
                        continue
                    }
                    if p[j] == c { depth += 1 }
                    if p[j] == close {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    j += 1
                }
                guard j < p.count else { return nil }
                if c == UInt8(ascii: "("), alternation == nil, !isQuantifier(j + 1) {
                    var inner = Array(p[(i + 1)..<j])
                    if inner.starts(with: [UInt8(ascii: "?"), UInt8(ascii: ":")]) { inner.removeFirst(2) }
                    let words = inner.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false).map(Array.init)
                    if words.allSatisfy({ $0.count >= 2 && $0.allSatisfy(isPlain) }) { alternation = words }
                }
                i = j + 1  // a quantifier after it is read by the loop (not a literal)
                continue
            }
            if c == UInt8(ascii: "{") {
                // A counted quantifier: its digits are not literals.
                endRun()
                while i < p.count, p[i] != UInt8(ascii: "}") { i += 1 }
                i += 1
                continue
            }
            if isPlain(c) {
                if isQuantifier(i + 1) {
                    endRun()
                } else {
                    run.append(c)
                }
            } else {
                endRun()  // . ^ $ + ? * { } and the like
            }
            i += 1
        }
        endRun()
        if let longest = runs.max(by: { $0.count < $1.count }) { return [longest] }
        return alternation
    }
}
