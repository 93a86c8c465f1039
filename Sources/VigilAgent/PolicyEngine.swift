// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Events
import KernelFeatures
import Logging
import Pipeline
import PolicyCompiler
import Synchronization
import Tracefs
import TracingPolicy

/// The policies loaded into the kernel, and what the pipeline needs to render their events.
///
/// Installing is atomic per policy: a new version gets fresh hook slots and set ids, is written
/// completely and attached, and only then is the old version detached and its entries deleted.
/// A hook never sees a half-written selector set, and a failure leaves the old version running.
/// Safe to call from any task: the state sits behind one lock.
package final class PolicyEngine: Sendable {
    /// A loaded policy as `tracectl`/logs show it.
    package struct Loaded: Sendable {
        package var name: String
        package var namespace: String?
        package var mode: PolicyMode
        package var source: String
        package var hooks: [String]
        package var policyID: UInt32
        /// The pod scope (`namespace=… pods{…}`); nil: every process.
        package var scope: String?
    }

    /// What the pipeline needs to turn a generic record into an event: the pipeline's own type,
    /// a reference, so that a lookup per policy record copies no hook.
    package typealias SlotInfo = PolicyHookSlot

    private struct Installed: Sendable {
        var loaded: Loaded
        var compiled: CompiledPolicy
        var slots: [UInt32]
        var links: [PolicyLink]
    }

    /// A fanotify deny rule of a loaded policy, with what its events need.
    package struct FileRuleInfo: Sendable {
        package var policyKey: String
        package var policyName: String
        package var rule: CompiledFileRule
        package var monitor: Bool
        package var policyID: UInt32 = 0
        /// The policy is pod-scoped: decisions ask ``PolicyEngine/inScope``.
        package var scoped = false
    }

    private struct State: Sendable {
        var policies: [String: Installed] = [:]
        var fileRules: [UInt32: FileRuleInfo] = [:]
        var nextFileRuleID: UInt32 = 1
        var slots: [UInt32: SlotInfo] = [:]
        var sets = SetIDAllocator()
        var nextSlot: UInt32 = 0
        var freedSlots: [UInt32] = []
        var nextPolicyID: UInt32 = 0
        var freedPolicyIDs: [UInt32] = []
        /// Slots of connect-type hooks, in the order the cgroup programs evaluate them.
        var connectSlots: [UInt32] = []
        var connectAttached = false
        /// Slots of syscall hooks per dispatcher key (syscall number * 2 + 1 for exits).
        var syscallSlots: [UInt32: [UInt32]] = [:]
        /// Slots of lsmhooks run by BPF-LSM, per program (enum vigil_lsm_hook).
        var lsmSlots: [UInt32: [UInt32]] = [:]

        /// Fresh slots first; freed ones only once the fresh ones run out, so a slot is not
        /// rewritten while a program that read it a moment ago may still be running.
        mutating func allocateSlot() -> UInt32? {
            if nextSlot < UInt32(maxHooks) {
                defer { nextSlot += 1 }
                return nextSlot
            }
            return freedSlots.isEmpty ? nil : freedSlots.removeFirst()
        }

        mutating func allocatePolicyID() -> UInt32? {
            if nextPolicyID < UInt32(maxPolicies) {
                defer { nextPolicyID += 1 }
                return nextPolicyID
            }
            return freedPolicyIDs.isEmpty ? nil : freedPolicyIDs.removeFirst()
        }
    }

    static let maxHooks = 1024
    static let maxPolicies = 1024

    private let sensor: ProcessSensor
    private let compiler: PolicyCompiler
    /// cgroup2 root the connect hooks attach to; nil when no cgroup2 mount exists.
    private let cgroupRoot: String?
    private let logger: Logger
    private let state = Mutex(State())
    /// Whether syscall hooks run through the raw sys_enter/sys_exit dispatcher here.
    private let dispatchAvailable: Bool
    /// Called (under the engine's lock, so in order) with every file rule after each change.
    private let fileRulesChanged: @Sendable ([UInt32: FileRuleInfo]) -> Void

    /// bpffs directory the connect links are pinned in once attached (`--keep-sensors-on-exit`).
    private let pinDirectory: String?
    /// The pod scopes in the kernel; nil without `--enable-k8s-api` (the compiler then refuses
    /// pod-scoped policies).
    let scopes: PodScopes?

    package init(
        sensor: ProcessSensor, environment: CompileEnvironment, cgroupRoot: String?, logger: Logger,
        pinDirectory: String? = nil, scopes: PodScopes? = nil,
        fileRulesChanged: @escaping @Sendable ([UInt32: FileRuleInfo]) -> Void = { _ in }
    ) {
        self.scopes = scopes
        self.pinDirectory = pinDirectory
        self.fileRulesChanged = fileRulesChanged
        self.sensor = sensor
        self.cgroupRoot = cgroupRoot
        self.compiler = PolicyCompiler(environment: environment)
        self.logger = logger
        self.dispatchAvailable = sensor.syscallDispatchAvailable
    }

    /// Key of a policy: namespaced policies are distinct per namespace.
    static func key(name: String, namespace: String?) -> String {
        namespace.map { "\($0)/\(name)" } ?? name
    }

    /// Compiles and installs `document`, replacing a loaded policy of the same name.
    ///
    /// - Throws: ``PolicyCompileFailure`` with every problem (positions included) when the
    ///   policy cannot run here; the previously loaded version, if any, keeps running.
    @discardableResult
    package func install(_ document: TracingPolicyDocument, source: String) throws -> Loaded {
        try state.withLock { state in
            var sets = state.sets
            var compiled: CompiledPolicy
            switch compiler.compile(document, sets: &sets) {
            case .success(let c): compiled = c
            case .failure(let failure): throw failure
            }
            state.sets = sets
            for warning in compiled.warnings { logger.warning("policy \(document.name): \(warning)") }

            let key = Self.key(name: document.name, namespace: document.namespace)
            let previous = state.policies[key]
            guard let policyID = previous?.loaded.policyID ?? state.allocatePolicyID() else {
                throw Self.failure(document, "no free policy id: at most \(Self.maxPolicies) policies")
            }
            var slots: [UInt32] = []
            var links: [PolicyLink] = []
            let connectBefore = state.connectSlots
            let syscallsBefore = state.syscallSlots
            let lsmBefore = state.lsmSlots
            func rollBack() {
                if state.lsmSlots != lsmBefore {
                    let changed = Set(state.lsmSlots.keys).union(lsmBefore.keys)
                    state.lsmSlots = lsmBefore
                    syncLSMLists(changed, state: state)
                }
                for link in links { link.detach() }
                if state.connectSlots != connectBefore {
                    state.connectSlots = connectBefore
                    try? writeConnectList(state.connectSlots)
                }
                if state.syscallSlots != syscallsBefore {
                    let changed = Set(state.syscallSlots.keys).union(syscallsBefore.keys)
                    state.syscallSlots = syscallsBefore
                    syncSyscallLists(changed, state: state)
                }
                for entry in compiled.setEntries { try? sensor.delete(entry.map, key: entry.key) }
                for slot in slots { state.slots[slot] = nil }
                state.freedSlots.append(contentsOf: slots)
                if compiled.scope != nil { try? scopes?.set(policyID: policyID, scope: previous?.compiled.scope) }
                if previous == nil { state.freedPolicyIDs.append(policyID) }
            }
            do {
                // Sets first, then hooks, then attachments: nothing is reachable before it is whole.
                for entry in compiled.setEntries { try sensor.apply(entry) }
                // The scope before the hooks: a hook never runs unscoped. (A scoped version
                // replaced by an unscoped one loses its scope only once the old hooks are gone.)
                if let scope = compiled.scope {
                    guard let scopes else {
                        throw Self.failure(document, "pod-scoped policies need --enable-k8s-api and a cgroup2 mount")
                    }
                    try scopes.set(policyID: policyID, scope: scope)
                }
                if previous == nil {
                    try sensor.update(.policyMode, key: Self.bytes(policyID), value: Self.bytes(Self.modeValue(compiled.mode)))
                }
                for index in compiled.hooks.indices {
                    let hook = compiled.hooks[index]
                    guard let slot = state.allocateSlot() else {
                        throw Self.failure(document, "no free hook slot: at most \(Self.maxHooks) hooks on the node")
                    }
                    slots.append(slot)
                    try sensor.update(.hooks, key: Self.bytes(slot), value: hook.hookBytes(policyID: policyID))
                    state.slots[slot] = SlotInfo(policyName: document.name, hook: hook)
                    switch hook.attachment {
                    case .tracepoint:
                        if let key = syscallDispatchKey(hook) {
                            try addSyscallSlot(slot, key: key, state: &state, document: document)
                        } else {
                            links.append(try sensor.attachPolicyTracepoint(category: hook.category, name: hook.name, slot: slot))
                        }
                    case .cgroupConnect:
                        try addConnectSlot(slot, state: &state, document: document)
                    case .bpfLSM:
                        try addLSMSlot(slot, hook: hook, state: &state, document: document)
                    case .kprobe(let mode) where mode == .entry || mode == .entryAndReturn:
                        links.append(
                            contentsOf: try sensor.attachPolicyKprobe(
                                symbol: hook.name, slot: slot, returnProbe: mode == .entryAndReturn))
                    case .kprobe(let mode):
                        let kind: TrampolineKind = mode == .fexit ? .fexit : mode == .fmodRet ? .fmodRet : .fentry
                        do {
                            links.append(try sensor.attachPolicyTrampoline(symbol: hook.name, slot: slot, kind: kind))
                        } catch where mode != .fmodRet && sensor.kprobesAvailable {
                            // BTF describes the function but the kernel refuses a trampoline on it
                            // (struct arguments by value, a noreturn function for fexit, ...): the
                            // same hook on a kprobe, and the event and policy list say so.
                            logger.warning(
                                "policy \(document.name): \(kind.rawValue) on \(hook.name) did not attach (\(error)); it runs on a kprobe")
                            links.append(
                                contentsOf: try sensor.attachPolicyKprobe(symbol: hook.name, slot: slot, returnProbe: mode == .fexit))
                            compiled.hooks[index].attachment = .kprobe(mode == .fexit ? .entryAndReturn : .entry)
                            state.slots[slot] = SlotInfo(policyName: document.name, hook: compiled.hooks[index])
                        }
                    }
                }
                if previous != nil {
                    // Same id, one 4-byte write: the mode flips for old and new hooks at once.
                    try sensor.update(.policyMode, key: Self.bytes(policyID), value: Self.bytes(Self.modeValue(compiled.mode)))
                }
            } catch let failure as PolicyCompileFailure {
                rollBack()
                throw failure
            } catch {
                rollBack()
                throw Self.failure(document, "\(error)")
            }

            if let previous {
                retire(previous, state: &state, keepPolicyID: true)
                if compiled.scope == nil && previous.compiled.scope != nil { try? scopes?.set(policyID: policyID, scope: nil) }
            }
            if !compiled.fileRules.isEmpty || previous?.compiled.fileRules.isEmpty == false {
                state.fileRules = state.fileRules.filter { $0.value.policyKey != key }
                for rule in compiled.fileRules {
                    state.fileRules[state.nextFileRuleID] = FileRuleInfo(
                        policyKey: key, policyName: document.name, rule: rule, monitor: compiled.mode == .monitor,
                        policyID: policyID, scoped: compiled.scope != nil)
                    state.nextFileRuleID += 1
                }
                fileRulesChanged(state.fileRules)
            }
            let loaded = Loaded(
                name: document.name, namespace: document.namespace, mode: compiled.mode, source: source,
                hooks: compiled.hooks.map { hook in
                    switch hook.attachment {
                    case .tracepoint where syscallDispatchKey(hook) != nil:
                        "\(hook.category)/\(hook.name) (raw \(hook.name.hasPrefix("sys_exit_") ? "sys_exit" : "sys_enter") dispatcher)"
                    case .tracepoint: "\(hook.category)/\(hook.name)"
                    case .cgroupConnect: "\(hook.name) (cgroup connect/sendmsg)"
                    case .bpfLSM: "\(hook.name) (BPF-LSM)"
                    case .kprobe(.entryAndReturn): "\(hook.name) (kprobe + kretprobe)"
                    case .kprobe(let mode): "\(hook.name) (\(mode.mechanism))"
                    }
                } + compiled.fileRules.map { "\($0.kind == .open ? "file_open" : "bprm_check_security") deny (fanotify)" },
                policyID: policyID, scope: compiled.scope?.description)
            state.policies[key] = Installed(loaded: loaded, compiled: compiled, slots: slots, links: links)
            return loaded
        }
    }

    /// Detaches and forgets a policy. Returns false when none of that name is loaded.
    @discardableResult
    package func remove(name: String, namespace: String? = nil) -> Bool {
        state.withLock { state in
            guard let installed = state.policies.removeValue(forKey: Self.key(name: name, namespace: namespace)) else {
                return false
            }
            retire(installed, state: &state, keepPolicyID: false)
            return true
        }
    }

    /// Switches a loaded policy between enforce and monitor: one 4-byte map write, read by its
    /// hooks on their next run. Returns the updated entry, or nil when none of that name is loaded.
    package func setMode(name: String, namespace: String?, mode: PolicyMode) throws -> Loaded? {
        try state.withLock { state in
            let key = Self.key(name: name, namespace: namespace)
            guard var installed = state.policies[key] else { return nil }
            try sensor.update(
                .policyMode, key: Self.bytes(installed.loaded.policyID), value: Self.bytes(Self.modeValue(mode)))
            installed.loaded.mode = mode
            state.policies[key] = installed
            if state.fileRules.values.contains(where: { $0.policyKey == key }) {
                for (id, info) in state.fileRules where info.policyKey == key { state.fileRules[id]?.monitor = mode == .monitor }
                fileRulesChanged(state.fileRules)
            }
            return installed.loaded
        }
    }

    /// Compiles without installing: every problem the policy would be refused for here.
    package func check(_ document: TracingPolicyDocument) -> PolicyCompileFailure? {
        var sets = SetIDAllocator(first: UInt32.max / 2)  // throwaway ids: nothing is written
        if case .failure(let failure) = compiler.compile(document, sets: &sets) { return failure }
        return nil
    }

    /// Detaches every policy (agent shutdown).
    package func removeAll() {
        state.withLock { state in
            for (_, installed) in state.policies { retire(installed, state: &state, keepPolicyID: false) }
            state.policies = [:]
        }
    }

    /// Lists `slot` for the cgroup connect programs, attaching them on first use.
    private func addConnectSlot(_ slot: UInt32, state: inout State, document: TracingPolicyDocument) throws {
        guard state.connectSlots.count < Int(VIGIL_GENERIC_COPIES) else {
            throw Self.failure(
                document, "more than \(VIGIL_GENERIC_COPIES) connect hooks on the node (a policy being replaced counts twice)")
        }
        if !state.connectAttached {
            guard let cgroupRoot else {
                throw Self.failure(document, "connect hooks need a cgroup2 mount, and none was found in /proc/self/mountinfo")
            }
            try sensor.attachConnectHooks(cgroupRoot: cgroupRoot)
            state.connectAttached = true
            if let pinDirectory {
                do {
                    try sensor.pinConnectHooks(directory: pinDirectory)
                    logger.info("connect enforcement pinned", metadata: ["bpf_dir": "\(pinDirectory)"])
                } catch {
                    logger.error("connect enforcement not pinned (it will not outlive the agent): \(error)")
                }
            }
        }
        state.connectSlots.append(slot)
        try writeConnectList(state.connectSlots)
    }

    /// The dispatcher key of a hook on a syscall tracepoint (`syscalls/sys_enter_openat`):
    /// syscall number * 2, + 1 for exits. Nil for other tracepoints, syscalls not in the x86_64
    /// table, and where the dispatcher did not load: those attach to the tracepoint itself.
    private func syscallDispatchKey(_ hook: CompiledHook) -> UInt32? {
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

    /// Lists `slot` for the syscall dispatcher under `key`, attaching the dispatcher on first use.
    private func addSyscallSlot(_ slot: UInt32, key: UInt32, state: inout State, document: TracingPolicyDocument) throws {
        var slots = state.syscallSlots[key] ?? []
        guard slots.count < Int(VIGIL_GENERIC_COPIES) else {
            throw Self.failure(
                document, "more than \(VIGIL_GENERIC_COPIES) policy hooks on one syscall (a policy being replaced counts "
                    + "twice); merge selectors into fewer hooks")
        }
        try sensor.attachSyscallDispatch(exit: key % 2 == 1)
        slots.append(slot)
        state.syscallSlots[key] = slots
        try writeHookList(.syscallHooks, key: key, slots)
    }

    /// Writes the syscall lists of `keys` as `state` has them, and detaches a dispatcher no list
    /// needs any more (an attached one costs every syscall on the node a little).
    private func syncSyscallLists(_ keys: Set<UInt32>, state: State) {
        for key in keys { try? writeHookList(.syscallHooks, key: key, state.syscallSlots[key] ?? []) }
        for exit in [false, true] where !state.syscallSlots.contains(where: { $0.key % 2 == (exit ? 1 : 0) && !$0.value.isEmpty }) {
            sensor.detachSyscallDispatch(exit: exit)
        }
    }

    /// Lists `slot` for the BPF-LSM program of `hook`, attaching the program on first use.
    private func addLSMSlot(_ slot: UInt32, hook: CompiledHook, state: inout State, document: TracingPolicyDocument) throws {
        guard let program = hook.bpfLSMProgram else {
            throw Self.failure(document, "no BPF-LSM program for \(hook.name)")
        }
        let key = program.rawValue
        var slots = state.lsmSlots[key] ?? []
        guard slots.count < Int(VIGIL_GENERIC_COPIES) else {
            throw Self.failure(
                document, "more than \(VIGIL_GENERIC_COPIES) lsmhooks \(hook.name) hooks on the node (a policy being "
                    + "replaced counts twice); merge selectors into fewer hooks")
        }
        slots.append(slot)
        state.lsmSlots[key] = slots
        // The list before the attach: the program finds its hooks on its first run.
        try writeHookList(.lsmHooks, key: key, slots)
        try sensor.attachLSM(program)
        if let pinDirectory {
            do {
                if try sensor.pinLSM(program, directory: pinDirectory) {
                    logger.info("BPF-LSM enforcement pinned", metadata: ["hook": "\(hook.name)", "bpf_dir": "\(pinDirectory)"])
                }
            } catch {
                logger.error("BPF-LSM enforcement not pinned (it will not outlive the agent): \(error)")
            }
        }
    }

    /// Writes the LSM lists of `keys` as `state` has them, and detaches the programs no list
    /// needs any more.
    private func syncLSMLists(_ keys: Set<UInt32>, state: State) {
        for key in keys {
            let slots = state.lsmSlots[key] ?? []
            try? writeHookList(.lsmHooks, key: key, slots)
            // A pinned link stays attached whatever the process does; detaching here would only
            // let the next policy attach a second one. Its empty list costs one lookup per call.
            if slots.isEmpty && pinDirectory == nil { sensor.detachLSM(vigil_lsm_hook(key)) }
        }
    }

    private func writeConnectList(_ slots: [UInt32]) throws {
        try writeHookList(.connectHooks, key: 0, slots)
    }

    private func writeHookList(_ map: PolicyMapID, key: UInt32, _ slots: [UInt32]) throws {
        var list = vigil_hook_list()
        list.count = UInt32(slots.count)
        withUnsafeMutableBytes(of: &list.slots) { raw in
            for (i, slot) in slots.prefix(Int(VIGIL_GENERIC_COPIES)).enumerated() {
                raw.storeBytes(of: slot, toByteOffset: i * 4, as: UInt32.self)
            }
        }
        try sensor.update(map, key: Self.bytes(key), value: withUnsafeBytes(of: list) { Array($0) })
    }

    private func retire(_ installed: Installed, state: inout State, keepPolicyID: Bool) {
        for link in installed.links { link.detach() }
        if !keepPolicyID && !installed.compiled.fileRules.isEmpty {
            let key = Self.key(name: installed.loaded.name, namespace: installed.loaded.namespace)
            state.fileRules = state.fileRules.filter { $0.value.policyKey != key }
            fileRulesChanged(state.fileRules)
        }
        let retiredConnect = installed.slots.filter { state.connectSlots.contains($0) }
        if !retiredConnect.isEmpty {
            state.connectSlots.removeAll { retiredConnect.contains($0) }
            try? writeConnectList(state.connectSlots)
        }
        let retiredSyscallKeys = Set(state.syscallSlots.filter { !Set($0.value).isDisjoint(with: installed.slots) }.keys)
        if !retiredSyscallKeys.isEmpty {
            for key in retiredSyscallKeys {
                state.syscallSlots[key]?.removeAll { installed.slots.contains($0) }
                if state.syscallSlots[key]?.isEmpty == true { state.syscallSlots[key] = nil }
            }
            syncSyscallLists(retiredSyscallKeys, state: state)
        }
        let retiredLSMKeys = Set(state.lsmSlots.filter { !Set($0.value).isDisjoint(with: installed.slots) }.keys)
        if !retiredLSMKeys.isEmpty {
            for key in retiredLSMKeys {
                state.lsmSlots[key]?.removeAll { installed.slots.contains($0) }
                if state.lsmSlots[key]?.isEmpty == true { state.lsmSlots[key] = nil }
            }
            syncLSMLists(retiredLSMKeys, state: state)
        }
        for entry in installed.compiled.setEntries { try? sensor.delete(entry.map, key: entry.key) }
        for slot in installed.slots { state.slots[slot] = nil }
        state.freedSlots.append(contentsOf: installed.slots)
        if !keepPolicyID {
            // Last: its hooks are detached, and the id must be unscoped before it is reused.
            if installed.compiled.scope != nil { try? scopes?.set(policyID: installed.loaded.policyID, scope: nil) }
            state.freedPolicyIDs.append(installed.loaded.policyID)
        }
    }

    /// Whether lsmhooks run in the sensor's BPF-LSM programs, or why not.
    package var bpfLSMOutcome: KernelProbe.LSMOutcome {
        sensor.bpfLSMAvailable ? .served : .fallback(sensor.bpfLSMUnavailableReason ?? "BPF-LSM programs not loaded")
    }

    /// Why hooks on kernel functions do not run on the sensor's trampoline programs (nil: they do).
    package var trampolineRefusal: String? { compiler.environment.trampolineRefusal }

    package var loaded: [Loaded] {
        state.withLock { state in state.policies.values.map(\.loaded).sorted { $0.name < $1.name } }
    }

    package func fileRule(_ id: UInt32) -> FileRuleInfo? {
        state.withLock { $0.fileRules[id] }
    }

    /// Whether process `pid` is in the pod scope of `policyID` (fanotify decisions).
    func inScope(pid: Int32, policyID: UInt32) -> Bool {
        scopes?.contains(pid: pid, policyID: policyID) ?? true
    }

    package func slot(_ slot: UInt32) -> SlotInfo? {
        state.withLock { $0.slots[slot] }
    }

    static func modeValue(_ mode: PolicyMode) -> UInt32 { mode == .monitor ? 1 : 0 }

    static func bytes(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    static func failure(_ document: TracingPolicyDocument, _ message: String) -> PolicyCompileFailure {
        PolicyCompileFailure(errors: [PolicyCompileError(location: document.source, path: "metadata.name", message: message)])
    }
}
