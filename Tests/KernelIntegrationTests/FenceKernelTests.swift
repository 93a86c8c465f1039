// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `--enforcement-cgroup`: node-wide Sigkill, connect Override and file Override policies act on
/// the processes born in the test's fence cgroup and are only reported for the same processes
/// started outside it (`"fenced":true`), also while the agent is gone (`--keep-sensors-on-exit`).
/// Each policy names only what the test owns (a binary copy, a file, a listener's port), so even
/// unfenced nothing else could match.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct FenceKernelTests {
    static func killPolicy(binary: String, target: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: fence-kill
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
            selectors:
            - matchBinaries:
              - operator: In
                values: ["\(binary)"]
              matchArgs:
              - index: 6
                operator: Equal
                values: ["\(target)"]
              matchActions:
              - action: Sigkill
        """
    }

    /// No matchPIDs and no binary: every process of the node that connects to `port` matches.
    static func connectPolicy(port: UInt16) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: fence-connect
        spec:
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

    static func filePolicy(path: String) -> String { TestPolicies.denyOpen(name: "fence-file", path: path) }

    func writePolicies(_ policies: [String: String], in dir: TempDir) throws -> String {
        let directory = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, yaml) in policies { try yaml.write(toFile: "\(directory)/\(name).yaml", atomically: true, encoding: .utf8) }
        return directory
    }

    @Test func killAndDenyReachOnlyProcessesInTheFence() throws {
        let dir = try TempDir("vigil-fence")
        defer { dir.remove() }
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let target = "\(dir.path)/target"
        let secret = "\(dir.path)/secret-\(UUID().uuidString.prefix(6))"
        for path in [target, secret] { try "x\n".write(toFile: path, atomically: true, encoding: .utf8) }
        let listener = try ConnectKernelTests.Listener()
        defer { listener.close() }
        let policies = try writePolicies(
            ["kill": Self.killPolicy(binary: cat, target: target), "connect": Self.connectPolicy(port: listener.port),
             "file": Self.filePolicy(path: secret)], in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies], fenced: true)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let fence = try #require(agent.fence)
        try agent.waitForLog("policy=fence-kill")
        try agent.waitForLog("policy=fence-connect")
        try agent.waitForLog("file deny rules active")
        #expect(agent.log.contains("enforcement fenced"), "start-up log: \(agent.log)")

        // Inside: killed before it reads, connect and open denied.
        let insideOut = "\(dir.path)/inside.out"
        let inside = Spawn.wait(try fence.spawn(cat, argv: [Array("cat".utf8), Array(target.utf8)], stdoutPath: insideOut))
        #expect(inside & 0x7f == SIGKILL, "wait status \(inside)")
        #expect(try String(contentsOfFile: insideOut, encoding: .utf8).isEmpty)
        #expect(fence.connectErrno(port: listener.port) == EPERM)
        let insideCatOut = "\(dir.path)/inside-secret.out"
        let insideCat = Spawn.wait(try fence.spawn("/bin/cat", argv: [Array("cat".utf8), Array(secret.utf8)], stdoutPath: insideCatOut))
        #expect((insideCat >> 8) & 0xff == 1, "cat of the denied file in the fence: wait status \(insideCat)")

        // Outside (the same binary, port and file): nothing done, all reported as fenced.
        let outsideOut = "\(dir.path)/outside.out"
        let outsidePid = try Spawn.start(cat, argv: [Array("cat".utf8), Array(target.utf8)], stdoutPath: outsideOut)
        #expect(Spawn.wait(outsidePid) == 0)
        #expect(try String(contentsOfFile: outsideOut, encoding: .utf8) == "x\n")
        #expect(ConnectKernelTests().connectErrno(port: listener.port) == 0)
        let fd = open(secret, O_RDONLY)
        #expect(fd >= 0, "open outside the fence: errno \(errno)")
        if fd >= 0 { close(fd) }

        let kills = try agent.waitFor(count: 2, "Sigkill events of the copy") {
            $0.type == "process_tracepoint" && $0.binary == cat
        }
        let killedInside = kills.first { $0.pid != Int(outsidePid) }
        let spared = kills.first { $0.pid == Int(outsidePid) }
        #expect(killedInside?.action == "KPROBE_ACTION_SIGKILL")
        #expect(killedInside?.vigil["fenced"] == nil)
        #expect(spared?.action == "KPROBE_ACTION_SIGKILL")
        #expect(spared?.vigil["fenced"] as? Bool == true, "\(spared?.line ?? "no event")")

        let connects = try agent.waitFor(count: 2, "connect events") {
            $0.policyName == "fence-connect"
        }
        #expect(connects.contains { $0.vigil["fenced"] == nil && $0.action == "KPROBE_ACTION_OVERRIDE" })
        let outsideConnect = connects.first { $0.pid == Int(getpid()) }
        #expect(outsideConnect?.vigil["fenced"] as? Bool == true, "\(outsideConnect?.line ?? "no event")")
        #expect((outsideConnect?.vigil["return"] as? [String: Any])?["int_arg"] as? Int == 0, "\(outsideConnect?.line ?? "")")

        let opens = try agent.waitFor(count: 2, "file_open events") { $0.policyName == "fence-file" }
        #expect(opens.contains { $0.vigil["fenced"] == nil && $0.pid != Int(getpid()) })
        #expect(opens.first { $0.pid == Int(getpid()) }?.vigil["fenced"] as? Bool == true)

        // The fence, named by the control API and counted.
        let status = try agent.tracectl(["status", "-o", "json"]).output
        #expect(status.contains("\"enforcement_fence\""), "\(status)")
        #expect(status.contains(fence.path), "\(status)")
        let text = try agent.tracectl(["status"]).output
        #expect(text.contains("fenced to cgroup"), "\(text)")
        let log = agent.stop()
        #expect(log.contains("policy_fenced=") && !log.contains("policy_fenced=0"), "stop log: \(log)")
    }

    @Test func thePinnedConnectDenyStaysFencedAfterKillNine() throws {
        let dir = try TempDir("vigil-fence-pinned")
        defer { dir.remove() }
        let bpfDir = "/sys/fs/bpf/vigil-test-\(UUID().uuidString.prefix(8).lowercased())"
        let listener = try ConnectKernelTests.Listener()
        defer { listener.close() }
        let policies = try writePolicies(["connect": Self.connectPolicy(port: listener.port)], in: dir)
        let fence = try TestCgroup("pinned")
        defer { fence.remove() }
        defer { TestPins.remove(bpfDir) }
        let agent = try AgentHarness(
            arguments: ["--tracing-policy-dir", policies, "--keep-sensors-on-exit", "--bpf-dir", bpfDir], fence: fence)
        defer { agent.cleanUp() }
        try agent.waitForLog("connect enforcement pinned")
        #expect(fence.connectErrno(port: listener.port) == EPERM)
        #expect(ConnectKernelTests().connectErrno(port: listener.port) == 0)

        // No agent: the pinned programs keep both the deny and its fence.
        agent.kill9()
        #expect(fence.connectErrno(port: listener.port) == EPERM, "the deny ended with the agent")
        #expect(ConnectKernelTests().connectErrno(port: listener.port) == 0, "the fence ended with the agent")
    }

    @Test func aPathThatIsNotACgroup2DirectoryIsRefusedAtStart() throws {
        let dir = try TempDir("vigil-fence-bad")
        defer { dir.remove() }
        for bad in [dir.path, "/nonexistent-\(UUID().uuidString.prefix(6))", "relative/path"] {
            // Refused before anything loads: the agent exits at once with the reason.
            let result = try Spawn.capture(
                [AgentHarness.binaryPath, "--enforcement-cgroup", bad, "--tracing-policy-dir", "/nonexistent",
                 "--export-filename", "\(dir.path)/events.log", "--server-address", ""], in: dir.path)
            #expect(result.status != 0)
            #expect(result.output.contains("--enforcement-cgroup \(bad)"), "\(result.output)")
            #expect(result.output.contains("not a cgroup2 directory") || result.output.contains("absolute path"), "\(result.output)")
        }
    }
}
