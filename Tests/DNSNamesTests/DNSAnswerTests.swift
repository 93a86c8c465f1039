// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Foundation
import Testing
import TestSupport

/// Builds DNS messages as servers write them: the question's name in full at offset 12, the
/// records' owners as compression pointers to earlier names.
struct DNSMessage {
    var bytes: [UInt8] = []
    /// Where each name was first written, for pointers.
    var offsets: [String: Int] = [:]

    static func name(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func u32(_ v: UInt32) -> [UInt8] { u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) }

    mutating func putName(_ text: String) {
        if let at = offsets[text] {
            bytes += [0xC0 | UInt8(at >> 8), UInt8(at & 0xFF)]
        } else {
            offsets[text] = bytes.count
            bytes += Self.name(text)
        }
    }

    enum RR {
        case a(String, [UInt8], UInt32)
        case aaaa(String, [UInt8], UInt32)
        case cname(String, String, UInt32)
        case txt(String, String)
    }

    init(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, question: String, qtype: UInt16 = 1, answers: [RR]) {
        bytes = Self.u16(id) + Self.u16(flags) + Self.u16(1) + Self.u16(UInt16(answers.count)) + Self.u16(0)
            + Self.u16(0)
        putName(question)
        bytes += Self.u16(qtype) + Self.u16(1)
        for rr in answers {
            switch rr {
            case .a(let owner, let address, let ttl), .aaaa(let owner, let address, let ttl):
                putName(owner)
                bytes += Self.u16(address.count == 4 ? 1 : 28) + Self.u16(1) + Self.u32(ttl)
                bytes += Self.u16(UInt16(address.count)) + address
            case .cname(let owner, let target, let ttl):
                putName(owner)
                bytes += Self.u16(5) + Self.u16(1) + Self.u32(ttl)
                let lengthAt = bytes.count
                bytes += [0, 0]
                let start = bytes.count
                putName(target)
                let length = bytes.count - start
                bytes[lengthAt] = UInt8(length >> 8)
                bytes[lengthAt + 1] = UInt8(length & 0xFF)
            case .txt(let owner, let text):
                putName(owner)
                bytes += Self.u16(16) + Self.u16(1) + Self.u32(60) + Self.u16(UInt16(text.utf8.count + 1))
                bytes += [UInt8(text.utf8.count)] + Array(text.utf8)
            }
        }
    }
}

@Suite struct DNSAnswerTests {
    @Test func anAAnswer() throws {
        let m = DNSMessage(question: "API.test", answers: [.a("API.test", [127, 0, 0, 2], 300)])
        let answer = try DNSAnswer(parsing: m.bytes)
        #expect(answer.id == 0x1234)
        #expect(answer.question == "api.test")
        #expect(answer.bindings == [.init(address: [127, 0, 0, 2], ttl: 300, names: ["api.test"])])
    }

    @Test func aCNAMEChainNamesEveryStepAndKeepsTheSmallestTTL() throws {
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]
        let m = DNSMessage(
            question: "www.example.com", qtype: 28,
            answers: [
                .cname("www.example.com", "edge.cdn.net", 600), .cname("edge.cdn.net", "e1.cdn.net", 60),
                .txt("e1.cdn.net", "x"), .aaaa("e1.cdn.net", v6, 300), .a("e1.cdn.net", [192, 0, 2, 7], 30),
            ])
        let answer = try DNSAnswer(parsing: m.bytes)
        #expect(
            answer.bindings == [
                .init(address: v6, ttl: 60, names: ["www.example.com", "edge.cdn.net", "e1.cdn.net"]),
                .init(address: [192, 0, 2, 7], ttl: 30, names: ["www.example.com", "edge.cdn.net", "e1.cdn.net"]),
            ])
    }

    @Test func recordsOffTheChainAreNotLearnt() throws {
        // An address for a name nobody asked about (as a poisoning attempt would add one).
        let m = DNSMessage(
            question: "api.test", answers: [.a("bank.test", [10, 0, 0, 1], 300), .a("api.test", [10, 0, 0, 2], 300)])
        #expect(try DNSAnswer(parsing: m.bytes).bindings.map(\.address) == [[10, 0, 0, 2]])
    }

    @Test func aCNAMELoopEndsTheChain() throws {
        let m = DNSMessage(
            question: "a.test", answers: [.cname("a.test", "b.test", 60), .cname("b.test", "a.test", 60), .a("b.test", [10, 0, 0, 3], 60)])
        #expect(try DNSAnswer(parsing: m.bytes).bindings == [.init(address: [10, 0, 0, 3], ttl: 60, names: ["a.test", "b.test"])])
    }

    @Test func oddBytesInLabelsAreEscapedNeverSeparators() throws {
        var m = DNSMessage(question: "x.test", answers: [.a("x.test", [10, 0, 0, 4], 60)])
        // Turn the question's "x" into ",".
        m.bytes[13] = UInt8(ascii: ",")
        let answer = try DNSAnswer(parsing: m.bytes)
        #expect(answer.question == "\\044.test")
    }

    @Test func refusals() {
        func refuse(_ bytes: [UInt8], _ expected: DNSParseError) {
            #expect(throws: expected) { try DNSAnswer(parsing: bytes) }
        }
        let ok = DNSMessage(question: "api.test", answers: [.a("api.test", [127, 0, 0, 2], 300)]).bytes
        refuse(DNSMessage(flags: 0x0100, question: "api.test", answers: []).bytes, .notAResponse)
        refuse(DNSMessage(flags: 0x8183, question: "api.test", answers: []).bytes, .errorResponse(rcode: 3))
        refuse(DNSMessage(flags: 0x8380, question: "api.test", answers: []).bytes, .truncatedFlag)
        refuse(Array(ok.prefix(11)), .truncated)
        // Huge counts: refused before anything is reserved.
        var huge = ok
        huge[6] = 0xFF
        huge[7] = 0xFF
        refuse(huge, .countBeyondMessage(65535))
        // The question's name replaced by a pointer to itself, then a forward pointer.
        var loop = Array(ok.prefix(12)) + [0xC0, 12]
        refuse(loop, .badPointer)
        loop = Array(ok.prefix(12)) + [0xC0, 20, 0, 0, 0, 0, 0, 0, 0]
        refuse(loop, .badPointer)
        // Two names that point at each other: the second points backwards, the first forwards.
        refuse(Array(ok.prefix(12)) + [1, 0x61, 0xC0, 17, 0, 1, 0, 1, 0xC0, 12], .badPointer)
        refuse(Array(ok.prefix(12)) + [0x40] + Array(ok.dropFirst(13)), .badLabel)
        // An A record of 5 bytes.
        var long = ok
        long[long.count - 5] = 5  // the length's low byte
        refuse(long + [0], .badRecordLength(type: 1, length: 5))
        // A name longer than 255 bytes: five labels of 63.
        let label: [UInt8] = [63] + Array(repeating: UInt8(ascii: "a"), count: 63)
        let name: [UInt8] = Array(Array(repeating: label, count: 5).joined()) + [0]
        refuse(Array(ok.prefix(12)) + name + [0, 1, 0, 1], .nameTooLong)
    }

    /// `count` records of an unknown type whose owners are `a.` + the previous owner, each a
    /// compression pointer to the one before: record i's owner takes i jumps to read.
    static func pointerRun(count: Int) -> [UInt8] {
        var bytes: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, UInt8(count >> 8), UInt8(count & 0xFF), 0, 0, 0, 0]
        bytes += [0, 0, 1, 0, 1]  // the question: the root, A, IN
        var previous = -1
        for _ in 0..<count {
            let here = bytes.count
            bytes += [1, UInt8(ascii: "a")]
            bytes += previous < 0 ? [0] : [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF)]
            bytes += [0, 99, 0, 1, 0, 0, 0, 60, 0, 0]  // type 99, IN, TTL 60, no data
            previous = here
        }
        return bytes
    }

    @Test func aChainOfPointersEachBackwardsIsBoundedByTheJumpLimit() throws {
        _ = try DNSAnswer(parsing: Self.pointerRun(count: DNSAnswer.maxPointerJumps + 1))
        #expect(throws: DNSParseError.badPointer) { try DNSAnswer(parsing: Self.pointerRun(count: DNSAnswer.maxPointerJumps + 2)) }
    }
}

/// The parser on bytes it was not built for: it must throw or parse, never trap, and take
/// bounded time whatever the counts and pointers say.
@Suite struct DNSAnswerFuzzTests {
    static let valid: [[UInt8]] = [
        DNSMessage(question: "api.test", answers: [.a("api.test", [127, 0, 0, 2], 300)]).bytes,
        DNSMessage(
            question: "www.example.com",
            answers: [
                .cname("www.example.com", "edge.cdn.net", 600), .txt("edge.cdn.net", "hello"),
                .aaaa("edge.cdn.net", Array(repeating: 0xAB, count: 16), 30), .a("edge.cdn.net", [192, 0, 2, 7], 30),
            ]).bytes,
    ]

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: Fuzz.seed)
        let start = Date()
        for _ in 0..<Fuzz.iterations(20000) {
            var bytes = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Mostly plausible headers (a response, one question), so the name and record code
            // is reached.
            if bytes.count >= 12 && Bool.random(using: &rng) {
                bytes[2] = 0x81
                bytes[3] = 0x80
                bytes[4] = 0
                bytes[5] = 1
            }
            _ = try? DNSAnswer(parsing: bytes)
        }
        #expect(Date().timeIntervalSince(start) < 20)
    }

    @Test func everyTruncationIsRefusedAndMutationsNeverTrap() {
        var rng = SplitMix64(seed: Fuzz.seed &+ 1)
        for message in Self.valid {
            #expect((try? DNSAnswer(parsing: message)) != nil)
            for cut in 0..<message.count {
                #expect(throws: DNSParseError.self) { try DNSAnswer(parsing: message.prefix(cut)) }
            }
        }
        for _ in 0..<Fuzz.iterations(20000) {
            var m = Self.valid.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let at = Int.random(in: 0..<m.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: m[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: m[at] = 0xC0 | UInt8.random(in: 0...0x3F, using: &rng)  // a pointer, anywhere
                case 2: m[at] = 0xFF  // counts and lengths at their largest
                default: m.insert(contentsOf: Fuzz.hostileBytes(&rng, maxLength: 8), at: at)
                }
            }
            if let answer = try? DNSAnswer(parsing: m) {
                #expect(answer.bindings.count <= m.count / 11)
                for binding in answer.bindings { #expect(binding.address.count == 4 || binding.address.count == 16) }
            }
        }
    }

    @Test func theWorstCaseIsBounded() {
        // Nearly a whole 512-byte capture of records whose owners are the longest pointer walks
        // allowed (1 + 2 + ... + 32 jumps).
        let bytes = DNSAnswerTests.pointerRun(count: DNSAnswer.maxPointerJumps + 1)
        #expect(bytes.count >= 450)
        let start = Date()
        for _ in 0..<2000 { _ = try? DNSAnswer(parsing: bytes) }
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
