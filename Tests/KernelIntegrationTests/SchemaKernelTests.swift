// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// Every line a running agent exports is Tetragon's schema (Tests/TestSupport/Schema): an agent
/// with policies producing every kind Vigil emits on this kernel (exec, exit, a tracepoint
/// Sigkill, a syscall kprobe, `file_open` watched, denied and denied in monitor mode,
/// `socket_connect` denied), each action both inside the harness's fence and outside it (where
/// it is reported as fenced). With default flags no line has a field outside the schema; with
/// `--enable-vigil-fields` the `vigil` objects are the only additions and carry the mechanism,
/// monitor mode, the fence and a file's inode. Every policy names only what the test owns: copies
/// of binaries under its TempDir, its files, its listener's port.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct SchemaKernelTests {
    static func policies(cat: String, echo: String, target: String, watched: String, denied: String,
                         monitored: String, port: UInt16) -> [String: String] {
        func fileOpen(_ name: String, _ path: String, action: String?, monitor: Bool = false) -> String {
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: \(name)
            spec:\(monitor ? "\n  options:\n  - name: policy-mode\n    value: monitor" : "")
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: file
                  label: file
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(path)"]\(action.map { "\n      matchActions:\n      - action: \($0)\n        argError: -1" } ?? "")
            """
        }
        return [
            "tracepoint": """
                apiVersion: cilium.io/v1alpha1
                kind: TracingPolicy
                metadata:
                  name: schema-tracepoint
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
                        values: ["\(cat)"]
                      matchArgs:
                      - index: 6
                        operator: Equal
                        values: ["\(target)"]
                      matchActions:
                      - action: Sigkill
                """,
            "kprobe": """
                apiVersion: cilium.io/v1alpha1
                kind: TracingPolicy
                metadata:
                  name: schema-kprobe
                spec:
                  kprobes:
                  - call: sys_write
                    syscall: true
                    args:
                    - index: 0
                      type: int
                      label: fd
                    - index: 2
                      type: size_t
                      label: size
                    selectors:
                    - matchBinaries:
                      - operator: In
                        values: ["\(echo)"]
                """,
            "watch": fileOpen("schema-watch", watched, action: nil),
            "deny": fileOpen("schema-deny", denied, action: "Override"),
            "monitor": fileOpen("schema-monitor", monitored, action: "Override", monitor: true),
            "connect": """
                apiVersion: cilium.io/v1alpha1
                kind: TracingPolicy
                metadata:
                  name: schema-connect
                spec:
                  lsmhooks:
                  - hook: socket_connect
                    args:
                    - index: 1
                      type: sockaddr
                      label: address
                    selectors:
                    - matchArgs:
                      - index: 1
                        operator: DPort
                        values: ["\(port)"]
                      matchActions:
                      - action: Override
                        argError: -1
                """,
        ]
    }

    /// Runs the agent (`vigilFields`: with `--enable-vigil-fields`), triggers every policy inside
    /// the fence and outside it, and returns the export once every expected event is in.
    func export(vigilFields: Bool) throws -> [ExportedEvent] {
        let dir = try TempDir("vigil-schema")
        defer { dir.remove() }
        let tag = UUID().uuidString.prefix(8)
        let cat = try dir.copy("/bin/cat", as: "cat-\(tag)")
        let echo = try dir.copy("/bin/echo", as: "echo-\(tag)")
        let target = "\(dir.path)/target"
        let watched = "\(dir.path)/watched"
        let denied = "\(dir.path)/denied"
        let monitored = "\(dir.path)/monitored"
        for path in [target, watched, denied, monitored] { try "x\n".write(toFile: path, atomically: true, encoding: .utf8) }
        let listener = try ConnectKernelTests.Listener()
        defer { listener.close() }
        let policyDir = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
        let policies = Self.policies(
            cat: cat, echo: echo, target: target, watched: watched, denied: denied, monitored: monitored,
            port: listener.port)
        for (name, yaml) in policies {
            try yaml.write(toFile: "\(policyDir)/\(name).yaml", atomically: true, encoding: .utf8)
        }
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policyDir], vigilFields: vigilFields)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let fence = try #require(agent.fence)
        for name in ["tracepoint", "kprobe", "watch", "deny", "monitor", "connect"] {
            try agent.waitForLog("policy=schema-\(name)")
        }
        try agent.waitForLog("file deny rules active")
        // The control API's stream carries Vigil's fields whatever the export does.
        let streamOut = "\(dir.path)/stream.out"
        let client = try Spawn.start(
            AgentHarness.tracectlPath,
            argv: [AgentHarness.tracectlPath, "--server-address", agent.socketPath, "events", "--policy", "schema-monitor"]
                .map { Array($0.utf8) }, stdoutPath: streamOut)
        defer {
            kill(client, SIGKILL)
            Spawn.wait(client)
        }
        usleep(500_000)

        // Inside the fence: the cat copy is killed at its open, the echo's write is posted, the
        // denied open and connect fail, the monitored and watched opens go through.
        let killed = Spawn.wait(try fence.spawn(cat, argv: [Array("cat".utf8), Array(target.utf8)], stdoutPath: "/dev/null"))
        #expect(killed & 0x7f == SIGKILL, "wait status \(killed)")
        #expect(try agent.run(echo, argv: [Array("echo".utf8), Array("schema".utf8)]) == 0)
        for (path, status) in [(denied, 1), (monitored, 0), (watched, 0)] {
            let rc = Spawn.wait(try fence.spawn("/bin/cat", argv: [Array("cat".utf8), Array(path.utf8)], stdoutPath: "/dev/null"))
            #expect((rc >> 8) & 0xff == Int32(status), "cat \(path) in the fence: wait status \(rc)")
        }
        #expect(fence.connectErrno(port: listener.port) == EPERM)

        // Outside (the test process and a child of it): reported, not done.
        let spared = try Spawn.start(cat, argv: [Array("cat".utf8), Array(target.utf8)], stdoutPath: "/dev/null")
        #expect(Spawn.wait(spared) == 0)
        let fd = open(denied, O_RDONLY)
        #expect(fd >= 0, "open outside the fence: errno \(errno)")
        if fd >= 0 { close(fd) }
        #expect(ConnectKernelTests().connectErrno(port: listener.port) == 0)

        _ = try agent.waitFor(count: 2, "tracepoint events") { $0.policyName == "schema-tracepoint" }
        _ = try agent.waitFor("the echo's write") { $0.policyName == "schema-kprobe" }
        _ = try agent.waitFor("the watched open") { $0.policyName == "schema-watch" }
        _ = try agent.waitFor("the monitored open") { $0.policyName == "schema-monitor" }
        _ = try agent.waitFor(count: 2, "file deny events") { $0.policyName == "schema-deny" }
        _ = try agent.waitFor(count: 2, "connect events") { $0.policyName == "schema-connect" }
        _ = try agent.waitFor("the exit of the killed copy") { $0.type == "process_exit" && $0.binary == cat }
        let deadline = Date().addingTimeInterval(5)
        var stream = ""
        while Date() < deadline, !stream.contains("schema-monitor") {
            usleep(100_000)
            stream = (try? String(contentsOfFile: streamOut, encoding: .utf8)) ?? ""
        }
        #expect(stream.contains(#""vigil":{"mechanism":"#) && stream.contains(#""policy_mode":"monitor""#), "stream: \(stream)")
        agent.stop()
        return agent.events
    }

    @Test func defaultExportIsStrictlyTetragonsSchema() throws {
        let schema = try TetragonSchema.load()
        let events = try export(vigilFields: false)
        var kinds = Set<String>()
        for event in events {
            kinds.insert(event.type ?? "?")
            let problems = schema.problems(line: event.line)
            #expect(problems.isEmpty, "\(problems.joined(separator: "; "))\n  \(event.line)")
        }
        #expect(kinds == ["process_exec", "process_exit", "process_tracepoint", "process_kprobe", "process_lsm"])
    }

    @Test func vigilFieldsAreTheOnlyAdditions() throws {
        let schema = try TetragonSchema.load()
        let events = try export(vigilFields: true)
        var kinds = Set<String>()
        for event in events {
            kinds.insert(event.type ?? "?")
            for problem in schema.problems(line: event.line) {
                #expect(problem.contains(#"unknown field "vigil" in "#), "\(problem)\n  \(event.line)")
            }
        }
        #expect(kinds == ["process_exec", "process_exit", "process_tracepoint", "process_kprobe", "process_lsm"])
        let ours = events.filter { $0.policyName?.hasPrefix("schema-") == true }
        #expect(ours.contains { $0.vigil["policy_mode"] as? String == "monitor" && $0.policyName == "schema-monitor" })
        #expect(ours.contains { $0.vigil["fenced"] as? Bool == true && $0.policyName == "schema-tracepoint" })
        #expect(ours.contains { $0.vigil["fenced"] as? Bool == true && $0.policyName == "schema-deny" })
        #expect(ours.contains { $0.vigil["fenced"] as? Bool == true && $0.policyName == "schema-connect" })
        #expect(ours.contains { ($0.vigil["mechanism"] as? String)?.isEmpty == false && $0.type == "process_lsm" })
        #expect(ours.contains { $0.vigil["return"] != nil && $0.type == "process_lsm" })
        let watched = ours.first { $0.policyName == "schema-watch" }
        let fileVigil = watched?.args.first?["vigil"] as? [String: Any]
        #expect(fileVigil?["inode"] is String, "\(watched?.line ?? "no watched open")")
        #expect(fileVigil?["device"] is String)
        #expect((fileVigil?["open_flags"] as? String)?.hasPrefix("O_RDONLY") == true)
    }
}
