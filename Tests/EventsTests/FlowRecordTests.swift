// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Testing

/// `struct vigil_flow_event` (--enable-flows) as the BPF side lays it out, decoded.
@Suite struct FlowRecordTests {
    static func wire(direction: UInt8 = 1, size: UInt32? = nil) -> [UInt8] {
        var ev = vigil_flow_event()
        ev.hdr.kind = UInt16(VIGIL_EVENT_FLOW.rawValue)
        ev.hdr.size = size ?? UInt32(MemoryLayout<vigil_flow_event>.size)
        ev.hdr.ktime_ns = 5_000_000_000
        ev.hdr.cgroup_id = 77
        ev.hdr.pid = 4711
        ev.hdr.tid = 4712
        ev.process_ktime_ns = 1_000
        ev.start_ns = 4_000_000_000
        ev.bytes_sent = 1234
        ev.bytes_received = 98765
        ev.cookie = 0xdead_beef
        ev.sock.dst.family = 10
        ev.sock.dst.port = 443
        ev.sock.dst.protocol = 6
        ev.sock.dst.type = 1
        ev.sock.sport = 50000
        ev.sock.state = 4  // TCP_FIN_WAIT1: the state left for TCP_CLOSE
        withUnsafeMutableBytes(of: &ev.sock.dst.addr) { $0[15] = 1 }
        withUnsafeMutableBytes(of: &ev.sock.saddr) { $0[15] = 2 }
        ev.direction = direction
        return withUnsafeBytes(of: ev) { Array($0) }
    }

    @Test func flowRecordDecodesBothEndsBytesAndTimes() throws {
        let record = try Self.wire().withUnsafeBytes { try Record(decoding: $0) }
        guard case .flow(let flow) = record else {
            Issue.record("not a flow record: \(record)")
            return
        }
        #expect(flow.pid == 4711 && flow.tid == 4712 && flow.cgroupID == 77 && flow.processKtime == 1_000)
        #expect(flow.durationNanoseconds == 1_000_000_000)
        #expect(flow.bytesSent == 1234 && flow.bytesReceived == 98765 && flow.cookie == 0xdead_beef)
        #expect(flow.direction == .outgoing)
        #expect(flow.sock.family == 10 && flow.sock.dport == 443 && flow.sock.sport == 50000 && flow.sock.state == 4)
        #expect(flow.sock.daddr == Array(repeating: 0, count: 15) + [1])
        #expect(flow.sock.saddr == Array(repeating: 0, count: 15) + [2])
    }

    @Test func unknownDirectionAndShortRecordsAreNotTrapped() throws {
        let record = try Self.wire(direction: 9).withUnsafeBytes { try Record(decoding: $0) }
        guard case .flow(let flow) = record else {
            Issue.record("not a flow record: \(record)")
            return
        }
        #expect(flow.direction == nil)
        let short = Array(Self.wire(size: 64).prefix(64))
        #expect(throws: RecordDecodeError.self) { try short.withUnsafeBytes { try Record(decoding: $0) } }
    }
}
