// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `raw: true` tracepoints through the real agent: Tetragon's rawtp.yaml hook
/// (sched/sched_process_exec, its TP_PROTO arguments: the old pid and the linux_binprm), on two
/// copies of /bin/true the test owns. One copy is reported with its arguments, the other killed
/// at its exec, inside the agent's fence.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct RawTracepointKernelTests {
    static func policy(name: String, binary: String, action: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          tracepoints:
          - subsystem: sched
            event: sched_process_exec
            raw: true
            args:
            - index: 1
              type: int
            - index: 2
              type: linux_binprm
            selectors:
            - matchArgs:
              - index: 2
                operator: Equal
                values: ["\(binary)"]
              matchActions:
              - action: \(action)
        """
    }

    @Test func theTracepointsOwnArgumentsAreReportedAndSigkillStopsTheExec() throws {
        let dir = try TempDir("vigil-rawtp")
        defer { dir.remove() }
        let unique = UUID().uuidString.prefix(8)
        let reported = try dir.copy("/bin/true", as: "rawtp-reported-\(unique)")
        let killed = try dir.copy("/bin/true", as: "rawtp-killed-\(unique)")
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try Self.policy(name: "rawtp-post", binary: reported, action: "Post")
            .write(toFile: "\(policies)/post.yaml", atomically: true, encoding: .utf8)
        try Self.policy(name: "rawtp-kill", binary: killed, action: "Sigkill")
            .write(toFile: "\(policies)/kill.yaml", atomically: true, encoding: .utf8)

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["rawtp-post", "rawtp-kill"] { try agent.waitForLog("policy=\(name)") }
        #expect(agent.log.contains("sched/sched_process_exec (raw tracepoint)"), "\(agent.log)")

        #expect(try agent.run(reported, argv: [Array("rawtp".utf8)]) == 0)
        let status = try agent.run(killed, argv: [Array("rawtp".utf8)])
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")

        let event = try agent.waitFor("the raw tracepoint event") { $0.policyName == "rawtp-post" }
        #expect(event.type == "process_tracepoint", "\(event.line)")
        #expect(event.body["subsys"] as? String == "sched")
        #expect(event.body["event"] as? String == "sched_process_exec")
        #expect(event.binary == reported)
        // The old pid is the process's own: exec keeps the pid of a single-threaded process.
        #expect(event.args.first?["int_arg"] as? Int == event.pid, "\(event.line)")
        #expect((event.args.last?["linux_binprm_arg"] as? [String: Any])?["path"] as? String == reported, "\(event.line)")
        #expect(event.vigil["mechanism"] as? String == "raw_tracepoint sched/sched_process_exec", "\(event.line)")

        let kill = try agent.waitFor("the Sigkill event") { $0.policyName == "rawtp-kill" }
        #expect(kill.action == "KPROBE_ACTION_SIGKILL", "\(kill.line)")
        #expect(kill.binary == killed)
        agent.poll()
        #expect(agent.events.filter { $0.policyName == "rawtp-post" }.count == 1, "matchArgs let another exec through")
    }
}
