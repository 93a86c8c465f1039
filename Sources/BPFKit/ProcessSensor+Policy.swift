// SPDX-License-Identifier: Apache-2.0
import CLibbpf
import CVigilABI
import CVigilBPF
import CVigilProbe
import Events
import Glibc
import KernelFeatures
import Logging

/// One attached policy hook; ``detach()`` (or deinit) removes it.
package final class PolicyLink: @unchecked Sendable {
    // Touched only by detach(), which the owner calls once; deinit runs after that.
    private var link: OpaquePointer?
    package let category: String
    package let name: String
    package let slot: UInt32

    init(link: OpaquePointer, category: String, name: String, slot: UInt32) {
        self.link = link
        self.category = category
        self.name = name
        self.slot = slot
    }

    /// Detaches it, pinned or not: the hook is released.
    package func detach() {
        if let link {
            vigil_bpf_unpin_link(link)
            vigil_bpf_detach(link)
        }
        link = nil
    }

    /// Pins it at `path` (bpffs), so that it stays attached when this process is gone
    /// (`--keep-sensors-on-exit`); ``detach()`` removes the pin.
    package func pin(at path: String) throws(BPFError) {
        guard let link else { throw BPFError(errno: ENOENT, operation: "pin a detached policy hook at \(path)") }
        let rc = vigil_bpf_pin_link(link, path)
        if rc < 0 { throw BPFError(errno: -rc, operation: "pin policy hook \(category)/\(name) at \(path)") }
    }

    // Only the descriptor: a pinned link outlives the process (an agent exiting with
    // --keep-sensors-on-exit), an unpinned one detaches with it.
    deinit { if let link { vigil_bpf_detach(link) } }
}

extension ProcessSensor {
    /// Writes one entry of a policy map (BPF_ANY).
    package func update(_ map: PolicyMapID, key: [UInt8], value: [UInt8]) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            let fd = vigil_bpf_policy_map_fd(pointer, map.cValue)
            try checkedRC("update \(map)") {
                key.withUnsafeBytes { k in
                    value.withUnsafeBytes { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, UInt64(BPF_ANY)) }
                }
            }
        }
    }

    /// Applies one compiled map entry.
    package func apply(_ update: MapUpdate) throws(BPFError) {
        try self.update(update.map, key: update.key, value: update.value)
    }

    /// Removes one entry of a policy map; a missing entry is not an error.
    package func delete(_ map: PolicyMapID, key: [UInt8]) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            let fd = vigil_bpf_policy_map_fd(pointer, map.cValue)
            let rc = key.withUnsafeBytes { bpf_map_delete_elem(fd, $0.baseAddress) }
            if rc < 0 && -rc != ENOENT { throw BPFError(errno: -rc, operation: "delete from \(map)") }
        }
    }

    /// Attaches the generic policy program to `category:name` with `slot` as its cookie.
    package func attachPolicyTracepoint(category: String, name: String, slot: UInt32) throws(BPFError) -> PolicyLink {
        try withHandle { pointer throws(BPFError) in
            guard let link = vigil_bpf_attach_policy_tracepoint(pointer, category, name, UInt64(slot)) else {
                let operation = "attach policy hook to tracepoint \(category)/\(name)"
                if errno == EBUSY {
                    throw BPFError(
                        code: .other, errno: EBUSY, operation: operation,
                        message: "more than \(VIGIL_TRACEPOINT_COPIES) policy hooks on one tracepoint (a policy being "
                            + "replaced counts twice); merge selectors into fewer hooks")
                }
                throw BPFError(errno: errno, operation: operation)
            }
            return PolicyLink(link: link, category: category, name: name, slot: slot)
        }
    }
}

extension ProcessSensor {
    /// Attaches the cgroup connect4/6 and sendmsg4/6 programs to the cgroup2 directory at
    /// `cgroupRoot` (idempotent). They act only on the hooks listed in vg_connect_hooks.
    package func attachConnectHooks(cgroupRoot: String) throws(BPFError) {
        _ = try withHandle { pointer throws(BPFError) in
            try checkedRC("attach cgroup connect hooks to \(cgroupRoot)") { vigil_bpf_attach_connect(pointer, cgroupRoot) }
        }
    }

    /// Pins the attached connect links under `directory` (a bpffs directory), so that the
    /// connect deny keeps working when this process is gone (`--keep-sensors-on-exit`).
    package func pinConnectHooks(directory: String) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            _ = try checkedRC("pin cgroup connect hooks in \(directory)") { vigil_bpf_pin_connect(pointer, directory) }
        }
    }

    /// Pins the exec/fork/exit links and the process map under `directory`: with them the
    /// kernel keeps every process's binary (matchBinaries) current while no agent runs, for the
    /// pinned connect and BPF-LSM programs that read it (`--keep-sensors-on-exit`).
    package func pinProcessTracking(directory: String) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            _ = try checkedRC("pin process tracking in \(directory)") { vigil_bpf_pin_process(pointer, directory) }
        }
    }

    /// Gives the kernel side the binaries of processes it never saw start (they predate every
    /// sensor), so binary selectors match them in the kernel too. An entry the kernel already
    /// has wins: it is at least as recent as the /proc read. Returns how many were added.
    package func seedProcessBinaries(_ processes: some Sequence<(pid: UInt32, binary: [UInt8])>) -> Int {
        (try? withHandle { pointer in
            var added = 0
            for process in processes where !process.binary.isEmpty {
                let rc = process.binary.withUnsafeBufferPointer { bytes in
                    bytes.withMemoryRebound(to: CChar.self) {
                        vigil_bpf_seed_process(pointer, process.pid, $0.baseAddress, UInt32(bytes.count))
                    }
                }
                if rc == 0 { added += 1 }
            }
            return added
        }) ?? 0
    }
}

extension ProcessSensor {
    /// Whether connect events carry their syscall's result and connect hooks can Sigkill (the
    /// tp_btf sys_exit program that completes them loaded).
    package var connectResultsAvailable: Bool {
        (try? withHandle { pointer in vigil_bpf_connect_results_available(pointer) != 0 }) ?? false
    }

    /// Whether syscall hooks can run through the raw sys_enter/sys_exit dispatcher (a tp_btf
    /// program, loaded unless the sensor fell back to raw tracepoints).
    package var syscallDispatchAvailable: Bool {
        (try? withHandle { pointer in vigil_bpf_syscall_dispatch_available(pointer) != 0 }) ?? false
    }

    /// Attaches the dispatcher of syscall entries (`exit` false) or exits (idempotent). It runs
    /// the hooks listed in the syscall hook map for the current syscall number.
    package func attachSyscallDispatch(exit: Bool) throws(BPFError) {
        let uringOpens = try withHandle { pointer throws(BPFError) -> (before: Int32, after: Int32) in
            let before = vigil_bpf_uring_opens(pointer)
            try checkedRC("attach syscall \(exit ? "exit" : "entry") dispatcher (tp_btf/\(exit ? "sys_exit" : "sys_enter"))") {
                vigil_bpf_attach_syscalls(pointer, exit ? 1 : 0)
            }
            return (before, vigil_bpf_uring_opens(pointer))
        }
        // With the exit dispatcher, file_open hooks also run at io_uring open completions: say
        // whether they do, once per attachment.
        guard exit, uringOpens.before == 0 else { return }
        if uringOpens.after > 0 {
            logger.info("file_open hooks also run for io_uring opens (raw_tp/io_uring_complete)")
        } else {
            logger.warning(
                "file_open hooks do not see io_uring opens: attaching raw_tp/io_uring_complete failed: \(String(cString: strerror(-uringOpens.after)))")
        }
    }

    /// Detaches that dispatcher (pinned or not), so syscalls run untraced again once no hook
    /// needs it.
    package func detachSyscallDispatch(exit: Bool) {
        try? withHandle { pointer in
            vigil_bpf_unpin_syscalls(pointer, exit ? 1 : 0)
            vigil_bpf_detach_syscalls(pointer, exit ? 1 : 0)
        }
    }

    /// Pins the attached dispatcher under `directory` (bpffs), so that syscall hooks keep
    /// running when this process is gone (`--keep-sensors-on-exit`).
    package func pinSyscallDispatch(exit: Bool, directory: String) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            _ = try checkedRC("pin syscall \(exit ? "exit" : "entry") dispatcher in \(directory)") {
                vigil_bpf_pin_syscalls(pointer, exit ? 1 : 0, directory)
            }
        }
    }

    /// Attaches the exec dispatcher (tp_btf/sched_process_exec; idempotent), which runs the exec
    /// check hooks after the process sensor's exec program. Where the syscall dispatchers load.
    package func attachExecDispatch() throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            _ = try checkedRC("attach exec dispatcher (tp_btf/sched_process_exec)") { vigil_bpf_attach_exec_dispatch(pointer) }
        }
    }

    package func detachExecDispatch() {
        try? withHandle { pointer in vigil_bpf_detach_exec_dispatch(pointer) }
    }

    /// Pins the attached exec dispatcher under `directory` (`--keep-sensors-on-exit`).
    package func pinExecDispatch(directory: String) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            _ = try checkedRC("pin exec dispatcher in \(directory)") { vigil_bpf_pin_exec_dispatch(pointer, directory) }
        }
    }
}

extension ProcessSensor {
    /// Whether the BPF-LSM programs loaded, so lsmhooks run in them (see ``bpfLSMUnavailableReason``).
    package var bpfLSMAvailable: Bool {
        (try? withHandle { pointer in vigil_bpf_lsm_available(pointer) != 0 }) ?? false
    }

    /// Attaches the BPF-LSM program of `hook` (idempotent). It runs the hooks listed for it in
    /// the LSM hook map.
    package func attachLSM(_ hook: vigil_lsm_hook) throws(BPFError) {
        _ = try withHandle { pointer throws(BPFError) in
            try checkedRC("attach BPF-LSM program \(Self.lsmProgramName(hook))") {
                vigil_bpf_attach_lsm(pointer, Int32(hook.rawValue))
            }
        }
    }

    /// Detaches it once no hook needs it: an attached LSM program runs on every open, exec or
    /// connect of the node.
    package func detachLSM(_ hook: vigil_lsm_hook) {
        try? withHandle { pointer in vigil_bpf_detach_lsm(pointer, Int32(hook.rawValue)) }
    }

    /// Pins the attached LSM link of `hook` under `directory` (a bpffs directory), so its deny
    /// keeps working when this process is gone (`--keep-sensors-on-exit`). True when it was
    /// pinned now, false when it was already.
    package func pinLSM(_ hook: vigil_lsm_hook, directory: String) throws(BPFError) -> Bool {
        try withHandle { pointer throws(BPFError) in
            try checkedRC("pin BPF-LSM program \(Self.lsmProgramName(hook)) in \(directory)") {
                vigil_bpf_pin_lsm(pointer, Int32(hook.rawValue), directory)
            } == 1
        }
    }

    package static func lsmProgramName(_ hook: vigil_lsm_hook) -> String {
        switch hook {
        case VIGIL_LSM_FILE_OPEN: "lsm/file_open"
        case VIGIL_LSM_BPRM_CHECK: "lsm/bprm_check_security"
        default: "lsm/socket_connect"
        }
    }
}

extension ProcessSensor {
    /// Whether the generic kprobe programs loaded: the kernel has kprobes and lets them load.
    package var kprobesAvailable: Bool {
        (try? withHandle { pointer in vigil_bpf_kprobes_available(pointer) != 0 }) ?? false
    }

    /// Attaches the generic kprobe program to the kernel function `symbol` with `slot` as its
    /// cookie; with `returnProbe`, the entry half of a `return: true` hook and the kretprobe
    /// that posts its event (both links are returned, entry first).
    package func attachPolicyKprobe(symbol: String, slot: UInt32, returnProbe: Bool) throws(BPFError) -> [PolicyLink] {
        try attachProbePair(
            probe: "kprobe", returnProbe: returnProbe, name: symbol, slot: slot,
            unavailable: "the kprobe programs did not load on this kernel"
        ) { pointer, kind in vigil_bpf_attach_policy_kprobe(pointer, symbol, UInt64(slot), kind) }
    }

    /// Whether the generic uprobe programs loaded: the kernel has the uprobe PMU and lets them load.
    package var uprobesAvailable: Bool {
        (try? withHandle { pointer in vigil_bpf_uprobes_available(pointer) != 0 }) ?? false
    }

    /// Attaches the generic uprobe program to a function of the file `binary` in every process
    /// that maps it, with `slot` as its cookie: at the file offset `offset`, or at `symbol`
    /// (libbpf resolves it) when the offset is unknown. With `returnProbe`, the entry half of a
    /// `return: true` hook and the uretprobe that posts its event (both links returned, entry first).
    package func attachPolicyUprobe(
        binary: String, symbol: String?, offset: UInt64?, slot: UInt32, returnProbe: Bool
    ) throws(BPFError) -> [PolicyLink] {
        let name = "\(binary):\(symbol ?? offset.map { "0x" + String($0, radix: 16) } ?? "?")"
        return try attachProbePair(
            probe: "uprobe", returnProbe: returnProbe, name: name, slot: slot,
            unavailable: "the uprobe programs did not load on this kernel"
        ) { pointer, kind in
            // A known offset wins: it is the one the compiler checked and the event reports.
            vigil_bpf_attach_policy_uprobe(pointer, binary, offset == nil ? symbol : nil, offset ?? 0, UInt64(slot), kind)
        }
    }

    /// The links of one kprobe or uprobe hook: the entry program, or for `return: true` the
    /// return probe and the entry half (the return half first, so that an entry whose record
    /// waits is always completed). Returned entry first; on a failure what attached is detached.
    private func attachProbePair(
        probe: String, returnProbe: Bool, name: String, slot: UInt32, unavailable: String,
        attach: (OpaquePointer, vigil_kprobe_kind) -> OpaquePointer?
    ) throws(BPFError) -> [PolicyLink] {
        try withHandle { pointer throws(BPFError) in
            let kinds = returnProbe ? [VIGIL_KPROBE_RETURN, VIGIL_KPROBE_RETURN_ENTRY] : [VIGIL_KPROBE_ENTRY]
            var links: [PolicyLink] = []
            for kind in kinds {
                guard let link = attach(pointer, kind) else {
                    let code = errno
                    for link in links { link.detach() }
                    let what = kind == VIGIL_KPROBE_RETURN ? (probe == "kprobe" ? "kretprobe" : "uretprobe") : probe
                    if code == EOPNOTSUPP {
                        throw BPFError(
                            code: .other, errno: code, operation: "attach policy \(what) to \(name)", message: unavailable)
                    }
                    throw BPFError(errno: code, operation: "attach policy \(what) to \(name)")
                }
                links.append(PolicyLink(link: link, category: probe, name: name, slot: slot))
            }
            return links.reversed()
        }
    }

    /// Why the trampoline programs (fentry, fexit, fmod_ret) cannot run here, or nil when they
    /// can: probed on first use by loading and attaching one (detached at once).
    package var trampolineRefusal: String? {
        // A minimal fentry program first: where the kernel refuses trampolines outright (EPERM
        // here), that says so without libbpf's warnings about the agent's program.
        let minimal = KernelProbe.attach(VIGIL_PROBE_FENTRY, "security_file_open")
        if minimal.ok != true { return "fentry: \(minimal.reason)" }
        let rc = (try? withHandle { pointer in vigil_bpf_trampolines_probe(pointer) }) ?? -EBADF
        guard rc != 0 else { return nil }
        return "fentry program did not load or attach: \(String(cString: strerror(-rc)))"
    }

    /// Attaches a trampoline program (fentry, fexit or fmod_ret) bound to the kernel function
    /// `symbol`, with `slot` as its cookie.
    package func attachPolicyTrampoline(symbol: String, slot: UInt32, kind: TrampolineKind) throws(BPFError) -> PolicyLink {
        try withHandle { pointer throws(BPFError) in
            let cKind: vigil_trampoline_kind =
                switch kind {
                case .fentry: VIGIL_TRAMPOLINE_FENTRY
                case .fexit: VIGIL_TRAMPOLINE_FEXIT
                case .fmodRet: VIGIL_TRAMPOLINE_FMOD_RET
                }
            guard let link = vigil_bpf_attach_policy_trampoline(pointer, symbol, UInt64(slot), cKind) else {
                throw BPFError(errno: errno, operation: "attach policy \(kind.rawValue) to \(symbol)")
            }
            return PolicyLink(link: link, category: "trampoline", name: symbol, slot: slot)
        }
    }
}

extension ProcessSensor {
    /// The generic program on the raw tracepoint `event` (`raw: true`), for hook `slot`: an
    /// instance of its own with the slot in its .rodata.
    package func attachPolicyRawTracepoint(category: String, event: String, slot: UInt32) throws(BPFError) -> PolicyLink {
        try withHandle { pointer throws(BPFError) in
            guard let link = vigil_bpf_attach_policy_raw_tp(pointer, event, slot) else {
                throw BPFError(errno: errno, operation: "attach policy raw tracepoint \(event)")
            }
            return PolicyLink(link: link, category: category, name: event, slot: slot)
        }
    }
}

/// The BPF trampoline a policy hook on a kernel function is attached with.
package enum TrampolineKind: String, Sendable {
    case fentry
    case fexit
    case fmodRet = "fmod_ret"
}
