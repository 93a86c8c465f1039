// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Events
import PolicyCompiler

/// One attachment of a policy hook; ``detach()`` removes it.
package protocol HookLink: AnyObject, Sendable {
    func detach()
    /// Pins it in bpffs at `path` (`--keep-sensors-on-exit`); ``detach()`` removes the pin.
    func pin(at path: String) throws
}

extension PolicyLink: HookLink {}

/// What the policy engine and its hook backends do to the kernel: policy map writes and the
/// attachments. ``ProcessSensor`` is the real one; tests stand in a recording one, so installs,
/// replacements and rollbacks are checked without root.
package protocol PolicyKernel: Sendable {
    /// Writes one entry of a policy map.
    func update(_ map: PolicyMapID, key: [UInt8], value: [UInt8]) throws
    /// Removes one entry of a policy map; a missing entry is not an error.
    func delete(_ map: PolicyMapID, key: [UInt8]) throws

    /// The generic program on the tracepoint `category/name`, with `slot` as its cookie.
    func attachTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink
    /// The generic program on the raw tracepoint `name` (`raw: true`), for hook `slot`.
    func attachRawTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink
    /// Whether the raw sys_enter/sys_exit dispatcher loaded.
    var syscallDispatchAvailable: Bool { get }
    /// Attaches the dispatcher of syscall entries (`exit` false) or exits (idempotent).
    func attachSyscallDispatch(exit: Bool) throws
    func detachSyscallDispatch(exit: Bool)
    /// Attaches the exec dispatcher, which runs the exec check hooks at sched_process_exec after
    /// the process sensor (idempotent; where the syscall dispatchers load).
    func attachExecDispatch() throws
    func detachExecDispatch()
    /// Pins the attached exec dispatcher under `directory` (`--keep-sensors-on-exit`).
    func pinExecDispatch(directory: String) throws
    /// Pins the attached dispatcher under `directory` (`--keep-sensors-on-exit`).
    func pinSyscallDispatch(exit: Bool, directory: String) throws

    /// Attaches the cgroup connect4/6 and sendmsg4/6 programs under `cgroupRoot` (idempotent).
    func attachConnectHooks(cgroupRoot: String) throws
    func pinConnectHooks(directory: String) throws

    /// Why no policy program loaded (kernels without bpf_loop()); nil where they did.
    var policyProgramsUnavailableReason: String? { get }

    /// Whether the BPF-LSM programs loaded, and why not.
    var bpfLSMAvailable: Bool { get }
    var bpfLSMUnavailableReason: String? { get }
    /// Attaches the BPF-LSM program `program` (idempotent).
    func attachLSM(_ program: vigil_lsm_hook) throws
    func detachLSM(_ program: vigil_lsm_hook)
    /// Pins its link under `directory`; true when pinned now, false when it was already.
    func pinLSM(_ program: vigil_lsm_hook, directory: String) throws -> Bool

    /// Whether the generic kprobe programs loaded.
    var kprobesAvailable: Bool { get }
    /// The generic program on a kprobe of `symbol` (and its kretprobe with `returnProbe`).
    func attachKprobeHook(symbol: String, slot: UInt32, returnProbe: Bool) throws -> [any HookLink]
    /// The generic program on a BPF trampoline of `symbol`.
    func attachTrampolineHook(symbol: String, slot: UInt32, kind: TrampolineKind) throws -> any HookLink

    /// The generic program on a uprobe of a function in a user-space binary, in every process
    /// that maps it (and its uretprobe with `returnProbe`).
    func attachUprobeHook(_ target: UprobeTarget, slot: UInt32, returnProbe: Bool) throws -> [any HookLink]
}

extension ProcessSensor: PolicyKernel {
    package func attachTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink {
        try attachPolicyTracepoint(category: category, name: name, slot: slot)
    }

    package func attachRawTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink {
        try attachPolicyRawTracepoint(category: category, event: name, slot: slot)
    }

    package func attachKprobeHook(symbol: String, slot: UInt32, returnProbe: Bool) throws -> [any HookLink] {
        try attachPolicyKprobe(symbol: symbol, slot: slot, returnProbe: returnProbe)
    }

    package func attachTrampolineHook(symbol: String, slot: UInt32, kind: TrampolineKind) throws -> any HookLink {
        try attachPolicyTrampoline(symbol: symbol, slot: slot, kind: kind)
    }

    package func attachUprobeHook(_ target: UprobeTarget, slot: UInt32, returnProbe: Bool) throws -> [any HookLink] {
        try attachPolicyUprobe(
            binary: target.binary, symbol: target.symbol, offset: target.offset, slot: slot, returnProbe: returnProbe)
    }
}
