// SPDX-License-Identifier: Apache-2.0
import CFanotify
import CLibbpf
import CVigilProbe
import Glibc
import HostFiles

/// What this kernel allows, hook by hook, probed without loading the agent: the facts behind
/// `tracectl probe` and the agent's choice of mechanisms.
package struct KernelProbe: Sendable {
    /// What the agent (and `tracectl policy validate`) says where the kernel has no bpf_loop().
    package static let noBPFLoopReason =
        "this kernel lacks the bpf_loop() helper (Linux 5.17+) that policy programs need: TracingPolicies are refused; exec, fork and exit are observed"

    /// One probed fact.
    package struct Feature: Sendable, Hashable, Codable {
        package var name: String
        package var available: Bool?  // nil: could not be probed here
        package var detail: String
    }

    /// How one policy hook runs here and what it can do.
    package struct Hook: Sendable, Hashable, Codable {
        package var hook: String
        package var mechanism: String
        package var observe: Bool
        package var kill: Bool
        package var deny: Bool
    }

    package var features: [Feature]
    package var hooks: [Hook]

    /// Whether the agent's BPF-LSM programs serve lsmhooks (see ``run(lsm:)``).
    package enum LSMOutcome: Sendable {
        /// Not known: say what an agent would use, from the probe.
        case probe
        /// The agent loaded its LSM programs.
        case served
        /// It did not, for this reason.
        case fallback(String)
    }

    /// Probes the running kernel. Program-type and helper probes load tiny programs through
    /// libbpf, so they need root (or CAP_BPF); without it they report "unknown".
    ///
    /// `lsm`: the agent's own outcome once its sensor is loaded; `.probe` (`tracectl probe`)
    /// says what an agent would use here.
    ///
    /// `trampolines`: why the agent's trampoline programs do not run (nil: they do); left out
    /// (`tracectl probe`), the answer of a minimal fentry program.
    package static func run(lsm lsmOutcome: LSMOutcome = .probe, trampolines agentTrampolines: String?? = .none) -> KernelProbe {
        func probe(_ rc: Int32) -> Bool? { rc == 1 ? true : rc == 0 ? false : nil }
        let btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0
        let ringbuf = probe(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil))
        let loop = probe(libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nil))
        let signal = probe(libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal, nil))
        let cookie = probe(libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_attach_cookie, nil))
        let sockAddr = probe(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, nil))
        let kprobes = access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0
        let uprobes = access("/sys/bus/event_source/devices/uprobe/type", F_OK) == 0
        let lsmList = HostFile.readText(atPath: "/sys/kernel/security/lsm")
        let lsm = Self.bpfLSM(activeList: lsmList)
        let fentry = Self.attach(VIGIL_PROBE_FENTRY, "security_file_open")
        // The agent's connect results and connect Sigkill come from a tp_btf program on sys_exit.
        let tpBTF = Self.attach(VIGIL_PROBE_TP_BTF, "sys_exit")
        let trampolineRefusal: String? = agentTrampolines ?? (fentry.ok == true ? nil : "fentry: \(fentry.reason)")
        let kprobeDetail = kprobes ? "perf kprobe PMU present: kernel-function kprobes attach (Override: fmod_ret where BPF trampolines run; bpf_override_return is not used)" : "no perf kprobe PMU (CONFIG_KPROBES off)"
        let cgroup2 = MountInfo.mountPoints(ofType: "cgroup2", mountinfo: HostFile.readText(atPath: MountInfo.selfPath) ?? "").first
        // Permission events need CONFIG_FANOTIFY_ACCESS_PERMISSIONS and CAP_SYS_ADMIN.
        let fanotifyFD = cfan_init(UInt32(FAN_CLASS_CONTENT | FAN_CLOEXEC), UInt32(O_RDONLY))
        let fanotify = fanotifyFD >= 0
        if fanotify { close(fanotifyFD) }
        let syscallTracepoints = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].contains {
            access("\($0)/events/syscalls/sys_enter_openat", F_OK) == 0
        } || !isMountedTracefs()
        let features = [
            Feature(name: "BTF", available: btf, detail: "/sys/kernel/btf/vmlinux (CO-RE relocations)"),
            Feature(name: "ring buffer", available: ringbuf, detail: "BPF_MAP_TYPE_RINGBUF (5.8+)"),
            Feature(name: "bpf_loop", available: loop, detail: loop == false ? "policy programs (5.17+); exec paths: bounded loop" : "path walks in the kernel (5.17+)"),
            Feature(name: "bpf_send_signal", available: signal, detail: "Sigkill/Signal in tracepoint hooks"),
            Feature(name: "attach cookies", available: cookie, detail: "one generic program per tracepoint hook"),
            Feature(name: "cgroup sock_addr", available: sockAddr, detail: "connect4/6, sendmsg4/6 observe and deny"),
            Feature(name: "cgroup2", available: cgroup2 != nil, detail: cgroup2 ?? "no cgroup2 mount"),
            Feature(name: "syscall tracepoints", available: syscallTracepoints, detail: "syscalls:sys_enter_*/sys_exit_* (CONFIG_FTRACE_SYSCALLS)"),
            Feature(name: "fanotify permissions", available: fanotify, detail: "deny open and exec (FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM)"),
            Feature(name: "kprobes", available: kprobes, detail: kprobeDetail),
            Feature(
                name: "uprobes", available: uprobes,
                detail: uprobes ? "perf uprobe PMU present: spec.uprobes attach to functions of user-space binaries" : "no perf uprobe PMU (CONFIG_UPROBES off)"),
            Feature(name: "fentry", available: fentry.ok, detail: fentry.ok == true ? "fentry on security_file_open attaches" : "fentry: \(fentry.reason)"),
            Feature(name: "BPF-LSM", available: lsm.available, detail: lsm.detail),
            Feature(name: "tp_btf", available: tpBTF.ok, detail: tpBTF.ok == true ? "tp_btf on sys_exit attaches (connect results and signals)" : "tp_btf: \(tpBTF.reason)"),
        ]
        let connect = sockAddr == true && cgroup2 != nil
        let tracepoints = signal != false
        let lsmFallback: String? =
            switch lsmOutcome {
            case .probe: lsm.available == true ? nil : Self.shortLSMReason(lsm.detail)
            case .served: nil
            case .fallback(let reason): reason
            }
        // io_uring opens reach file_open hooks at their completion, through the tp_btf syscall
        // dispatcher's hook lists (raw_tp/io_uring_complete).
        let ioUringOpens = tpBTF.ok == true && ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].contains {
            access("\($0)/events/io_uring/io_uring_complete", F_OK) == 0
        }
        let lsmHooks = Self.lsmHookMechanisms(
            fallbackReason: lsmFallback, connect: connect, fanotify: fanotify, syscallTracepoints: syscallTracepoints,
            signal: signal == true, ioUringOpens: ioUringOpens, execDispatcher: tpBTF.ok == true)
        let processHook = Hook(
            hook: "process exec/fork/exit",
            mechanism: "tp_btf sched_process_* (raw_tp fallback)" + (loop == false ? "; path walk: bounded loop (no bpf_loop)" : ""),
            observe: btf && ringbuf == true, kill: false, deny: false)
        var policyHooks =
            [
                Hook(
                    hook: "tracepoints, syscall kprobes",
                    mechanism: "tracepoint + generic program" + (btf ? "; raw: true: a raw_tp program per hook (arguments from BTF)" : ""),
                    observe: tracepoints, kill: signal == true, deny: false)
            ] + lsmHooks + [
                Self.kernelFunctionHook(trampolineRefusal: trampolineRefusal, kprobes: kprobes, signal: signal == true),
                Hook(hook: "uprobes on user-space functions", mechanism: uprobes ? "uprobe/uretprobe + generic program" : "unavailable: no uprobe PMU", observe: uprobes, kill: uprobes && signal == true, deny: false),
            ]
        if loop == false {
            // Every policy program walks paths and strings in bpf_loop(): the agent loads none.
            policyHooks = policyHooks.map {
                Hook(hook: $0.hook, mechanism: "unavailable: policy programs need bpf_loop (5.17+)", observe: false, kill: false, deny: false)
            }
        }
        return KernelProbe(features: features, hooks: [processHook] + policyHooks)
    }

    /// How spec.kprobes (and fentries) on kernel functions run: BPF trampolines where the kernel
    /// runs them (fmod_ret denies on security_* functions), kprobes where it has only those.
    package static func kernelFunctionHook(trampolineRefusal: String?, kprobes: Bool, signal: Bool) -> Hook {
        if trampolineRefusal == nil {
            let fallback = kprobes ? "; kprobe/kretprobe for functions without BTF" : ""
            return Hook(
                hook: "kprobes on kernel functions",
                mechanism: "fentry/fexit + generic program\(fallback); Override: fmod_ret on security_* functions (tcp_connect too)",
                observe: true, kill: signal, deny: true)
        }
        if kprobes {
            return Hook(
                hook: "kprobes on kernel functions",
                mechanism: "kprobe/kretprobe + generic program (tcp_connect too); Override needs BPF trampolines: \(trampolineRefusal ?? "")",
                observe: true, kill: signal, deny: false)
        }
        return Hook(
            hook: "kprobes on kernel functions",
            mechanism: "unavailable: no kprobes; BPF trampolines: \(trampolineRefusal ?? "") (tcp_connect: cgroup connect hooks)",
            observe: false, kill: false, deny: false)
    }

    /// How lsmhooks file_open, bprm_check_security and socket_connect run: in BPF-LSM programs
    /// (nil `fallbackReason`), or on the other mechanisms, with the reason BPF-LSM does not
    /// serve them said next to them. The kprobe spellings (security_file_open, ...) always run on
    /// the other mechanisms.
    package static func lsmHookMechanisms(
        fallbackReason: String?, connect: Bool, fanotify: Bool, syscallTracepoints: Bool, signal: Bool,
        ioUringOpens: Bool = false, execDispatcher: Bool = false
    ) -> [Hook] {
        if fallbackReason == nil {
            // security_socket_connect() runs in connect(2) and io_uring's connect only: the
            // cgroup programs beside the LSM one decide unconnected sends and TCP fast open.
            let sends = connect ? "; sends, TCP fast open: cgroup connect4/6, sendmsg4/6" : "; sends, TCP fast open: not denied (no cgroup2)"
            return ["socket_connect", "file_open", "bprm_check_security"].map {
                Hook(hook: $0, mechanism: "BPF-LSM (lsm/\($0))" + ($0 == "socket_connect" ? sends : ""), observe: true, kill: true, deny: true)
            }
        }
        let note = " (\(fallbackReason ?? ""))"
        return [
            Hook(hook: "socket_connect", mechanism: (connect ? "cgroup connect4/6, sendmsg4/6" : "unavailable") + note, observe: connect, kill: false, deny: connect),
            Hook(hook: "file_open", mechanism: "syscalls:sys_exit_open* (fd resolved in the kernel)"
                    + (ioUringOpens ? ", io_uring opens at io_uring_complete" : "") + (fanotify ? "; deny: fanotify" : "") + note, observe: syscallTracepoints, kill: signal, deny: fanotify),
            // The exec dispatcher (tp_btf) runs after the exec tracking; a perf copy may not.
            Hook(
                hook: "bprm_check_security",
                mechanism: "sched_process_exec" + (execDispatcher ? " (exec dispatcher)" : " (perf tracepoint)")
                    + (fanotify ? "; deny: fanotify" : "") + note, observe: true, kill: signal, deny: fanotify),
        ]
    }

    /// The part of a ``bpfLSM(activeList:)`` detail that says why BPF-LSM is not used, short
    /// enough to stand next to a mechanism ("BPF-LSM not in lsm=").
    package static func shortLSMReason(_ detail: String) -> String {
        if detail.hasPrefix("bpf is not in the active LSMs") { return "BPF-LSM not in lsm=" }
        if detail.hasPrefix("securityfs not mounted") { return "BPF-LSM unknown: securityfs not mounted" }
        // "bpf is an active LSM (...) but load failed: ...": the part after "but ".
        if detail.hasPrefix("bpf is an active LSM"), let cut = detail.firstIndex(of: ")") {
            let rest = detail[detail.index(after: cut)...].drop { $0 == " " }
            return "BPF-LSM refused: " + (rest.hasPrefix("but ") ? rest.dropFirst(4) : rest)
        }
        return "BPF-LSM: " + detail
    }

    /// BPF-LSM works only when both hold: `bpf` is in the active LSM list, and an LSM program
    /// loads and attaches. Either alone misleads: with `bpf` missing from `lsm=`, an LSM program
    /// attaches without error and never runs; with it present, a locked-down kernel still
    /// refuses the attach.
    package static func bpfLSM(activeList: String?) -> (available: Bool?, detail: String) {
        guard let activeList else {
            return (false, "securityfs not mounted (/sys/kernel/security/lsm): the active LSMs are unknown")
        }
        let active = activeList.trimmingCharacters()
        guard active.split(separator: ",").contains(where: { $0 == "bpf" }) else {
            return (false, "bpf is not in the active LSMs (\(active)): LSM programs would attach and never run; boot with lsm=...,bpf")
        }
        let attach = attach(VIGIL_PROBE_LSM, "file_open")
        switch attach.ok {
        case .some(true): return (true, "active LSMs: \(active); an LSM program on file_open attaches")
        case .some(false): return (false, "bpf is an active LSM (\(active)) but \(attach.reason)")
        case .none: return (nil, "active LSMs: \(active); the attach could not be tried: \(attach.reason)")
        }
    }

    /// Loads and attaches a two-instruction program of `kind` on `function`, then detaches it.
    /// nil when the probe itself could not run (no BTF, no privilege to load anything).
    package static func attach(_ kind: vigil_probe_attach_kind, _ function: String) -> (ok: Bool?, reason: String) {
        var stage: UnsafePointer<CChar>? = nil
        let rc = vigil_probe_attach(kind, function, &stage)
        guard rc < 0 else { return (true, "") }
        let step = stage.map { String(cString: $0) } ?? "?"
        let reason = "\(step) failed: \(String(cString: strerror(-rc))) (errno \(-rc))"
        // Without root every load fails with EPERM; that says nothing about the kernel.
        if step == "btf" || (step == "load" && -rc == EPERM && geteuid() != 0) { return (nil, reason) }
        return (false, reason)
    }

    private static func isMountedTracefs() -> Bool {
        !MountInfo.mountPoints(ofType: "tracefs", mountinfo: HostFile.readText(atPath: MountInfo.selfPath) ?? "").isEmpty
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(self.drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String { Substring(self).trimmingCharacters() }
}
