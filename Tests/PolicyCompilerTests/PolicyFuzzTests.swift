// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation
import PolicyCompiler
import Testing
import TestSupport
import Tracefs
import TracingPolicy

/// The policy parser and compiler on mutated policies (the shipped ones and Tetragon's examples
/// as seeds): every input is either accepted or refused with a positioned reason inside the
/// text, never a trap or a silent empty refusal. Bounded: `VIGIL_FUZZ_ITERATIONS` scales it.
@Suite struct PolicyFuzzTests {
    static var seeds: [String] {
        var texts: [String] = []
        for (directory, recursive) in [(CorpusTests.policiesDirectory, false), (CorpusTests.examplesDirectory, true)] {
            for name in CorpusTests.yamlFiles(in: directory, recursive: recursive) {
                if let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) { texts.append(text) }
            }
        }
        return texts
    }

    static let hostileScalars: [String] = [
        "", "-1", "0", "4294967296", "18446744073709551616", "-9223372036854775809", "0x", "0xffffffffffffffffff", "1e999",
        "NaN", "~", "null", "true", "[]", "{}", "\"\\u0000\"", "'", "\"", String(repeating: "a", count: 5000),
        "sys_" + String(repeating: "x", count: 300), "list:", "list:nope", "../../etc/passwd", "*", "&anchor", "*anchor",
        "!!binary AAAA", "\u{1b}[2J", "é😀", "1/2", "::1/129", "256.0.0.1/8", "0/0", "-0", "+5", "0o777", "0b101",
    ]

    /// One line-level edit: delete, duplicate, swap, re-indent, or replace a scalar value.
    static func mutateLines(_ text: String, _ rng: inout SplitMix64) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty else { return text }
        let i = Int.random(in: 0..<lines.count, using: &rng)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: lines.remove(at: i)
        case 1: lines.insert(lines[i], at: i)
        case 2: lines.swapAt(i, Int.random(in: 0..<lines.count, using: &rng))
        case 3: lines[i] = String(repeating: " ", count: Int.random(in: 0...12, using: &rng)) + lines[i].drop { $0 == " " }
        default:
            if let colon = lines[i].range(of: ": ") {
                lines[i] = String(lines[i][..<colon.upperBound]) + hostileScalars.randomElement(using: &rng)!
            } else if let dash = lines[i].range(of: "- ") {
                lines[i] = String(lines[i][..<dash.upperBound]) + hostileScalars.randomElement(using: &rng)!
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Whether every problem is at the file, or at a line and column inside `text`.
    static func positionedInside(_ errors: [(location: TracingPolicy.SourceLocation, message: String)], text: String) -> String? {
        // Lines as YAML counts them: \n, \r, \r\n, NEL, LS and PS all end one.
        let lineCount = text.unicodeScalars.filter { ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains($0) }.count + 1
        for error in errors {
            if error.message.trimmingCharacters(in: .whitespaces).isEmpty { return "an empty reason at \(error.location)" }
            let location = error.location
            if location.line == 0 { continue }
            if location.line < 1 || location.line > lineCount + 1 || location.column < 1 {
                return "a position outside the text (\(lineCount) lines): \(location): \(error.message)"
            }
        }
        return nil
    }

    @Test func mutatedPoliciesAreAcceptedOrRefusedWithAPosition() throws {
        let seeds = Self.seeds
        try #require(!seeds.isEmpty, "no seed policies found")
        var rng = SplitMix64(seed: Fuzz.seed)
        let environment = Fixture.bestEnvironment
        for iteration in 0..<Fuzz.iterations(1500) {
            var text = seeds[iteration % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                if Int.random(in: 0..<3, using: &rng) == 0 {
                    text = String(decoding: Fuzz.mutate(Array(text.utf8), &rng), as: UTF8.self)
                } else {
                    text = Self.mutateLines(text, &rng)
                }
            }
            let parsed = PolicyParser.parse(yaml: text, file: "fuzz.yaml")
            if let problem = Self.positionedInside((parsed.errors + parsed.warnings).map { ($0.location, $0.message) }, text: text) {
                Issue.record("seed \(Fuzz.seed) iteration \(iteration): parser: \(problem)\n--- input ---\n\(text.prefix(2000))")
                return
            }
            var sets = SetIDAllocator(first: 1)
            for document in parsed.documents {
                switch PolicyCompiler(environment: environment).compile(document, sets: &sets) {
                case .success: break
                case .failure(let failure):
                    if failure.errors.isEmpty {
                        Issue.record("seed \(Fuzz.seed) iteration \(iteration): compiler refused without a reason\n\(text.prefix(2000))")
                        return
                    }
                    if let problem = Self.positionedInside(failure.errors.map { ($0.location, $0.message) }, text: text) {
                        Issue.record("seed \(Fuzz.seed) iteration \(iteration): compiler: \(problem)\n--- input ---\n\(text.prefix(2000))")
                        return
                    }
                }
            }
        }
    }

    @Test func randomBytesAreRefusedWithAPosition() {
        var rng = SplitMix64(seed: Fuzz.seed &+ 7)
        for iteration in 0..<Fuzz.iterations(2000) {
            let text = String(decoding: Fuzz.hostileBytes(&rng, maxLength: 400), as: UTF8.self)
            let parsed = PolicyParser.parse(yaml: text, file: "fuzz.yaml")
            if let problem = Self.positionedInside(parsed.errors.map { ($0.location, $0.message) }, text: text) {
                Issue.record("seed \(Fuzz.seed) iteration \(iteration): \(problem)\n\(text.prefix(500))")
                return
            }
        }
    }
}
