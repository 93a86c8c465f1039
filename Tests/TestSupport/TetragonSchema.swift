// SPDX-License-Identifier: Apache-2.0

import Foundation

/// Checks exported JSON lines against Tetragon's event schema as `Schema/tetragon-schema.json`
/// writes it down (per message: JSON key -> type; enum values), the way a consumer parsing with
/// Tetragon's protobuf definitions and Go's `protojson.Unmarshal` defaults would: an unknown key,
/// a wrong JSON type, an integer out of its range, an unknown enum name, a malformed timestamp
/// or base64 string, a duplicate key or two members of one oneof fail the line.
///
/// Stricter than protojson where Tetragon's own writer is: keys only by their proto names,
/// 64-bit integers only as strings, 32-bit ones only as numbers, no `null`.
package struct TetragonSchema: Sendable {
    package struct Message: Sendable {
        package var fields: [String: String]
        /// Field name -> oneof name.
        package var oneofOf: [String: String]
    }

    package let messages: [String: Message]
    package let enums: [String: Set<String>]
    /// The Tetragon commit the facts were taken at.
    package let commit: String

    /// The schema file next to this source file.
    package static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Schema/tetragon-schema.json").path

    /// Loads ``path``.
    package static func load() throws -> TetragonSchema {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let messageObjects = root["messages"] as? [String: [String: Any]],
            let enumLists = root["enums"] as? [String: [String]],
            let commit = (root["tetragon"] as? [String: Any])?["commit"] as? String
        else { throw SchemaError(message: "\(path): not a schema document") }
        var messages: [String: Message] = [:]
        for (name, object) in messageObjects {
            guard let fields = object["fields"] as? [String: String] else {
                throw SchemaError(message: "\(path): message \(name) has no fields")
            }
            var oneofOf: [String: String] = [:]
            for (oneof, members) in object["oneofs"] as? [String: [String]] ?? [:] {
                for member in members { oneofOf[member] = oneof }
            }
            messages[name] = Message(fields: fields, oneofOf: oneofOf)
        }
        let schema = TetragonSchema(messages: messages, enums: enumLists.mapValues(Set.init), commit: commit)
        // Every type a field names must be defined: a typo must not pass as "anything goes".
        for (name, message) in messages {
            for (field, type) in message.fields where !schema.isKnown(type) {
                throw SchemaError(message: "\(path): \(name).\(field) has unknown type \(type)")
            }
        }
        return schema
    }

    private func isKnown(_ type: String) -> Bool {
        if type.hasPrefix("[]") { return isKnown(String(type.dropFirst(2))) }
        if type.hasPrefix("enum:") { return enums[String(type.dropFirst(5))] != nil }
        return Self.scalars.contains(type) || messages[type] != nil
    }

    private static let scalars: Set<String> = [
        "string", "bool", "int32", "uint32", "int64", "uint64", "bytes", "timestamp", "map<string,string>",
    ]

    /// The problems of one line (empty: it is a `GetEventsResponse` of the schema), each with the
    /// JSON path, e.g. `process_kprobe.args[0].file_arg: unknown field "inode"`.
    package func problems(line: String) -> [String] {
        var parser = JSONParser(Array(line.utf8))
        let value: JSONValue
        do {
            value = try parser.parseDocument()
        } catch {
            return ["not JSON: \(error)"]
        }
        var problems: [String] = []
        check(value, type: "GetEventsResponse", path: "", into: &problems)
        if case .object(let members) = value {
            let events = members.filter { messages["GetEventsResponse"]?.oneofOf[$0.key] == "event" }
            if events.count != 1 { problems.append("expected one event key, found \(events.map(\.key))") }
        }
        return problems
    }

    /// Problems of every line of `text` (a JSON-lines export), each prefixed by the line number
    /// and followed by the line.
    package func problems(lines text: String) -> [String] {
        var out: [String] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            for problem in problems(line: String(line)) { out.append("line \(i + 1): \(problem)\n  \(line)") }
        }
        return out
    }

    private func check(_ value: JSONValue, type: String, path: String, into problems: inout [String]) {
        func fail(_ what: String) { problems.append("\(path.isEmpty ? "(line)" : path): \(what)") }
        if type.hasPrefix("[]") {
            guard case .array(let items) = value else { return fail("expected an array (\(type))") }
            let element = String(type.dropFirst(2))
            for (i, item) in items.enumerated() { check(item, type: element, path: "\(path)[\(i)]", into: &problems) }
            return
        }
        if type.hasPrefix("enum:") {
            let name = String(type.dropFirst(5))
            switch value {
            case .string(let text):
                if enums[name]?.contains(text) != true { fail("\"\(text)\" is not a \(name) value") }
            case .number(let text):
                // A value without a name: protojson writes and reads it as its number (proto3
                // enums are open), e.g. a capability bit newer than Tetragon's list.
                if Int32(text) == nil { fail("\(text) is not a \(name) number") }
            default:
                fail("expected a \(name) name")
            }
            return
        }
        switch type {
        case "string":
            guard case .string = value else { return fail("expected a string") }
        case "bool":
            guard case .bool = value else { return fail("expected true or false") }
        case "int32", "uint32":
            guard case .number(let text) = value else { return fail("expected a \(type) number") }
            let fits = type == "int32" ? Int32(text) != nil : UInt32(text) != nil
            if !fits { fail("\(text) is not a \(type)") }
        case "int64", "uint64":
            // protojson writes 64-bit integers as decimal strings.
            guard case .string(let text) = value else { return fail("expected a \(type) as a string") }
            let fits = type == "int64" ? Int64(text) != nil : UInt64(text) != nil
            if !fits { fail("\"\(text)\" is not a \(type)") }
        case "bytes":
            guard case .string(let text) = value else { return fail("expected base64") }
            if !Self.isBase64(text) { fail("\"\(text)\" is not standard base64") }
        case "timestamp":
            guard case .string(let text) = value else { return fail("expected an RFC 3339 timestamp") }
            if !Self.isTimestamp(text) { fail("\"\(text)\" is not an RFC 3339 timestamp in UTC") }
        case "map<string,string>":
            guard case .object(let members) = value else { return fail("expected an object of strings") }
            var seen = Set<String>()
            for (key, item) in members {
                if !seen.insert(key).inserted { fail("duplicate key \"\(key)\"") }
                guard case .string = item else { fail("\(key): expected a string"); continue }
            }
        default:
            guard let message = messages[type] else { return fail("schema has no message \(type)") }
            guard case .object(let members) = value else { return fail("expected a \(type) object") }
            var seen = Set<String>()
            var oneofs: [String: String] = [:]
            for (key, item) in members {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if !seen.insert(key).inserted { fail("duplicate key \"\(key)\""); continue }
                guard let fieldType = message.fields[key] else { fail("unknown field \"\(key)\" in \(type)"); continue }
                if case .null = item { problems.append("\(child): null"); continue }
                if let oneof = message.oneofOf[key] {
                    if let other = oneofs[oneof] { fail("\"\(key)\" and \"\(other)\" are members of one oneof (\(oneof))") }
                    oneofs[oneof] = key
                }
                check(item, type: fieldType, path: child, into: &problems)
            }
        }
    }

    /// Standard base64 with padding, as protojson writes `bytes`.
    static func isBase64(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return false }
        for (i, c) in bytes.enumerated() {
            let alphabet = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 43 || c == 47
            if alphabet { continue }
            // '=' only in the last two places, and only padding after it.
            guard c == 61, i >= bytes.count - 2, bytes[i...].allSatisfy({ $0 == 61 }) else { return false }
        }
        return true
    }

    /// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, a valid date and time (protojson writes UTC with `Z` and
    /// 0, 3, 6 or 9 fraction digits; it reads 1 to 9).
    static func isTimestamp(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var n = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            return n
        }
        guard b.count >= 20, let year = digits(0..<4), b[4] == 45, let month = digits(5..<7), b[7] == 45,
            let day = digits(8..<10), b[10] == 84, let hour = digits(11..<13), b[13] == 58,
            let minute = digits(14..<16), b[16] == 58, let second = digits(17..<19)
        else { return false }
        guard year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return false }
        var i = 19
        if b[i] == 46 {
            let start = i + 1
            i = start
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard (1...9).contains(i - start) else { return false }
        }
        return i == b.count - 1 && b[i] == 90
    }
}

package struct SchemaError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

/// A parsed JSON value that keeps what the schema check needs and Foundation's parser loses: the
/// number's text (64-bit ranges), numbers apart from booleans, member order and duplicate keys.
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
}

/// RFC 8259 JSON, strictly (no trailing commas, no comments, no leading zeros, valid escapes and
/// UTF-8), one value per document.
struct JSONParser {
    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "\(reason) at byte \(offset)" }
    }

    private let b: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) { b = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue(depth: 0)
        skipSpace()
        guard i == b.count else { throw Failure(offset: i, reason: "text after the value") }
        return value
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        guard i < b.count, b[i] == c else { throw Failure(offset: i, reason: "expected '\(Character(Unicode.Scalar(c)))'") }
        i += 1
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 100 else { throw Failure(offset: i, reason: "nested too deep") }
        skipSpace()
        guard i < b.count else { throw Failure(offset: i, reason: "unexpected end") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipSpace()
                let key = try parseString()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                members.append((key, try parseValue(depth: depth + 1)))
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            return .number(try parseNumber())
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let text = Array(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        guard i + text.count <= b.count, Array(b[i..<i + text.count]) == text else {
            throw Failure(offset: i, reason: "expected \(word)")
        }
        i += text.count
    }

    private mutating func parseNumber() throws -> String {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        func isDigit(_ at: Int) -> Bool { at < b.count && b[at] >= 48 && b[at] <= 57 }
        guard isDigit(i) else { throw Failure(offset: i, reason: "expected a value") }
        if b[i] == 48, isDigit(i + 1) { throw Failure(offset: i, reason: "leading zero") }
        while isDigit(i) { i += 1 }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw Failure(offset: i, reason: "expected a digit") }
            while isDigit(i) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw Failure(offset: i, reason: "expected a digit") }
            while isDigit(i) { i += 1 }
        }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    private mutating func parseString() throws -> String {
        try expect(UInt8(ascii: "\""))
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw Failure(offset: i, reason: "unterminated string") }
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw Failure(offset: i, reason: "string is not UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                guard i < b.count else { throw Failure(offset: i, reason: "unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var unit = try hex4()
                    if (0xD800..<0xDC00).contains(unit) {
                        try expect(UInt8(ascii: "\\"))
                        try expect(UInt8(ascii: "u"))
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure(offset: i, reason: "lone surrogate") }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(unit) {
                        throw Failure(offset: i, reason: "lone surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(unit)!)).utf8))
                default:
                    throw Failure(offset: i - 1, reason: "bad escape")
                }
            default:
                guard c >= 0x20 else { throw Failure(offset: i - 1, reason: "control character in a string") }
                out.append(c)
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let value = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else {
            throw Failure(offset: i, reason: "bad \\u escape")
        }
        i += 4
        return value
    }
}
