// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `vigil-while-agent-down` with `--keep-sensors-on-exit`: two pinned connect denies scoped to
/// a pod nobody runs (so while the agent runs they deny nothing), one fail-closed and one
/// fail-open, each on a loopback port of the test's own; kill -9 of the agent; a cgroup made
/// under the test's fence while no agent runs. Everything acts on the fence only.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct FailClosedKernelTests {
    static func policy(name: String, port: UInt16, pods: String, failClosed: Bool?) -> String {
        let options = failClosed.map { "\n  options:\n  - name: vigil-while-agent-down\n    value: \($0 ? "fail-closed" : "fail-open")" } ?? ""
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: \(name)
            spec:\(options)
              podSelector:
                matchLabels:
                  app: \(pods)
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["\(port)"]
                  matchActions:
                  - action: Override
                    argError: -1
            """
    }

    /// After a kill, until the kernel takes the agent as away: its last heartbeat holds for
    /// 3 s (PodScopes.heartbeatGrace). Waited out rather than polled: every allowed connect
    /// stays in the listener's accept queue (nobody accepts), and a full queue blocks connects.
    static func waitOutTheHeartbeat() { usleep(3_300_000) }

    @Test func aFailClosedPodScopeDeniesInCgroupsMadeWhileNoAgentRuns() throws {
        let server = try FixtureAPIServer()
        defer { server.stop() }
        let dir = try TempDir("vigil-failclosed")
        defer { dir.remove() }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let bpfDir = "/sys/fs/bpf/vigil-test-\(tag)"
        defer { TestPins.remove(bpfDir) }
        let (closedPort, openPort) = (try ConnectKernelTests.Listener(), try ConnectKernelTests.Listener())
        defer {
            closedPort.close()
            openPort.close()
        }
        let fence = try TestCgroup("failclosed")
        defer { fence.remove() }
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        let nobody = "nobody-\(tag)"
        try Self.policy(name: "closed-\(tag)", port: closedPort.port, pods: nobody, failClosed: true)
            .write(toFile: "\(policies)/closed.yaml", atomically: true, encoding: .utf8)
        try Self.policy(name: "open-\(tag)", port: openPort.port, pods: nobody, failClosed: nil)
            .write(toFile: "\(policies)/open.yaml", atomically: true, encoding: .utf8)
        let arguments = [
            "--enable-k8s-api", "--k8s-kubeconfig-path", try server.writeKubeconfig(), "--tracing-policy-dir", policies,
            "--keep-sensors-on-exit", "--bpf-dir", bpfDir,
        ]

        // Up: the scope is exactly its (empty) set, for old cgroups and one made just now.
        let first = try AgentHarness(arguments: arguments, fence: fence)
        defer { first.cleanUp() }
        // The log says, per policy, what holds while no agent runs and what fails open.
        try first.waitForLog("fails_open=nothing holds=")
        try first.waitForLog("pod scope (cgroups made meanwhile are in scope) policy=closed-\(tag) while_agent_down=fail-closed")
        try first.waitForLog("fails_open=pod scope (pods started meanwhile are outside) holds=")
        try first.waitForLog("policy=open-\(tag) while_agent_down=fail-open")
        #expect(fence.connectErrno(port: closedPort.port) == 0)
        let early = try TestCgroup(under: fence, "early")
        #expect(early.connectErrno(port: closedPort.port) == 0, "a new cgroup's first connect denied while the agent runs")
        #expect(early.connectErrno(port: openPort.port) == 0)

        // Down: a cgroup made now is unclassified; the fail-closed policy covers it.
        #expect(first.kill9() & 0x7f == SIGKILL)
        let late = try TestCgroup(under: fence, "late")
        Self.waitOutTheHeartbeat()
        #expect(late.connectErrno(port: closedPort.port) == EPERM, "fail-closed: a cgroup made while no agent runs reached the denied port")
        #expect(late.connectErrno(port: openPort.port) == 0, "fail-open: a cgroup made while no agent runs is outside the scope")
        // Classified cgroups keep their scope: the fence, made before the agent, is outside.
        #expect(fence.connectErrno(port: closedPort.port) == 0)

        // Back up: the new cgroup is classified and out of the scope again.
        let second = try AgentHarness(arguments: arguments, fence: fence)
        defer {
            second.stop()
            second.cleanUp()
        }
        try second.waitForLog("pinned enforcement of a previous run replaced")
        #expect(late.connectErrno(port: closedPort.port) == 0, "the restarted agent did not classify the cgroup made while it was down")
        // ...and stays so after the next crash, while one made after that is covered.
        #expect(second.kill9() & 0x7f == SIGKILL)
        let latest = try TestCgroup(under: fence, "latest")
        Self.waitOutTheHeartbeat()
        #expect(latest.connectErrno(port: closedPort.port) == EPERM)
        #expect(late.connectErrno(port: closedPort.port) == 0)
        #expect(fence.connectErrno(port: closedPort.port) == 0)
    }
}
