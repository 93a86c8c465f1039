// SPDX-License-Identifier: Apache-2.0
import Events
import Tracefs
import TracingPolicy

/// What a node's kernel lets the agent run, as the facts ``CompileEnvironment`` reads: written by
/// `tracectl probe -o json` on the node and read by `tracectl policy validate --node-probe`, so a
/// CI job compiles a policy against that node's kernel with the agent's own checks.
///
/// A fact the probe could not establish (no root, debugfs not mounted) is nil and named in
/// ``unchecked``; the environment then lets the check pass, and `validate` says it did not run.
package struct NodeCapabilities: Codable, Sendable, Hashable {
    /// One probed fact; `available` nil when it could not be probed there.
    package struct Fact: Codable, Sendable, Hashable {
        package var available: Bool?
        package var detail: String

        package init(available: Bool?, detail: String) {
            self.available = available
            self.detail = detail
        }
    }

    /// `uname -r` of the node.
    package var kernel: String
    /// The node's tracefs root (format paths in messages are written under it).
    package var tracefsRoot: String
    /// The perf kprobe PMU (kprobes on kernel functions).
    package var kprobes: Fact
    /// BPF-LSM: `bpf` in `lsm=` and an LSM program attaches.
    package var bpfLSM: Fact
    /// BPF trampolines: a fentry program attaches; `detail` is the refusal when not.
    package var trampolines: Fact
    /// A tp_btf program on sys_exit loads (connect hooks' Sigkill/Signal and results).
    package var connectSignals: Fact
    /// The uprobe PMU (spec.uprobes); nil in probe files written before uprobes ran (unchecked).
    package var uprobes: Fact?
    /// bpf_loop() (5.17+), which every policy program needs; nil in probe files written before
    /// it was recorded.
    package var bpfLoop: Fact?
    /// `subsystem/event` of every tracepoint; nil when tracefs could not be listed.
    package var tracepoints: [String]?
    /// Format files by `subsystem/event`, for the tracepoints of ``formatSubsystems``.
    package var formats: [String: String]
    /// The subsystems whose formats are in ``formats``.
    package var formatSubsystems: [String]
    /// Text symbols of /proc/kallsyms (what a kprobe can name); nil when unreadable.
    package var kernelFunctions: [String]?
    /// /sys/kernel/debug/kprobes/blacklist; nil when unreadable there.
    package var kprobeBlacklist: [String]?
    /// Functions the kernel's BTF describes (what a trampoline is built from); nil without BTF.
    package var btfFunctions: [String]?
    /// /sys/kernel/debug/error_injection/list; nil where the agent finds none either.
    package var errorInjection: [String]?
    /// The checks the probe could not prepare, with the reason.
    package var unchecked: [String]

    package init(
        kernel: String, tracefsRoot: String = Tracefs.standardPath, kprobes: Fact, bpfLSM: Fact, trampolines: Fact,
        connectSignals: Fact, tracepoints: [String]?, formats: [String: String] = [:], formatSubsystems: [String] = [],
        kernelFunctions: [String]?, kprobeBlacklist: [String]?, btfFunctions: [String]?, errorInjection: [String]?,
        unchecked: [String] = [], uprobes: Fact? = nil, bpfLoop: Fact? = nil
    ) {
        self.uprobes = uprobes
        self.bpfLoop = bpfLoop
        self.kernel = kernel
        self.tracefsRoot = tracefsRoot
        self.kprobes = kprobes
        self.bpfLSM = bpfLSM
        self.trampolines = trampolines
        self.connectSignals = connectSignals
        self.tracepoints = tracepoints
        self.formats = formats
        self.formatSubsystems = formatSubsystems
        self.kernelFunctions = kernelFunctions
        self.kprobeBlacklist = kprobeBlacklist
        self.btfFunctions = btfFunctions
        self.errorInjection = errorInjection
        self.unchecked = unchecked
    }

    /// Subsystems whose formats the probe file carries: those policies commonly hook (every
    /// syscall, scheduler, signals, sockets). Other tracepoints are listed by name only.
    package static let commonFormatSubsystems = [
        "syscalls", "raw_syscalls", "sched", "signal", "task", "sock", "net", "tcp", "udp", "skb", "cgroup", "module",
        "oom", "workqueue", "irq", "timer", "kmem", "block", "filelock", "writeback", "xdp", "bpf_trace",
    ]

    /// The agent's ``CompileEnvironment`` on that node. `podScopesAvailable` mirrors the agent's
    /// `--enable-k8s-api`.
    package func environment(podScopesAvailable: Bool) -> CompileEnvironment {
        let tracepoints = self.tracepoints.map(Set.init)
        let formats = self.formats
        let root = tracefsRoot
        let kernel = self.kernel
        let subsystems = Set(formatSubsystems)
        let functions = kernelFunctions.map(Set.init)
        let blacklist = Set(kprobeBlacklist ?? [])
        let btf = btfFunctions.map(Set.init)
        let injection = errorInjection.map(Set.init)
        return CompileEnvironment(
            loadFormat: { subsystem, event in
                let key = "\(subsystem)/\(event)"
                if let text = formats[key] { return try TracepointFormat.parse(text, subsystem: subsystem, event: event) }
                if let tracepoints, !tracepoints.contains(key) || subsystems.contains(subsystem) {
                    throw TracepointFormatError.notFound(
                        tracepoint: key, path: Tracefs.formatPath(tracefsRoot: root, subsystem: subsystem, event: event))
                }
                throw NotChecked(
                    tracepoints == nil
                        ? "tracepoint \(key): the probe file of \(kernel) lists no tracepoints (tracefs was unreadable there)"
                        : "tracepoint \(key) exists on \(kernel), but its format is not in the probe file "
                            + "(only \(formatSubsystems.joined(separator: ", "))): its arguments were not checked")
            },
            kprobesAvailable: kprobes.available ?? true,
            hostNamespaces: .resolvedAtLoad,
            connectSignalsAvailable: connectSignals.available ?? true,
            syscallExitArgumentsAvailable: connectSignals.available ?? true, podScopesAvailable: podScopesAvailable,
            bpfLSM: bpfLSM.available ?? true, kprobeProgramsLoaded: kprobes.available ?? true,
            kernelSymbol: { name in
                if blacklist.contains(name) { return .blacklisted }
                guard let functions else { return .unknown }
                return functions.contains(name) ? .attachable : .missing
            },
            trampolineRefusal: trampolines.available == false ? trampolines.detail : nil,
            kernelFunctionHasBTF: { name in btf?.contains(name) ?? true },
            errorInjectable: { name in injection?.contains(name) },
            uprobeRefusal: uprobes?.available == false ? uprobes?.detail ?? "no uprobes" : nil,
            // The binaries are on the node, not where validation runs: libbpf resolves the
            // symbols when the node's agent attaches them.
            userFunction: { _, _ in .unchecked })
    }
}

/// A check that could not run where `validate` ran (tracefs unreadable without root, a format
/// not in a probe file): reported as "not checked", never as "ok" nor as a refusal.
package struct NotChecked: Error, Sendable, CustomStringConvertible {
    package static let marker = "not checked: "
    package var reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { Self.marker + reason }
}

extension HostNamespaces {
    /// For validation away from the agent: the host's namespaces are read by the node's agent at
    /// load (a `host_ns` it cannot resolve is refused there), so any known number stands in.
    package static let resolvedAtLoad = HostNamespaces(
        known: Namespaces(uts: 1, ipc: 2, mnt: 3, pid: 4, pidForChildren: 4, net: 5, cgroup: 6, user: 7),
        from: "resolved by the node's agent at load")
}
