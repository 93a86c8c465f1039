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
package final class FilterRegex: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable once made and documented thread-safe.
    package let pattern: String
    let expression: NSRegularExpression

    package init(_ pattern: String) throws {
        self.pattern = pattern
        self.expression = try NSRegularExpression(pattern: pattern)
    }

    package func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Bytes as UTF-8 (invalid sequences read as U+FFFD).
    package func matches(bytes: [UInt8]) -> Bool {
        matches(String(decoding: bytes, as: UTF8.self))
    }
}
