// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Events
import KernelFeatures
import Logging
import Pipeline
import PolicyCompiler
import Synchronization
import TracingPolicy

/// The policies loaded into the kernel, and what the pipeline needs to render their events.
///
/// Installing is atomic per policy: a new version gets fresh hook slots and set ids, is written
/// completely and attached, and only then is the old version detached and its entries deleted.
/// A hook never sees a half-written selector set, and a failure leaves the old version running.
/// The engine keeps only that transaction (sets, scope, hooks, mode flip, rollback); attaching a
/// hook is its ``HookBackend``'s, and the kernel side is a ``PolicyKernel``.
/// Safe to call from any task: the state sits behind one lock.
package final class PolicyEngine: Sendable {
    /// A loaded policy as `tracectl`/logs show it.
    package struct Loaded: Sendable {
        package var name: String
        package var namespace: String?
        package var mode: PolicyMode
        package var source: String
        package var hooks: [LoadedHook]
        package var policyID: UInt32
        /// The pod scope (`namespace=… pods{…}`); nil: every process.
        package var scope: String?
    }

    /// One hook of a loaded policy and the mechanism it runs on.
    package struct LoadedHook: Sendable, Hashable, CustomStringConvertible {
        /// What is hooked and how, as `tracectl policy list` and the install log show it.
        package var description: String
        package var mechanism: Mechanism

        package init(description: String, mechanism: Mechanism) {
            self.description = description
            self.mechanism = mechanism
        }
    }

    /// What the pipeline needs to turn a generic record into an event: the pipeline's own type,
    /// a reference, so that a lookup per policy record copies no hook.
    package typealias SlotInfo = PolicyHookSlot

    private struct Installed: Sendable {
        var loaded: Loaded
        var compiled: CompiledPolicy
        var slots: [UInt32]
        /// Its pod scope fails closed while no agent runs.
        var failClosed = false
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
        /// One backend per mechanism family; a hook goes to the first that serves its mechanism.
        var backends: [any HookBackend]
        var fanotify: FanotifyBackend
        var slots: [UInt32: SlotInfo] = [:]
        var sets = SetIDAllocator()
        var nextSlot: UInt32 = 0
        var freedSlots: [UInt32] = []
        var nextPolicyID: UInt32 = 0
        var freedPolicyIDs: [UInt32] = []

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

    private let kernel: any PolicyKernel
    private let compiler: PolicyCompiler
    private let logger: Logger
    private let state: Mutex<State>
    /// `--keep-sensors-on-exit`: what of a policy does not outlive the agent is said at load.
    private let pinDirectory: String?
    /// `--while-agent-down`: for policies without `vigil-while-agent-down`.
    private let whileAgentDown: AgentDownMode

    /// The pod scopes in the kernel; nil without `--enable-k8s-api` (the compiler then refuses
    /// pod-scoped policies).
    let scopes: PodScopes?

    /// - Parameters:
    ///   - cgroupRoot: cgroup2 root the connect hooks attach to; nil when no cgroup2 mount exists.
    ///   - pinDirectory: bpffs directory connect and BPF-LSM links are pinned in once attached
    ///     (`--keep-sensors-on-exit`).
    ///   - fileRulesChanged: called (under the engine's lock, so in order) with every fanotify
    ///     file rule after each change.
    package init(
        kernel: any PolicyKernel, environment: CompileEnvironment, cgroupRoot: String?, logger: Logger,
        pinDirectory: String? = nil, whileAgentDown: AgentDownMode = .failOpen, scopes: PodScopes? = nil,
        fileRulesChanged: @escaping @Sendable ([UInt32: FileRuleInfo]) -> Void = { _ in }
    ) {
        self.scopes = scopes
        self.kernel = kernel
        self.pinDirectory = pinDirectory
        self.whileAgentDown = whileAgentDown
        // Without policy programs (no bpf_loop()) the compiler refuses every policy with the
        // kernel's reason: install and check alike, as `tracectl policy validate` does.
        var environment = environment
        if environment.policyProgramsUnavailable == nil {
            environment.policyProgramsUnavailable = kernel.policyProgramsUnavailableReason
        }
        self.compiler = PolicyCompiler(environment: environment)
        self.logger = logger
        self.state = Mutex(
            State(
                backends: Self.backends(kernel: kernel, cgroupRoot: cgroupRoot, pinDirectory: pinDirectory, logger: logger),
                fanotify: FanotifyBackend(changed: fileRulesChanged)))
    }

    package convenience init(
        sensor: ProcessSensor, environment: CompileEnvironment, cgroupRoot: String?, logger: Logger,
        pinDirectory: String? = nil, whileAgentDown: AgentDownMode = .failOpen, scopes: PodScopes? = nil,
        fileRulesChanged: @escaping @Sendable ([UInt32: FileRuleInfo]) -> Void = { _ in }
    ) {
        self.init(
            kernel: sensor as any PolicyKernel, environment: environment, cgroupRoot: cgroupRoot, logger: logger,
            pinDirectory: pinDirectory, whileAgentDown: whileAgentDown, scopes: scopes, fileRulesChanged: fileRulesChanged)
    }

    /// The hook backends, one per mechanism family.
    static func backends(kernel: any PolicyKernel, cgroupRoot: String?, pinDirectory: String?, logger: Logger) -> [any HookBackend] {
        [
            TracepointBackend(kernel: kernel, pinDirectory: pinDirectory),
            RawTracepointBackend(kernel: kernel, pinDirectory: pinDirectory),
            ConnectBackend(kernel: kernel, cgroupRoot: cgroupRoot, pinDirectory: pinDirectory, logger: logger),
            BPFLSMBackend(kernel: kernel, cgroupRoot: cgroupRoot, pinDirectory: pinDirectory, logger: logger),
            KernelFunctionBackend(kernel: kernel, logger: logger),
            UprobeBackend(kernel: kernel),
        ]
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
        return try state.withLock { state in
            var sets = state.sets
            var compiled: CompiledPolicy
            switch compiler.compile(document, sets: &sets) {
            case .success(let c): compiled = c
            case .failure(let failure): throw failure
            }
            // Refused earlier without --keep-sensors-on-exit: nothing outlives the agent then.
            let failClosed = (document.spec.parsedOptions.whileAgentDown ?? whileAgentDown) == .failClosed
            if failClosed, let refusal = failClosedRefusal(document, compiled) { throw refusal }
            state.sets = sets
            for warning in compiled.warnings { logger.warning("policy \(document.name): \(warning)") }
            // vigil-file-identity: inode on BPF-LSM hooks: the files the paths name now, as set
            // entries, so rollback and removal delete them with the rest.
            if !compiled.fileIdentityPaths.isEmpty {
                let identities = FileIdentityEntries.resolve(compiled.fileIdentityPaths)
                compiled.setEntries += identities.entries
                if !identities.missing.isEmpty {
                    logger.warning(
                        "policy \(document.name): vigil-file-identity: inode: no file at \(identities.missing.joined(separator: ", ")) now: matched by name only")
                }
            }

            let key = Self.key(name: document.name, namespace: document.namespace)
            let previous = state.policies[key]
            guard let policyID = previous?.loaded.policyID ?? state.allocatePolicyID() else {
                throw Self.failure(document, "no free policy id: at most \(Self.maxPolicies) policies")
            }
            var slots: [UInt32] = []
            var hooks: [LoadedHook] = []
            func rollBack() {
                release(Set(slots), state: &state)
                for entry in compiled.setEntries { try? kernel.delete(entry.map, key: entry.key) }
                for slot in slots { state.slots[slot] = nil }
                state.freedSlots.append(contentsOf: slots)
                if compiled.scope != nil {
                    try? scopes?.set(policyID: policyID, scope: previous?.compiled.scope, failClosed: previous?.failClosed ?? false)
                }
                if previous == nil { state.freedPolicyIDs.append(policyID) }
            }
            do {
                // Sets first, then hooks, then attachments: nothing is reachable before it is whole.
                for entry in compiled.setEntries { try kernel.update(entry.map, key: entry.key, value: entry.value) }
                // The scope before the hooks: a hook never runs unscoped. (A scoped version
                // replaced by an unscoped one loses its scope only once the old hooks are gone.)
                if let scope = compiled.scope {
                    guard let scopes else {
                        throw Self.failure(document, "pod-scoped policies need --enable-k8s-api and a cgroup2 mount")
                    }
                    try scopes.set(policyID: policyID, scope: scope, failClosed: failClosed)
                }
                if previous == nil {
                    try kernel.update(.policyMode, key: Self.bytes(policyID), value: Self.bytes(Self.modeValue(compiled.mode)))
                }
                for hook in compiled.hooks {
                    guard let backend = state.backends.firstIndex(where: { $0.serves(hook.mechanism) }) else {
                        throw Self.failure(document, "no hook backend runs \(hook.mechanism.name) hooks")
                    }
                    guard let slot = state.allocateSlot() else {
                        throw Self.failure(document, "no free hook slot: at most \(Self.maxHooks) hooks on the node")
                    }
                    slots.append(slot)
                    try kernel.update(.hooks, key: Self.bytes(slot), value: hook.hookBytes(policyID: policyID))
                    let mechanism = try state.backends[backend].attach(hook, slot: slot, policy: document.name)
                    state.slots[slot] = SlotInfo(policyName: document.name, hook: hook, mechanism: mechanism)
                    hooks.append(
                        LoadedHook(description: mechanism.hookDescription(category: hook.category, name: hook.name), mechanism: mechanism))
                }
                if previous != nil {
                    // Same id, one 4-byte write: the mode flips for old and new hooks at once.
                    try kernel.update(.policyMode, key: Self.bytes(policyID), value: Self.bytes(Self.modeValue(compiled.mode)))
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
            state.fanotify.install(
                compiled.fileRules, policyKey: key, policyName: document.name, monitor: compiled.mode == .monitor,
                policyID: policyID, scoped: compiled.scope != nil)
            let loaded = Loaded(
                name: document.name, namespace: document.namespace, mode: compiled.mode, source: source,
                hooks: hooks
                    + compiled.fileRules.map {
                        LoadedHook(description: FanotifyBackend.hookDescription($0), mechanism: FanotifyBackend.mechanism)
                    },
                policyID: policyID, scope: compiled.scope?.description)
            state.policies[key] = Installed(loaded: loaded, compiled: compiled, slots: slots, failClosed: failClosed)
            if pinDirectory != nil { sayWhatHappensWhileTheAgentIsDown(compiled, failClosed: failClosed) }
            return loaded
        }
    }

    /// The hook mechanisms whose links are pinned with `--keep-sensors-on-exit`; every other
    /// (kprobe, trampoline, uprobe, fanotify) detaches when the agent's process ends.
    static let pinnedMechanisms: Set<Mechanism> = [
        .cgroupConnect, .bpfLSM, .tracepoint, .rawTracepoint, .syscallEntryDispatcher, .syscallExitDispatcher,
        .execDispatcher,
    ]

    /// Why `document` cannot fail closed while no agent runs, at the place that asks for it
    /// (its `vigil-while-agent-down` option, else each part that cannot), nil when it can:
    /// without `--keep-sensors-on-exit` nothing outlives the agent, and with it a fanotify deny
    /// and a kill or deny on a hook that is not pinned stop with the agent. Accepting such a
    /// policy would fail open while it says closed.
    func failClosedRefusal(_ document: TracingPolicyDocument, _ compiled: CompiledPolicy) -> PolicyCompileFailure? {
        let option = document.spec.options.last { $0.name == "vigil-while-agent-down" }
        let origin =
            option != nil
            ? "vigil-while-agent-down: fail-closed"
            : "--while-agent-down=fail-closed (the agent's default; vigil-while-agent-down: fail-open in the policy accepts what follows)"
        var errors: [PolicyCompileError] = []
        func refuse(_ location: SourceLocation, _ path: String, _ message: String) {
            errors.append(
                PolicyCompileError(
                    location: option?.location ?? location, path: option.map { "\($0.path)" } ?? path, message: "\(origin): \(message)"))
        }
        guard pinDirectory != nil else {
            refuse(
                document.source, "metadata.name",
                "needs --keep-sensors-on-exit: without it every hook of the policy detaches when the agent exits, so nothing would deny while no agent runs")
            return PolicyCompileFailure(errors: errors)
        }
        if let rule = compiled.fileRules.first {
            refuse(
                document.source, "metadata.name",
                "its \(rule.kind == .open ? "file_open" : "bprm_check_security") Override denies through fanotify, whose group is the agent's own descriptor: the deny stops with the agent (fail open); on a kernel with BPF-LSM the same hook is pinned and can fail closed")
        }
        for hook in compiled.hooks where !Self.pinnedMechanisms.contains(hook.mechanism) && hook.enforces {
            refuse(
                hook.location, hook.path,
                "\(option != nil ? "\(hook.path) (\(hook.location)) " : "it ")kills or denies on a \(hook.mechanism.name) hook, which is not pinned: it stops with the agent (fail open); only connect, BPF-LSM and tracepoint hooks outlive it")
        }
        return errors.isEmpty ? nil : PolicyCompileFailure(errors: errors)
    }

    /// With `--keep-sensors-on-exit`, at load, what of a policy holds while no agent runs and
    /// what does not (docs/hardening.md): a fail-closed policy was refused if a part of it
    /// cannot hold, so only its pod scope differs.
    private func sayWhatHappensWhileTheAgentIsDown(_ compiled: CompiledPolicy, failClosed: Bool) {
        let pinned = Set(compiled.hooks.map(\.mechanism).filter { Self.pinnedMechanisms.contains($0) }.map(\.name)).sorted()
        let unpinned = Set(compiled.hooks.map(\.mechanism).filter { !Self.pinnedMechanisms.contains($0) }.map(\.name)).sorted()
        var closed = pinned.map { "\($0) hooks (pinned)" }
        var open = unpinned.map { "\($0) hooks" }
        if compiled.scope != nil {
            if failClosed {
                closed.append("pod scope (cgroups made meanwhile are in scope)")
            } else {
                open.append("pod scope (pods started meanwhile are outside)")
            }
        }
        if !compiled.fileRules.isEmpty { open.append("fanotify deny") }
        logger.info(
            "while no agent runs",
            metadata: [
                "policy": "\(compiled.name)", "while_agent_down": "\(failClosed ? "fail-closed" : "fail-open")",
                "holds": "\(closed.isEmpty ? "nothing" : closed.joined(separator: ", "))",
                "fails_open": "\(open.isEmpty ? "nothing" : open.joined(separator: ", "))",
            ])
        if compiled.scope != nil && failClosed {
            logger.info(
                "pod scope fails closed: while no agent runs, processes in cgroups made after its last scan are in this policy's scope",
                metadata: ["policy": "\(compiled.name)"])
        } else if compiled.scope != nil {
            logger.warning(
                "pod scope follows the Kubernetes watch: while no agent runs, pods started meanwhile are outside this policy (fail open)",
                metadata: ["policy": "\(compiled.name)"])
        }
        if !compiled.fileRules.isEmpty {
            logger.warning(
                "its file_open/bprm_check_security Override denies through fanotify, which stops with the agent: no deny while no agent runs (fail open)",
                metadata: ["policy": "\(compiled.name)"])
        }
        if !unpinned.isEmpty {
            logger.warning(
                "its \(unpinned.joined(separator: ", ")) hooks stop with the agent: while no agent runs they report, kill and deny nothing (fail open); only connect, BPF-LSM and tracepoint hooks are kept",
                metadata: ["policy": "\(compiled.name)"])
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
            try kernel.update(
                .policyMode, key: Self.bytes(installed.loaded.policyID), value: Self.bytes(Self.modeValue(mode)))
            installed.loaded.mode = mode
            state.policies[key] = installed
            state.fanotify.setMonitor(mode == .monitor, policyKey: key)
            return installed.loaded
        }
    }

    /// Compiles without installing: every problem the policy would be refused for here.
    package func check(_ document: TracingPolicyDocument) -> PolicyCompileFailure? {
        var sets = SetIDAllocator(first: UInt32.max / 2)  // throwaway ids: nothing is written
        switch compiler.compile(document, sets: &sets) {
        case .failure(let failure): return failure
        case .success(let compiled):
            guard (document.spec.parsedOptions.whileAgentDown ?? whileAgentDown) == .failClosed else { return nil }
            return failClosedRefusal(document, compiled)
        }
    }

    /// Detaches every policy (agent shutdown).
    package func removeAll() {
        state.withLock { state in
            for (_, installed) in state.policies { retire(installed, state: &state, keepPolicyID: false) }
            state.policies = [:]
        }
    }

    /// Detaches the hooks of `slots` from every backend.
    private func release(_ slots: Set<UInt32>, state: inout State) {
        guard !slots.isEmpty else { return }
        for index in state.backends.indices { state.backends[index].release(slots) }
    }

    private func retire(_ installed: Installed, state: inout State, keepPolicyID: Bool) {
        release(Set(installed.slots), state: &state)
        if !keepPolicyID {
            state.fanotify.remove(policyKey: Self.key(name: installed.loaded.name, namespace: installed.loaded.namespace))
        }
        for entry in installed.compiled.setEntries { try? kernel.delete(entry.map, key: entry.key) }
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
        kernel.bpfLSMAvailable ? .served : .fallback(kernel.bpfLSMUnavailableReason ?? "BPF-LSM programs not loaded")
    }

    /// Why hooks on kernel functions do not run on the sensor's trampoline programs (nil: they do).
    package var trampolineRefusal: String? { compiler.environment.trampolineRefusal }

    package var loaded: [Loaded] {
        state.withLock { state in state.policies.values.map(\.loaded).sorted { $0.name < $1.name } }
    }

    package func fileRule(_ id: UInt32) -> FileRuleInfo? {
        state.withLock { $0.fanotify.rules[id] }
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

extension CompiledHook {
    /// Whether a selector of the hook kills, signals or denies (a hook that only posts loses
    /// events while no agent runs, not enforcement).
    var enforces: Bool {
        withUnsafeBytes(of: hook.selectors) { raw in
            (0..<Int(min(hook.nselectors, UInt8(VIGIL_SELECTORS)))).contains { i in
                let selector = raw.load(fromByteOffset: i * MemoryLayout<vigil_selector>.stride, as: vigil_selector.self)
                return withUnsafeBytes(of: selector.actions) { actions in
                    (0..<Int(min(selector.nactions, UInt8(VIGIL_ACTIONS)))).contains { j in
                        let kind = actions.load(fromByteOffset: j * MemoryLayout<vigil_action>.stride, as: vigil_action.self).kind
                        return [VIGIL_ACTION_SIGKILL, VIGIL_ACTION_SIGNAL, VIGIL_ACTION_OVERRIDE].contains { UInt8($0.rawValue) == kind }
                    }
                }
            }
        }
    }
}
