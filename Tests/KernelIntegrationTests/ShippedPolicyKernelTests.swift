// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The policies Vigil ships (`policies/`, `deploy/examples/`), loaded as shipped, against the
/// behaviour each is meant to catch and its simple variations: another syscall, a relative or
/// `..` name, a dirfd, a symbolic link. Each variation runs in a process of its own (a trigger
/// compiled here, or a copy of a coreutils binary) and must give exactly one event; what a
/// policy does not catch is named in its own comment and checked here as not caught.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ShippedPolicyKernelTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A byte-for-byte copy of a shipped policy in `dir`: the agent refuses policy files a
    /// non-root user owns, which a checkout may be.
    func shipped(_ relative: String, into dir: TempDir) throws -> String {
        let copy = "\(dir.path)/\(URL(fileURLWithPath: relative).lastPathComponent)"
        try FileManager.default.copyItem(atPath: "\(Self.repository)/\(relative)", toPath: copy)
        chmod(copy, 0o644)
        return copy
    }

    /// Runs `binary` to its end, born in the agent's fence, its output discarded; returns its pid
    /// and raw wait status.
    func start(_ agent: AgentHarness, _ binary: String, _ args: [String], cwd: String? = nil) throws -> (pid_t, Int32) {
        let pid = try agent.spawn(
            binary, argv: ([binary] + args).map { Array($0.utf8) }, cwd: cwd, stdoutPath: "/dev/null")
        return (pid, Spawn.wait(pid))
    }

    /// ``start(_:_:_:cwd:)`` that expects exit status 0.
    func run(_ agent: AgentHarness, _ binary: String, _ args: [String], cwd: String? = nil) throws -> pid_t {
        let (pid, status) = try start(agent, binary, args, cwd: cwd)
        #expect(status == 0, "\(binary) \(args) in \(cwd ?? "."): wait status \(status) (exit code = errno)")
        return pid
    }

    /// The events of `policy` for `pid` once the agent has had a second to write any late one.
    func settledEvents(_ agent: AgentHarness, policy: String, pid: pid_t) -> [ExportedEvent] {
        agent.events.filter { $0.policyName == policy && $0.pid == Int(pid) }
    }

    @Test func sensitiveFileReadsCatchesEverySpellingOfAnOpenOfEtcShadow() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("policies/sensitive-file-reads.yaml", into: dir)
        let trigger = try Trigger.build(in: dir)
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let link = "\(dir.path)/shadow-link"
        #expect(symlink("/etc/shadow", link) == 0)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=sensitive-file-reads")

        // (what, binary, arguments, cwd, the syscall whose exit serves it without BPF-LSM)
        let cases: [(String, String, [String], String?, String)] = [
            ("open(2)", trigger, ["open", "/etc/shadow"], nil, "open"),
            ("openat(2)", trigger, ["openat", "/etc/shadow"], nil, "openat"),
            ("openat2(2)", trigger, ["openat2", "/etc/shadow"], nil, "openat2"),
            ("openat(2) of ../etc/shadow from /tmp", trigger, ["openat", "../etc/shadow"], "/tmp", "openat"),
            ("open(2) of ../etc/shadow from /tmp", trigger, ["open", "../etc/shadow"], "/tmp", "open"),
            ("cat ../etc/shadow from /tmp", cat, ["../etc/shadow"], "/tmp", "openat"),
            ("openat(2) of shadow relative to an /etc dirfd", trigger, ["openat-dirfd", "/etc", "shadow"], nil, "openat"),
            ("openat(2) of a symlink to /etc/shadow", trigger, ["openat", link], nil, "openat"),
            ("openat2(2) of a symlink to /etc/shadow", trigger, ["openat2", link], nil, "openat2"),
        ]
        let pids = try cases.map { try run(agent, $0.1, $0.2, cwd: $0.3) }
        for (pid, variation) in zip(pids, cases) {
            let event = try agent.waitFor("sensitive-file-reads event for \(variation.0)") {
                $0.policyName == "sensitive-file-reads" && $0.pid == Int(pid)
            }
            #expect(event.type == "process_lsm", "\(variation.0): \(event.line)")
            #expect(event.body["function_name"] as? String == "file_open")
            #expect((event.args.first?["file_arg"] as? [String: Any])?["path"] as? String == "/etc/shadow",
                "\(variation.0): \(event.line)")
            #expect(event.body["message"] as? String == "sensitive file opened")
            #expect(event.action == "KPROBE_ACTION_POST")
            let mechanism = event.vigil["mechanism"] as? String
            #expect(mechanism == "bpf_lsm file_open" || mechanism == "tracepoint syscalls/sys_exit_\(variation.4)",
                "\(variation.0): \(event.line)")
        }

        // io_uring's IORING_OP_OPENAT exits no open syscall: its completion runs the same hooks
        // (io_uring_complete, where the syscall dispatcher runs). The 32-bit ABI's open(2), which
        // the syscall tracepoints leave out, only BPF-LSM's file_open sees; the policy's comment
        // says so.
        let uncaught: [(String, pid_t, Int32)] = try [
            ("io_uring IORING_OP_OPENAT", ["uring", "/etc/shadow"]), ("32-bit open(2)", ["int80", "/etc/shadow"]),
        ].map { what, args in
            let (pid, status) = try start(agent, trigger, args)
            return (what, pid, status & 0x7f == 0 ? (status >> 8) & 0xff : -1)
        }

        // One event each: a duplicate would have been written right after the first.
        usleep(1_000_000)
        agent.poll()
        for (pid, variation) in zip(pids, cases) {
            let events = settledEvents(agent, policy: "sensitive-file-reads", pid: pid)
            #expect(events.count == 1, "\(variation.0): \(events.map(\.line))")
        }
        let mechanisms = Set(agent.events.compactMap { event in
            pids.contains { Int($0) == event.pid } ? event.vigil["mechanism"] as? String : nil
        })
        for (what, pid, failure) in uncaught {
            let events = settledEvents(agent, policy: "sensitive-file-reads", pid: pid)
            if failure != 0 {
                // Off here (kernel.io_uring_disabled, no IA32 emulation, seccomp): nothing opened.
                #expect(events.isEmpty, "\(what) failed with \(failure): \(events.map(\.line))")
            } else if mechanisms == ["bpf_lsm file_open"] || what.hasPrefix("io_uring") {
                #expect(events.count == 1, "\(what): \(events.map(\.line))")
                if mechanisms != ["bpf_lsm file_open"] {
                    #expect(events.first?.vigil["mechanism"] as? String == "raw_tp io_uring_complete", "\(what): \(events.map(\.line))")
                }
            } else {
                #expect(events.isEmpty, "\(what) is named as not caught without BPF-LSM: \(events.map(\.line))")
            }
        }
    }

    /// deploy/examples/namespaced-kill-shadow-reads.yaml kills on every spelling of an open of
    /// /etc/shadow. Its spec is loaded as shipped, but as a TracingPolicy of the test's own
    /// binaries (the pod selector needs the Kubernetes API; Sigkill must reach nothing else).
    @Test func namespacedKillShadowReadsKillsEverySpellingOfAnOpenOfEtcShadow() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let trigger = try Trigger.build(in: dir)
        let spared = try dir.copy(trigger, as: "spared-\(UUID().uuidString.prefix(8))")
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        let link = "\(dir.path)/shadow-link"
        #expect(symlink("/etc/shadow", link) == 0)
        let text = try String(
            contentsOfFile: "\(Self.repository)/deploy/examples/namespaced-kill-shadow-reads.yaml", encoding: .utf8)
        let hooks = try #require(text.range(of: "  lsmhooks:\n"), "the example's hooks moved: update this test")
        let scoped = String(text[hooks.lowerBound...]).replacingOccurrences(
            of: "      matchActions:\n",
            with: "      matchBinaries:\n      - operator: In\n        values: [\"\(trigger)\", \"\(cat)\"]\n      matchActions:\n")
        #expect(scoped.contains("matchBinaries") && scoped.contains("Sigkill"), "\(scoped)")
        let policy = "\(dir.path)/kill-shadow-reads.yaml"
        try ("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: kill-shadow-reads\nspec:\n" + scoped)
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=kill-shadow-reads")

        let cases: [(String, String, [String], String?)] = [
            ("open(2)", trigger, ["open", "/etc/shadow"], nil),
            ("openat(2)", trigger, ["openat", "/etc/shadow"], nil),
            ("openat2(2)", trigger, ["openat2", "/etc/shadow"], nil),
            ("openat(2) of ../etc/shadow from /tmp", trigger, ["openat", "../etc/shadow"], "/tmp"),
            ("cat ../etc/shadow from /tmp", cat, ["../etc/shadow"], "/tmp"),
            ("openat(2) of a symlink to /etc/shadow", trigger, ["openat", link], nil),
        ]
        var pids: [pid_t] = []
        for (what, binary, args, cwd) in cases {
            let (pid, status) = try start(agent, binary, args, cwd: cwd)
            #expect(status & 0x7f == SIGKILL, "\(what): wait status \(status)")
            pids.append(pid)
        }
        // A binary the test's copy does not select opens it and lives.
        let sparedPid = try run(agent, spared, ["open", "/etc/shadow"])
        for (pid, variation) in zip(pids, cases) {
            let event = try agent.waitFor("kill-shadow-reads event for \(variation.0)") {
                $0.policyName == "kill-shadow-reads" && $0.pid == Int(pid)
            }
            #expect(event.action == "KPROBE_ACTION_SIGKILL", "\(variation.0): \(event.line)")
            #expect((event.args.first?["file_arg"] as? [String: Any])?["path"] as? String == "/etc/shadow",
                "\(variation.0): \(event.line)")
        }
        usleep(1_000_000)
        agent.poll()
        for (pid, variation) in zip(pids, cases) {
            let events = settledEvents(agent, policy: "kill-shadow-reads", pid: pid)
            #expect(events.count == 1, "\(variation.0): \(events.map(\.line))")
        }
        #expect(settledEvents(agent, policy: "kill-shadow-reads", pid: sparedPid).isEmpty)
    }

    /// deploy/examples/exec-from-writable-dirs.yaml, as shipped (a raw tracepoint, Post only): a
    /// copy of /bin/true run from the test's directory (TempDir: under /tmp) is reported with its
    /// linux_binprm and its pid before exec; the same program run from its own path is not.
    @Test func execFromWritableDirsReportsAProgramStartedFromTmp() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("deploy/examples/exec-from-writable-dirs.yaml", into: dir)
        let copy = try dir.copy("/bin/true", as: "true-\(UUID().uuidString.prefix(8))")
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=exec-from-writable-dirs")
        let pid = try run(agent, copy, [])
        let outside = try run(agent, "/bin/true", [])
        let event = try agent.waitFor("the exec from /tmp") { $0.policyName == "exec-from-writable-dirs" && $0.pid == Int(pid) }
        #expect(event.type == "process_tracepoint")
        #expect(event.args.first?["int_arg"] as? Int == Int(pid), "\(event.line)")
        #expect((event.args.last?["linux_binprm_arg"] as? [String: Any])?["path"] as? String == copy, "\(event.line)")
        #expect(settledEvents(agent, policy: "exec-from-writable-dirs", pid: outside).isEmpty)
    }

    /// policies/ptrace-attach.yaml, as shipped: PTRACE_ATTACH and PTRACE_SEIZE each give one event.
    /// deploy/examples/unprivileged-shadow-probes.yaml, as shipped: a cat run as nobody without
    /// capabilities is refused /etc/shadow and reported with the -13; the same cat as root reads
    /// it and is not (matchReturnArgs and matchCapabilities decide in the kernel).
    @Test func unprivilegedShadowProbesReportsOnlyTheRefusedUnprivilegedOpen() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("deploy/examples/unprivileged-shadow-probes.yaml", into: dir)
        let cat = try dir.copy("/bin/cat", as: "cat-\(UUID().uuidString.prefix(8))")
        chmod(dir.path, 0o755)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=unprivileged-shadow-probes")

        let (refusedPid, refused) = try start(
            agent, "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", cat, "/etc/shadow"])
        #expect(refused != 0, "nobody read /etc/shadow")
        let rootPid = try run(agent, cat, ["/etc/shadow"])
        let event = try agent.waitFor("the refused open") {
            $0.policyName == "unprivileged-shadow-probes" && $0.pid == Int(refusedPid)
        }
        #expect(event.binary == cat)
        #expect(event.line.contains("\"int_arg\":-13"), "\(event.line)")
        usleep(1_000_000)
        agent.poll()
        #expect(settledEvents(agent, policy: "unprivileged-shadow-probes", pid: refusedPid).count == 1)
        #expect(settledEvents(agent, policy: "unprivileged-shadow-probes", pid: rootPid).isEmpty)
    }

    @Test func ptraceAttachReportsAttachAndSeize() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("policies/ptrace-attach.yaml", into: dir)
        let trigger = try Trigger.build(in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=ptrace-attach")

        let cases: [(String, Int)] = [("ptrace-attach", 16), ("ptrace-seize", 0x4206)]
        let pids = try cases.map { try run(agent, trigger, [$0.0]) }
        for (pid, (what, request)) in zip(pids, cases) {
            let event = try agent.waitFor("ptrace-attach event for \(what)") {
                $0.policyName == "ptrace-attach" && $0.pid == Int(pid)
            }
            #expect(event.type == "process_kprobe", "\(what): \(event.line)")
            #expect(event.args.first?["long_arg"] as? String == "\(request)", "\(what): \(event.line)")  // int64
        }
        usleep(1_000_000)
        agent.poll()
        for (pid, (what, _)) in zip(pids, cases) {
            #expect(settledEvents(agent, policy: "ptrace-attach", pid: pid).count == 1, "\(what)")
        }
    }

    /// policies/namespace-escapes.yaml, as shipped: unshare(2), clone(2) into a new namespace,
    /// setns(2), mount(2) and the new mount API's move_mount(2) are each reported once, from
    /// processes whose namespaces and mounts are their own; clone3(2), named as not caught, is not.
    @Test func namespaceEscapesReportsEachWayIntoANamespaceOrAMount() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("policies/namespace-escapes.yaml", into: dir)
        let trigger = try Trigger.build(in: dir)
        let mountPoint = "\(dir.path)/mnt"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=namespace-escapes")

        // (arguments, the syscalls reported, in order)
        let cases: [([String], [String])] = [
            (["unshare-uts"], ["unshare"]),
            (["clone-uts"], ["clone"]),
            (["setns-uts"], ["setns"]),
            (["mount-private"], ["unshare", "mount"]),
            (["move-mount", mountPoint], ["unshare", "mount", "move_mount"]),
            (["clone3-uts"], []),
        ]
        let pids = try cases.map { try run(agent, trigger, $0.0) }
        func syscalls(_ pid: pid_t) -> [String] {
            settledEvents(agent, policy: "namespace-escapes", pid: pid).compactMap { event in
                // __x64_sys_unshare -> unshare
                guard let function = event.body["function_name"] as? String, let sys = function.range(of: "_sys_")
                else { return nil }
                return String(function[sys.upperBound...])
            }
        }
        for (pid, (args, expected)) in zip(pids, cases) where !expected.isEmpty {
            _ = try agent.waitFor(count: expected.count, "namespace-escapes events for \(args)") {
                $0.policyName == "namespace-escapes" && $0.pid == Int(pid)
            }
        }
        usleep(1_000_000)
        agent.poll()
        for (pid, (args, expected)) in zip(pids, cases) {
            #expect(syscalls(pid) == expected, "\(args): \(settledEvents(agent, policy: "namespace-escapes", pid: pid).map(\.line))")
        }
        var st = stat()
        var parent = stat()
        #expect(stat(mountPoint, &st) == 0 && stat(dir.path, &parent) == 0 && st.st_dev == parent.st_dev,
            "the tmpfs stayed in the trigger's own mount namespace")
    }

    /// policies/privilege-changes-in-containers.yaml, as shipped: each credential-changing
    /// syscall is reported once from a process outside the host's pid namespace (whether host
    /// processes are left out is the namespace selector's test, not this one's).
    @Test func privilegeChangesInContainersReportsEachCredentialSyscall() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let policy = try shipped("policies/privilege-changes-in-containers.yaml", into: dir)
        let trigger = try Trigger.build(in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=privilege-changes-in-containers")

        let inPidns = try run(agent, trigger, ["credentials-in-pidns"])
        let expected = [
            "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "capset", "setfsuid",
            "setfsgid",
        ]
        // The child that made the calls is the only process of the trigger besides `inPidns`.
        let events = try agent.waitFor(count: expected.count, "privilege-changes-in-containers events") {
            $0.policyName == "privilege-changes-in-containers" && $0.binary == trigger && $0.pid != Int(inPidns)
        }
        usleep(1_000_000)
        agent.poll()
        let reported = agent.events.filter {
            $0.policyName == "privilege-changes-in-containers" && $0.binary == trigger
        }.compactMap { event -> String? in
            guard let function = event.body["function_name"] as? String, let sys = function.range(of: "_sys_")
            else { return nil }
            return String(function[sys.upperBound...])
        }
        #expect(reported == expected, "\(events.map(\.line))")
    }

    /// policies/writes-to-etc-passwd-monitor.yaml reports write-opens through open(2), openat(2)
    /// and creat(2), in monitor mode, and (as its comment says) not a relative name or a read.
    /// The test's copy is the shipped file with the two paths replaced by files of the test's
    /// own: creat(2) on /etc/passwd would truncate it.
    @Test func writesToEtcPasswdReportsWriteOpensOfEachSyscallInMonitorMode() throws {
        let dir = try TempDir("vigil-shipped")
        defer { dir.remove() }
        let passwd = "\(dir.path)/passwd"
        let shadow = "\(dir.path)/shadow"
        for path in [passwd, shadow] { try "x".write(toFile: path, atomically: true, encoding: .utf8) }
        let text = try String(
            contentsOfFile: "\(Self.repository)/policies/writes-to-etc-passwd-monitor.yaml", encoding: .utf8)
        let shippedValues = #"["/etc/passwd", "/etc/shadow"]"#
        #expect(text.components(separatedBy: shippedValues).count == 4, "the policy's paths moved: update this test")
        let policy = "\(dir.path)/writes-to-etc-passwd.yaml"
        try text.replacingOccurrences(of: shippedValues, with: "[\"\(passwd)\", \"\(shadow)\"]")
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let trigger = try Trigger.build(in: dir)
        let agent = try AgentHarness(arguments: ["--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=writes-to-etc-passwd")

        // (what, arguments, cwd, the tracepoint)
        let caught: [(String, [String], String?, String)] = [
            ("open(2) O_WRONLY", ["open-w", passwd], nil, "sys_enter_open"),
            ("openat(2) O_RDWR", ["openat-rw", shadow], nil, "sys_enter_openat"),
            ("creat(2)", ["creat", passwd], nil, "sys_enter_creat"),
        ]
        let missed: [(String, [String], String?)] = [
            ("a read", ["openat", passwd], nil),
            ("a relative name", ["open-w", "passwd"], dir.path),
        ]
        let caughtPids = try caught.map { try run(agent, trigger, $0.1, cwd: $0.2) }  // monitor: nobody is killed
        let missedPids = try missed.map { try run(agent, trigger, $0.1, cwd: $0.2) }
        for (pid, variation) in zip(caughtPids, caught) {
            let event = try agent.waitFor("writes-to-etc-passwd event for \(variation.0)") {
                $0.policyName == "writes-to-etc-passwd" && $0.pid == Int(pid)
            }
            #expect(event.body["event"] as? String == variation.3, "\(variation.0): \(event.line)")
            #expect(event.action == "KPROBE_ACTION_SIGKILL", "\(variation.0): \(event.line)")
            #expect(event.vigil["policy_mode"] as? String == "monitor", "\(variation.0): \(event.line)")
        }
        usleep(1_000_000)
        agent.poll()
        for (pid, variation) in zip(caughtPids, caught) {
            #expect(settledEvents(agent, policy: "writes-to-etc-passwd", pid: pid).count == 1, "\(variation.0)")
        }
        for (pid, variation) in zip(missedPids, missed) {
            #expect(settledEvents(agent, policy: "writes-to-etc-passwd", pid: pid).isEmpty, "\(variation.0)")
        }
    }
}

/// A trigger for the spellings of what the shipped policies watch: `trigger MODE ...` performs
/// one operation and exits 0 or with the errno. Built with the machine's gcc under a unique name.
/// - Opens (a file opened for reading has one byte read): `open PATH` (the open(2) syscall
///   itself: glibc's open() is openat(2)), `openat PATH`, `openat-dirfd DIR NAME`, `openat2 PATH`,
///   `uring PATH` (IORING_OP_OPENAT, without liburing), `int80 PATH` (the 32-bit ABI's open(2),
///   from this 64-bit process); for writing, writing nothing: `open-w PATH` (O_WRONLY),
///   `openat-rw PATH` (O_RDWR), `creat PATH`.
/// - `ptrace-attach`, `ptrace-seize`: on a child of its own.
/// - `unshare-uts`, `clone-uts`, `clone3-uts`, `setns-uts` (into its own UTS namespace),
///   `mount-private` (unshare(2) of the mount namespace, then mount(2) making it private),
///   `move-mount DIR` (the same, then a tmpfs on DIR through fsopen/fsmount/move_mount).
/// - `credentials-in-pidns`: every credential-changing syscall once, to the values it has, in a
///   child in a new pid namespace.
enum Trigger {
    static let source = #"""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <linux/capability.h>
        #include <linux/io_uring.h>
        #include <linux/sched.h>
        #include <linux/openat2.h>
        #include <string.h>
        #include <sys/mman.h>
        #include <sched.h>
        #include <signal.h>
        #include <sys/mount.h>
        #include <sys/ptrace.h>
        #include <sys/syscall.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static int uring_openat(const char *path)
        {
        	struct io_uring_params p;
        	struct io_uring_sqe *sqes;
        	struct io_uring_cqe *cqes;
        	unsigned *tail, *array, head;
        	char *sq, *cq;
        	int ring;

        	memset(&p, 0, sizeof(p));
        	ring = syscall(__NR_io_uring_setup, 1, &p);
        	if (ring < 0)
        		return -errno;
        	sq = mmap(0, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE,
        		  MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
        	cq = mmap(0, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE,
        		  MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
        	sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
        		    MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
        	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
        		return -errno;
        	memset(&sqes[0], 0, sizeof(sqes[0]));
        	sqes[0].opcode = IORING_OP_OPENAT;
        	sqes[0].fd = AT_FDCWD;
        	sqes[0].addr = (unsigned long)path;
        	sqes[0].open_flags = O_RDONLY;
        	tail = (unsigned *)(sq + p.sq_off.tail);
        	array = (unsigned *)(sq + p.sq_off.array);
        	array[*tail & *(unsigned *)(sq + p.sq_off.ring_mask)] = 0;
        	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
        	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
        		return -errno;
        	head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
        	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
        	return cqes[head & *(unsigned *)(cq + p.cq_off.ring_mask)].res;
        }

        /* open(2) of the 32-bit ABI (i386 number 5, through int $0x80) from this 64-bit process:
         * the name must lie below 4 GiB, where MAP_32BIT puts it. */
        static int int80_open(const char *path)
        {
        	char *low = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        	long ret = 5;

        	if (low == MAP_FAILED)
        		return -errno;
        	strncpy(low, path, 4095);
        	__asm__ volatile("int $0x80" : "+a"(ret) : "b"((long)low), "c"((long)O_RDONLY), "d"(0L) : "memory");
        	return (int)ret;
        }

        /* ptrace(request) on a child of ours that waits, which is then killed. */
        static int ptrace_child(long request)
        {
        	int status, rc = 0;
        	pid_t child = fork();

        	if (child < 0)
        		return errno;
        	if (child == 0) {
        		pause();
        		_exit(0);
        	}
        	if (syscall(__NR_ptrace, request, child, 0, 0) < 0)
        		rc = errno;
        	else if (request == PTRACE_ATTACH)
        		waitpid(child, &status, 0); /* its SIGSTOP */
        	kill(child, SIGKILL);
        	waitpid(child, &status, 0);
        	return rc;
        }

        /* clone(2) or clone3(2) with CLONE_NEWUTS: the child exits at once. */
        static int clone_uts(int three)
        {
        	struct clone_args args = { .flags = CLONE_NEWUTS, .exit_signal = SIGCHLD };
        	int status;
        	long child = three ? syscall(__NR_clone3, &args, sizeof(args))
        			   : syscall(__NR_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);

        	if (child < 0)
        		return errno;
        	if (child == 0)
        		_exit(0);
        	waitpid(child, &status, 0);
        	return 0;
        }

        /* A mount namespace of our own whose mounts propagate nowhere: a mount(2) event. */
        static int private_mounts(void)
        {
        	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        		return errno;
        	return 0;
        }

        /* A tmpfs attached at dir with the new mount API, in a private mount namespace. */
        static int move_mount_tmpfs(const char *dir)
        {
        	int fs, mnt, rc = private_mounts();

        	if (rc)
        		return rc;
        	fs = syscall(__NR_fsopen, "tmpfs", 0);
        	if (fs < 0 || syscall(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        		return errno;
        	mnt = syscall(__NR_fsmount, fs, 0, 0);
        	if (mnt < 0 || syscall(__NR_move_mount, mnt, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        		return errno;
        	return 0;
        }

        /* Every credential-changing syscall once, each a no-op for root (the same ids, groups and
         * capabilities again), in a child in a new pid namespace. */
        static int set_credentials(void)
        {
        	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        	struct __user_cap_data_struct caps[2];
        	gid_t groups[64];
        	int count, status;
        	pid_t child;

        	if (unshare(CLONE_NEWPID) < 0 || (child = fork()) < 0)
        		return errno;
        	if (child > 0) {
        		waitpid(child, &status, 0);
        		return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
        	}
        	count = getgroups(64, groups);
        	if (count < 0 || syscall(__NR_capget, &header, caps) < 0)
        		return errno;
        	if (syscall(__NR_setuid, getuid()) < 0 || syscall(__NR_setgid, getgid()) < 0 ||
        	    syscall(__NR_setreuid, -1, -1) < 0 || syscall(__NR_setregid, -1, -1) < 0 ||
        	    syscall(__NR_setresuid, -1, -1, -1) < 0 || syscall(__NR_setresgid, -1, -1, -1) < 0 ||
        	    syscall(__NR_setgroups, count, groups) < 0 || syscall(__NR_capset, &header, caps) < 0)
        		return errno;
        	syscall(__NR_setfsuid, getuid()); /* they return the old id, never an error */
        	syscall(__NR_setfsgid, getgid());
        	return 0;
        }

        int main(int argc, char **argv)
        {
        	struct open_how how = { .flags = O_RDONLY };
        	int fd = -ENOSYS, dirfd;
        	char c;

        	if (argc == 2 && strcmp(argv[1], "ptrace-attach") == 0)
        		return ptrace_child(PTRACE_ATTACH);
        	if (argc == 2 && strcmp(argv[1], "ptrace-seize") == 0)
        		return ptrace_child(PTRACE_SEIZE);
        	if (argc == 2 && strcmp(argv[1], "credentials-in-pidns") == 0)
        		return set_credentials();
        	if (argc == 2 && strcmp(argv[1], "unshare-uts") == 0)
        		return unshare(CLONE_NEWUTS) < 0 ? errno : 0;
        	if (argc == 2 && strcmp(argv[1], "clone-uts") == 0)
        		return clone_uts(0);
        	if (argc == 2 && strcmp(argv[1], "clone3-uts") == 0)
        		return clone_uts(1);
        	if (argc == 2 && strcmp(argv[1], "setns-uts") == 0) {
        		fd = open("/proc/self/ns/uts", O_RDONLY);
        		return fd < 0 || setns(fd, CLONE_NEWUTS) < 0 ? errno : 0;
        	}
        	if (argc == 2 && strcmp(argv[1], "mount-private") == 0)
        		return private_mounts();
        	if (argc == 3 && strcmp(argv[1], "move-mount") == 0)
        		return move_mount_tmpfs(argv[2]);
        	if (argc == 3 && strcmp(argv[1], "open") == 0)
        		fd = syscall(__NR_open, argv[2], O_RDONLY);
        	else if (argc == 3 && strcmp(argv[1], "open-w") == 0)
        		fd = syscall(__NR_open, argv[2], O_WRONLY);
        	else if (argc == 3 && strcmp(argv[1], "openat-rw") == 0)
        		fd = syscall(__NR_openat, AT_FDCWD, argv[2], O_RDWR);
        	else if (argc == 3 && strcmp(argv[1], "creat") == 0)
        		fd = syscall(__NR_creat, argv[2], 0600);
        	else if (argc == 3 && strcmp(argv[1], "openat") == 0)
        		fd = syscall(__NR_openat, AT_FDCWD, argv[2], O_RDONLY);
        	else if (argc == 4 && strcmp(argv[1], "openat-dirfd") == 0) {
        		dirfd = open(argv[2], O_RDONLY | O_DIRECTORY);
        		fd = dirfd < 0 ? dirfd : syscall(__NR_openat, dirfd, argv[3], O_RDONLY);
        	} else if (argc == 3 && strcmp(argv[1], "openat2") == 0)
        		fd = syscall(__NR_openat2, AT_FDCWD, argv[2], &how, sizeof(how));
        	else if (argc == 3 && strcmp(argv[1], "int80") == 0) {
        		fd = int80_open(argv[2]);
        		if (fd < 0)
        			return -fd;
        	} else if (argc == 3 && strcmp(argv[1], "uring") == 0) {
        		fd = uring_openat(argv[2]);
        		if (fd < 0)
        			return -fd;
        	} else
        		return EINVAL;
        	if (fd < 0)
        		return errno;
        	if (strstr(argv[1], "-w") || strcmp(argv[1], "creat") == 0)
        		return 0; /* opened for writing: nothing is written */
        	return read(fd, &c, 1) < 0 ? errno : 0;
        }
        """#

    /// Compiles the trigger into `dir` under a unique name; returns its path.
    static func build(in dir: TempDir) throws -> String {
        let sourcePath = "\(dir.path)/trigger.c"
        let binary = "\(dir.path)/trigger-\(UUID().uuidString.prefix(8))"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let status = try Spawn.run(
            "/usr/bin/gcc", argv: ["gcc", "-O1", "-Wall", "-Werror", "-o", binary, sourcePath].map { Array($0.utf8) })
        guard status == 0 else { throw Spawn.Failure(description: "gcc \(sourcePath): wait status \(status)") }
        return binary
    }
}
