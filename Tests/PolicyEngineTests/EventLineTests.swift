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

    @Test func verdictFilter() throws {
        let denied = try #require(EventLine(parsing: #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"sockaddr_arg":{"addr":"10.0.0.9","port":443}}],"action":"KPROBE_ACTION_OVERRIDE","policy_name":"egress"}}"#))
        let deniedOpen = try #require(EventLine(parsing: #"{"process_lsm":{"process":{"binary":"/usr/bin/cat"},"function_name":"file_open","args":[{"file_arg":{"path":"/etc/shadow"}}],"action":"KPROBE_ACTION_OVERRIDE","policy_name":"files"}}"#))
        let flow = try #require(EventLine(parsing: #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"tcp_close","args":[{"sock_arg":{"daddr":"10.0.0.1","dport":443},"label":"sock"}]}}"#))
        let posted = try #require(EventLine(parsing: #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"sockaddr_arg":{"addr":"10.0.0.1","port":443}}],"action":"KPROBE_ACTION_POST","policy_name":"egress"}}"#))
        let exec = try #require(EventLine(parsing: #"{"process_exec":{"process":{"binary":"/usr/bin/curl"}}}"#))
        let onlyDenied = try EventFilter(query: [("verdict", "denied")])
        #expect([denied, deniedOpen, flow, posted, exec].map { onlyDenied.matches($0) } == [true, true, false, false, false])
        let onlyAllowed = try EventFilter(query: [("verdict", "ALLOWED")])
        #expect([denied, deniedOpen, flow, posted, exec].map { onlyAllowed.matches($0) } == [false, false, true, true, false])
        let both = try EventFilter(query: [("verdict", "denied,allowed")])
        #expect([denied, deniedOpen, flow, posted, exec].map { both.matches($0) } == [true, true, true, true, false])
        #expect(throws: ControlError.self) { try EventFilter(query: [("verdict", "dropped")]) }
        #expect(both.description == "verdict=allowed,denied")
    }
}
