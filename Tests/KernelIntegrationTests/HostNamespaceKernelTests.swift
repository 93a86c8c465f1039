// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The shipped `privilege-changes-in-containers` policy (`NotIn host_ns` on the pid namespace)
/// on this machine, where even root cannot read /proc/1/ns/*: the host's namespaces come from
/// kthreadd or the kernel's fixed numbers, so a host process's privilege change gives no event
/// (it once gave one: the host's pid namespace stayed 0) and a container's gives one.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct HostNamespaceKernelTests {
    static let shippedPolicy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("policies/privilege-changes-in-containers.yaml").path

    /// The shipped policy, renamed to `name`, its selector limited to binaries ending in
    /// `/binaryName`, and with `operator` for `host_ns` (`NotIn` as shipped; `In` for the control
    /// that shows the hook fires for the host process at all).
    static func policy(name: String, binaryName: String, operator op: String = "NotIn") throws -> String {
        var text = try String(contentsOfFile: shippedPolicy, encoding: .utf8)
        let selector = """
                - matchNamespaces:
                  - namespace: Pid
                    operator: NotIn
                    values: [host_ns]
            """
        try #require(text.contains(selector), "the shipped policy's selector changed; update this test")
        try #require(text.contains("  name: privilege-changes-in-containers\n"))
        text = text.replacingOccurrences(of: "  name: privilege-changes-in-containers\n", with: "  name: \(name)\n")
        text = text.replacingOccurrences(of: selector, with: """
                - matchNamespaces:
                  - namespace: Pid
                    operator: \(op)
                    values: [host_ns]
                  matchBinaries:
                  - operator: Postfix
                    values: ["/\(binaryName)"]
            """)
        return text
    }

    /// Writes the shipped policy and its `In host_ns` control into `dir`; returns both paths.
    static func writePolicies(binaryName: String, in dir: TempDir) throws -> [String] {
        let shipped = "\(dir.path)/shipped.yaml"
        let control = "\(dir.path)/control.yaml"
        try policy(name: "privilege-changes-in-containers", binaryName: binaryName)
            .write(toFile: shipped, atomically: true, encoding: .utf8)
        try policy(name: "privilege-changes-on-host", binaryName: binaryName, operator: "In")
            .write(toFile: control, atomically: true, encoding: .utf8)
        return [shipped, control]
    }

    /// A capset(2) from busybox's setpriv (`--inh-caps -chown` drops a capability it does not
    /// hold inheritable: allowed anywhere).
    static let capsetArguments = ["setpriv", "--inh-caps", "-chown", "true"]

    @Test func hostProcessGivesNoEvent() throws {
        let busybox = try #require(RuncContainer.busyboxPath, "busybox-static is not installed")
        let dir = try TempDir("vigil-hostns")
        defer { dir.remove() }
        // busybox runs as its multiplexer for names starting "busybox".
        let name = "busybox-vigil-hostns-\(UUID().uuidString.prefix(8).lowercased())"
        let binary = try dir.copy(busybox, as: name)
        let policies = try Self.writePolicies(binaryName: name, in: dir)
        let agent = try AgentHarness(arguments: policies.flatMap { ["--tracing-policy", $0] })
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=privilege-changes-on-host")
        try agent.waitForLog("policy=privilege-changes-in-containers")
        let hostLine = try #require(agent.log.split(separator: "\n").first { $0.contains("host namespaces: ") })
        // The pid namespace is known (read, or the kernel's fixed number), and it is the initial
        // one: PROC_PID_INIT_INO, whichever source gave it.
        #expect(hostLine.contains("pid=\(0xEFFF_FFFC) ("), "\(hostLine)")

        #expect(try agent.run(binary, argv: ([binary] + Self.capsetArguments).map { Array($0.utf8) }) == 0)
        // The control (In host_ns) sees the capset: the hook ran for this process...
        let seen = try agent.waitFor("the control policy's event for \(binary)") {
            $0.policyName == "privilege-changes-on-host" && $0.binary == binary
        }
        #expect(seen.body["function_name"] as? String == "__x64_sys_capset")
        // ... and the shipped policy, evaluated on the same syscall, let it pass.
        usleep(500_000)
        agent.poll()
        let wrong = agent.events.filter { $0.policyName == "privilege-changes-in-containers" && $0.binary == binary }
        #expect(wrong.isEmpty, "host process reported as a privilege change in a container: \(wrong.map(\.line))")
    }

    @Test(.enabled(if: RuncContainer.unavailableReason == nil, "\(RuncContainer.unavailableReason ?? "")"))
    func containerProcessGivesAnEvent() throws {
        let dir = try TempDir("vigil-hostns")
        defer { dir.remove() }
        // Observed only: the container need not be in the agent's fence.
        let container = try RuncContainer()
        defer { container.remove() }
        let policies = try Self.writePolicies(binaryName: container.uniqueBinaryName, in: dir)
        let agent = try AgentHarness(arguments: policies.flatMap { ["--tracing-policy", $0] })
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=privilege-changes-in-containers")
        _ = try container.execUnique(Self.capsetArguments)
        let binary = "/bin/\(container.uniqueBinaryName)"
        let event = try agent.waitFor("the shipped policy's event for \(binary) in the container") {
            $0.policyName == "privilege-changes-in-containers" && $0.binary == binary
        }
        #expect(event.body["function_name"] as? String == "__x64_sys_capset")
        #expect(event.process["docker"] as? String == String(container.id.prefix(31)))
        usleep(300_000)
        agent.poll()
        #expect(!agent.events.contains { $0.policyName == "privilege-changes-on-host" && $0.binary == binary })
    }
}
