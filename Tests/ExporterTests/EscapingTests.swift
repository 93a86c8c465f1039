// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

/// Arguments rendering, invalid UTF-8 and JSON string escaping.
@Suite struct EscapingTests {
    /// The JSON-escaped `arguments` content (between the quotes) for `args`.
    private func renderedArguments(_ args: [[UInt8]]) -> String {
        var out: [UInt8] = []
        JSONLineEncoder.appendArguments(args, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The decoded `arguments` value after a round trip through Foundation's JSON parser.
    private func parsedArguments(_ args: [[UInt8]]) throws -> String? {
        let event = ExportEvent(
            kind: .exec, process: bareProcess(arguments: args), parent: nil, nodeName: "", time: wall(0))
        let json = try parseJSONObject(encodeLine(event))
        let exec = try #require(json["process_exec"] as? [String: Any])
        let process = try #require(exec["process"] as? [String: Any])
        return process["arguments"] as? String
    }

    static let argumentCases: [(args: [[UInt8]], json: String, decoded: String)] = [
        ([Array("-la".utf8), Array("/tmp".utf8)], #"-la /tmp"#, "-la /tmp"),
        ([Array("-c".utf8), Array("echo hi there".utf8)], #"-c \"echo hi there\""#, #"-c "echo hi there""#),
        ([[], Array("x".utf8)], #"\"\" x"#, #""" x"#),
        ([[]], #"\"\""#, #""""#),
        ([Array("x".utf8), [], Array("y".utf8)], #"x \"\" y"#, #"x "" y"#),
        ([Array(#"say "hi""#.utf8)], #"\"say \"hi\"\""#, #""say "hi"""#),
        ([Array(#""q""#.utf8)], #"\"q\""#, #""q""#),
        ([[0x66, 0xFF, 0x6F]], #"f\\xffo"#, #"f\xffo"#),
        ([[0x61, 0x20, 0xC3]], #"\"a \\xc3\""#, #""a \xc3""#),
        ([Array(#"a\b"#.utf8)], #"a\\b"#, #"a\b"#),
        ([Array("a\tb".utf8), Array("l1\nl2".utf8)], #"a\tb l1\nl2"#, "a\tb l1\nl2"),
        ([[0x01, 0x08, 0x0C, 0x0D, 0x1B, 0x1F, 0x7F]], #"\u0001\b\f\r\u001b\u001f"# + "\u{7F}", "\u{01}\u{08}\u{0C}\u{0D}\u{1B}\u{1F}\u{7F}"),
        ([Array("héllo".utf8), Array("😀".utf8), Array("日本".utf8)], "héllo 😀 日本", "héllo 😀 日本"),
        // Truncated sequence, overlong encoding, UTF-16 surrogate, above U+10FFFF, lone continuation.
        ([[0xE2, 0x82]], #"\\xe2\\x82"#, #"\xe2\x82"#),
        ([[0xC0, 0xAF]], #"\\xc0\\xaf"#, #"\xc0\xaf"#),
        ([[0xED, 0xA0, 0x80]], #"\\xed\\xa0\\x80"#, #"\xed\xa0\x80"#),
        ([[0xF4, 0x90, 0x80, 0x80]], #"\\xf4\\x90\\x80\\x80"#, #"\xf4\x90\x80\x80"#),
        ([[0x80, 0x41]], #"\\x80A"#, #"\x80A"#),
        // A valid character right after an invalid byte survives.
        ([[0xFF, 0xC3, 0xA9]], #"\\xffé"#, #"\xffé"#),
    ]

    @Test(arguments: argumentCases.indices)
    func arguments(_ index: Int) throws {
        let c = Self.argumentCases[index]
        #expect(renderedArguments(c.args) == c.json)
        #expect(try parsedArguments(c.args) == c.decoded)
    }

    @Test func noArgumentsOmitsField() {
        let line = encodeLine(ExportEvent(kind: .exec, process: bareProcess(), parent: nil, nodeName: "", time: wall(0)))
        #expect(!line.contains("arguments"))
    }

    /// cwd and binary are bytes too: same escaping.
    @Test func pathsWithInvalidUTF8AndControlCharacters() throws {
        let process = bareProcess(cwd: [0x2F, 0x74, 0xE9, 0x0A], binary: Array("/bin/\"q\"\\é".utf8))
        let line = encodeLine(ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "", time: wall(0)))
        #expect(line.contains(#""cwd":"/t\\xe9\n","binary":"/bin/\"q\"\\é""#))
        let json = try parseJSONObject(line)
        let p = try #require((json["process_exec"] as? [String: Any])?["process"] as? [String: Any])
        #expect(p["cwd"] as? String == "/t\\xe9\n")
        #expect(p["binary"] as? String == "/bin/\"q\"\\é")
    }

    /// Strings from Swift (node name, docker, exec ids, signal) are escaped as well.
    @Test func stringFieldsEscaped() throws {
        var process = bareProcess(execID: "a\"b")
        process.docker = "d\\"
        let line = encodeLine(
            ExportEvent(
                kind: .exit(signal: "SIG\u{1}", status: 0, time: wall(0)), process: process, parent: nil,
                nodeName: "nöde\t", time: wall(0)))
        #expect(line.contains(#""exec_id":"a\"b""#))
        #expect(line.contains(#""docker":"d\\""#))
        #expect(line.contains(#""signal":"SIG\u0001""#))
        #expect(line.contains(#""node_name":"nöde\t""#))
        _ = try parseJSONObject(line)
    }

    /// Every single byte value, alone: the line parses and the value round-trips as documented.
    @Test func everyByteValue() throws {
        for byte in UInt8.min...UInt8.max {
            let decoded = try parsedArguments([[byte, UInt8(ascii: "z")]])
            let expected: String
            if byte >= 0x80 {
                expected = "\\x" + String(byte, radix: 16) + "z"
            } else {
                expected = String(decoding: [byte, UInt8(ascii: "z")], as: UTF8.self)
            }
            // A space makes the argument quoted.
            #expect(decoded == (byte == 0x20 ? "\" z\"" : expected), "byte \(byte)")
        }
    }
}
