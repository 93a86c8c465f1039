// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Tracefs

/// Hooks on tracepoints: the generic program attached to the tracepoint itself, or, for a
/// syscall tracepoint where the raw sys_enter/sys_exit dispatcher loaded, one slot in the
/// dispatcher's list for that syscall (one program for every syscall hook instead of one
/// attachment per tracepoint), and for an exec check hook at sched_process_exec, a place in the
/// exec dispatcher's lists.
///
/// With `--keep-sensors-on-exit` all are pinned in `--bpf-dir` as they attach (each hook's
/// link as `tracepoint_<slot>`, the dispatchers as `sys_enter`, `sys_exit`,
/// `io_uring_complete` and `sched_process_exec`): perf-event and raw tracepoint links are BPF
/// links like the connect and LSM ones, so a Sigkill on a tracepoint keeps killing while no
/// agent runs, and the next start replaces them as it does those. Released hooks lose their
/// pin, so they detach for real.
struct TracepointBackend: HookBackend {
    private let kernel: any PolicyKernel
    /// Whether syscall hooks run through the dispatcher here.
    private let dispatchAvailable: Bool
    /// bpffs directory the links are pinned in once attached (`--keep-sensors-on-exit`).
    private let pinDirectory: String?
    private var links: [UInt32: any HookLink] = [:]
    /// Slots of syscall hooks per dispatcher key (syscall number * 2, + 1 for exits).
    private(set) var syscallSlots: [UInt32: [UInt32]] = [:]
    /// The exec dispatcher's hooks by place (list = place / VIGIL_GENERIC_COPIES): a hook keeps
    /// its place while others come and go, so a rewrite never moves a running hook.
    private(set) var execPlaces: [UInt32?] = []

    init(kernel: any PolicyKernel, pinDirectory: String? = nil) {
        self.kernel = kernel
        self.dispatchAvailable = kernel.syscallDispatchAvailable
        self.pinDirectory = pinDirectory
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism == .tracepoint }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        if dispatchAvailable && Self.runsOnExecDispatcher(hook) { return try attachToExecDispatcher(slot: slot) }
        guard let key = dispatchKey(hook) else {
            let link = try kernel.attachTracepointHook(category: hook.category, name: hook.name, slot: slot)
            links[slot] = link
            try link.pinForKeptSensors(in: pinDirectory, as: "tracepoint_\(slot)", hook: hook)
            return .tracepoint
        }
        var slots = syscallSlots[key] ?? []
        guard slots.count < Int(VIGIL_GENERIC_COPIES) else {
            throw HookRefusal(
                "more than \(VIGIL_GENERIC_COPIES) policy hooks on one syscall (a policy being replaced counts "
                    + "twice); merge selectors into fewer hooks")
        }
        let exit = key % 2 == 1
        try kernel.attachSyscallDispatch(exit: exit)
        if let pinDirectory {
            do { try kernel.pinSyscallDispatch(exit: exit, directory: pinDirectory) } catch {
                if !syscallSlots.keys.contains(where: { $0 % 2 == key % 2 }) { kernel.detachSyscallDispatch(exit: exit) }
                throw HookRefusal("--keep-sensors-on-exit: the syscall \(exit ? "exit" : "entry") dispatcher cannot be pinned: \(error)")
            }
        }
        slots.append(slot)
        syscallSlots[key] = slots
        try HookList.write(kernel, .syscallHooks, key: key, slots)
        return exit ? .syscallExitDispatcher : .syscallEntryDispatcher
    }

    mutating func release(_ slots: Set<UInt32>) {
        for slot in slots { links.removeValue(forKey: slot)?.detach() }
        releaseFromExecDispatcher(slots)
        let keys = syscallSlots.filter { !slots.isDisjoint(with: $0.value) }.keys
        guard !keys.isEmpty else { return }
        for key in keys {
            syscallSlots[key]?.removeAll { slots.contains($0) }
            try? HookList.write(kernel, .syscallHooks, key: key, syscallSlots[key] ?? [])
            if syscallSlots[key]?.isEmpty == true { syscallSlots[key] = nil }
        }
        // An attached dispatcher costs every syscall on the node a little: detached once no
        // list needs it.
        for exit in [false, true] where !syscallSlots.keys.contains(where: { $0 % 2 == (exit ? 1 : 0) }) {
            kernel.detachSyscallDispatch(exit: exit)
        }
    }

    /// Hooks at sched_process_exec that read no record (the exec check hooks, whose arguments
    /// come from the task): the exec dispatcher runs them after the process sensor's exec
    /// tracking, which a perf tracepoint copy cannot be sure of (lib/dispatch.h).
    static func runsOnExecDispatcher(_ hook: CompiledHook) -> Bool {
        hook.category == "sched" && hook.name == "sched_process_exec" && hook.hook.ctx_size == 0
    }

    private mutating func attachToExecDispatcher(slot: UInt32) throws -> Mechanism {
        let capacity = Int(VIGIL_EXEC_HOOK_LISTS) * Int(VIGIL_GENERIC_COPIES)
        guard let place = execPlaces.firstIndex(where: { $0 == nil }) ?? (execPlaces.count < capacity ? execPlaces.count : nil)
        else {
            throw HookRefusal(
                "more than \(capacity) policy hooks on exec (bprm_check_security; a policy being replaced counts twice)")
        }
        try kernel.attachExecDispatch()
        if let pinDirectory {
            do { try kernel.pinExecDispatch(directory: pinDirectory) } catch {
                if execPlaces.allSatisfy({ $0 == nil }) { kernel.detachExecDispatch() }
                throw HookRefusal("--keep-sensors-on-exit: the exec dispatcher cannot be pinned: \(error)")
            }
        }
        if place == execPlaces.count { execPlaces.append(slot) } else { execPlaces[place] = slot }
        try writeExecList(place / Int(VIGIL_GENERIC_COPIES))
        return .execDispatcher
    }

    private mutating func releaseFromExecDispatcher(_ slots: Set<UInt32>) {
        var lists: Set<Int> = []
        for (place, slot) in execPlaces.enumerated() {
            guard let slot, slots.contains(slot) else { continue }
            execPlaces[place] = nil
            lists.insert(place / Int(VIGIL_GENERIC_COPIES))
        }
        guard !lists.isEmpty else { return }
        while execPlaces.last == .some(nil) { execPlaces.removeLast() }
        for list in lists.sorted() { try? writeExecList(list) }
        if execPlaces.isEmpty { kernel.detachExecDispatch() }
    }

    /// One list of the exec dispatcher: its places up to the last taken one, empty places
    /// holding no slot (UInt32.max, which no hook has).
    private func writeExecList(_ list: Int) throws {
        let width = Int(VIGIL_GENERIC_COPIES)
        let places = execPlaces.dropFirst(list * width).prefix(width)
        let used = (places.lastIndex { $0 != nil }).map { $0 - list * width + 1 } ?? 0
        try HookList.write(
            kernel, .syscallHooks, key: UInt32(VIGIL_EXEC_HOOKS_KEY) + UInt32(list), places.prefix(used).map { $0 ?? UInt32.max })
    }

    /// The dispatcher key of a hook on a syscall tracepoint (`syscalls/sys_enter_openat`):
    /// syscall number * 2, + 1 for exits. Nil for other tracepoints, syscalls not in the x86_64
    /// table, and where the dispatcher did not load: those attach to the tracepoint itself.
    private func dispatchKey(_ hook: CompiledHook) -> UInt32? {
        guard hook.category == "syscalls", dispatchAvailable else { return nil }
        let isExit: Bool
        let event: Substring
        if hook.name.hasPrefix("sys_enter_") {
            (isExit, event) = (false, hook.name.dropFirst("sys_enter_".count))
        } else if hook.name.hasPrefix("sys_exit_") {
            (isExit, event) = (true, hook.name.dropFirst("sys_exit_".count))
        } else {
            return nil
        }
        // Event names follow the kernel's entry points (sys_enter_newfstat for fstat).
        let name = Syscalls.x86_64EntryAliases[String(event)] ?? String(event)
        guard let number = Syscalls.number(of: name, abi: .x86_64), number < Int(VIGIL_SYSCALL_NR_MAX) else {
            return nil
        }
        return UInt32(number) * 2 + (isExit ? 1 : 0)
    }
}
