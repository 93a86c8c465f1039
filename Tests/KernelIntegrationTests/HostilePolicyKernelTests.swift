// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// Policies built to crash, stall or balloon the parser: a running agent refuses each at its
/// position and stays up with its last good set, at start-up from its directory as on
/// `tracectl policy add`; `tracectl policy validate` refuses them within a second.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct HostilePolicyKernelTests {
    static let hostile: [(name: String, bytes: [UInt8], refusal: String)] = [
        ("nested-aliases.yaml", Array(HostilePolicies.nestedAliases().utf8), ":2:72: YAML refused: nests more than 64 levels deep"),
        ("merges.yaml", Array(HostilePolicies.doublingMerges().utf8), ":10:23: YAML refused: merge keys (<<) pull in more than"),
        ("laughs.yaml", Array(HostilePolicies.billionLaughs().utf8), ":5:"),
        ("utf8.yaml", HostilePolicies.invalidUTF8, ":2:9: not valid UTF-8 (byte offset 23"),
    ]

    static func goodPolicy(marker: String) -> String {
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
        """
    }

    /// Resident anonymous memory of `pid` in KiB.
    func rssAnon(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func theAgentRefusesEachAtItsPositionAndKeepsRunning() throws {
        let dir = try TempDir("vigil-hostile")
        defer { dir.remove() }
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        for policy in Self.hostile {
            try Data(policy.bytes).write(to: URL(fileURLWithPath: "\(policies)/\(policy.name)"))
        }
        let marker = "\(dir.path)/marker"
        try Self.goodPolicy(marker: marker).write(toFile: "\(policies)/good.yaml", atomically: true, encoding: .utf8)

        // Start-up: the good policy loads, each hostile file is refused with its position.
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=the-good-one")
        for policy in Self.hostile {
            try agent.waitForLog("policy refused: \(policies)/\(policy.name)\(policy.refusal)")
        }

        // tracectl policy validate: refused with the position, within a second each.
        for policy in Self.hostile {
            let start = Date()
            let result = try agent.tracectl(["policy", "validate", "\(policies)/\(policy.name)"])
            #expect(result.status != 0)
            #expect(result.output.contains(policy.refusal), "\(policy.name): \(result.output)")
            #expect(Date().timeIntervalSince(start) < 1, "\(policy.name) took \(Date().timeIntervalSince(start)) s")
        }

        // tracectl policy add to the running agent: refused, the agent up, small, the good one acting.
        let before = rssAnon(agent.pid)
        for policy in Self.hostile {
            let result = try agent.tracectl(["policy", "add", "\(policies)/\(policy.name)"])
            #expect(result.status != 0)
            #expect(result.output.contains(policy.refusal), "\(policy.name): \(result.output)")
            #expect(kill(agent.pid, 0) == 0, "the agent died on \(policy.name)")
        }
        let grown = rssAnon(agent.pid) - before
        #expect(grown < 16 << 10, "anonymous memory grew \(grown) KiB while refusing")
        let status = try agent.tracectl(["status"])
        #expect(status.status == 0, "\(status.output)")
        let fd = open(marker, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        _ = try agent.waitFor("the good policy's event") { $0.policyName == "the-good-one" }

        // SIGHUP re-reads the directory: the same refusals, still running.
        agent.send(SIGHUP)
        try agent.waitForLog("SIGHUP: reloading policies")
        #expect(kill(agent.pid, 0) == 0)
    }
}
