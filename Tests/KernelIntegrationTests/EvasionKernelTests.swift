// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The red-team suite: every way around a file, exec or connect policy that a user would try,
/// against a deny (`Override`) and a kill (`Sigkill`) policy, on this machine's kernel. Each row
/// is either caught (denied or killed, and the event exported names the policy) or missed; the
/// expected outcome of every row is the table in docs/hardening.md ("Evasions"), and this suite
/// fails when the kernel's behaviour and the table part ways (a fix landed, or a regression).
///
/// Everything is the test's own: protected files and binaries are unique copies in its temp
/// directory, ports are its own loopback listeners, and every agent is fenced to the test's
/// cgroup, where the evasion tool (Tests/Tools/evade.c) runs.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(5)))
struct EvasionKernelTests {
    enum Outcome: String, CustomStringConvertible {
        case caught, missed
        /// The policy kind does not apply (a kill on tcp_connect for a UDP send).
        case notApplicable = "n/a"
        var description: String { rawValue }
    }

    /// Expected outcomes on a kernel without BPF-LSM (this machine): technique -> (deny, kill).
    /// Keep in step with the table in docs/hardening.md.
    static let expected: [String: (deny: Outcome, kill: Outcome)] = [
        // Opens
        "open": (.caught, .caught),
        "openat2": (.caught, .caught),
        "uring-openat": (.caught, .caught),
        "uring-openat2": (.caught, .caught),
        "by-handle": (.caught, .caught),
        "opath-reopen": (.caught, .caught),
        "symlink-chain": (.caught, .caught),
        "hard-link": (.missed, .missed),
        "bind-mount": (.missed, .missed),
        // Execs
        "exec": (.caught, .caught),
        "execveat-fd": (.caught, .caught),
        "memfd-exec": (.missed, .missed),
        "copy": (.missed, .missed),
        "exec-hard-link": (.missed, .missed),
        "rename": (.missed, .missed),
        "ld.so": (.missed, .missed),
        "shebang": (.caught, .caught),
        // Connects
        "connect": (.caught, .caught),
        "uring-connect": (.caught, .caught),
        "udp-sendto": (.caught, .notApplicable),
        "udp-sendmmsg": (.caught, .notApplicable),
        "mapped6": (.caught, .caught),
        "thread-connect": (.caught, .caught),
        "vfork-connect": (.caught, .caught),
        "fastopen": (.caught, .caught),
    ]

    /// What one attempt did.
    enum Result: CustomStringConvertible {
        case worked
        case failed(Int32)
        case killed
        var description: String {
            switch self {
            case .worked: "worked"
            case .failed(let errno): "errno \(errno)"
            case .killed: "killed"
            }
        }
    }

    /// One technique: how to attempt it, and the text its policy event carries (the protected
    /// path or port).
    struct Attempt {
        var technique: String
        var run: () throws -> Result
        var eventMark: String
    }

    // MARK: - The tool

    /// Builds evade.c (static, with liburing) into `dir`.
    static func buildTool(in dir: TempDir) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Tools/evade.c").standardized.path
        let output = "\(dir.path)/evade"
        let log = "\(dir.path)/evade-build.log"
        let status = Spawn.wait(try Spawn.start(
            "/usr/bin/gcc", argv: ["gcc", "-O2", "-static", "-Wall", "-Werror", "-o", output, source, "-luring", "-lpthread"].map { Array($0.utf8) },
            stdoutPath: log))
        guard status == 0 else {
            throw Spawn.Failure(description: "building \(source) failed (liburing-dev installed? make test installs it): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return output
    }

    /// Runs `argv` in the fence; what it printed decides the result.
    static func attempt(_ fence: TestCgroup, _ executable: String, _ argv: [String], dir: TempDir) throws -> Result {
        let out = "\(dir.path)/out-\(UUID().uuidString.prefix(8))"
        let status = Spawn.wait(try fence.spawn(executable, argv: argv.map { Array($0.utf8) }, stdoutPath: out))
        if status & 0x7f == SIGKILL { return .killed }
        let printed = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        unlink(out)
        if let errno = Int32(printed), errno != 0 { return .failed(errno) }
        return (status >> 8) & 0xff == 0 ? .worked : .failed(-1)
    }

    /// Runs every attempt under `policy` (one agent), then judges each: caught when the action
    /// happened (`acted`) and an event of the policy carrying the attempt's mark was exported.
    static func judge(
        _ attempts: [Attempt], policy: String, name: String, dir: TempDir, fence: TestCgroup,
        ready: [String] = [], acted: (Result) -> Bool
    ) throws -> [String: (Outcome, Result)] {
        let policies = "\(dir.path)/policies-\(name)"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try policy.write(toFile: "\(policies)/policy.yaml", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies], fence: fence)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        for line in ready { try agent.waitForLog(line) }
        var results: [String: (Outcome, Result)] = [:]
        for attempt in attempts {
            let result = try attempt.run()
            guard acted(result) else {
                results[attempt.technique] = (.missed, result)
                print("evasion \(name) \(attempt.technique): \(result)")
                continue
            }
            let event = try? agent.waitFor(timeout: 10, "event of \(name) for \(attempt.technique)") {
                $0.policyName == name && $0.line.contains(attempt.eventMark)
            }
            results[attempt.technique] = (event == nil ? .missed : .caught, result)
            print("evasion \(name) \(attempt.technique): \(result), event \(event == nil ? "missing" : "exported")")
            if event == nil {
                Issue.record("\(attempt.technique) under \(name): \(result) but no event of the policy carrying \(attempt.eventMark)")
            }
        }
        return results
    }

    /// Compares observed outcomes with ``expected`` (deny or kill column), all rows at once.
    static func check(_ observed: [String: (Outcome, Result)], kill: Bool) {
        var mismatches: [String] = []
        for (technique, (outcome, result)) in observed.sorted(by: { $0.key < $1.key }) {
            guard let row = expected[technique] else {
                mismatches.append("\(technique): not in the expected table")
                continue
            }
            let want = kill ? row.kill : row.deny
            if want != outcome { mismatches.append("\(technique) (\(kill ? "kill" : "deny")): expected \(want), got \(outcome) (\(result))") }
        }
        #expect(mismatches.isEmpty, "evasion table out of step (docs/hardening.md):\n\(mismatches.joined(separator: "\n"))")
    }

    static func denied(_ result: Result) -> Bool {
        if case .failed(let errno) = result { return errno == EPERM || errno == EACCES }
        return false
    }

    static func killed(_ result: Result) -> Bool {
        if case .killed = result { return true }
        return false
    }

    // MARK: - Opens

    func openAttempts(tool: String, dir: TempDir, fence: TestCgroup) throws -> (attempts: [Attempt], protected: [String], cleanUp: () -> Void) {
        var attempts: [Attempt] = []
        var protected: [String] = []
        var mounts: [String] = []
        func secret(_ technique: String) throws -> String {
            let path = "\(dir.path)/secret-\(technique)-\(UUID().uuidString.prefix(6))"
            try "x".write(toFile: path, atomically: true, encoding: .utf8)
            protected.append(path)
            return path
        }
        for op in ["open", "openat2", "uring-openat", "uring-openat2", "by-handle", "opath-reopen"] {
            let path = try secret(op)
            attempts.append(Attempt(technique: op, run: { try Self.attempt(fence, tool, [tool, op, path], dir: dir) }, eventMark: path))
        }
        let chained = try secret("symlink-chain")
        let link1 = "\(dir.path)/link1-\(UUID().uuidString.prefix(6))", link2 = "\(dir.path)/link2-\(UUID().uuidString.prefix(6))"
        symlink(chained, link1)
        symlink(link1, link2)
        attempts.append(Attempt(technique: "symlink-chain", run: { try Self.attempt(fence, tool, [tool, "open", link2], dir: dir) }, eventMark: chained))
        let linked = try secret("hard-link")
        let alias = "\(dir.path)/alias-\(UUID().uuidString.prefix(6))"
        link(linked, alias)
        attempts.append(Attempt(technique: "hard-link", run: { try Self.attempt(fence, tool, [tool, "open", alias], dir: dir) }, eventMark: linked))
        let bound = try secret("bind-mount")
        let decoy = "\(dir.path)/decoy-\(UUID().uuidString.prefix(6))"
        try "decoy".write(toFile: decoy, atomically: true, encoding: .utf8)
        if mount(bound, decoy, nil, UInt(MS_BIND), nil) == 0 { mounts.append(decoy) }
        attempts.append(Attempt(technique: "bind-mount", run: { try Self.attempt(fence, tool, [tool, "open", decoy], dir: dir) }, eventMark: bound))
        return (attempts, protected, { for m in mounts { umount2(m, Int32(MNT_DETACH)) } })
    }

    func filePolicy(name: String, hook: String, type: String, paths: [String], action: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          lsmhooks:
          - hook: \(hook)
            args:
            - index: 0
              type: \(type)
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: [\(paths.map { "\"\($0)\"" }.joined(separator: ", "))]
              matchActions:
              - action: \(action)\(action == "Override" ? "\n        argError: -1" : "")
        """
    }

    @Test func opens() throws {
        let dir = try TempDir("vigil-evade-open")
        defer { dir.remove() }
        let tool = try Self.buildTool(in: dir)
        for (action, name) in [("Override", "evade-open-deny"), ("Sigkill", "evade-open-kill")] {
            let fence = try TestCgroup("evade")
            defer { fence.remove() }
            let (attempts, protected, cleanUp) = try openAttempts(tool: tool, dir: dir, fence: fence)
            defer { cleanUp() }
            let observed = try Self.judge(
                attempts, policy: filePolicy(name: name, hook: "file_open", type: "file", paths: protected, action: action),
                name: name, dir: dir, fence: fence, ready: action == "Override" ? ["file deny rules active"] : [],
                acted: action == "Sigkill" ? Self.killed : Self.denied)
            Self.check(observed, kill: action == "Sigkill")
        }
    }

    // MARK: - Execs

    @Test func execs() throws {
        let dir = try TempDir("vigil-evade-exec")
        defer { dir.remove() }
        let tool = try Self.buildTool(in: dir)
        let loader = "/lib64/ld-linux-x86-64.so.2"
        for (action, name) in [("Override", "evade-exec-deny"), ("Sigkill", "evade-exec-kill")] {
            let fence = try TestCgroup("evade")
            defer { fence.remove() }
            var attempts: [Attempt] = []
            var protected: [String] = []
            /// A protected copy of /bin/true: running it prints nothing and exits 0.
            func target(_ technique: String) throws -> String {
                let path = try dir.copy("/bin/true", as: "target-\(technique)-\(UUID().uuidString.prefix(6))")
                protected.append(path)
                return path
            }
            for op in ["exec", "execveat-fd", "memfd-exec"] {
                let path = try target(op)
                attempts.append(Attempt(technique: op, run: { try Self.attempt(fence, tool, [tool, op, path], dir: dir) }, eventMark: path))
            }
            let original = try target("copy")
            let copy = try dir.copy(original, as: "copy-\(UUID().uuidString.prefix(6))")
            attempts.append(Attempt(technique: "copy", run: { try Self.attempt(fence, tool, [tool, "exec", copy], dir: dir) }, eventMark: original))
            let linked = try target("exec-hard-link")
            let alias = "\(dir.path)/alias-\(UUID().uuidString.prefix(6))"
            link(linked, alias)
            attempts.append(Attempt(technique: "exec-hard-link", run: { try Self.attempt(fence, tool, [tool, "exec", alias], dir: dir) }, eventMark: linked))
            let moved = try target("rename")
            let renamed = "\(dir.path)/renamed-\(UUID().uuidString.prefix(6))"
            rename(moved, renamed)
            attempts.append(Attempt(technique: "rename", run: { try Self.attempt(fence, tool, [tool, "exec", renamed], dir: dir) }, eventMark: moved))
            let loaded = try target("ld.so")
            attempts.append(Attempt(technique: "ld.so", run: { try Self.attempt(fence, loader, [loader, loaded], dir: dir) }, eventMark: loaded))
            let interpreter = try target("shebang")
            let script = "\(dir.path)/script-\(UUID().uuidString.prefix(6))"
            try "#!\(interpreter)\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            attempts.append(Attempt(technique: "shebang", run: { try Self.attempt(fence, tool, [tool, "exec", script], dir: dir) }, eventMark: interpreter))
            let observed = try Self.judge(
                attempts,
                policy: filePolicy(name: name, hook: "bprm_check_security", type: "linux_binprm", paths: protected, action: action),
                name: name, dir: dir, fence: fence, ready: action == "Override" ? ["file deny rules active"] : [],
                acted: action == "Sigkill" ? Self.killed : Self.denied)
            Self.check(observed, kill: action == "Sigkill")
        }
    }

    /// The policy the table gives for memfd execs: `Prefix` `/memfd:` on bprm_check_security. It
    /// kills at sched_process_exec; fanotify's deny does not reach it (memfds live on the
    /// kernel's internal shm mount, which no fanotify mark covers), as the table says.
    @Test func memfdExecsMeetAPrefixPolicy() throws {
        let dir = try TempDir("vigil-evade-memfd")
        defer { dir.remove() }
        let tool = try Self.buildTool(in: dir)
        for (action, name) in [("Override", "evade-memfd-deny"), ("Sigkill", "evade-memfd-kill")] {
            let fence = try TestCgroup("evade")
            defer { fence.remove() }
            let policy = filePolicy(name: name, hook: "bprm_check_security", type: "linux_binprm", paths: ["/memfd:"], action: action)
                .replacingOccurrences(of: "operator: Equal", with: "operator: Prefix")
            let attempt = Attempt(technique: "memfd-exec", run: { try Self.attempt(fence, tool, [tool, "memfd-exec", "/bin/true"], dir: dir) }, eventMark: "/memfd:evade")
            let observed = try Self.judge(
                [attempt], policy: policy, name: name, dir: dir, fence: fence,
                ready: action == "Override" ? ["file deny rules active"] : [], acted: action == "Sigkill" ? Self.killed : Self.denied)
            print("memfd prefix \(action): \(observed["memfd-exec"].map { "\($0.0) \($0.1)" } ?? "-")")
            #expect(observed["memfd-exec"]?.0 == (action == "Sigkill" ? .caught : .missed), "\(action)")
        }
    }

    /// `vigil-file-identity: inode`: the Equal paths of a deny also protect the files they name
    /// under any other name (device and inode read at load), so the path-semantics rows of the
    /// table are denied: hard link and bind mount of a file, hard link and rename of a binary.
    @Test func fileIdentityInodeDeniesOtherNamesOfTheProtectedFiles() throws {
        let dir = try TempDir("vigil-evade-inode")
        defer { dir.remove() }
        let tool = try Self.buildTool(in: dir)
        for (hook, type, family) in [("file_open", "file", "open"), ("bprm_check_security", "linux_binprm", "exec")] {
            let fence = try TestCgroup("evade")
            defer { fence.remove() }
            var attempts: [Attempt] = []
            var protected: [String] = []
            var mounts: [String] = []
            defer { for m in mounts { umount2(m, Int32(MNT_DETACH)) } }
            func file(_ technique: String) throws -> String {
                let path = family == "open"
                    ? "\(dir.path)/secret-\(technique)-\(UUID().uuidString.prefix(6))"
                    : try dir.copy("/bin/true", as: "target-\(technique)-\(UUID().uuidString.prefix(6))")
                if family == "open" { try "x".write(toFile: path, atomically: true, encoding: .utf8) }
                protected.append(path)
                return path
            }
            let op = family == "open" ? "open" : "exec"
            let named = try file("by-name")
            attempts.append(Attempt(technique: "by-name", run: { try Self.attempt(fence, tool, [tool, op, named], dir: dir) }, eventMark: named))
            let linked = try file("hard-link")
            let alias = "\(dir.path)/alias-\(UUID().uuidString.prefix(6))"
            link(linked, alias)
            attempts.append(Attempt(technique: "hard-link", run: { try Self.attempt(fence, tool, [tool, op, alias], dir: dir) }, eventMark: alias))
            if family == "open" {
                let bound = try file("bind-mount")
                let decoy = "\(dir.path)/decoy-\(UUID().uuidString.prefix(6))"
                try "decoy".write(toFile: decoy, atomically: true, encoding: .utf8)
                if mount(bound, decoy, nil, UInt(MS_BIND), nil) == 0 { mounts.append(decoy) }
                attempts.append(Attempt(technique: "bind-mount", run: { try Self.attempt(fence, tool, [tool, op, decoy], dir: dir) }, eventMark: decoy))
            } else {
                let moved = try file("rename")
                let renamed = "\(dir.path)/renamed-\(UUID().uuidString.prefix(6))"
                attempts.append(Attempt(technique: "rename", run: {
                    rename(moved, renamed)
                    return try Self.attempt(fence, tool, [tool, op, renamed], dir: dir)
                }, eventMark: renamed))
            }
            let name = "evade-inode-\(family)"
            let policy = filePolicy(name: name, hook: hook, type: type, paths: protected, action: "Override")
                .replacingOccurrences(of: "spec:\n", with: "spec:\n  options:\n  - name: vigil-file-identity\n    value: inode\n")
            let observed = try Self.judge(
                attempts, policy: policy, name: name, dir: dir, fence: fence, ready: ["file deny rules active"], acted: Self.denied)
            for (technique, (outcome, result)) in observed {
                #expect(outcome == .caught, "\(family) \(technique) with vigil-file-identity: inode: \(result)")
            }
        }
    }

    // MARK: - Connects

    @Test func connects() throws {
        let dir = try TempDir("vigil-evade-connect")
        defer { dir.remove() }
        let tool = try Self.buildTool(in: dir)
        let tcp = ["connect", "uring-connect", "mapped6", "thread-connect", "vfork-connect", "fastopen"]
        let udp = ["udp-sendto", "udp-sendmmsg"]
        var listeners: [String: ConnectKernelTests.Listener] = [:]
        defer { for listener in listeners.values { listener.close() } }
        for op in tcp { listeners[op] = try ConnectKernelTests.Listener() }
        for op in udp { listeners[op] = try ConnectKernelTests.Listener(udp: true) }
        let ports = listeners.values.map(\.port)
        // Four ports per matchArgs entry at most: one selector per four.
        func selectors(index: Int, action: String) -> String {
            stride(from: 0, to: ports.count, by: 4).map { start in
                let chunk = ports[start..<min(start + 4, ports.count)].map { "\"\($0)\"" }.joined(separator: ", ")
                return """
                        - matchArgs:
                          - index: \(index)
                            operator: DPort
                            values: [\(chunk)]
                          matchActions:
                          - action: \(action)\(action == "Override" ? "\n        argError: -1" : "")
                    """
            }.joined(separator: "\n")
        }
        let deny = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: evade-connect-deny
            spec:
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
            \(selectors(index: 1, action: "Override"))
            """
        let kill = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: evade-connect-kill
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args:
                - index: 0
                  type: sock
                selectors:
            \(selectors(index: 0, action: "Sigkill"))
            """
        for (policy, name, isKill) in [(deny, "evade-connect-deny", false), (kill, "evade-connect-kill", true)] {
            let fence = try TestCgroup("evade")
            defer { fence.remove() }
            let ops = isKill ? tcp : tcp + udp
            let attempts = ops.map { op in
                let port = listeners[op]!.port
                return Attempt(technique: op, run: { try Self.attempt(fence, tool, [tool, op, "\(port)"], dir: dir) }, eventMark: "port\":\(port)")
            }
            var observed = try Self.judge(
                attempts, policy: policy, name: name, dir: dir, fence: fence, acted: isKill ? Self.killed : Self.denied)
            if isKill { for op in udp { observed[op] = (.notApplicable, .worked) } }
            Self.check(observed, kill: isKill)
        }
    }
}
