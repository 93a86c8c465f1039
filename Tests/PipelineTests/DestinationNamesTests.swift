// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Events
import Exporter
import Pipeline
import ProcessCache
import Testing
import TestSupport

/// `--enable-dns-names` through the pipeline: a DNS answer record teaches the cache, and the
/// flows of that cgroup to the answer's address carry `destination_names` (a labelled
/// `string_arg`, inside Tetragon's schema); another cgroup's, an expired one's, do not.
@Suite struct DestinationNamesTests {
    /// `api.test. 60 IN A 10.1.2.3`, the owner a compression pointer to the question.
    static let answer: [UInt8] =
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        + [3] + Array("api".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]

    static func flow(cgroup: UInt64, start: UInt64) -> Record {
        var record = FlowEventsTests.record(direction: .outgoing)
        record.cgroupID = cgroup
        record.startKtime = start
        record.ktime = start + 1_000
        return .flow(record)
    }

    @Test func flowsToAnAddressTheirCgroupResolvedCarryTheNames() throws {
        let config = ProcessCacheConfig(nodeName: "n")
        let exporter = Exporter(stdout: nil, file: nil)
        var lines: [String] = []
        exporter.lineObserver = { _, line in lines.append(String(decoding: line, as: UTF8.self)) }
        let pipeline = Pipeline(
            cache: ProcessCache(config: config, clock: KtimeClock(bootWallNanoseconds: 0)), exporter: exporter,
            nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
        pipeline.dnsNames = DNSNameCache(capacity: 16)
        let second: UInt64 = 1_000_000_000
        pipeline.handle(.dns(DNSRecord(ktime: 10 * second, cgroupID: 5, payloadLength: UInt32(Self.answer.count), server: [127, 0, 0, 53], payload: Self.answer)))
        // A cut answer is counted, not parsed.
        pipeline.handle(.dns(DNSRecord(ktime: 10 * second, cgroupID: 5, payloadLength: 900, server: [127, 0, 0, 53], payload: Self.answer)))
        pipeline.handle(Self.flow(cgroup: 5, start: 11 * second))
        pipeline.handle(Self.flow(cgroup: 6, start: 11 * second))
        pipeline.handle(Self.flow(cgroup: 5, start: 71 * second))
        pipeline.endBatch()
        try #require(lines.count == 3)
        let names = #"{"string_arg":"api.test","label":"destination_names"}"#
        #expect(lines[0].contains(#"{"size_arg":"1000","label":"duration_ns"},"# + names + "]"), "\(lines[0])")
        #expect(!lines[1].contains("destination_names") && !lines[2].contains("destination_names"))
        let schema = try TetragonSchema.load()
        #expect(schema.problems(line: lines[0]).isEmpty, "\(schema.problems(line: lines[0]))")
        #expect(pipeline.dnsNames?.stats.answers == 1 && pipeline.dnsNames?.stats.cut == 1)
    }

    /// What `vigil_network_verdicts_total` reads of each exported event, without rendering it.
    @Test func aFlowIsAnAllowedNetworkEventAndAnExecIsNone() throws {
        let exporter = Exporter(stdout: nil, file: nil)
        var verdicts: [NetworkVerdict?] = []
        exporter.lineObserver = { observed, _ in verdicts.append(observed.networkVerdict) }
        let pipeline = Pipeline(
            cache: ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0)),
            exporter: exporter, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
        pipeline.handle(Self.flow(cgroup: 5, start: 1_000))
        pipeline.endBatch()
        #expect(verdicts == [NetworkVerdict(namespace: "", workload: "", policy: "", verdict: "allowed")])
        #expect(NetworkVerdict(pod: nil, policy: "egress", action: .override, notDone: false).verdict == "denied")
        #expect(NetworkVerdict(pod: nil, policy: "egress", action: .override, notDone: true).verdict == "would_deny")
        #expect(NetworkVerdict(pod: nil, policy: "egress", action: .sigkill, notDone: false).verdict == "allowed")
    }

    @Test func theDestinationOfPolicyArguments() {
        #expect(DestinationNames.destination(of: [.integer(3), .sockaddr(family: 2, port: 443, address: [10, 1, 2, 3] + Array(repeating: 0, count: 12))]) == [10, 1, 2, 3])
        let v6 = Array(repeating: UInt8(0xAB), count: 16)
        #expect(DestinationNames.destination(of: [.sock(family: 10, type: 1, protocol: 6, port: 443, address: v6)]) == v6)
        #expect(DestinationNames.destination(of: [.sockaddr(family: 1, port: 0, address: [])]) == nil)
        #expect(DestinationNames.argument([]) == nil)
        #expect(DestinationNames.argument(["a.test", "b.test"]) == Argument(.string(Array("a.test,b.test".utf8)), label: "destination_names"))
    }
}
