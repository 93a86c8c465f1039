// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing
import TestSupport

@testable import Exporter

/// Paths and arguments chosen by an attacker (newlines, quotes, escapes, invalid UTF-8, 4 KiB+,
/// names that look like JSON fields) always come out as one line holding one valid JSON object,
/// whose fields decode to exactly what the documented escaping promises.
@Suite struct HostileInputPropertyTests {
    struct Line: Decodable {
        struct Process: Decodable {
            var binary: String?
            var cwd: String?
            var arguments: String?
        }
        struct Exec: Decodable {
            var process: Process
            var parent: Process
        }
        var process_exec: Exec
    }

    /// What a JSON parser must read back for `bytes`: valid UTF-8 as is, each byte of an invalid
    /// sequence as the four characters `\xNN` (an independent oracle, Go's decoding rules).
    static func expectedString(_ bytes: [UInt8]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        func cont(_ j: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool { j < bytes.count && range.contains(bytes[j]) }
        while i < bytes.count {
            let b = bytes[i]
            var length = 0
            switch b {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = cont(i + 1) ? 2 : 0
            case 0xE0: length = cont(i + 1, 0xA0...0xBF) && cont(i + 2) ? 3 : 0
            case 0xE1...0xEC, 0xEE...0xEF: length = cont(i + 1) && cont(i + 2) ? 3 : 0
            case 0xED: length = cont(i + 1, 0x80...0x9F) && cont(i + 2) ? 3 : 0
            case 0xF0: length = cont(i + 1, 0x90...0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0
            case 0xF1...0xF3: length = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
            case 0xF4: length = cont(i + 1, 0x80...0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0
            default: length = 0
            }
            if length == 0 {
                for c in "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16) { out.append(contentsOf: c.unicodeScalars) }
                i += 1
            } else {
                out.append(contentsOf: String(decoding: bytes[i..<i + length], as: UTF8.self).unicodeScalars)
                i += length
            }
        }
        return String(out)
    }

    static func expectedArguments(_ args: [[UInt8]]) -> String {
        args.map { arg in
            let text = expectedString(arg)
            return arg.isEmpty || arg.contains(UInt8(ascii: " ")) ? "\"" + text + "\"" : text
        }.joined(separator: " ")
    }

    /// Checks one exported line; returns a description of what is wrong, or nil.
    static func problem(in line: [UInt8], binary: [UInt8], cwd: [UInt8], arguments: [[UInt8]], parentBinary: [UInt8]) -> String? {
        guard line.last == UInt8(ascii: "\n") else { return "no newline at the end" }
        let body = line.dropLast()
        if body.contains(UInt8(ascii: "\n")) || body.contains(UInt8(ascii: "\r")) { return "a raw line break inside the line" }
        if body.contains(where: { $0 < 0x20 }) { return "a raw control byte inside the line" }
        guard String(validating: body, as: UTF8.self) != nil else { return "the line is not valid UTF-8" }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            return "not one JSON object"
        }
        guard Set(object.keys) == ["process_exec", "node_name", "time"] else { return "top-level keys \(object.keys.sorted())" }
        // Values through JSONDecoder: JSONSerialization drops U+FEFF inside strings.
        guard let decoded = try? JSONDecoder().decode(Line.self, from: Data(body)) else { return "fields not decodable" }
        let process = decoded.process_exec.process
        // Empty strings are omitted, as protojson does.
        if process.binary != (binary.isEmpty ? nil : expectedString(binary)) { return "binary decoded differently" }
        if process.cwd != (cwd.isEmpty ? nil : expectedString(cwd)) { return "cwd decoded differently" }
        if process.arguments != (arguments.isEmpty ? nil : expectedArguments(arguments)) {
            return "arguments decoded as \(String(reflecting: process.arguments)), expected \(String(reflecting: expectedArguments(arguments)))"
        }
        if decoded.process_exec.parent.binary != (parentBinary.isEmpty ? nil : expectedString(parentBinary)) {
            return "parent binary decoded differently"
        }
        return nil
    }

    func encode(binary: [UInt8], cwd: [UInt8], arguments: [[UInt8]], parentBinary: [UInt8]) -> [UInt8] {
        let process = bareProcess(execID: "aWQ=", cwd: cwd, binary: binary, arguments: arguments)
        let parent = bareProcess(execID: "cGFyZW50", cwd: Array("/".utf8), binary: parentBinary)
        return JSONLineEncoder().encode(ExportEvent(kind: .exec, process: process, parent: parent, nodeName: "node", time: wall(0)))
    }

    @Test func randomHostileFieldsAlwaysMakeOneValidUnambiguousLine() {
        var rng = SplitMix64(seed: Fuzz.seed)
        for iteration in 0..<Fuzz.iterations(3000) {
            let binary = Fuzz.hostileBytes(&rng, maxLength: iteration % 50 == 0 ? 6000 : 300)
            let cwd = Fuzz.hostileBytes(&rng, maxLength: 200)
            let arguments = (0..<Int.random(in: 0...4, using: &rng)).map { _ in Fuzz.hostileBytes(&rng, maxLength: 100) }
            let parentBinary = Fuzz.hostileBytes(&rng, maxLength: 100)
            let line = encode(binary: binary, cwd: cwd, arguments: arguments, parentBinary: parentBinary)
            if let problem = Self.problem(in: line, binary: binary, cwd: cwd, arguments: arguments, parentBinary: parentBinary) {
                Issue.record("seed \(Fuzz.seed) iteration \(iteration): \(problem); binary bytes \(binary.prefix(80))")
                return
            }
        }
    }

    /// The cases that matter most, kept explicitly (and any crasher found later joins them).
    @Test(arguments: [
        Array("/tmp/x\",\"binary\":\"/bin/evil\"}".utf8),
        Array("/tmp/a\n{\"process_exec\":{\"process\":{\"binary\":\"/bin/evil\"}}}".utf8),
        Array("/tmp/\\\"quoted\\\"/\\n".utf8),
        [UInt8](repeating: UInt8(ascii: "a"), count: 4097) + [0xFF, 0x0A, 0x22],
        Array("/tmp/\u{2028}\u{2029}\u{0}\u{7f}".utf8),
        [0xED, 0xA0, 0x80, 0xF4, 0x90, 0x80, 0x80, 0xC0, 0xAF, 0xE2, 0x82],
        Array("/tmp/\\xff".utf8),
    ])
    func knownHostileNames(_ name: [UInt8]) {
        let line = encode(binary: name, cwd: name, arguments: [name, [], name + [0x20]], parentBinary: name)
        #expect(Self.problem(in: line, binary: name, cwd: name, arguments: [name, [], name + [0x20]], parentBinary: name) == nil)
    }
}
