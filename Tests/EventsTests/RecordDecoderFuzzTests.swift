// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Testing
import TestSupport

/// The ring-buffer record decoder on bytes it was not built for: random bytes, every truncation
/// of valid records, and records whose lengths lie. It must throw (a counted decode error),
/// never trap, never read past the record, and decode well-formed records exactly.
@Suite struct RecordDecoderFuzzTests {
    static let argKinds: [UInt32] = [
        VIGIL_ARG_INT.rawValue, VIGIL_ARG_STRING.rawValue, VIGIL_ARG_DATA_LOC.rawValue, VIGIL_ARG_FILE_FD.rawValue,
        VIGIL_ARG_EXE.rawValue, VIGIL_ARG_CHAR_BUF.rawValue, VIGIL_ARG_CONST_BUF.rawValue, VIGIL_ARG_SOCKADDR.rawValue,
        VIGIL_ARG_SOCK.rawValue, 999,
    ]

    /// A generic (policy) record with `tails.count` arguments of the given kinds.
    static func generic(kinds: [UInt32], tails: [[UInt8]], flags: [UInt16]) -> [UInt8] {
        var ev = vigil_generic_event()
        ev.hdr.kind = UInt16(VIGIL_EVENT_GENERIC.rawValue)
        ev.hdr.pid = 4242
        ev.hook_slot = 3
        ev.selector = 0xff
        ev.nargs = UInt32(tails.count)
        withUnsafeMutableBytes(of: &ev.args) { raw in
            let values = raw.bindMemory(to: vigil_arg_value.self)
            for i in tails.indices {
                values[i].kind = UInt16(kinds[i])
                values[i].flags = flags[i]
                values[i].len = UInt32(tails[i].count)
                values[i].value = UInt64(i) << 32 | 0o644
            }
        }
        let size = MemoryLayout<vigil_generic_event>.size + tails.reduce(0) { $0 + $1.count }
        ev.hdr.size = UInt32(size)
        return withUnsafeBytes(of: ev) { Array($0) } + tails.flatMap { $0 }
    }

    static func decode(_ bytes: [UInt8]) -> Result<Record, RecordDecodeError> {
        bytes.withUnsafeBytes { raw in
            do throws(RecordDecodeError) { return .success(try Record(decoding: raw)) } catch { return .failure(error) }
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: Fuzz.seed)
        var decoded = 0
        for _ in 0..<Fuzz.iterations(20000) {
            var bytes = (0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Give most of them a plausible header, so the kind decoders are reached.
            if bytes.count >= 32 && Bool.random(using: &rng) {
                bytes[0] = UInt8.random(in: 1...6, using: &rng)
                bytes[1] = 0
                let size = UInt32(Int.random(in: 0...bytes.count + 8, using: &rng))
                withUnsafeBytes(of: size.littleEndian) { for (i, b) in $0.enumerated() { bytes[4 + i] = b } }
            }
            if case .success = Self.decode(bytes) { decoded += 1 }
        }
        #expect(decoded >= 0)  // reaching here without a trap is the property
    }

    @Test func everyTruncationAndLyingLengthOfValidRecordsIsRefusedOrExact() {
        var rng = SplitMix64(seed: Fuzz.seed &+ 1)
        for iteration in 0..<Fuzz.iterations(300) {
            let argv = (0..<Int.random(in: 0...4, using: &rng)).map { _ in Fuzz.hostileBytes(&rng, maxLength: 40).filter { $0 != 0 } }
            let exec = WireRecord.exec(
                path: String(decoding: Fuzz.hostileBytes(&rng, maxLength: 60).filter { $0 != 0 }, as: UTF8.self),
                cwd: "/tmp", argv: argv)
            let count = Int.random(in: 0...Int(VIGIL_HOOK_ARGS), using: &rng)
            let kinds = (0..<count).map { _ in Self.argKinds.randomElement(using: &rng)! }
            let tails = kinds.map { kind -> [UInt8] in
                switch kind {
                case VIGIL_ARG_SOCKADDR.rawValue, VIGIL_ARG_SOCK.rawValue:
                    return (0..<MemoryLayout<vigil_sockaddr>.size).map { _ in UInt8.random(in: 0...255, using: &rng) }
                case VIGIL_ARG_FILE_FD.rawValue, VIGIL_ARG_EXE.rawValue:
                    // struct vigil_file_header, then the path.
                    return (0..<Int(VIGIL_FILE_HEADER)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                        + Fuzz.hostileBytes(&rng, maxLength: 64)
                default:
                    return Fuzz.hostileBytes(&rng, maxLength: 64)
                }
            }
            let flags = (0..<count).map { _ in UInt16.random(in: 0...3, using: &rng) }
            let generic = Self.generic(kinds: kinds, tails: tails, flags: flags)

            // Whole: decodes, and the tails come back byte for byte.
            guard case .success(.generic(let g)) = Self.decode(generic) else {
                Issue.record("seed \(Fuzz.seed) iteration \(iteration): a well-formed generic record was refused")
                return
            }
            #expect(g.args.count == count)
            for (i, arg) in g.args.enumerated() where flags[i] & UInt16(VIGIL_ARG_F_ERROR.rawValue) == 0 {
                switch arg {
                case .string(let bytes, _), .buffer(let bytes, _, _), .constBuffer(let bytes):
                    #expect(bytes == tails[i])
                case .file(let path, _, _, _, _, _):
                    #expect(path == Array(tails[i][Int(VIGIL_FILE_HEADER)...]))
                default: break
                }
            }
            // Every truncation: refused, never a trap.
            for record in [exec, generic] {
                for length in 0..<record.count {
                    if case .success = Self.decode(Array(record[0..<length])) {
                        Issue.record("seed \(Fuzz.seed) iteration \(iteration): a record cut to \(length) of \(record.count) bytes decoded")
                        return
                    }
                }
                // Lying lengths and random edits anywhere: refused or decoded, never a trap.
                for _ in 0..<20 { _ = Self.decode(Fuzz.mutate(record, &rng)) }
            }
        }
    }
}
