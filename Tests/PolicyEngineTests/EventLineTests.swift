// SPDX-License-Identifier: Apache-2.0
import ControlAPI
import Events
import Testing
import VigilAgent

/// The lines the agent publishes to `tracectl events` carry the fields its filters read, so
/// `--namespace` and `--pod` match a pod's events (they were left empty, and never matched).
@Suite struct EventLineTests {
    @Test func aPodsEventCarriesItsNamespaceAndName() throws {
        var process = ExportedProcess(
            execID: "x", pid: 57, tid: 57, uid: 0, auid: UInt32.max, cwd: Array("/".utf8), binary: Array("/usr/bin/curl".utf8),
            arguments: [], flags: [], startTime: WallTime(nanosecondsSinceEpoch: 1))
        process.pod = ExportedPod(
            namespace: "shop", name: "payments-api-7d9c6b5f4-x2kqp", uid: "u", container: nil, labels: [],
            workload: "payments-api", workloadKind: "Deployment")
        let event = ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "n", time: WallTime(nanosecondsSinceEpoch: 2))
        let line = ProcessMonitorService.eventLine(Array("{}".utf8), event)
        #expect(line.namespace == "shop" && line.pod == "payments-api-7d9c6b5f4-x2kqp")
        let filter = try EventFilter(query: [("namespace", "shop"), ("pod", "^payments-")])
        #expect(filter.matches(line))
        #expect(!(try EventFilter(query: [("namespace", "other")])).matches(line))
    }
}
