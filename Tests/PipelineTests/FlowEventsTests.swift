// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import Foundation
import Pipeline
import ProcessCache
import Testing
import TestSupport

/// A flow record -> a policy-free `process_kprobe` `tcp_close` line, inside Tetragon's schema.
@Suite struct FlowEventsTests {
    static func record(direction: FlowRecord.Direction? = .incoming) -> FlowRecord {
        FlowRecord(
            ktime: 3_000_000_000, pid: 321, tid: 321, processKtime: 0, startKtime: 2_500_000_000, bytesSent: 4096,
            bytesReceived: 17, cookie: 8_589_934_593,
            sock: KernelSock(
                family: 2, type: 1, protocol: 6, state: 9, mark: 0, sport: 8080, dport: 41000, saddr: [127, 0, 0, 1],
                daddr: [10, 1, 2, 3]),
            direction: direction)
    }

    @Test func flowBecomesATcpCloseKprobeEventWithLabelledArguments() throws {
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0))
        let event = FlowEvents.event(for: Self.record(), cache: &cache, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
        let strict = String(decoding: JSONLineEncoder().encode(event), as: UTF8.self)
        #expect(strict.contains(
            #""function_name":"tcp_close","args":[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":"127.0.0.1","daddr":"10.1.2.3","sport":8080,"dport":41000,"cookie":"8589934593","state":"TCP_LAST_ACK"},"label":"sock"},{"string_arg":"incoming","label":"direction"},{"size_arg":"4096","label":"bytes_sent"},{"size_arg":"17","label":"bytes_received"},{"size_arg":"500000000","label":"duration_ns"}]"#),
            "\(strict)")
        // No policy: no policy_name or action; nothing outside Tetragon's schema by default.
        #expect(!strict.contains("policy_name") && !strict.contains("\"action\"") && !strict.contains("vigil"))
        let schema = try TetragonSchema.load()
        #expect(schema.problems(line: strict).isEmpty, "\(schema.problems(line: strict))")
        let extended = String(decoding: JSONLineEncoder(vigilFields: true).encode(event), as: UTF8.self)
        #expect(extended.contains(#""vigil":{"mechanism":"tp_btf sock/inet_sock_set_state"}"#), "\(extended)")
    }
}
