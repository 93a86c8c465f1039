// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// What the agent creates is closed to unprivileged users, and policies that such a user could
/// have written are refused. "Unprivileged" is checked for real: the probes run as `nobody`
/// with no capabilities (setpriv).
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct AccessKernelTests {
    static let nobody: uid_t = 65534

    /// Runs `argv` as nobody without capabilities; returns its exit status and output.
    func runAsNobody(_ argv: [String], in dir: TempDir) throws -> (status: Int32, output: String) {
        try Spawn.capture(argv, in: dir.path, asNobody: true)
    }

    func tracectl(_ agent: AgentHarness, _ args: [String]) throws -> (status: Int32, output: String) {
        try agent.tracectl(args)
    }

    func policy(_ name: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
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
                values: ["/nonexistent/\(name)/"]
        """
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o7777
    }

    @Test func policyFilesOtherUsersCouldWriteAreRefusedWithTheReason() throws {
        let dir = try TempDir("vigil-access-policies")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let good = "\(dir.path)/good.yaml", theirs = "\(dir.path)/theirs.yaml", open = "\(dir.path)/open.yaml"
        try policy("access-good-\(suffix)").write(toFile: good, atomically: true, encoding: .utf8)
        try policy("access-theirs-\(suffix)").write(toFile: theirs, atomically: true, encoding: .utf8)
        try policy("access-open-\(suffix)").write(toFile: open, atomically: true, encoding: .utf8)
        chmod(good, 0o644)
        chown(theirs, Self.nobody, Self.nobody)
        chmod(theirs, 0o644)
        chmod(open, 0o666)

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", dir.path])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("access-good-\(suffix)")
        try agent.waitForLog("\(theirs): policy file refused: the file is owned by uid 65534, not root; chown root it")
        try agent.waitForLog("\(open): policy file refused: the file is writable by others (mode 666); chmod go-w it")
        let list = try tracectl(agent, ["policy", "list"]).output
        #expect(list.contains("access-good-\(suffix)"), "\(list)")
        #expect(!list.contains("access-theirs-\(suffix)") && !list.contains("access-open-\(suffix)"), "\(list)")

        // The same check on a reload, and it shows in the reply.
        let reload = try tracectl(agent, ["policy", "reload"])
        #expect(reload.status != 0)
        #expect(reload.output.contains("\(open): policy file refused: the file is writable by others"), "\(reload.output)")

        // Once fixed, the next reload loads it.
        chmod(open, 0o644)
        chown(theirs, 0, 0)
        let fixed = try tracectl(agent, ["policy", "reload"])
        #expect(fixed.status == 0, "\(fixed.output)")
        let after = try tracectl(agent, ["policy", "list"]).output
        #expect(after.contains("access-theirs-\(suffix)") && after.contains("access-open-\(suffix)"), "\(after)")
    }

    @Test func socketExportFileAndPersistedPoliciesAreClosedToOtherUsers() throws {
        let policies = try TempDir("vigil-access-add")
        defer { policies.remove() }
        let persisted = "\(policies.path)/persisted"
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--persist-policies", persisted])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        // Only the modes of what the agent made may stop nobody: open up the test's own dirs.
        chmod(agent.directory.path, 0o755)
        chmod(policies.path, 0o755)

        let suffix = UUID().uuidString.prefix(8).lowercased()
        let file = "\(policies.path)/add.yaml"
        try policy("access-added-\(suffix)").write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let added = try tracectl(agent, ["policy", "add", file])
        #expect(added.status == 0, "\(added.output)")
        let persistedFile = "\(persisted)/access-added-\(suffix).yaml"
        #expect(FileManager.default.fileExists(atPath: persistedFile))

        #expect(Self.mode(agent.socketPath) == 0o600)
        #expect(Self.mode(agent.exportPath) == 0o600)
        #expect(Self.mode(persisted) & 0o077 == 0, "persist directory mode \(String(Self.mode(persisted), radix: 8))")
        #expect(Self.mode(persistedFile) & 0o077 == 0, "persisted policy mode \(String(Self.mode(persistedFile), radix: 8))")

        // nobody can neither read events nor change policy, by any of these routes.
        let readExport = try runAsNobody(["/bin/cat", agent.exportPath], in: policies)
        #expect(readExport.status != 0 && readExport.output.contains("Permission denied"), "\(readExport.output)")
        let status = try runAsNobody([AgentHarness.tracectlPath, "--server-address", agent.socketPath, "status"], in: policies)
        #expect(status.status != 0 && status.output.lowercased().contains("permission denied"), "\(status.output)")
        let delete = try runAsNobody(
            [AgentHarness.tracectlPath, "--server-address", agent.socketPath, "policy", "delete", "access-added-\(suffix)"],
            in: policies)
        #expect(delete.status != 0, "\(delete.output)")
        let listPersisted = try runAsNobody(["/bin/ls", persisted], in: policies)
        #expect(listPersisted.status != 0 && listPersisted.output.contains("Permission denied"), "\(listPersisted.output)")
        let plant = try runAsNobody(["/bin/sh", "-c", "echo x > \(persisted)/planted.yaml"], in: policies)
        #expect(plant.status != 0, "\(plant.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(persisted)/planted.yaml"))
        let list = try tracectl(agent, ["policy", "list"]).output
        #expect(list.contains("access-added-\(suffix)"), "\(list)")
    }
}
