// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc
import Testing
import TestSupport

/// Exec check hooks see the new image even where another tool traced sched_process_exec first.
/// A perf event on the tracepoint opened before the agent (what perf or bpftrace opens) registers
/// the tracepoint's perf probe ahead of the agent's exec tracking; a policy hook on a perf copy
/// would then run before the tracking and see the old image (the test runner's binary). The
/// exec dispatcher runs after it: the kill by matchBinaries lands and the event names the new
/// binary. Unique copies of /bin/true in the agent's fence.
@Suite(
    .requiresRoot, .serialized, .timeLimit(.minutes(2)),
    .enabled(
        if: FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/sched/sched_process_exec/id"),
        "tracefs is not mounted at /sys/kernel/tracing"))
struct ExecHookOrderKernelTests {
    static func policy(name: String, binary: String, action: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          lsmhooks:
          - hook: bprm_check_security
            args:
            - index: 0
              type: linux_binprm
            selectors:
            - matchBinaries:
              - operator: In
                values: ["\(binary)"]
              matchActions:
              - action: \(action)
        """
    }

    @Test func exeCheckHooksRunAfterTheExecTrackingWhenAPerfProbeCameFirst() throws {
        let id = try String(contentsOfFile: "/sys/kernel/tracing/events/sched/sched_process_exec/id", encoding: .utf8)
        let tracepointID = try #require(UInt64(id.trimmingCharacters(in: .whitespacesAndNewlines)))
        let perf = cspawn_perf_tracepoint(tracepointID, 0)
        try #require(perf >= 0, "perf_event_open: \(String(cString: strerror(-perf)))")
        defer { close(perf) }

        let dir = try TempDir("vigil-exec-order")
        defer { dir.remove() }
        let unique = UUID().uuidString.prefix(8)
        let reported = try dir.copy("/bin/true", as: "order-reported-\(unique)")
        let killed = try dir.copy("/bin/true", as: "order-killed-\(unique)")
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try Self.policy(name: "order-post", binary: reported, action: "Post")
            .write(toFile: "\(policies)/post.yaml", atomically: true, encoding: .utf8)
        try Self.policy(name: "order-kill", binary: killed, action: "Sigkill")
            .write(toFile: "\(policies)/kill.yaml", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["order-post", "order-kill"] { try agent.waitForLog("policy=\(name)") }
        #expect(agent.log.contains("sched/sched_process_exec (exec dispatcher)"), "\(agent.log)")

        #expect(try agent.run(reported, argv: [Array("order".utf8)]) == 0)
        let status = try agent.run(killed, argv: [Array("order".utf8)])
        #expect(status & 0x7f == SIGKILL, "matchBinaries saw the old image: wait status \(status)")
        let event = try agent.waitFor("the exec event of the policy") { $0.policyName == "order-post" }
        #expect(event.binary == reported, "the event names the old image: \(event.line)")
        let kill = try agent.waitFor("the Sigkill event") { $0.policyName == "order-kill" }
        #expect(kill.binary == killed, "\(kill.line)")
    }
}
