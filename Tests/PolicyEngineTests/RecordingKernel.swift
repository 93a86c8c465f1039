// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Events
import PolicyCompiler
import Synchronization
import VigilAgent

/// A kernel that keeps the policy maps in memory and records every attachment: what the engine
/// and its hook backends leave behind is checked without root or BPF. An operation named in
/// ``refuse`` fails as the kernel would refuse it.
final class RecordingKernel: PolicyKernel {
    struct Refused: Error, CustomStringConvertible {
        var operation: String
        var description: String { "\(operation): Operation not supported (errno 95)" }
    }

    final class Link: HookLink {
        let operation: String
        private let detached = Mutex(false)
        init(_ operation: String) { self.operation = operation }
        var isAttached: Bool { !detached.withLock { $0 } }
        func detach() { detached.withLock { $0 = true } }
        func pin(at path: String) throws {}
    }

    private struct State {
        var maps: [PolicyMapID: [[UInt8]: [UInt8]]] = [:]
        var links: [Link] = []
        var dispatchers: Set<Bool> = []
        var execDispatcher = false
        var lsmPrograms: Set<UInt32> = []
        var connectAttached = false
        var refused: Set<String> = []
        var policyProgramsUnavailableReason: String?
    }

    private let state = Mutex(State())
    let syscallDispatchAvailable: Bool
    let bpfLSMAvailable: Bool
    let kprobesAvailable: Bool
    var bpfLSMUnavailableReason: String? { bpfLSMAvailable ? nil : "BPF-LSM not in lsm=" }
    /// Set: a kernel without bpf_loop(), where no policy program loads.
    var policyProgramsUnavailableReason: String? {
        get { state.withLock { $0.policyProgramsUnavailableReason } }
        set { state.withLock { $0.policyProgramsUnavailableReason = newValue } }
    }

    init(syscallDispatch: Bool = false, bpfLSM: Bool = false, kprobes: Bool = true) {
        self.syscallDispatchAvailable = syscallDispatch
        self.bpfLSMAvailable = bpfLSM
        self.kprobesAvailable = kprobes
    }

    /// Makes `operation` (`kprobe do_exit`, `fentry do_exit`, `tracepoint sched/sched_process_exec`,
    /// `lsm 1`, `dispatcher exit`, `connect`, `update hooks`, ...) fail from now on (or not).
    func refuse(_ operation: String, _ refused: Bool = true) {
        state.withLock { if refused { $0.refused.insert(operation) } else { $0.refused.remove(operation) } }
    }

    /// Every policy map as it is now.
    var maps: [PolicyMapID: [[UInt8]: [UInt8]]] { state.withLock { $0.maps.filter { !$0.value.isEmpty } } }

    /// The maps a hook reads before it runs: all but vg_hooks and the mode, whose entries are
    /// unreachable once no list or attachment names their slot or policy id.
    var reachableMaps: [PolicyMapID: [[UInt8]: [UInt8]]] { maps.filter { $0.key != .hooks && $0.key != .policyMode } }

    /// Attachments not detached, by operation.
    var attached: [String] { state.withLock { $0.links.filter(\.isAttached).map(\.operation) } }
    var dispatchers: Set<Bool> { state.withLock { $0.dispatchers } }
    var execDispatcher: Bool { state.withLock { $0.execDispatcher } }
    var lsmPrograms: Set<UInt32> { state.withLock { $0.lsmPrograms } }
    var connectAttached: Bool { state.withLock { $0.connectAttached } }

    /// The slots of the hook list `key` of `map` (vg_connect_hooks, vg_syscall_hooks, vg_lsm_hooks).
    func list(_ map: PolicyMapID, key: UInt32) -> [UInt32]? {
        guard let bytes = state.withLock({ $0.maps[map]?[withUnsafeBytes(of: key) { Array($0) }] }) else { return nil }
        var list = vigil_hook_list()
        withUnsafeMutableBytes(of: &list) { list in
            bytes.withUnsafeBytes { list.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(list.count))) }
        }
        return withUnsafeBytes(of: list.slots) { raw in (0..<Int(list.count)).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
    }

    private func perform(_ operation: String, _ change: (inout State) -> Void = { _ in }) throws {
        try state.withLock { state in
            if state.refused.contains(operation) { throw Refused(operation: operation) }
            change(&state)
        }
    }

    private func link(_ operation: String) throws -> Link {
        let link = Link(operation)
        try perform(operation) { $0.links.append(link) }
        return link
    }

    func update(_ map: PolicyMapID, key: [UInt8], value: [UInt8]) throws {
        try perform("update \(map)") { $0.maps[map, default: [:]][key] = value }
    }

    func delete(_ map: PolicyMapID, key: [UInt8]) throws {
        try perform("delete \(map)") { $0.maps[map]?[key] = nil }
    }

    func attachTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink {
        try link("tracepoint \(category)/\(name)")
    }

    func attachRawTracepointHook(category: String, name: String, slot: UInt32) throws -> any HookLink {
        try link("raw tracepoint \(category)/\(name)")
    }

    func attachSyscallDispatch(exit: Bool) throws {
        try perform("dispatcher \(exit ? "exit" : "enter")") { $0.dispatchers.insert(exit) }
    }

    func detachSyscallDispatch(exit: Bool) {
        state.withLock { _ = $0.dispatchers.remove(exit) }
    }

    func attachExecDispatch() throws {
        try perform("exec dispatcher") { $0.execDispatcher = true }
    }

    func detachExecDispatch() {
        state.withLock { $0.execDispatcher = false }
    }

    func pinExecDispatch(directory: String) throws {
        try perform("pin exec dispatcher")
    }

    func attachConnectHooks(cgroupRoot: String) throws {
        try perform("connect") { $0.connectAttached = true }
    }

    func pinConnectHooks(directory: String) throws {}

    func pinSyscallDispatch(exit: Bool, directory: String) throws {
        try perform("pin dispatcher \(exit ? "exit" : "enter")")
    }

    func attachLSM(_ program: vigil_lsm_hook) throws {
        try perform("lsm \(program.rawValue)") { $0.lsmPrograms.insert(program.rawValue) }
    }

    func detachLSM(_ program: vigil_lsm_hook) {
        state.withLock { _ = $0.lsmPrograms.remove(program.rawValue) }
    }

    func pinLSM(_ program: vigil_lsm_hook, directory: String) throws -> Bool { false }

    func attachKprobeHook(symbol: String, slot: UInt32, returnProbe: Bool) throws -> [any HookLink] {
        let entry = try link("kprobe \(symbol)")
        guard returnProbe else { return [entry] }
        do {
            return [entry, try link("kretprobe \(symbol)")]
        } catch {
            entry.detach()
            throw error
        }
    }

    func attachTrampolineHook(symbol: String, slot: UInt32, kind: TrampolineKind) throws -> any HookLink {
        try link("\(kind.rawValue) \(symbol)")
    }

    func attachUprobeHook(_ target: UprobeTarget, slot: UInt32, returnProbe: Bool) throws -> [any HookLink] {
        let name = "\(target.binary):\(target.symbol ?? "0x" + String(target.offset ?? 0, radix: 16))"
        let entry = try link("uprobe \(name)")
        guard returnProbe else { return [entry] }
        do {
            return [entry, try link("uretprobe \(name)")]
        } catch {
            entry.detach()
            throw error
        }
    }
}
