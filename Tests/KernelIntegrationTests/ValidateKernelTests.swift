// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `tracectl policy validate` runs the checks the agent runs at load: for policies the parser
/// accepts and the agent refuses, validate on this machine prints the same lines the running
/// agent refuses `tracectl policy add` with.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ValidateKernelTests {
    static func policy(_ name: String, _ spec: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
        \(spec)
        """
    }

    static let openat = """
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
                values: ["/nonexistent-vigil-validate/"]
        """

    /// Refused by the compiler (not the parser), on every kernel.
    static let refused: [String: String] = [
        "capabilities": openat + "\n      matchCapabilityChanges:\n      - type: Effective\n        operator: In\n        values: [\"CAP_SYS_ADMIN\"]",
        "substring": openat.replacingOccurrences(of: "operator: Prefix", with: "operator: SubString"),
        "missing-tracepoint": "  tracepoints:\n  - subsystem: sched\n    event: sched_no_such_event_vigil",
        "missing-function": "  kprobes:\n  - call: no_such_kernel_function_vigil",
    ]

    /// The `file:line:column: path: message` lines of `output` (`policy add` indents them).
    static func problems(_ output: String, file: String) -> [String] {
        output.split(separator: "\n").map { String($0.drop { $0 == " " }) }.filter { $0.hasPrefix(file + ":") }
    }

    @Test func validateSaysWhatTheAgentRefusesAddWith() throws {
        let dir = try TempDir("vigil-validate")
        defer { dir.remove() }
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for (name, spec) in Self.refused.sorted(by: { $0.key < $1.key }) {
            let file = "\(dir.path)/\(name).yaml"
            try Self.policy(name, spec).write(toFile: file, atomically: true, encoding: .utf8)
            let validated = try agent.tracectl(["policy", "validate", file])
            let added = try agent.tracectl(["policy", "add", file])
            #expect(validated.status == 1, "\(name): \(validated.output)")
            #expect(added.status != 0, "\(name): \(added.output)")
            let expected = Self.problems(added.output, file: file)
            #expect(!expected.isEmpty, "\(name): \(added.output)")
            #expect(Self.problems(validated.output, file: file) == expected, "\(name):\n\(validated.output)\nagent:\n\(added.output)")
        }
        // This machine's probe file says the same as the machine itself.
        let probe = try Spawn.capture([AgentHarness.tracectlPath, "probe", "-o", "json"], in: dir.path)
        #expect(probe.status == 0)
        try probe.output.write(toFile: "\(dir.path)/node.json", atomically: true, encoding: .utf8)
        for name in Self.refused.keys.sorted() {
            let file = "\(dir.path)/\(name).yaml"
            let live = try agent.tracectl(["policy", "validate", file])
            let fromProbe = try agent.tracectl(["policy", "validate", "--node-probe", "\(dir.path)/node.json", file])
            #expect(fromProbe.status == live.status)
            #expect(Self.problems(fromProbe.output, file: file) == Self.problems(live.output, file: file), "\(name): \(fromProbe.output)")
        }
        // A policy the agent takes is ok, and added.
        let good = "\(dir.path)/good.yaml"
        try Self.policy("good", Self.openat).write(toFile: good, atomically: true, encoding: .utf8)
        let validated = try agent.tracectl(["policy", "validate", good])
        #expect(validated.status == 0 && validated.output.contains("good.yaml: ok (1 policy: good)"), "\(validated.output)")
        #expect(try agent.tracectl(["policy", "add", good]).status == 0)
    }

    @Test func withoutRootValidateSaysWhatItCouldNotCheck() throws {
        let dir = try TempDir("vigil-validate-nobody")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let file = "\(dir.path)/good.yaml"
        try Self.policy("good", Self.openat).write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let output = try Spawn.capture(
            [AgentHarness.tracectlPath, "policy", "validate", file], in: dir.path, asNobody: true)
        #expect(output.status == 0, "\(output.output)")
        // Where tracefs is root's, the format is not checked, and validate says so; BPF-LSM and
        // trampoline attaches need root everywhere, so --strict fails.
        if Tracefs.isWorldReadable {
            #expect(output.output.contains("good.yaml: ok"), "\(output.output)")
        } else {
            #expect(output.output.contains("not checked: tracepoint syscalls/sys_enter_openat"), "\(output.output)")
            #expect(output.output.contains("ok as far as checked"), "\(output.output)")
            #expect(!output.output.contains("good.yaml: ok ("), "\(output.output)")
        }
        let strict = try Spawn.capture(
            [AgentHarness.tracectlPath, "policy", "validate", "--strict", file], in: dir.path, asNobody: true)
        #expect(strict.status == 1, "\(strict.output)")
    }
}

private enum Tracefs {
    /// Whether an unprivileged user can list tracefs events (mode 0755 on some hosts).
    static var isWorldReadable: Bool {
        var st = stat()
        return stat("/sys/kernel/tracing/events", &st) == 0 && st.st_mode & 0o005 == 0o005
    }
}
