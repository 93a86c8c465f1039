// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Testing

/// Builds wire records the way the BPF side lays them out, then decodes them.
enum WireRecord {
    static func exec(
        pid: UInt32 = 4711, ktime: UInt64 = 123_456_789, flags: UInt16 = 0, path: String, cwd: String,
        argv: [[UInt8]], truncateArgsTo: Int? = nil
    ) -> [UInt8] {
        let pathBytes = Array(path.utf8)
        let cwdBytes = Array(cwd.utf8)
        var args: [UInt8] = argv.flatMap { (arg: [UInt8]) -> [UInt8] in arg + [0] }
        let argsSize = args.count
        if let limit = truncateArgsTo { args = Array(args.prefix(limit)) }
        var ev = vigil_exec_event()
        ev.hdr.kind = UInt16(VIGIL_EVENT_EXEC.rawValue)
        ev.hdr.flags = flags
        ev.hdr.ktime_ns = ktime
        ev.hdr.cgroup_id = 42
        ev.hdr.pid = pid
        ev.hdr.tid = pid
        ev.parent_ktime_ns = 99
        ev.ppid = 1
        ev.creds.uid = 1000
        ev.creds.euid = 0
        ev.auid = 1000
        ev.ns.mnt = 4_026_531_841
        ev.path_len = UInt16(pathBytes.count)
        ev.cwd_len = UInt16(cwdBytes.count)
        ev.args_len = UInt32(args.count)
        ev.args_size = UInt32(argsSize)
        withUnsafeMutableBytes(of: &ev.comm) { comm in
            for (i, b) in "true".utf8.enumerated() { comm[i] = b }
        }
        let size = MemoryLayout<vigil_exec_event>.size + pathBytes.count + cwdBytes.count + args.count
        ev.hdr.size = UInt32(size)
        let fixed: [UInt8] = withUnsafeBytes(of: ev) { Array($0) }
        return fixed + pathBytes + cwdBytes + args
    }
}

@Suite struct RecordDecoderTests {
    @Test func execRecordDecodesPathsArgumentsAndIdentity() throws {
        let argv: [[UInt8]] = [Array("true".utf8), Array("a b".utf8), [0x66, 0xff], []]
        let bytes = WireRecord.exec(path: "/usr/bin/true", cwd: "/tmp/work dir", argv: argv)
        let record = try bytes.withUnsafeBytes { try Record(decoding: $0) }
        guard case .exec(let exec) = record else {
            Issue.record("not an exec record: \(record)")
            return
        }
        #expect(exec.binary == Array("/usr/bin/true".utf8))
        #expect(exec.cwd == Array("/tmp/work dir".utf8))
        #expect(exec.argv == argv)
        #expect(exec.pid == 4711)
        #expect(exec.ktime == 123_456_789)
        #expect(exec.parentKtime == 99)
        #expect(exec.credentials.uid == 1000)
        #expect(exec.credentials.euid == 0)
        #expect(exec.auid == 1000)
        #expect(exec.cgroupID == 42)
        #expect(exec.namespaces.mnt == 4_026_531_841)
        #expect(exec.comm == Array("true".utf8))
    }

    @Test func rootPathHasNoComponents() throws {
        let bytes = WireRecord.exec(path: "/usr/bin/true", cwd: "/", argv: [Array("true".utf8)])
        guard case .exec(let exec) = try bytes.withUnsafeBytes({ try Record(decoding: $0) }) else {
            Issue.record("not exec")
            return
        }
        #expect(exec.cwd == [UInt8(ascii: "/")])
    }

    @Test func truncatedArgumentsKeepTheCapturedPrefixAndTheRealSize() throws {
        let argv: [[UInt8]] = [Array("prog".utf8), Array(repeating: UInt8(ascii: "x"), count: 100)]
        let bytes = WireRecord.exec(
            flags: UInt16(VIGIL_EXEC_F_ARGS_TRUNCATED.rawValue), path: "/bin/prog", cwd: "/", argv: argv,
            truncateArgsTo: 20)
        guard case .exec(let exec) = try bytes.withUnsafeBytes({ try Record(decoding: $0) }) else {
            Issue.record("not exec")
            return
        }
        #expect(exec.flags.contains(.argsTruncated))
        #expect(exec.argsSize == 106)
        #expect(exec.argv == [Array("prog".utf8), Array(repeating: UInt8(ascii: "x"), count: 15)])
    }

    @Test func shortOrInconsistentRecordsAreErrorsNotCrashes() {
        let good = WireRecord.exec(path: "/a", cwd: "/", argv: [Array("a".utf8)])
        for cut in [0, 10, 31, 100, good.count - 1] {
            #expect(throws: RecordDecodeError.self) { try Array(good.prefix(cut)).withUnsafeBytes { try Record(decoding: $0) } }
        }
        var lying = good
        lying[4] = 0xff  // hdr.size low byte: claims more bytes than there are
        lying[5] = 0xff
        #expect(throws: RecordDecodeError.inconsistentSize) { try lying.withUnsafeBytes { try Record(decoding: $0) } }
        var unknown = good
        unknown[0] = 0x7f
        #expect(throws: RecordDecodeError.unknownKind(0x7f)) { try unknown.withUnsafeBytes { try Record(decoding: $0) } }
    }

    /// A DNS answer record (`--enable-dns-names`): the captured bytes and the server, by family;
    /// a capture that claims more than the record holds, or more than the datagram had, is refused.
    @Test func dnsRecords() throws {
        var ev = vigil_dns_event()
        ev.hdr.kind = UInt16(VIGIL_EVENT_DNS.rawValue)
        ev.hdr.size = UInt32(MemoryLayout<vigil_dns_event>.size)
        ev.hdr.ktime_ns = 77
        ev.hdr.cgroup_id = 4242
        ev.payload_len = 700
        ev.captured = 3
        ev.family = 10
        ev.server_port = 53
        withUnsafeMutableBytes(of: &ev.server) { $0[0] = 0x20; $0[15] = 1 }
        withUnsafeMutableBytes(of: &ev.payload) { $0[0] = 9; $0[1] = 8; $0[2] = 7; $0[3] = 6 }
        let decoded = try withUnsafeBytes(of: ev) { try Record(decoding: $0) }
        let server: [UInt8] = [0x20] + Array(repeating: 0, count: 14) + [1]
        #expect(decoded == .dns(DNSRecord(ktime: 77, cgroupID: 4242, payloadLength: 700, server: server, payload: [9, 8, 7])))
        guard case .dns(let record) = decoded else { return }
        #expect(!record.isComplete)
        ev.family = 2
        ev.payload_len = 3
        let v4 = try withUnsafeBytes(of: ev) { try Record(decoding: $0) }
        #expect(v4 == .dns(DNSRecord(ktime: 77, cgroupID: 4242, payloadLength: 3, server: [0x20, 0, 0, 0], payload: [9, 8, 7])))
        ev.captured = 4  // more than the datagram had
        #expect(throws: RecordDecodeError.inconsistentSize) { try withUnsafeBytes(of: ev) { try Record(decoding: $0) } }
        ev.payload_len = 5000
        ev.captured = UInt32(VIGIL_DNS_PAYLOAD) + 1  // more than the record holds
        #expect(throws: RecordDecodeError.inconsistentSize) { try withUnsafeBytes(of: ev) { try Record(decoding: $0) } }
    }

    @Test func cloneAndExitRecords() throws {
        var clone = vigil_clone_event()
        clone.hdr.kind = UInt16(VIGIL_EVENT_CLONE.rawValue)
        clone.hdr.size = UInt32(MemoryLayout<vigil_clone_event>.size)
        clone.hdr.pid = 10
        clone.hdr.ktime_ns = 5
        clone.ppid = 9
        clone.parent_ktime_ns = 4
        let decodedClone = try withUnsafeBytes(of: clone) { try Record(decoding: $0) }
        #expect(decodedClone == .clone(CloneRecord(ktime: 5, pid: 10, tid: 0, parentKtime: 4, ppid: 9)))

        var exit = vigil_exit_event()
        exit.hdr.kind = UInt16(VIGIL_EVENT_EXIT.rawValue)
        exit.hdr.size = UInt32(MemoryLayout<vigil_exit_event>.size)
        exit.hdr.pid = 10
        exit.process_ktime_ns = 5
        exit.exit_code = 3 << 8
        guard case .exit(let decodedExit) = try withUnsafeBytes(of: exit, { try Record(decoding: $0) }) else {
            Issue.record("not exit")
            return
        }
        #expect(decodedExit.status == 3)
        #expect(decodedExit.signal == 0)
        #expect(ExitRecord(ktime: 0, pid: 1, tid: 1, processKtime: 0, exitCode: 9).signal == 9)
    }
}

/// The header's static asserts run in clang; these run the same facts through Swift's importer.
@Suite struct ABILayoutTests {
    @Test func sizesAndOffsetsMatchTheHeader() {
        #expect(MemoryLayout<vigil_event_header>.size == 32)
        #expect(MemoryLayout<vigil_exec_event>.size == 200)
        #expect(MemoryLayout<vigil_exec_event>.offset(of: \.creds) == 48)
        #expect(MemoryLayout<vigil_exec_event>.offset(of: \.ppid) == 136)
        #expect(MemoryLayout<vigil_exec_event>.offset(of: \.comm) == 184)
        #expect(MemoryLayout<vigil_clone_event>.size == 56)
        #expect(MemoryLayout<vigil_exit_event>.size == 48)
        #expect(MemoryLayout<vigil_generic_event>.size == 144)
        #expect(MemoryLayout<vigil_generic_event>.offset(of: \.result) == 56)
        #expect(VIGIL_ABI_VERSION == 3)
    }
}
