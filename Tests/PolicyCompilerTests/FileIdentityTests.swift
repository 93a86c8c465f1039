// SPDX-License-Identifier: Apache-2.0
import Foundation
import PolicyCompiler
import Testing
import TracingPolicy

/// `vigil-file-identity: inode`: Equal paths of fanotify file rules also protect the files they
/// name; where no such rule exists the option changes nothing, and the policy says so.
@Suite struct FileIdentityTests {
    func policy(operator op: String, action: String, identity: String = "inode") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: identity
        spec:
          options:
          - name: vigil-file-identity
            value: \(identity)
          lsmhooks:
          - hook: file_open
            args:
            - index: 0
              type: file
            selectors:
            - matchArgs:
              - index: 0
                operator: \(op)
                values: ["/etc/shadow"]
              matchActions:
              - action: \(action)\(action == "Override" ? "\n        argError: -1" : "")
        """
    }

    @Test func equalOverrideRulesMatchByInode() throws {
        let compiled = try compile(policy(operator: "Equal", action: "Override")).get()
        #expect(compiled.fileRules.map(\.matchInode) == [true])
        #expect(compiled.warnings.isEmpty, "\(compiled.warnings)")
        let byPath = try compile(policy(operator: "Equal", action: "Override", identity: "path")).get()
        #expect(byPath.fileRules.map(\.matchInode) == [false])
    }

    @Test func withoutAnEqualDenyTheOptionIsReportedAsDoingNothing() throws {
        for (op, action) in [("Prefix", "Override"), ("NotEqual", "Override")] {
            let compiled = try compile(policy(operator: op, action: action)).get()
            #expect(!compiled.fileRules.contains { $0.matchInode })
            let said = compiled.warnings.contains { $0.contains("vigil-file-identity: inode") && $0.contains("changes nothing") }
            #expect(said, "\(op) \(action): \(compiled.warnings)")
        }
    }

    @Test func unknownValuesAreRefused() {
        let errors = refusal(policy(operator: "Equal", action: "Override", identity: "hash"))
        #expect(errors.contains { $0.contains("vigil-file-identity") }, "\(errors)")
    }

    /// deploy/examples/deny-ssh-host-key-reads.yaml compiles to one fanotify rule matched by
    /// inode too, scoped away from sshd.
    @Test func theShippedExampleMatchesByInode() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/examples/deny-ssh-host-key-reads.yaml").path
        let compiled = try compile(try String(contentsOfFile: path, encoding: .utf8), file: path).get()
        #expect(compiled.fileRules.count == 1)
        let rule = try #require(compiled.fileRules.first)
        #expect(rule.matchInode)
        #expect(rule.paths.count == 3)
        #expect(rule.binaryOperator == .notIn && rule.binaries == ["/usr/sbin/sshd"])
        #expect(compiled.warnings.isEmpty, "\(compiled.warnings)")
    }
}
