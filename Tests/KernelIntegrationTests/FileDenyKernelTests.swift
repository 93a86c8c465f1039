// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// Override on file_open and bprm_check_security: fanotify permission events answered from the
/// compiled policy; the open or exec fails with EPERM and the decision is the event.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct FileDenyKernelTests {
    func policy(hook: String, type: String, path: String, mode: String? = nil) -> String {
        let options = mode.map { "\n  options:\n  - name: policy-mode\n    value: \($0)" } ?? ""
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: deny-\(hook.replacingOccurrences(of: "_", with: "-"))
            spec:\(options)
              lsmhooks:
              - hook: \(hook)
                args:
                - index: 0
                  type: \(type)
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(path)"]
                  matchActions:
                  - action: Override
                    argError: -1
            """
    }

    func start(_ yaml: String, dir: TempDir) throws -> AgentHarness {
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try yaml.write(toFile: "\(policies)/deny.yaml", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        try agent.waitForLog("policy loaded")
        try agent.waitForLog("file deny rules active")
        return agent
    }

    @Test func openOfADeniedFileFailsWithEPERMAndItsSiblingOpens() throws {
        let dir = try TempDir("vigil-denyopen")
        defer { dir.remove() }
        let secret = "\(dir.path)/secret-\(UUID().uuidString.prefix(6))"
        let sibling = "\(dir.path)/sibling"
        for path in [secret, sibling] { try "x".write(toFile: path, atomically: true, encoding: .utf8) }
        let agent = try start(policy(hook: "file_open", type: "file", path: secret), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        // The test process itself opens, from inside the agent's fence.
        let (denied, deniedErrno, allowed) = try agent.inside { () -> (Int32, Int32, Int32) in
            errno = 0
            let denied = open(secret, O_RDONLY)
            let deniedErrno = errno
            return (denied, deniedErrno, open(sibling, O_RDONLY))
        }
        #expect(denied == -1)
        #expect(deniedErrno == EPERM)
        #expect(allowed >= 0)
        close(allowed)

        let event = try agent.waitFor("Override event for the denied open") {
            $0.type == "process_lsm" && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == secret
        }
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
        #expect(event.body["function_name"] as? String == "file_open")
        #expect(event.pid == Int(getpid()))
        #expect(event.vigil["policy_mode"] == nil)

        // Removing the policy lifts the deny without a restart.
        try FileManager.default.removeItem(atPath: "\(dir.path)/policies/deny.yaml")
        try agent.waitForLog("policy removed")
        let deadline = Date().addingTimeInterval(1)
        var fd = try agent.inside { open(secret, O_RDONLY) }
        while fd < 0 && Date() < deadline {
            usleep(50_000)
            fd = try agent.inside { open(secret, O_RDONLY) }
        }
        #expect(fd >= 0, "open still denied after the policy was removed")
        close(fd)
    }

    @Test func execOfADeniedBinaryFailsWithEPERM() throws {
        let dir = try TempDir("vigil-denyexec")
        defer { dir.remove() }
        let binary = try dir.copy("/bin/touch", as: "touch-\(UUID().uuidString.prefix(6))")
        let agent = try start(policy(hook: "bprm_check_security", type: "linux_binprm", path: binary), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let sideEffect = "\(dir.path)/side-effect"
        #expect(throws: Spawn.Failure.self) {
            try agent.spawn(binary, argv: [Array("touch".utf8), Array(sideEffect.utf8)])
        }
        #expect(!FileManager.default.fileExists(atPath: sideEffect))
        #expect(try agent.run("/bin/touch", argv: [Array("touch".utf8), Array("\(dir.path)/spared".utf8)]) == 0)
        let event = try agent.waitFor("Override event for the denied exec") {
            $0.type == "process_lsm" && ($0.args.first?["linux_binprm_arg"] as? [String: Any])?["path"] as? String == binary
        }
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
    }

    @Test func monitorModeDeniesNothingAndReports() throws {
        let dir = try TempDir("vigil-denymonitor")
        defer { dir.remove() }
        let secret = "\(dir.path)/secret-\(UUID().uuidString.prefix(6))"
        try "x".write(toFile: secret, atomically: true, encoding: .utf8)
        let agent = try start(policy(hook: "file_open", type: "file", path: secret, mode: "monitor"), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let fd = try agent.inside { open(secret, O_RDONLY) }
        #expect(fd >= 0)
        close(fd)
        let event = try agent.waitFor("monitor-mode Override event") {
            $0.type == "process_lsm" && ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String == secret
        }
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
        #expect(event.vigil["policy_mode"] as? String == "monitor")
    }
}
