// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// TracingPolicies loaded by the real agent: selectors evaluated and actions performed in the
/// kernel. Every policy is scoped to paths, binaries or pids the test created itself.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct PolicyKernelTests {
    /// Writes `yaml` to a file in `dir` and returns its path.
    func policyFile(_ yaml: String, in dir: TempDir, name: String = "policy.yaml") throws -> String {
        let path = "\(dir.path)/\(name)"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func counter(_ name: String, in log: String) -> Int? {
        guard let range = log.range(of: "\(name)=") else { return nil }
        return Int(log[range.upperBound...].prefix { $0.isNumber })
    }

    @Test func openatPrefixPostsOnlyOpensUnderTheDirectory() throws {
        let dir = try TempDir("vigil-prefix")
        let elsewhere = try TempDir("vigil-elsewhere")
        defer {
            dir.remove()
            elsewhere.remove()
        }
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: opens-under-test-dir
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
                - index: 7
                  type: int32
                selectors:
                - matchArgs:
                  - index: 6
                    operator: Prefix
                    values: ["\(dir.path)/watched/"]
            """, in: dir)
        try FileManager.default.createDirectory(atPath: "\(dir.path)/watched", withIntermediateDirectories: false)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer { agent.cleanUp() }
        try agent.waitForLog("policy loaded")
        // Syscall tracepoints run through the raw sys_enter dispatcher (cheaper than the perf
        // tracepoint) wherever tp_btf programs load, as they do on this kernel.
        #expect(agent.log.contains("syscalls/sys_enter_openat (raw sys_enter dispatcher)"), "\(agent.log)")

        let watched = "\(dir.path)/watched/file-\(UUID().uuidString.prefix(8))"
        let unwatched = "\(elsewhere.path)/file-\(UUID().uuidString.prefix(8))"
        for path in [watched, unwatched] {
            let fd = open(path, O_CREAT | O_WRONLY, 0o600)
            #expect(fd >= 0)
            close(fd)
        }
        let event = try agent.waitFor("process_tracepoint for \(watched)") {
            $0.type == "process_tracepoint" && ($0.args.first?["string_arg"] as? String) == watched
        }
        #expect(event.policyName == "opens-under-test-dir")
        #expect(event.body["subsys"] as? String == "syscalls")
        #expect(event.body["event"] as? String == "sys_enter_openat")
        #expect(event.action == "KPROBE_ACTION_POST")
        #expect(event.pid == Int(getpid()))
        #expect((event.args.last?["int_arg"] as? Int).map { $0 & Int(O_CREAT) != 0 } == true)

        let log = agent.stop()
        let exported = agent.events.filter { $0.type == "process_tracepoint" }
        #expect(exported.allSatisfy { ($0.args.first?["string_arg"] as? String)?.hasPrefix("\(dir.path)/watched/") == true })
        #expect(!exported.contains { $0.line.contains(unwatched) })
        // The machine opens files all the time: those never reached user space.
        #expect((counter("policy_filtered", in: log) ?? 0) > 0, "agent log: \(log)")
    }

    func killPolicy(binary: String, target: String, mode: String?) -> String {
        let options = mode.map { "\n  options:\n  - name: policy-mode\n    value: \($0)" } ?? ""
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: kill-reader-of-secret
            spec:\(options)
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

    @Test func sigkillStopsTheMatchingBinaryBeforeItReadsAndSparesOthers() throws {
        let dir = try TempDir("vigil-kill")
        defer { dir.remove() }
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let secret = "\(dir.path)/secret"
        try "the secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let policy = try policyFile(killPolicy(binary: cat, target: secret, mode: nil), in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")

        let killedOut = "\(dir.path)/killed.out"
        let status = Spawn.wait(try agent.spawn(cat, argv: [Array("cat".utf8), Array(secret.utf8)], stdoutPath: killedOut))
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")
        #expect(try String(contentsOfFile: killedOut, encoding: .utf8).isEmpty)

        let spareOut = "\(dir.path)/spared.out"
        let spared = Spawn.wait(try agent.spawn("/bin/cat", argv: [Array("cat".utf8), Array(secret.utf8)], stdoutPath: spareOut))
        #expect(spared == 0)
        #expect(try String(contentsOfFile: spareOut, encoding: .utf8) == "the secret\n")

        let event = try agent.waitFor("Sigkill event") { $0.type == "process_tracepoint" && $0.binary == cat }
        #expect(event.action == "KPROBE_ACTION_SIGKILL")
        #expect(event.vigil["policy_mode"] == nil)
        let exit = try agent.waitFor("exit of the killed cat") { $0.type == "process_exit" && $0.binary == cat }
        #expect(exit.body["signal"] as? String == "SIGKILL")
        #expect(!agent.events.contains { $0.type == "process_tracepoint" && $0.binary == "/usr/bin/cat" && $0.line.contains(secret) })
    }

    /// matchBinaries followChildren: an open by a `cat` whose parent is our copy of sh is
    /// reported (the kernel walks the lineage), the same open by a `cat` outside it is not.
    @Test func followChildrenMatchesDescendantsOfTheBinary() throws {
        let dir = try TempDir("vigil-lineage")
        defer { dir.remove() }
        // /bin/sh is a symlink; the copy is of the shell itself.
        let shell = try dir.copy("/usr/bin/dash", as: "sh-\(UUID().uuidString.prefix(8))")
        let secret = "\(dir.path)/secret"
        try "lineage\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: follow-children
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
                    values: ["\(shell)"]
                    followChildren: true
                  matchArgs:
                  - index: 6
                    operator: Equal
                    values: ["\(secret)"]
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")

        // Outside the lineage first: an event for it would be there by the time the child's is.
        #expect(Spawn.wait(try agent.spawn("/bin/cat", argv: [Array("cat".utf8), Array(secret.utf8)])) == 0)
        #expect(Spawn.wait(try agent.spawn(shell, argv: [Array("sh".utf8), Array("-c".utf8), Array("/bin/cat \(secret); true".utf8)])) == 0)
        let event = try agent.waitFor("open by the shell's child") {
            $0.type == "process_tracepoint" && $0.line.contains(secret) && $0.line.contains("\"binary\":\"\(shell)\"")
        }
        #expect(event.binary == "/usr/bin/cat")
        let reported = agent.events.filter { $0.type == "process_tracepoint" && $0.line.contains(secret) }
        #expect(reported.count == 1, "\(reported.map(\.line))")
    }

    @Test func monitorModeReportsTheActionAndKillsNothing() throws {
        let dir = try TempDir("vigil-monitor")
        defer { dir.remove() }
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let secret = "\(dir.path)/secret"
        try "still readable\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let policy = try policyFile(killPolicy(binary: cat, target: secret, mode: "monitor"), in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("mode=monitor")

        let out = "\(dir.path)/out"
        let status = Spawn.wait(try agent.spawn(cat, argv: [Array("cat".utf8), Array(secret.utf8)], stdoutPath: out))
        #expect(status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "still readable\n")
        let event = try agent.waitFor("monitor-mode event") { $0.type == "process_tracepoint" && $0.binary == cat }
        #expect(event.action == "KPROBE_ACTION_SIGKILL")
        #expect(event.vigil["policy_mode"] as? String == "monitor")
    }

    @Test func syscallKprobeOnWriteRunsAsATracepointWithFdAndSize() throws {
        let dir = try TempDir("vigil-write")
        defer { dir.remove() }
        let echo = try dir.copy("/bin/echo", as: "echo-\(UUID().uuidString.prefix(8))")
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: writes-of-test-echo
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
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        try agent.run(echo, argv: [Array("echo".utf8), Array("hello".utf8)])

        let event = try agent.waitFor("process_kprobe for the echo's write") {
            $0.type == "process_kprobe" && $0.binary == echo
        }
        #expect(event.body["function_name"] as? String == "__x64_sys_write")
        #expect(event.args.count == 2)
        #expect(event.args.first?["int_arg"] as? Int == 1)
        #expect(event.args.first?["label"] as? String == "fd")
        #expect(event.args.last?["size_arg"] as? String == "6")
        #expect(event.args.last?["label"] as? String == "size")
    }

    /// matchParentBinaries: an open of the test's file is reported when the opener's parent is
    /// the test's bash copy, not when it is the system's bash; the parent is the one the kernel
    /// side recorded at exec (real_parent's binary in vg_procs).
    @Test func matchParentBinariesSelectsByTheParentsBinary() throws {
        let dir = try TempDir("vigil-parent")
        defer { dir.remove() }
        let file = "\(dir.path)/file-\(UUID().uuidString.prefix(6))"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let bash = try dir.copy("/bin/bash", as: "bash-\(UUID().uuidString.prefix(8))")
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: opens-under-test-bash
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                args:
                - index: 1
                  type: string
                selectors:
                - matchArgs:
                  - index: 1
                    operator: Equal
                    values: ["\(file)"]
                  matchParentBinaries:
                  - operator: In
                    values: ["\(bash)"]
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        // `cat; true` keeps bash from exec-ing cat in its own place: cat is bash's child.
        #expect(try agent.run(bash, argv: [Array("bash".utf8), Array("-c".utf8), Array("cat \(file) >/dev/null; true".utf8)]) == 0)
        #expect(try agent.run("/bin/bash", argv: [Array("bash".utf8), Array("-c".utf8), Array("cat \(file) >/dev/null; true".utf8)]) == 0)
        let event = try agent.waitFor("open under the test's bash") {
            $0.policyName == "opens-under-test-bash" && $0.args.first?["string_arg"] as? String == file
        }
        #expect(event.binary == "/bin/cat" || event.binary == "/usr/bin/cat", "\(event.line)")
        #expect(event.parent["binary"] as? String == bash, "\(event.line)")
        usleep(500_000)
        agent.poll()
        let all = agent.events.filter { $0.policyName == "opens-under-test-bash" }
        #expect(all.count == 1, "the system bash's child was reported too: \(all.map(\.line))")
    }

    /// `return: true` on a syscall kprobe: the event goes out at the syscall's exit with its
    /// arguments and Tetragon's `return`; a selector on the path picks the test's own opens,
    /// successful (the fd) and failed (-ENOENT), and Sigkill at return kills the opener.
    @Test func syscallReturnProbeReportsArgumentsAndTheReturnValue() throws {
        let dir = try TempDir("vigil-return")
        defer { dir.remove() }
        let present = "\(dir.path)/present-\(UUID().uuidString.prefix(6))"
        let missing = "\(dir.path)/missing-\(UUID().uuidString.prefix(6))"
        let killing = "\(dir.path)/killing-\(UUID().uuidString.prefix(6))"
        for path in [present, killing] { try "x".write(toFile: path, atomically: true, encoding: .utf8) }
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: openat-returns
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                return: true
                args:
                - index: 1
                  type: string
                  label: path
                returnArg:
                  index: 0
                  type: int
                selectors:
                - matchArgs:
                  - index: 1
                    operator: Equal
                    values: ["\(present)", "\(missing)"]
                - matchArgs:
                  - index: 1
                    operator: Equal
                    values: ["\(killing)"]
                  matchActions:
                  - action: Sigkill
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        #expect(try agent.run(cat, argv: [Array("cat".utf8), Array(present.utf8)]) == 0)
        _ = try agent.run(cat, argv: [Array("cat".utf8), Array(missing.utf8)])
        let killed = try agent.run(cat, argv: [Array("cat".utf8), Array(killing.utf8)])
        #expect(killed & 0x7f == SIGKILL, "wait status \(killed)")

        func event(for path: String) throws -> ExportedEvent {
            try agent.waitFor("return event for \(path)") {
                $0.type == "process_kprobe" && $0.policyName == "openat-returns" && $0.args.first?["string_arg"] as? String == path
            }
        }
        let opened = try event(for: present)
        #expect(opened.body["function_name"] as? String == "__x64_sys_openat")
        #expect(opened.args.first?["label"] as? String == "path")
        let fd = (opened.body["return"] as? [String: Any])?["int_arg"] as? Int
        #expect(fd.map { $0 >= 3 } == true, "\(opened.line)")
        let failed = try event(for: missing)
        #expect((failed.body["return"] as? [String: Any])?["int_arg"] as? Int == -Int(ENOENT), "\(failed.line)")
        let kill = try event(for: killing)
        #expect(kill.action == "KPROBE_ACTION_SIGKILL", "\(kill.line)")
        #expect(((kill.body["return"] as? [String: Any])?["int_arg"] as? Int).map { $0 >= 3 } == true, "\(kill.line)")
    }

    /// matchReturnArgs in the kernel: only the test's failed opens (openat returned < 0) are
    /// reported; its successful open of a file next to them is filtered out before the ring.
    @Test func matchReturnArgsReportsOnlyFailedOpens() throws {
        let dir = try TempDir("vigil-retargs")
        defer { dir.remove() }
        let present = "\(dir.path)/present-\(UUID().uuidString.prefix(6))"
        let missing = "\(dir.path)/missing-\(UUID().uuidString.prefix(6))"
        try "x".write(toFile: present, atomically: true, encoding: .utf8)
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: failed-opens
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                return: true
                args:
                - index: 1
                  type: string
                returnArg:
                  index: 0
                  type: int
                selectors:
                - matchBinaries:
                  - operator: In
                    values: ["\(cat)"]
                  matchReturnArgs:
                  - index: 0
                    operator: LessThan
                    values: ["0"]
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        #expect(try agent.run(cat, argv: [Array("cat".utf8), Array(present.utf8)]) == 0)
        _ = try agent.run(cat, argv: [Array("cat".utf8), Array(missing.utf8)])
        let failed = try agent.waitFor("the failed open") {
            $0.policyName == "failed-opens" && $0.args.first?["string_arg"] as? String == missing
        }
        #expect((failed.body["return"] as? [String: Any])?["int_arg"] as? Int == -Int(ENOENT), "\(failed.line)")
        // The successful open happened first, so it would be in the file by now.
        usleep(300_000)
        agent.poll()
        let reported = agent.events.filter { $0.policyName == "failed-opens" }
        #expect(!reported.contains { ($0.body["return"] as? [String: Any])?["int_arg"] as? Int ?? -1 >= 0 },
                "a successful open was reported: \(reported.map(\.line))")
    }

    /// matchCapabilities in the kernel: the same copy of cat opens the same file as root (all
    /// capabilities effective) and as nobody (none): NotIn CAP_SYS_ADMIN reports only the second.
    @Test func matchCapabilitiesTellsRootFromAnUnprivilegedUser() throws {
        let dir = try TempDir("vigil-caps")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let file = "\(dir.path)/file-\(UUID().uuidString.prefix(6))"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: opens-without-sys-admin
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
                    values: ["\(file)"]
                  matchCapabilities:
                  - type: Effective
                    operator: NotIn
                    values: [CAP_SYS_ADMIN]
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        #expect(try agent.run(cat, argv: [Array("cat".utf8), Array(file.utf8)]) == 0)
        let setpriv = "/usr/bin/setpriv"
        #expect(try agent.run(setpriv, argv: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cat, file].map { Array($0.utf8) }) == 0)
        let unprivileged = try agent.waitFor("the open by nobody") { $0.policyName == "opens-without-sys-admin" }
        #expect(unprivileged.process["uid"] as? Int == 65534, "\(unprivileged.line)")
        usleep(300_000)
        agent.poll()
        let reported = agent.events.filter { $0.policyName == "opens-without-sys-admin" }
        #expect(reported.count == 1, "root's open was reported too: \(reported.map(\.line))")
    }

    @Test func rawSyscallsWithAListPostsOnlyTheListedSyscalls() throws {
        let dir = try TempDir("vigil-rawsys")
        defer { dir.remove() }
        let policy = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: dups-of-the-test
            spec:
              lists:
              - name: dups
                type: syscalls
                values: [sys_dup, sys_dup2]
              tracepoints:
              - subsystem: raw_syscalls
                event: sys_enter
                args:
                - index: 4
                  type: syscall64
                selectors:
                - matchArgs:
                  - index: 0
                    operator: InMap
                    values: ["list:dups"]
                  matchPIDs:
                  - operator: In
                    values: [\(getpid())]
            """, in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        let copy = dup(1)
        let copy2 = dup2(1, 200)
        _ = getppid()
        close(copy)
        close(copy2)

        _ = try agent.waitFor(count: 2, "dup and dup2 events") {
            $0.type == "process_tracepoint" && $0.policyName == "dups-of-the-test"
        }
        usleep(200_000)
        agent.poll()
        let ids = agent.events.filter { $0.policyName == "dups-of-the-test" }.compactMap {
            ($0.args.first?["syscall_id"] as? [String: Any])?["id"] as? Int
        }
        #expect(Set(ids) == [32, 33], "syscall ids seen: \(ids)")
        #expect(agent.events.filter { $0.policyName == "dups-of-the-test" }.allSatisfy { $0.pid == Int(getpid()) })
    }

    @Test func tenMistakesGiveTenPreciseErrorsAndTheGoodPolicyStillLoads() throws {
        let dir = try TempDir("vigil-mistakes")
        defer { dir.remove() }
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: false)
        let marker = "\(dir.path)/good-marker"
        _ = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: ten-mistakes
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: strng
                - index: 7
                  type: int32
                selectors:
                - matchArgs:
                  - index: 6
                    operator: Equl
                    values: ["/x"]
                  - index: 7
                    operator: Equal
                    values: ["1", "2", "3", "4", "5"]
                  matchBinaries:
                  - operator: Inn
                    values: ["/bin/true"]
                  matchPIDs:
                  - operator: In
                    values: [abc]
                  matchNamespaces:
                  - namespace: Pidd
                    operator: In
                    values: ["host_ns"]
                  matchActions:
                  - action: Sigkil
                  - action: Signal
                  - action: Post
                    rateLimit: "5 minutes"
                  unknownKey: 1
            """, in: try TempDir.wrap(policies), name: "bad.yaml")
        _ = try policyFile(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: the-good-one
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
                selectors:
                - matchArgs:
                  - index: 6
                    operator: Equal
                    values: ["\(marker)"]
            """, in: try TempDir.wrap(policies), name: "good.yaml")
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=the-good-one")
        let prefix = "policy refused: \(policies)/bad.yaml:"
        let refused = agent.log.split(separator: "\n").compactMap { line in
            line.range(of: prefix).map { String(line[$0.upperBound...]) }
        }
        let selector = "spec.tracepoints[0].selectors[0]"
        #expect(
            refused == [
                "11:13: spec.tracepoints[0].args[0].type: unknown argument type \"strng\" (did you mean \"string\"?)",
                "17:19: \(selector).matchArgs[0].operator: unknown operator \"Equl\" (did you mean \"Equal\"?)",
                "21:17: \(selector).matchArgs[1].values: too many values for an integer comparison: 5 (at most 4 per "
                    + "matchArgs entry; use operator InMap or NotInMap for larger sets)",
                "23:19: \(selector).matchBinaries[0].operator: unknown operator \"Inn\" (did you mean \"In\"?)",
                "27:18: \(selector).matchPIDs[0].values[0]: expected an integer, got the string \"abc\"",
                "29:20: \(selector).matchNamespaces[0].namespace: unknown namespace \"Pidd\" (did you mean \"Pid\"?)",
                "33:17: \(selector).matchActions[0].action: unknown action \"Sigkil\" (did you mean \"Sigkill\"?)",
                "34:17: \(selector).matchActions[1].argSig: action Signal needs argSig (a signal number 1-64)",
                "36:20: \(selector).matchActions[2].rateLimit: invalid rateLimit \"5 minutes\": expected a whole number "
                    + "of seconds, optionally with an s, m or h suffix (e.g. \"30\", \"30s\", \"5m\", \"1h\")",
                "37:7: \(selector).unknownKey: unknown field \"unknownKey\"; allowed fields: matchArgs, matchData, "
                    + "matchReturnArgs, matchPIDs, matchBinaries, matchParentBinaries, matchNamespaces, "
                    + "matchNamespaceChanges, matchCapabilities, matchCapabilityChanges, matchWorkloads, matchActions, "
                    + "matchReturnActions, macros, label",
            ], "refusals:\n\(refused.joined(separator: "\n"))")
        let fd = open(marker, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        _ = try agent.waitFor("the good policy's event") { $0.policyName == "the-good-one" }
    }

    /// Each version of the policy pairs a path prefix with a binary; a half-updated selector set
    /// would pair one version's prefix with the other's binary. Replaced again and again while
    /// both binaries open files under both prefixes, no event may mix them.
    @Test func replacingAPolicyWhileEventsFlowNeverMixesVersions() throws {
        let dir = try TempDir("vigil-replace")
        defer { dir.remove() }
        let policies = "\(dir.path)/policies"
        for sub in ["policies", "a", "b"] {
            try FileManager.default.createDirectory(atPath: "\(dir.path)/\(sub)", withIntermediateDirectories: false)
        }
        for sub in ["a", "b"] { try "x\n".write(toFile: "\(dir.path)/\(sub)/f", atomically: true, encoding: .utf8) }
        let catX = try dir.copy("/bin/cat", as: "cat-x")
        let catY = try dir.copy("/bin/cat", as: "cat-y")
        let shell = try dir.copy("/bin/dash", as: "loop-sh")
        func version(_ prefix: String, _ binary: String) -> String {
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: swapped
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
                selectors:
                - matchArgs:
                  - index: 6
                    operator: Prefix
                    values: ["\(dir.path)/\(prefix)/"]
                  matchBinaries:
                  - operator: In
                    values: ["\(binary)"]
            """
        }
        let file = "\(policies)/swapped.yaml"
        try version("a", catX).write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer { agent.cleanUp() }
        try agent.waitForLog("policy=swapped")

        // Absolute paths: the policy matches the filename argument as the program passed it.
        let (a, b) = ("\(dir.path)/a/f", "\(dir.path)/b/f")
        let loop = "i=0; while [ $i -lt 300 ]; do ./cat-x \(a) \(b); ./cat-y \(a) \(b); i=$((i+1)); done"
        let generator = try agent.spawn(shell, argv: [Array("sh".utf8), Array("-c".utf8), Array(loop.utf8)], cwd: dir.path)
        for round in 0..<10 {
            let next = round % 2 == 0 ? version("b", catY) : version("a", catX)
            try next.write(toFile: file, atomically: true, encoding: .utf8)
            agent.send(SIGHUP)
            usleep(150_000)
        }
        Spawn.wait(generator)
        usleep(300_000)
        agent.stop()
        let events = agent.events.filter { $0.policyName == "swapped" }
        // Both versions ran while the generator did.
        #expect(events.contains { $0.binary == catX })
        #expect(events.contains { $0.binary == catY })
        for event in events {
            let path = event.args.first?["string_arg"] as? String ?? ""
            let consistent =
                (path.hasPrefix("\(dir.path)/a/") && event.binary == catX)
                || (path.hasPrefix("\(dir.path)/b/") && event.binary == catY)
            #expect(consistent, "mixed versions: \(path) opened by \(event.binary ?? "?")")
        }
    }
}

extension TempDir {
    /// An existing directory treated as a TempDir (its parent TempDir removes it).
    static func wrap(_ path: String) throws -> TempDir { try TempDir(existing: path) }
}

/// lsmhooks file_open on the exit of the open syscalls: the path comes from the new fd.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct FileOpenKernelTests {
    @Test func relativeOpensThroughADirfdAreReportedWithTheirAbsolutePath() throws {
        let dir = try TempDir("vigil-fileopen")
        defer { dir.remove() }
        let watched = "\(dir.path)/watched"
        try FileManager.default.createDirectory(atPath: "\(watched)/sub", withIntermediateDirectories: true)
        try "x".write(toFile: "\(watched)/sub/file", atomically: true, encoding: .utf8)
        let policy = "\(dir.path)/policy.yaml"
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: file-open-under-test-dir
            spec:
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: file
                  label: file
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Prefix
                    values: ["\(watched)/"]
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=file-open-under-test-dir")

        // openat(dirfd, "sub/../sub/file"): neither the name nor the dirfd alone is the path.
        let dirfd = open(watched, O_RDONLY | O_DIRECTORY)
        let fd = openat(dirfd, "sub/../sub/file", O_RDONLY)
        #expect(fd >= 0)
        close(fd)
        close(dirfd)
        let event = try agent.waitFor("process_lsm file_open") {
            $0.type == "process_lsm" && $0.pid == Int(getpid())
                && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == "\(watched)/sub/file"
        }
        #expect(event.body["function_name"] as? String == "file_open")
        #expect((event.args.first?["file_arg"] as? [String: Any])?["permission"] as? String == "-rw-r--r--")
        #expect(event.args.first?["label"] as? String == "file")
        #expect(event.action == "KPROBE_ACTION_POST")
        // Vigil's facts of the file argument: the inode and device stat(2) reports, the open flags.
        var st = stat()
        #expect(stat("\(watched)/sub/file", &st) == 0)
        let fileArg = event.args.first?["vigil"] as? [String: Any]
        #expect(fileArg?["inode"] as? String == "\(st.st_ino)", "\(event.line)")
        let dev = UInt64(st.st_dev)  // glibc's major()/minor(), which are macros
        let (devMajor, devMinor) = (((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff), (dev & 0xff) | ((dev >> 12) & ~0xff))
        #expect(fileArg?["device"] as? String == "\(devMajor):\(devMinor)")
        #expect((fileArg?["open_flags"] as? String)?.hasPrefix("O_RDONLY") == true)
        // What the open returned: the new fd.
        #expect((event.vigil["return"] as? [String: Any])?["int_arg"] as? Int == Int(fd), "\(event.line)")
        #expect(event.vigil["mechanism"] as? String == "tracepoint syscalls/sys_exit_openat")

        // Failed opens: no file, so the path is the name joined to its dirfd (or the cwd), and
        // the event carries the error.
        let missingDirfd = open(watched, O_RDONLY | O_DIRECTORY)
        #expect(openat(missingDirfd, "sub/missing-\(getpid())", O_RDONLY) == -1)
        close(missingDirfd)
        let failed = try agent.waitFor("process_lsm for the failed relative open") {
            $0.type == "process_lsm" && $0.pid == Int(getpid())
                && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == "\(watched)/sub/missing-\(getpid())"
        }
        #expect((failed.vigil["return"] as? [String: Any])?["int_arg"] as? Int == -Int(ENOENT), "\(failed.line)")
        #expect((failed.args.first?["file_arg"] as? [String: Any])?["permission"] == nil)
        #expect(open("\(watched)/absent", O_RDONLY) == -1)
        _ = try agent.waitFor("process_lsm for the failed absolute open") {
            $0.type == "process_lsm" && $0.pid == Int(getpid())
                && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == "\(watched)/absent"
        }
    }
}

/// lsmhooks bprm_check_security on sched_process_exec: Sigkill stops the new image before it
/// runs an instruction, proven by the side effect the binary would have made.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ExecCheckKernelTests {
    @Test func sigkillAtExecStopsTheImageBeforeItRuns() throws {
        let dir = try TempDir("vigil-execkill")
        defer { dir.remove() }
        let touch = try dir.copy("/bin/touch", as: "touch-\(UUID().uuidString.prefix(8))")
        let policy = "\(dir.path)/policy.yaml"
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: kill-exec-of-test-binary
            spec:
              lsmhooks:
              - hook: bprm_check_security
                args:
                - index: 0
                  type: linux_binprm
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(touch)"]
                  matchActions:
                  - action: Sigkill
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=kill-exec-of-test-binary")

        let sideEffect = "\(dir.path)/side-effect"
        let status = try agent.run(touch, argv: [Array("touch".utf8), Array(sideEffect.utf8)])
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")
        #expect(!FileManager.default.fileExists(atPath: sideEffect))
        // The original touch still runs.
        let spared = "\(dir.path)/spared"
        #expect(try agent.run("/bin/touch", argv: [Array("touch".utf8), Array(spared.utf8)]) == 0)
        #expect(FileManager.default.fileExists(atPath: spared))

        let event = try agent.waitFor("process_lsm bprm_check_security") {
            $0.type == "process_lsm" && $0.binary == touch
        }
        #expect(event.body["function_name"] as? String == "bprm_check_security")
        #expect((event.args.first?["linux_binprm_arg"] as? [String: Any])?["path"] as? String == touch)
        #expect(event.action == "KPROBE_ACTION_SIGKILL")
    }

    /// vigil_argv (Vigil's argument of bprm_check_security): the new program's arguments,
    /// matched in the kernel. Sigkill on a SubString of them stops only the exec that carries it
    /// (proven by the files touch would have made); arguments past the VIGIL_ARGV_MAX bytes the
    /// kernel reads are not matched, and the event says they were cut (truncated_bytes_arg with
    /// the whole size). Scoped to a unique copy of touch, in the agent's fence.
    @Test func sigkillOnTheArgumentsOfAnExec() throws {
        let dir = try TempDir("vigil-execargv")
        defer { dir.remove() }
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let touch = try dir.copy("/bin/touch", as: "touch-\(tag)")
        let policy = "\(dir.path)/policy.yaml"
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: kill-exec-by-arguments
            spec:
              lsmhooks:
              - hook: bprm_check_security
                args:
                - index: 0
                  type: linux_binprm
                - index: 1
                  type: vigil_argv
                  label: arguments
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(touch)"]
                  - index: 1
                    operator: SubString
                    values: ["kill-me-\(tag)"]
                  matchActions:
                  - action: Sigkill
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(touch)"]
                  - index: 1
                    operator: Prefix
                    values: ["\(dir.path)/report-"]
                  matchActions:
                  - action: Post
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=kill-exec-by-arguments")
        func run(_ args: [String]) throws -> Int32 {
            try agent.run(touch, argv: (["touch"] + args).map { Array($0.utf8) })
        }

        let killed = "\(dir.path)/a-kill-me-\(tag)-b"
        let status = try run([killed])
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")
        #expect(!FileManager.default.fileExists(atPath: killed))
        let event = try agent.waitFor("process_lsm of the killed exec") { $0.type == "process_lsm" && $0.binary == touch }
        #expect(event.action == "KPROBE_ACTION_SIGKILL", "\(event.line)")
        #expect(event.args.dropFirst().first?["string_arg"] as? String == killed, "\(event.line)")
        #expect(event.args.dropFirst().first?["label"] as? String == "arguments", "\(event.line)")

        // The same copy with other arguments runs; so does the needle as argv[0], which
        // vigil_argv leaves out.
        let spared = "\(dir.path)/spared"
        #expect(try run([spared]) == 0)
        #expect(try agent.run(touch, argv: ["kill-me-\(tag)", spared + "2"].map { Array($0.utf8) }) == 0)
        #expect(FileManager.default.fileExists(atPath: spared) && FileManager.default.fileExists(atPath: spared + "2"))

        // 40 names of 80 bytes or more: over 3,200 bytes of arguments, the needle in the last. The kernel
        // reads 1,024: the exec runs, and the Post selector's event says what was cut.
        let names = (0..<40).map { "\(dir.path)/report-\(String(format: "%02d", $0))-" }.map {
            $0 + String(repeating: "x", count: max(0, 79 - $0.utf8.count))
        }
        let long = names.dropLast() + ["\(dir.path)/kill-me-\(tag)"]
        #expect(try run(Array(long)) == 0, "the needle past the bytes read is not matched")
        let total = long.reduce(0) { $0 + $1.utf8.count + 1 }
        let cut = try agent.waitFor("process_lsm with the arguments cut") {
            $0.type == "process_lsm" && $0.binary == touch && $0.action == "KPROBE_ACTION_POST"
        }
        let truncated = cut.args.dropFirst().first?["truncated_bytes_arg"] as? [String: Any]
        #expect(truncated?["orig_size"] as? String == "\(total)", "\(cut.line)")
        let text = (truncated?["bytes_arg"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        #expect(text?.hasPrefix(long[0] + " " + long[1]) == true, "\(cut.line)")
        #expect(text?.contains("kill-me") == false, "\(cut.line)")
    }
}
