// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The agent sandboxes itself after start-up (`--seccomp`, default enforce): the real agent
/// process cannot exec, proven by making its own main thread call execve through ptrace, while
/// everything it does at run time keeps working. (Every other kernel suite runs with the
/// default filter too.)
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct SeccompKernelTests {
    func tracectl(_ agent: AgentHarness, _ args: [String]) throws -> (status: Int32, output: String) {
        try agent.tracectl(args)
    }

    func status(of pid: pid_t, field: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("\(field):") }
            .map { $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    func killPolicy(name: String, binary: String) -> String { TestPolicies.killAtExec(name: name, binary: binary) }

    func denyOpenPolicy(name: String, path: String) -> String { TestPolicies.denyOpen(name: name, path: path) }

    /// Waits until `condition` holds (policy changes apply asynchronously to the caller).
    func eventually(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(50_000)
        }
        return true
    }

    @Test func theAgentItselfCannotExec() throws {
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("seccomp enforce")
        #expect(status(of: agent.pid, field: "Seccomp") == "2")
        #expect(status(of: agent.pid, field: "NoNewPrivs") == "1")
        let outcome = SyscallInjection.execve(tid: agent.pid, path: "/bin/true")
        if case .notInjected(let e) = outcome, e == ENOSYS { return }  // not x86_64: the unit tests cover it
        #expect(outcome == .returned(-Int(EPERM)))
        // Still the agent, still serving.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(agent.pid)/exe")) == AgentHarness.binaryPath)
        #expect(try tracectl(agent, ["status"]).status == 0)
    }

    @Test func withSeccompOffTheSameInjectionExecs() throws {
        // The control for the test above: the injection does exec when nothing stops it.
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--seccomp", "off"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("seccomp off")
        let copy = try agent.directory.copy("/bin/true", as: "true-\(UUID().uuidString.prefix(6))")
        let outcome = SyscallInjection.execve(tid: agent.pid, path: copy)
        if case .notInjected(let e) = outcome, e == ENOSYS { return }
        #expect(outcome == .returned(0))
        // The agent process became `true` (and exits 0 at once, which stop() then collects).
        #expect(eventually { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(agent.pid)/exe")) != AgentHarness.binaryPath })
    }

    @Test func aFullPolicyCycleWorksUnderTheFilter() throws {
        let dir = try TempDir("vigil-seccomp-cycle")
        defer { dir.remove() }
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        let secret = "\(dir.path)/secret-\(UUID().uuidString.prefix(6))"
        try "x".write(toFile: secret, atomically: true, encoding: .utf8)
        let victim = try dir.copy("/bin/true", as: "victim-\(UUID().uuidString.prefix(6))")
        let suffix = UUID().uuidString.prefix(6).lowercased()

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies, "--seccomp", "enforce"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("seccomp enforce")
        #expect(status(of: agent.pid, field: "Seccomp") == "2")

        // API: add a kill policy (new BPF attachment and map writes), see it act, delete it.
        let file = "\(dir.path)/kill.yaml"
        try killPolicy(name: "seccomp-kill-\(suffix)", binary: victim).write(toFile: file, atomically: true, encoding: .utf8)
        let added = try tracectl(agent, ["policy", "add", file])
        #expect(added.status == 0, "\(added.output)")
        let killed = try agent.run(victim, argv: [Array("victim".utf8)])
        #expect(killed & 0x7f == SIGKILL, "wait status \(killed)")
        #expect(try tracectl(agent, ["policy", "mode", "seccomp-kill-\(suffix)", "monitor"]).status == 0)
        #expect(try agent.run(victim, argv: [Array("victim".utf8)]) == 0)
        #expect(try tracectl(agent, ["policy", "delete", "seccomp-kill-\(suffix)"]).status == 0)

        // Directory: a new file is seen through inotify and installs a fanotify deny rule.
        try denyOpenPolicy(name: "seccomp-deny-\(suffix)", path: secret)
            .write(toFile: "\(policies)/deny.yaml", atomically: true, encoding: .utf8)
        try agent.waitForLog("file deny rules active")
        #expect(try agent.inside { eventually { open(secret, O_RDONLY) == -1 && errno == EPERM } })
        try agent.waitFor("the denied open") {
            $0.type == "process_lsm" && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == secret
        }
        // SIGHUP and the API reload re-read the directory; removal lifts the deny.
        agent.send(SIGHUP)
        try agent.waitForLog("SIGHUP: reloading policies")
        #expect(try tracectl(agent, ["policy", "reload"]).status == 0)
        try FileManager.default.removeItem(atPath: "\(policies)/deny.yaml")
        try agent.waitForLog("policy removed")
        #expect(try agent.inside {
            eventually {
                let fd = open(secret, O_RDONLY)
                if fd >= 0 { close(fd) }
                return fd >= 0
            }
        })
        #expect(status(of: agent.pid, field: "Seccomp") == "2")
        let log = agent.stop()
        // No call failed under the filter. The mechanism lines quote the start-up probe, which ran
        // before the filter: where BPF-LSM is active but refused (EPERM), they say so.
        let refused = log.split(separator: "\n").filter {
            $0.contains("Operation not permitted") && !$0.contains("[VigilAgent] mechanism")
        }
        #expect(refused.isEmpty, "\(log)")
    }
}
