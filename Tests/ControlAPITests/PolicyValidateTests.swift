// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import Foundation
import KernelFeatures
import PolicyCompiler
import Testing
import TestSupport
import TracingPolicy
@testable import tracectl

/// A node as a probe file describes it: the fixture formats (syscalls, raw_syscalls, sched),
/// block/block_rq_issue listed without its format, a few kernel functions, and every mechanism
/// unless a test takes it away.
func fixtureNode(
    kprobes: Bool? = true, bpfLSM: Bool? = true, trampolines: Bool? = true, connectSignals: Bool? = true,
    unchecked: [String] = []
) -> NodeCapabilities {
    let functions = ["security_file_open", "security_socket_connect", "tcp_connect", "do_unlinkat", "vfs_write"]
    return NodeCapabilities(
        kernel: "6.1.0-test", kprobes: .init(available: kprobes, detail: "kprobe PMU"),
        bpfLSM: .init(available: bpfLSM, detail: "bpf is not in the active LSMs (lockdown,capability,landlock,yama,apparmor)"),
        trampolines: .init(available: trampolines, detail: "fentry: load failed: Operation not supported (errno 95)"),
        connectSignals: .init(available: connectSignals, detail: "tp_btf: load failed: Operation not supported (errno 95)"),
        tracepoints: FormatFixtures.texts.keys.sorted() + ["block/block_rq_issue"], formats: FormatFixtures.texts,
        formatSubsystems: ["syscalls", "raw_syscalls", "sched"], kernelFunctions: functions, kprobeBlacklist: [],
        btfFunctions: functions, errorInjection: [], unchecked: unchecked)
}

@Suite("tracectl policy validate: the agent's load-time checks")
struct PolicyValidateTests {
    let directory = temporaryDirectory()

    /// Writes `yaml` as NAME.yaml and validates it against `node`.
    func validate(_ name: String, _ yaml: String, node: NodeCapabilities = fixtureNode(), podScopes: Bool = false)
        throws -> (lines: [String], failed: Bool, unchecked: Bool)
    {
        let path = "\(directory)/\(name).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return PolicyValidateCommand.report(
            files: [path], target: ValidationTarget(capabilities: node, source: "test node", podScopes: podScopes))
    }

    static func policy(_ spec: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: p
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
                values: ["/etc/shadow"]
        """

    /// Policies the parser accepts and the agent refuses at load, with the message it refuses
    /// each with (after `file:line:column: path: `).
    static let refusals: [(name: String, spec: String, path: String, message: String)] = [
        ("capabilities", openat + "\n      matchCapabilityChanges:\n      - type: Effective\n        operator: In\n        values: [\"CAP_SYS_ADMIN\"]",
         "spec.tracepoints[0].selectors[0].matchCapabilityChanges",
         "matchCapabilityChanges is not supported by this build; the policy is refused rather than run without it"),
        ("follow-children-prefix", openat + "\n      matchBinaries:\n      - operator: Prefix\n        values: [\"/bin/\"]\n        followChildren: true",
         "spec.tracepoints[0].selectors[0].matchBinaries[0].followChildren", "followChildren works only with operators In and NotIn"),
        ("capabilities", openat + "\n      matchCapabilityChanges:\n      - type: Effective\n        operator: In\n        values: [\"CAP_SYS_ADMIN\"]",
         "spec.tracepoints[0].selectors[0].matchCapabilityChanges",
         "matchCapabilityChanges is not supported by this build; the policy is refused rather than run without it"),
        ("substring", openat.replacingOccurrences(of: "operator: Prefix", with: "operator: SubString"),
         "spec.tracepoints[0].selectors[0].matchArgs[0].operator",
         "operator SubString is not supported yet"),
        ("fd-prefix", """
              kprobes:
              - call: sys_write
                syscall: true
                args:
                - index: 0
                  type: fd
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Prefix
                    values: ["/etc/"]
            """, "spec.kprobes[0].selectors[0].matchArgs[0].operator",
         "operator Prefix does not apply to fd arguments (Equal, NotEqual, Mask, GreaterThan, LessThan, InMap, NotInMap do)"),
        ("missing-tracepoint", """
              tracepoints:
              - subsystem: sched
                event: sched_no_such_event
            """, "spec.tracepoints[0].event",
         "tracepoint sched/sched_no_such_event does not exist on this kernel (/sys/kernel/tracing/events/sched/sched_no_such_event/format not found)"),
        ("missing-function", """
              kprobes:
              - call: no_such_kernel_function
            """, "spec.kprobes[0].call",
         "kprobe on no_such_kernel_function: no such function in /proc/kallsyms on this kernel (not built in, renamed or inlined)"),
        ("five-ports", """
              kprobes:
              - call: tcp_connect
                args:
                - index: 0
                  type: sock
                selectors:
                - matchArgs:
                  - index: 0
                    operator: DPort
                    values: ["1", "2", "3", "4", "5"]
            """, "spec.kprobes[0].selectors[0].matchArgs[0].values", "at most 4 ports or ranges per entry"),
    ]

    @Test("each policy the agent refuses at load fails validate with the agent's message", arguments: refusals)
    func refusal(_ refusal: (name: String, spec: String, path: String, message: String)) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = try validate(refusal.name, Self.policy(refusal.spec))
        #expect(report.failed, "\(report.lines)")
        let error = try #require(report.lines.first { $0.contains(": \(refusal.path): ") }, "\(report.lines)")
        #expect(error.hasPrefix("\(directory)/\(refusal.name).yaml:"))
        #expect(error.contains(try Regex(#"\.yaml:\d+:\d+: "#)))
        #expect(error.hasSuffix(": \(refusal.path): \(refusal.message)"), "\(error)")
        #expect(!report.lines.contains { $0.contains(": ok") })
    }

    @Test("the message is the agent's: the compiler's error, as PolicyEngine.check and the agent log print it")
    func sameAsCompiler() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let refusal = Self.refusals[0]
        let report = try validate(refusal.name, Self.policy(refusal.spec))
        let parsed = PolicyParser.parse(fileAt: "\(directory)/\(refusal.name).yaml")
        var sets = SetIDAllocator()
        guard case .failure(let failure) = PolicyCompiler(environment: fixtureNode().environment(podScopesAvailable: false))
            .compile(parsed.documents[0], sets: &sets)
        else { Issue.record("compiled"); return }
        #expect(report.lines == failure.errors.map(\.description))
    }

    @Test("a policy the node runs is ok; a pod-scoped one needs --enable-k8s-api, as the agent")
    func ok() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = try validate("good", Self.policy(Self.openat))
        #expect(!good.failed && !good.unchecked)
        #expect(good.lines == ["\(directory)/good.yaml: ok (1 policy: p)"])
        let scoped = Self.policy(Self.openat + "\n  podSelector:\n    matchLabels:\n      app: web")
        #expect(try validate("scoped", scoped).failed)
        #expect(try !validate("scoped", scoped, podScopes: true).failed)
    }

    @Test("a node without bpf_loop() (before 5.17) refuses every policy, as its agent does")
    func nodeWithoutBPFLoop() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tracepoint = Self.policy("""
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
            """)
        #expect(try !validate("old", tracepoint).failed)
        var node = fixtureNode()
        node.bpfLoop = .init(available: false, detail: "policy programs (5.17+); exec paths: bounded loop")
        let old = try validate("old", tracepoint, node: node)
        #expect(old.failed)
        #expect(old.lines.contains { $0.hasSuffix(": metadata.name: " + KernelProbe.noBPFLoopReason) }, "\(old.lines)")
        // A probe file written before bpf_loop was recorded says nothing: not refused for it.
        node.bpfLoop = nil
        #expect(try !validate("old", tracepoint, node: node).failed)
    }

    @Test("a node without kprobes, trampolines or BPF-LSM refuses what this one runs")
    func nodeLacksMechanisms() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kprobe = Self.policy("""
              kprobes:
              - call: do_unlinkat
            """)
        #expect(try !validate("kprobe", kprobe).failed)
        let bare = try validate("kprobe", kprobe, node: fixtureNode(kprobes: false, trampolines: false))
        #expect(bare.failed)
        #expect(bare.lines.contains { $0.contains("spec.kprobes[0].call: ") && $0.contains("kprobes are needed, and this kernel has none") })

        let killConnect = Self.policy("""
              lsmhooks:
              - hook: socket_connect
                selectors:
                - matchActions:
                  - action: Sigkill
            """)
        #expect(try !validate("kill", killConnect).failed)
        let noLSM = try validate("kill", killConnect, node: fixtureNode(bpfLSM: false, connectSignals: false))
        #expect(noLSM.failed)
        #expect(noLSM.lines.contains { $0.contains("Sigkill is not available on socket_connect here") }, "\(noLSM.lines)")

        let fentry = Self.policy("""
              fentries:
              - call: vfs_write
            """)
        #expect(try !validate("fentry", fentry).failed)
        let noTrampolines = try validate("fentry", fentry, node: fixtureNode(trampolines: false))
        #expect(noTrampolines.lines.contains { $0.contains("fentries need BPF trampolines, which this kernel does not allow (fentry: load failed") })
    }

    @Test("what the probe file cannot tell is said, never passed as ok")
    func notChecked() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let block = Self.policy("""
              tracepoints:
              - subsystem: block
                event: block_rq_issue
            """)
        let report = try validate("block", block)
        #expect(!report.failed && report.unchecked)
        #expect(report.lines.contains { $0.contains("spec.tracepoints[0].event: not checked: tracepoint block/block_rq_issue exists on 6.1.0-test, but its format is not in the probe file") })
        #expect(report.lines.last?.contains(": ok as far as checked against test node (kernel 6.1.0-test)") == true)

        let unknown = try validate("good", Self.policy(Self.openat), node: fixtureNode(trampolines: nil, unchecked: ["BPF trampolines: load failed (run as root)"]))
        #expect(!unknown.failed && unknown.unchecked)
        #expect(unknown.lines.first == "note: not checked against test node (kernel 6.1.0-test): BPF trampolines: load failed (run as root)")
        #expect(unknown.lines.last?.contains("ok as far as checked") == true)
    }

    @Test("--node-probe reads `tracectl probe -o json`; --strict fails on what was not checked")
    func probeFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = ProbeFile(features: [], hooks: [], capabilities: fixtureNode(kprobes: false, trampolines: false))
        try JSONEncoder().encode(file).write(to: URL(fileURLWithPath: directory + "/node.json"))
        let target = try ValidationTarget(probeFile: directory + "/node.json", podScopes: false)
        #expect(target.name == "node probe \(directory)/node.json (kernel 6.1.0-test)")
        let command = try Tracectl.parseAsRoot(["policy", "validate", "--node-probe", "n.json", "--strict", "--enable-k8s-api", "p.yaml"])
        let validate = try #require(command as? PolicyValidateCommand)
        #expect(validate.nodeProbe == "n.json" && validate.strict && validate.podScopes && !validate.disableTrampolines)

        // --disable-trampolines, as the agent's: fentries are refused in its words.
        try Self.policy("  fentries:\n  - call: vfs_write").write(toFile: directory + "/fentry.yaml", atomically: true, encoding: .utf8)
        let full = ProbeFile(features: [], hooks: [], capabilities: fixtureNode())
        try JSONEncoder().encode(full).write(to: URL(fileURLWithPath: directory + "/full.json"))
        let withTrampolines = try #require(
            try Tracectl.parseAsRoot(["policy", "validate", "--node-probe", directory + "/full.json", directory + "/fentry.yaml"])
                as? PolicyValidateCommand)
        #expect(throws: Never.self) { try withTrampolines.run() }
        let without = try #require(
            try Tracectl.parseAsRoot([
                "policy", "validate", "--disable-trampolines", "--node-probe", directory + "/full.json", directory + "/fentry.yaml",
            ]) as? PolicyValidateCommand)
        #expect(throws: ExitCode.failure) { try without.run() }

        // --enable-dns-names, as the agent's: DNSName runs with it, is refused without it.
        try Self.policy("""
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: NotDNSName
                    values: ["api.test"]
            """).write(toFile: directory + "/fqdn.yaml", atomically: true, encoding: .utf8)
        for (flags, fails) in [([String](), true), (["--enable-dns-names"], false)] {
            let command = try #require(
                try Tracectl.parseAsRoot(["policy", "validate"] + flags + ["--node-probe", directory + "/full.json", directory + "/fqdn.yaml"])
                    as? PolicyValidateCommand)
            if fails {
                #expect(throws: ExitCode.failure) { try command.run() }
            } else {
                #expect(throws: Never.self) { try command.run() }
            }
        }

        try Data(#"{"features":[],"hooks":[]}"#.utf8).write(to: URL(fileURLWithPath: directory + "/old.json"))
        #expect(throws: ProbeFileError.self) { try ValidationTarget(probeFile: directory + "/old.json", podScopes: false) }
    }
}

/// vigil_exe_upper_layer's layout check reads struct ovl_inode from this kernel's BTF: where it
/// is there (overlayfs built in, or its module loaded), the offsets are real ones and the kernel
/// side's read (right after the embedded inode) is what they say.
@Suite struct OverlayInodeLayoutTests {
    @Test(.enabled(if: KernelBTF.overlayInodeLayout() != nil, "no BTF here describes struct ovl_inode"))
    func theUpperDentryFollowsTheEmbeddedInode() throws {
        let layout = try #require(KernelBTF.overlayInodeLayout())
        #expect(layout.vfsInode > 0 && layout.inodeSize > 300, "\(layout)")
        #expect(layout.upperDentry == layout.vfsInode + layout.inodeSize, "\(layout)")
        #expect(KernelBTF.overlayUpperLayerRefusal() == nil)
    }
}
