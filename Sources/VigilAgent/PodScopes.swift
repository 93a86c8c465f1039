// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Cgroups
import Events
import Glibc
import HostFiles
import Kubernetes
import Logging
import PolicyCompiler
import Synchronization

/// Keeps the kernel's pod scopes (vg_policy_scope, vg_scope_cgroups) in step with the pods of
/// the node: for each pod-scoped policy, the cgroups of the pods and containers it selects.
///
/// Which cgroups: for a policy without containerSelector, the pod-level cgroup
/// (`.../pod<uid>`), found by the pod UID in the cgroup tree. The kubelet creates it before any
/// container of the pod, and the hooks also look at ancestors, so a container started later is
/// in scope from its first instruction, before its id ever reaches the pod status. With a
/// containerSelector the container's own cgroup is needed (names come with ids only in the
/// status), found by the container id.
///
/// When: a pod change (the store's generation moves), a policy install or removal, and, while a
/// selected pod or container has no cgroup yet (the API server often knows a pod before the
/// kubelet made its cgroup), a rescan of the cgroup tree every `retryInterval`. Following
/// cgroup_mkdir in the kernel would be quicker for container cgroups, but would add a BPF
/// program and a record kind for a case the pod-level cgroup already covers; a tree walk is a
/// few hundred `lstat`s. Entries are added before they are needed and removed after: a policy
/// is never broader than its pods, and only during a change can it be narrower.
///
/// While no agent runs (`--keep-sensors-on-exit`) nothing follows the pods. A fail-closed scope
/// (`vigil-while-agent-down: fail-closed`) then also covers every cgroup the agent has not
/// classified: the kernel reads both from vg_agent_state, a heartbeat written every
/// `heartbeatInterval` (valid for `heartbeatGrace`, zeroed at a clean exit) and the highest
/// cgroup id of the last full scan (cgroup ids only grow; see bpf/lib/decide.h). With a
/// fail-closed scope loaded, the tree is also scanned every `classifyInterval`, so that cgroups
/// made while the agent ran (host services, not only pods) count as classified.
package final class PodScopes: Sendable {
    struct Snapshot: Sendable {
        /// Cgroups currently in the set.
        var cgroups: Int
        /// Selected pods or containers whose cgroup was not found (yet).
        var unresolved: Int
    }

    private struct Written {
        var flags: UInt32 = 0
        var ids: [UInt64: String] = [:]
    }

    private struct State {
        var scopes: [UInt32: PodScope] = [:]
        var written: [UInt32: Written] = [:]
        var unresolved: [UInt32: Int] = [:]
        var generation: UInt64 = .max
        /// Policies whose scope fails closed while no agent runs.
        var failClosed: Set<UInt32> = []
        /// Highest cgroup id of the last full scan after the pods were listed; 0: none yet
        /// (while the agent is away, a fail-closed scope then covers every cgroup).
        var classified: UInt64 = 0
        var lastFullScan = ContinuousClock.now
        /// Set by ``stop()``: no heartbeat after it.
        var stopped = false
        var heartbeat: Task<Void, Never>?
    }

    private let sensor: ProcessSensor
    private let store: PodStore
    private let cgroupRoot: String
    private let procRoot: String
    private let logger: Logger
    private let state = Mutex(State())
    let retryInterval: Duration
    /// The heartbeat's period and how long one stays valid: the agent counts as away in the
    /// kernel at most `heartbeatGrace` after it died, and a stall shorter than that (a loaded
    /// machine) never makes it look away.
    static let heartbeatInterval: Duration = .seconds(1)
    static let heartbeatGrace: Duration = .seconds(3)
    static let classifyInterval: Duration = .seconds(2)

    package init(
        sensor: ProcessSensor, store: PodStore, cgroupRoot: String, procRoot: String = "/proc", logger: Logger,
        retryInterval: Duration = .milliseconds(500)
    ) {
        self.sensor = sensor
        self.store = store
        self.cgroupRoot = cgroupRoot
        self.procRoot = procRoot
        self.logger = logger
        self.retryInterval = retryInterval
    }

    /// Sets (or with nil, clears) the scope of `policyID` and writes its set now, before the
    /// policy's hooks are written. Clearing turns the scope flag off before the entries go.
    /// `failClosed`: while no agent runs, the scope also covers cgroups the agent has not
    /// classified; the heartbeat that says the agent is up is written first.
    func set(policyID: UInt32, scope: PodScope?, failClosed: Bool = false) throws {
        try state.withLock { state in
            if let scope {
                state.scopes[policyID] = scope
                if failClosed {
                    // Before the flag reaches the kernel: programs that see it must find the
                    // agent up, or they would fail closed during the agent's own start.
                    try beat(&state)
                    startHeartbeat(&state)
                    state.failClosed.insert(policyID)
                } else {
                    state.failClosed.remove(policyID)
                }
                // The first fail-closed scope classifies the whole tree at once, not at the
                // next periodic scan.
                try sync(&state, only: failClosed && state.classified == 0 ? nil : policyID)
            } else if state.scopes.removeValue(forKey: policyID) != nil || state.written[policyID] != nil {
                state.failClosed.remove(policyID)
                try write(policyID, flags: 0, ids: [:], state: &state)
                state.written[policyID] = nil
                state.unresolved[policyID] = nil
                try sync(&state, only: nil)  // the all-pods set may no longer be needed
            }
        }
    }

    /// Recomputes every scope from the store and the cgroup tree.
    func refresh() {
        state.withLock { state in
            do { try sync(&state, only: nil) } catch { logger.error("pod scopes not updated: \(error)") }
        }
    }

    /// Follows the pods until cancelled: recomputes when the store changed, and retries while
    /// something selected has no cgroup yet.
    func run() async {
        var lastRetry = ContinuousClock.now
        while !Task.isCancelled {
            let (generation, pending, failClosed, lastFull) = state.withLock {
                ($0.generation, $0.unresolved.values.contains { $0 > 0 }, !$0.failClosed.isEmpty, $0.lastFullScan)
            }
            if store.generation != generation || (pending && ContinuousClock.now - lastRetry >= retryInterval)
                || (failClosed && ContinuousClock.now - lastFull >= Self.classifyInterval)
            {
                lastRetry = .now
                refresh()
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The heartbeat, on a task of its own from the first fail-closed scope on: not behind the
    /// policy loading of the agent's start or the pod watch, which may take longer than the grace.
    private func startHeartbeat(_ state: inout State) {
        guard state.heartbeat == nil, !state.stopped else { return }
        state.heartbeat = Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.heartbeatInterval)
                self.state.withLock { state in
                    do { try self.beat(&state) } catch { self.logger.error("agent heartbeat not written: \(error)") }
                }
            }
        }
    }

    /// At a clean exit: the kernel takes the agent as away at once (fail-closed scopes cover
    /// unclassified cgroups from now on, not a grace later).
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.heartbeat?.cancel()
            try? sensor.update(.agentState, key: PolicyEngine.bytes(0), value: Self.agentState(aliveUntil: 0, classified: state.classified))
        }
    }

    /// Writes the heartbeat: the agent is up for another `heartbeatGrace`, and has classified
    /// every cgroup up to `classified`.
    private func beat(_ state: inout State) throws {
        guard !state.stopped else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)  // bpf_ktime_get_ns()'s clock
        let grace = UInt64(Self.heartbeatGrace.components.seconds) * 1_000_000_000
        let until = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec) + grace
        try sensor.update(.agentState, key: PolicyEngine.bytes(0), value: Self.agentState(aliveUntil: until, classified: state.classified))
    }

    static func agentState(aliveUntil: UInt64, classified: UInt64) -> [UInt8] {
        var value = vigil_agent_state()
        value.alive_until_ns = aliveUntil
        value.classified_cgroup_max = classified
        return withUnsafeBytes(of: value) { Array($0) }
    }

    /// What `tracectl policy list` shows for `policyID`; nil when it is not pod-scoped.
    func snapshot(policyID: UInt32) -> Snapshot? {
        state.withLock { state in
            guard state.scopes[policyID] != nil else { return nil }
            return Snapshot(
                cgroups: state.written[policyID]?.ids.count ?? 0, unresolved: state.unresolved[policyID] ?? 0)
        }
    }

    /// Whether process `pid` is in the scope of `policyID`, for deny decisions that do not run
    /// in BPF (fanotify): its cgroup2 path from `/proc/<pid>/cgroup`, compared with the paths of
    /// the set, ancestors included, as the kernel check does.
    func contains(pid: Int32, policyID: UInt32) -> Bool {
        let path = HostFile.readText(atPath: "\(procRoot)/\(pid)/cgroup").flatMap(ProcessCgroup.unifiedPath)
        return state.withLock { state in
            guard let scope = state.scopes[policyID] else { return true }
            guard let path else { return false }  // gone or unreadable: not known to be in scope
            func within(_ ids: [UInt64: String]?) -> Bool {
                (ids ?? [:]).values.contains { path == $0 || path.hasPrefix($0 == "/" ? "/" : $0 + "/") }
            }
            if within(state.written[policyID]?.ids) { return true }
            return scope.includeHost && !within(state.written[UInt32(VIGIL_SCOPE_ANY_POD)]?.ids)
        }
    }

    // MARK: - Internals

    /// The cgroup tree, indexed: shallowest cgroup per pod UID and per container id.
    private struct Tree {
        var pods: [String: (UInt64, String)] = [:]
        var containers: [String: (UInt64, String)] = [:]

        init(_ entries: [UInt64: String]) {
            for (id, path) in entries {
                let depth = Self.depth(path)
                if let ref = ContainerID.parse(cgroupPath: path) {
                    if containers[ref.id].map({ Self.depth($0.1) > depth }) ?? true { containers[ref.id] = (id, path) }
                } else if let uid = ContainerID.podUID(cgroupPath: path) {
                    if pods[uid].map({ Self.depth($0.1) > depth }) ?? true { pods[uid] = (id, path) }
                }
            }
        }

        static func depth(_ path: String) -> Int { path.split(separator: "/").count }
    }

    /// Recomputes the sets of `only` (or of every policy and the all-pods set) and writes the
    /// differences.
    private func sync(_ state: inout State, only: UInt32?) throws {
        // Read before the pods: a change in between is seen again on the next turn. Only a
        // full pass may mark the store's state as done.
        let generation = store.generation
        if only == nil { state.generation = generation }
        let pods = store.pods.values
        guard let entries = CgroupPathResolver.tree(root: cgroupRoot) else {
            throw ScopeError(message: "cannot read the cgroup2 tree at \(cgroupRoot)")
        }
        let tree = Tree(entries)

        // The cgroups of pod `pod` that `scope` selects; counts what is selected but not found.
        func cgroups(_ pod: Pod, _ scope: PodScope?, unresolved: inout Int) -> [UInt64: String] {
            var found: [UInt64: String] = [:]
            if let scope, scope.selectsContainers {
                let specs = (pod.spec?.containers ?? []) + (pod.spec?.initContainers ?? [])
                    + (pod.spec?.ephemeralContainers ?? [])
                for status in pod.allContainerStatuses {
                    let image = specs.first { $0.name == status.name }?.image ?? status.image
                    guard scope.matches(containerName: status.name, image: image) else { continue }
                    // No id yet: the status update that brings it moves the store's generation.
                    guard let id = PodStore.strippedID(status.containerID) else { continue }
                    if let (cgroup, path) = tree.containers[id] { found[cgroup] = path } else { unresolved += 1 }
                }
            } else if let (cgroup, path) = tree.pods[pod.cgroupUID] {
                found[cgroup] = path
            } else {
                // No pod cgroup (yet, or another layout): its containers' cgroups, if any.
                var any = false
                for status in pod.allContainerStatuses {
                    if let id = PodStore.strippedID(status.containerID), let (cgroup, path) = tree.containers[id] {
                        found[cgroup] = path
                        any = true
                    }
                }
                if !any && pod.status?.phase != "Succeeded" && pod.status?.phase != "Failed" { unresolved += 1 }
            }
            return found
        }

        let ids = only.map { [$0] } ?? Array(state.scopes.keys)
        for policyID in ids {
            guard let scope = state.scopes[policyID] else { continue }
            var unresolved = 0
            var wanted: [UInt64: String] = [:]
            for pod in pods where scope.matches(namespace: pod.metadata.namespace ?? "", labels: pod.metadata.labels ?? [:]) {
                wanted.merge(cgroups(pod, scope, unresolved: &unresolved)) { a, _ in a }
            }
            let flags = VIGIL_SCOPE_F_SCOPED.rawValue | (scope.includeHost ? VIGIL_SCOPE_F_HOST.rawValue : 0)
                | (state.failClosed.contains(policyID) ? VIGIL_SCOPE_F_FAIL_CLOSED : 0)
            let before = state.written[policyID]?.ids.count
            try write(policyID, flags: flags, ids: wanted, state: &state)
            state.unresolved[policyID] = unresolved
            if before != wanted.count {
                logger.debug(
                    "pod scope changed",
                    metadata: ["policy_id": "\(policyID)", "cgroups": "\(wanted.count)", "unresolved": "\(unresolved)"])
            }
        }
        // Host = in no known pod: only kept while a policy asks for the host too.
        let any = UInt32(VIGIL_SCOPE_ANY_POD)
        if state.scopes.values.contains(where: \.includeHost) {
            if only == nil || state.written[any] == nil {
                var unresolved = 0
                var all: [UInt64: String] = [:]
                for pod in pods { all.merge(cgroups(pod, nil, unresolved: &unresolved)) { a, _ in a } }
                try write(any, flags: VIGIL_SCOPE_F_SCOPED.rawValue, ids: all, state: &state)
            }
        } else if state.written[any] != nil {
            try write(any, flags: 0, ids: [:], state: &state)
            state.written[any] = nil
        }
        // Every set now reflects the tree read above: its cgroups are classified. Only after a
        // list of the pods (generation 0: none yet), or the pods' own cgroups would count as
        // classified outside every scope.
        if only == nil {
            state.lastFullScan = .now
            if generation > 0, let highest = entries.keys.max(), highest > state.classified {
                state.classified = highest
                if !state.failClosed.isEmpty { try beat(&state) }
            }
        }
    }

    /// Adds new entries, publishes flags and the levels of old and new entries, removes stale
    /// entries, then publishes the final levels.
    private func write(_ policyID: UInt32, flags: UInt32, ids: [UInt64: String], state: inout State) throws {
        var old = state.written[policyID] ?? Written()
        var tooDeep = 0
        func levels(_ set: [UInt64: String]) -> UInt32 {
            set.values.reduce(0) { mask, path in
                let depth = Tree.depth(path)
                return depth < Int(VIGIL_SCOPE_LEVELS) ? mask | (1 << UInt32(depth)) : mask
            }
        }
        for (id, path) in ids where old.ids[id] == nil {
            guard Tree.depth(path) < Int(VIGIL_SCOPE_LEVELS) else {
                tooDeep += 1
                continue
            }
            try sensor.update(.scopeCgroups, key: Self.key(policyID, id), value: [1])
            old.ids[id] = path
        }
        let kept = old.ids.filter { ids[$0.key] != nil }
        // Old and new entries both count while stale ones are deleted.
        try sensor.update(.policyScope, key: PolicyEngine.bytes(policyID), value: Self.scope(flags, levels(old.ids)))
        for (id, _) in old.ids where ids[id] == nil { try? sensor.delete(.scopeCgroups, key: Self.key(policyID, id)) }
        if levels(kept) != levels(old.ids) {
            try sensor.update(.policyScope, key: PolicyEngine.bytes(policyID), value: Self.scope(flags, levels(kept)))
        }
        state.written[policyID] = Written(flags: flags, ids: kept)
        if tooDeep > 0 {
            logger.error(
                "pod scope: \(tooDeep) cgroup(s) deeper than \(VIGIL_SCOPE_LEVELS) levels left out",
                metadata: ["policy_id": "\(policyID)"])
        }
    }

    static func key(_ policyID: UInt32, _ cgroup: UInt64) -> [UInt8] {
        var key = vigil_scope_key()
        key.policy_id = policyID
        key.cgroup_id = cgroup
        return withUnsafeBytes(of: key) { Array($0) }
    }

    static func scope(_ flags: UInt32, _ levels: UInt32) -> [UInt8] {
        var value = vigil_scope()
        value.flags = flags
        value.levels = levels
        return withUnsafeBytes(of: value) { Array($0) }
    }

    struct ScopeError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
