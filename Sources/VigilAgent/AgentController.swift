// SPDX-License-Identifier: Apache-2.0
import BPFKit
import ControlAPI
import ExportFilters
import Foundation
import Glibc
import KernelFeatures
import Logging
import PolicyCompiler
import Synchronization
import TracingPolicy

/// What the control API (and `tracectl`) can do to the running agent: the policy set with its
/// sources, states and modes, status and live events.
///
/// Policies come from files (`--tracing-policy`, `--tracing-policy-dir`, re-read on SIGHUP,
/// directory changes and `tracectl policy reload`) or from the API (`tracectl policy add`,
/// kept in `--persist-policies` when given). Every change is all-or-nothing: a request with a
/// bad document changes nothing; a broken file keeps its policy's previous version running and
/// shows the error in `list`.
package final class AgentController: AgentControl, Sendable {
    struct Entry: Sendable {
        var document: TracingPolicyDocument
        var source: ControlAPI.PolicySource
        var file: String?
        var enabled = true
        var error: String?
        /// Why it is not applied on this node (its nodeSelector); nil when applied or refused.
        var held: String?
    }

    package struct Context: Sendable {
        package var nodeName: String
        package var attachMode: String
        package var started: Date
        package var counters: @Sendable () -> [String: UInt64]
        /// `--enforcement-cgroup`, resolved; nil for the whole node.
        package var enforcementFence: EnforcementFenceInfo? = nil
        /// After each load of the policy files and directory: how many policies run, and the
        /// refusals (readiness reports them).
        package var filesReloaded: @Sendable (_ policies: Int, _ problems: [String]) -> Void = { _, _ in }
        /// The export flags the event stream's Tetragon filter lines are read with.
        package var streamFilterContext = ExportFilterContext()

        package init(
            nodeName: String, attachMode: String, started: Date, counters: @escaping @Sendable () -> [String: UInt64],
            enforcementFence: EnforcementFenceInfo? = nil,
            filesReloaded: @escaping @Sendable (_ policies: Int, _ problems: [String]) -> Void = { _, _ in },
            streamFilterContext: ExportFilterContext = ExportFilterContext()
        ) {
            self.nodeName = nodeName
            self.attachMode = attachMode
            self.started = started
            self.counters = counters
            self.enforcementFence = enforcementFence
            self.filesReloaded = filesReloaded
            self.streamFilterContext = streamFilterContext
        }
    }

    private let engine: PolicyEngine
    private let sources: PolicySources
    private let persistDirectory: String?
    private let broadcaster: EventBroadcaster
    private let context: Context
    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    /// Hook by hook, what this build does on this kernel, probed once at start.
    private let mechanisms: [MechanismInfo]
    /// spec.nodeSelector against this node's labels (fed by the node watch).
    package let nodeGate: NodeSelectorGate
    /// Serialises changes: install, remove and mode switches happen one request at a time.
    private let changes = Mutex<Void>(())

    package init(
        engine: PolicyEngine, sources: PolicySources, persistDirectory: String?, broadcaster: EventBroadcaster,
        context: Context, logger: Logger, nodeGate: NodeSelectorGate = NodeSelectorGate()
    ) {
        self.engine = engine
        self.nodeGate = nodeGate
        // What the sensor loaded, not only what the kernel allows: LSM programs a verifier
        // refused leave lsmhooks on the fallback, and the log says so.
        self.mechanisms = KernelProbe.run(lsm: engine.bpfLSMOutcome, trampolines: .some(engine.trampolineRefusal)).hooks.map {
            MechanismInfo(hook: $0.hook, mechanism: $0.mechanism, observe: $0.observe, kill: $0.kill, deny: $0.deny)
        }
        self.sources = sources
        self.persistDirectory = persistDirectory
        self.broadcaster = broadcaster
        self.context = context
        self.logger = logger
    }

    static func key(_ document: TracingPolicyDocument) -> String {
        PolicyEngine.key(name: document.name, namespace: document.namespace)
    }

    // MARK: - Loading from files

    /// Re-reads the policy files and directory (and the persisted API policies at start).
    /// Returns every problem found; valid policies are installed regardless.
    @discardableResult
    package func reloadFiles(includePersisted: Bool = false) -> [String] {
        changes.withLock { _ in
            var problems: [String] = []
            var parsed = sources.parse()
            if includePersisted, let persistDirectory, access(persistDirectory, F_OK) == 0 {
                var persisted = PolicyParser.loadDirectory(persistDirectory, trust: .agent)
                for document in persisted.documents { apiLoad(document) }
                persisted.documents = []
                parsed.append(persisted)
            }
            for warning in parsed.warnings { logger.warning("policy: \(warning)") }
            let badFiles = Set(parsed.errors.map(\.location.file))
            for error in parsed.errors {
                logger.error("policy refused: \(error)")
                problems.append(error.description)
            }
            var wanted: Set<String> = []
            for document in parsed.documents {
                let key = Self.key(document)
                wanted.insert(key)
                if let existing = entries.withLock({ $0[key] }), existing.source == .api { continue }
                let enabled = entries.withLock { $0[key]?.enabled ?? true }
                var entry = Entry(document: document, source: .file, file: document.source.file, enabled: enabled)
                if enabled {
                    do {
                        entry.held = try install(document, source: document.source.file)
                    } catch let failure as PolicyCompileFailure {
                        for error in failure.errors { logger.error("policy refused: \(error)") }
                        problems.append(contentsOf: failure.errors.map(\.description))
                        entry.error = failure.errors.map(\.description).joined(separator: "\n")
                    } catch {
                        problems.append("\(document.source): \(error)")
                        entry.error = "\(error)"
                    }
                }
                entries.withLock { $0[key] = entry }
            }
            // File policies gone from the sources are removed, unless their file is broken now:
            // then the running version stays, with the error shown.
            let stale = entries.withLock { entries in
                entries.filter { key, entry in
                    entry.source == .file && !wanted.contains(key)
                }
            }
            for (key, entry) in stale {
                if let file = entry.file, badFiles.contains(file) {
                    let message = parsed.errors.filter { $0.location.file == file }.map(\.description)
                    entries.withLock { $0[key]?.error = message.joined(separator: "\n") }
                    continue
                }
                engine.remove(name: entry.document.name, namespace: entry.document.namespace)
                entries.withLock { _ = $0.removeValue(forKey: key) }
                logger.info("policy removed", metadata: ["policy": "\(entry.document.name)"])
            }
            context.filesReloaded(entries.withLock { $0.values.filter { $0.error == nil }.count }, problems)
            return problems
        }
    }

    private func apiLoad(_ document: TracingPolicyDocument) {
        var entry = Entry(document: document, source: .api, file: document.source.file)
        do {
            entry.held = try install(document, source: "api")
        } catch {
            entry.error = "\(error)"
            logger.error("persisted policy refused: \(error)")
        }
        entries.withLock { $0[Self.key(document)] = entry }
    }

    // MARK: - Policies from the cluster (TracingPolicy CRD objects)

    /// Applies one TracingPolicy object from the API server (JSON, as the watch sent it),
    /// identified by `origin` (collection path, namespace, name). Its previous version is replaced;
    /// when the new one does not parse or compile, the error is logged and shown by
    /// `tracectl policy list`, and the previous version, if any, keeps running.
    package func applyClusterPolicy(json: String, origin: String) {
        changes.withLock { _ in
            let parsed = PolicyParser.parse(yaml: json, file: origin)
            for warning in parsed.warnings { logger.warning("policy: \(warning)") }
            guard parsed.errors.isEmpty, let document = parsed.documents.first else {
                let message = parsed.errors.map(\.description).joined(separator: "\n")
                logger.error("cluster policy refused: \(message)", metadata: ["origin": "\(origin)"])
                entries.withLock { entries in
                    for key in entries.keys where entries[key]?.source == .kubernetes && entries[key]?.file == origin {
                        entries[key]?.error = message
                    }
                }
                return
            }
            let key = Self.key(document)
            if let existing = entries.withLock({ $0[key] }), existing.source != .kubernetes {
                logger.error(
                    "cluster policy \(document.name) ignored: a policy of that name comes from \(existing.source)",
                    metadata: ["origin": "\(origin)"])
                return
            }
            var entry = Entry(document: document, source: .kubernetes, file: origin)
            do {
                entry.held = try install(document, source: origin)
            } catch {
                entry.error = "\(error)"
                logger.error("cluster policy refused: \(error)", metadata: ["origin": "\(origin)"])
            }
            entries.withLock { $0[key] = entry }
        }
    }

    /// Removes what `origin` applied (its object was deleted or is gone from a new list).
    package func removeClusterPolicy(origin: String) {
        changes.withLock { _ in
            let gone = entries.withLock { entries in entries.filter { $0.value.source == .kubernetes && $0.value.file == origin } }
            for (key, entry) in gone {
                engine.remove(name: entry.document.name, namespace: entry.document.namespace)
                entries.withLock { _ = $0.removeValue(forKey: key) }
                logger.info("policy removed", metadata: ["policy": "\(entry.document.name)", "origin": "\(origin)"])
            }
        }
    }

    /// The origins of every policy applied from the cluster.
    package var clusterPolicyOrigins: Set<String> {
        entries.withLock { Set($0.values.filter { $0.source == .kubernetes }.compactMap(\.file)) }
    }

    /// Installs `document` when its nodeSelector lets it run on this node; otherwise leaves it
    /// out (and, when a previous version runs, removes that) and returns why. A policy that does
    /// not compile is refused either way, so its errors show on every node.
    private func install(_ document: TracingPolicyDocument, source: String) throws -> String? {
        if document.spec.restrictingNodeSelector != nil {
            if let failure = engine.check(document) { throw failure }
            if case .hold(let reason) = nodeGate.decide(document) {
                if engine.loaded.contains(where: { $0.name == document.name && $0.namespace == document.namespace }) {
                    engine.remove(name: document.name, namespace: document.namespace)
                }
                logger.info("policy not applied on this node", metadata: ["policy": "\(document.name)", "reason": "\(reason)"])
                return reason
            }
        }
        let loaded = try engine.install(document, source: source)
        logger.info(
            "policy loaded",
            metadata: [
                "policy": "\(loaded.name)", "mode": "\(loaded.mode.rawValue)",
                "hooks": "\(loaded.hooks.map(\.description).joined(separator: ","))", "source": "\(loaded.source)",
            ])
        return nil
    }

    // MARK: - This node's labels

    /// The node watch reports this node's labels (nil: not known). Policies with a nodeSelector
    /// are installed where they now match and removed where they no longer do.
    package func nodeLabelsChanged(_ labels: [String: String]?) {
        changes.withLock { _ in
            guard nodeGate.update(labels) else { return }
            logger.info("node labels", metadata: ["labels": "\(labels.map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") } ?? "unknown")"])
            let gated = entries.withLock { entries in
                entries.filter { $0.value.enabled && $0.value.document.spec.restrictingNodeSelector != nil }
            }
            for (key, entry) in gated.sorted(by: { $0.key < $1.key }) {
                // A refused policy stays refused until its source changes.
                guard entry.error == nil else { continue }
                do {
                    let held = try install(entry.document, source: entry.file ?? entry.source.rawValue)
                    entries.withLock { $0[key]?.held = held }
                } catch {
                    entries.withLock { $0[key]?.error = "\(error)" }
                    logger.error("policy refused: \(error)")
                }
            }
        }
    }

    // MARK: - AgentControl

    package func status() async -> AgentStatus {
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return AgentStatus(
            version: Version.current, uptimeSeconds: Date().timeIntervalSince(context.started),
            nodeName: context.nodeName, kernelRelease: release, attachMode: context.attachMode,
            mechanisms: mechanisms, counters: context.counters(), policies: entries.withLock { $0.count },
            enforcementFence: context.enforcementFence)
    }

    /// Policy name -> action -> events, for `tracectl policy list`.
    private let actionCounts = Mutex<[String: [String: UInt64]]>([:])

    /// Counts posted policy events (called by the pipeline, once per batch and action).
    package func record(policy: String, action: String, count: UInt64 = 1) {
        actionCounts.withLock { $0[policy, default: [:]][action, default: 0] += count }
    }

    package func listPolicies() async -> [PolicyInfo] {
        let loaded = Dictionary(engine.loaded.map { (PolicyEngine.key(name: $0.name, namespace: $0.namespace), $0) }) { a, _ in a }
        let counts = actionCounts.withLock { $0 }
        return entries.withLock { entries in
            entries.map { key, entry in
                let running = loaded[key]
                let state: ControlAPI.PolicyState =
                    !entry.enabled ? .disabled : entry.error != nil ? .error : entry.held != nil ? .notOnThisNode
                    : running != nil ? .loaded : .error
                return PolicyInfo(
                    name: entry.document.name, namespace: entry.document.namespace, source: entry.source, file: entry.file,
                    state: state, error: entry.error ?? (entry.enabled ? entry.held : nil),
                    mode: (running?.mode ?? entry.document.spec.policyMode) == .monitor ? .monitor : .enforce,
                    hooks: (running?.hooks ?? []).map { HookInfo(hook: $0.description, mechanism: $0.mechanism.name) },
                    actionCounts: counts[entry.document.name] ?? [:],
                    scope: running.flatMap { running in
                        running.scope.map { selector in
                            let now = engine.scopes?.snapshot(policyID: running.policyID)
                            return PolicyScopeInfo(
                                selector: selector, cgroups: now?.cgroups ?? 0, unresolved: now?.unresolved ?? 0)
                        }
                    })
            }.sorted { ($0.namespace ?? "", $0.name) < ($1.namespace ?? "", $1.name) }
        }
    }

    package func addPolicy(yaml: String, fileName: String, mode: ControlAPI.PolicyMode?) async throws(ControlError) -> [PolicyInfo] {
        let parsed = PolicyParser.parse(yaml: yaml, file: fileName)
        var documents = parsed.documents
        var problems = parsed.errors.map(\.description)
        if let mode {
            for i in documents.indices { documents[i].spec.parsedOptions.policyMode = mode == .monitor ? .monitor : .enforce }
        }
        for document in documents {
            if let failure = engine.check(document) { problems.append(contentsOf: failure.errors.map(\.description)) }
        }
        if documents.isEmpty && problems.isEmpty { problems.append("\(fileName): no policy in it") }
        guard problems.isEmpty else {
            throw .badRequest("policy refused; nothing changed", details: problems)
        }
        let result: Result<Void, ControlError> = changes.withLock { _ in
            var installed: [TracingPolicyDocument] = []
            var held: [String: String] = [:]
            for document in documents {
                do {
                    if let reason = try install(document, source: "api") {
                        held[Self.key(document)] = reason
                    } else {
                        installed.append(document)
                    }
                } catch {
                    // All or nothing: take back what this request installed.
                    for done in installed { engine.remove(name: done.name, namespace: done.namespace) }
                    return .failure(.badRequest("policy refused; nothing changed", details: ["\(error)"]))
                }
            }
            for document in documents {
                entries.withLock {
                    $0[Self.key(document)] = Entry(document: document, source: .api, file: fileName, held: held[Self.key(document)])
                }
                persist(document, yaml: yaml)
            }
            return .success(())
        }
        try result.get()
        let keys = Set(documents.map(Self.key))
        return await listPolicies().filter { keys.contains(PolicyEngine.key(name: $0.name, namespace: $0.namespace)) }
    }

    private func persist(_ document: TracingPolicyDocument, yaml: String) {
        guard let persistDirectory else { return }
        try? FileManager.default.createDirectory(atPath: persistDirectory, withIntermediateDirectories: true)
        let name = (document.namespace.map { "\($0)_" } ?? "") + document.name
        try? yaml.write(toFile: "\(persistDirectory)/\(name).yaml", atomically: true, encoding: .utf8)
    }

    package func deletePolicy(name: String, namespace: String?) async throws(ControlError) {
        let key = PolicyEngine.key(name: name, namespace: namespace)
        let removed: Entry? = changes.withLock { _ in
            guard let entry = entries.withLock({ $0.removeValue(forKey: key) }) else { return nil }
            engine.remove(name: name, namespace: namespace)
            if entry.source == .api, let persistDirectory {
                try? FileManager.default.removeItem(atPath: "\(persistDirectory)/\((namespace.map { "\($0)_" } ?? "") + name).yaml")
            }
            return entry
        }
        guard removed != nil else { throw .notFound("no policy named \(name)") }
        logger.info("policy deleted", metadata: ["policy": "\(name)"])
    }

    package func setPolicyEnabled(name: String, namespace: String?, enabled: Bool) async throws(ControlError) -> PolicyInfo {
        let key = PolicyEngine.key(name: name, namespace: namespace)
        let outcome: Result<Void, ControlError> = changes.withLock { _ in
            guard let entry = entries.withLock({ $0[key] }) else { return .failure(.notFound("no policy named \(name)")) }
            if enabled && !entry.enabled {
                do {
                    let held = try install(entry.document, source: entry.file ?? "api")
                    entries.withLock { $0[key]?.held = held }
                } catch {
                    return .failure(.badRequest("cannot enable \(name)", details: ["\(error)"]))
                }
            } else if !enabled && entry.enabled {
                engine.remove(name: name, namespace: namespace)
                entries.withLock { $0[key]?.held = nil }
            }
            entries.withLock { $0[key]?.enabled = enabled }
            return .success(())
        }
        try outcome.get()
        return try await info(key, name: name)
    }

    package func setPolicyMode(name: String, namespace: String?, mode: ControlAPI.PolicyMode) async throws(ControlError) -> PolicyInfo {
        let key = PolicyEngine.key(name: name, namespace: namespace)
        let policyMode: TracingPolicy.PolicyMode = mode == .monitor ? .monitor : .enforce
        let outcome: Result<Void, ControlError> = changes.withLock { _ in
            guard entries.withLock({ $0[key] }) != nil else { return .failure(.notFound("no policy named \(name)")) }
            do {
                guard try engine.setMode(name: name, namespace: namespace, mode: policyMode) != nil else {
                    return .failure(.badRequest("policy \(name) is not loaded (disabled, refused or not on this node)"))
                }
            } catch {
                return .failure(ControlError(status: 500, message: "\(error)"))
            }
            entries.withLock { $0[key]?.document.spec.parsedOptions.policyMode = policyMode }
            return .success(())
        }
        try outcome.get()
        logger.info("policy mode changed", metadata: ["policy": "\(name)", "mode": "\(mode)"])
        return try await info(key, name: name)
    }

    package func reloadPolicies() async throws(ControlError) -> [PolicyInfo] {
        let problems = reloadFiles()
        if !problems.isEmpty {
            throw .badRequest("some policies were refused; the others are loaded", details: problems)
        }
        return await listPolicies()
    }

    package func events(filter: EventFilter) -> EventSubscription {
        broadcaster.subscribe(filter: filter)
    }

    package var streamFilterContext: ExportFilterContext { context.streamFilterContext }

    private func info(_ key: String, name: String) async throws(ControlError) -> PolicyInfo {
        guard let info = await listPolicies().first(where: { PolicyEngine.key(name: $0.name, namespace: $0.namespace) == key })
        else { throw .notFound("no policy named \(name)") }
        return info
    }
}

/// The agent's version, shown by `tracectl status`.
package enum Version {
    package static let current = "0.1.0"
}
