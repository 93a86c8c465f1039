// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CoreMetrics
import ControlAPI
import Foundation
import Prometheus
import Synchronization
import Glibc
import HostFiles
import KernelFeatures
import PolicyCompiler
import TracingPolicy
import Cgroups
import Events
import FileGuard
import Exporter
import Logging
import ProcessCache
import Sandbox
import ServiceLifecycle
import UnixSignals

/// The agent: the process sensor, the process cache and the exporter, run as one service with
/// SIGTERM/SIGINT graceful shutdown.
package enum Agent {
    /// Runs until SIGTERM or SIGINT, then flushes the export and detaches every program.
    ///
    /// - Throws: when the export file cannot be opened, the kernel or privileges fall short, or
    ///   the sensor does not load; nothing stays attached in any of these cases.
    package static func run(configuration: AgentConfiguration, logger: Logger) async throws {
        let service = ProcessMonitorService(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// exec/fork/exit -> process cache -> JSON lines.
package struct ProcessMonitorService: Service {
    let configuration: AgentConfiguration
    let logger: Logger
    /// Export errors become rate-limited log lines and metrics (used by the pipeline task only).
    private let exportHealth: ExportHealth

    package init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.exportHealth = ExportHealth(logger: logger)
    }

    package func run() async throws {
        // Output first: a bad export path fails before anything is loaded into the kernel.
        let exporter = try Self.makeExporter(configuration.export, logger: logger)
        try KernelRequirements.check(procRoot: configuration.procRoot)

        // The fence before the sensor: its cgroup id is frozen into the programs at load.
        let fence = try configuration.enforcementCgroup.map { argument throws in
            try EnforcementFence.resolve(argument, mountinfo: HostFile.readText(atPath: MountInfo.selfPath) ?? "")
        }
        if let fence {
            logger.info(
                "enforcement fenced: Sigkill, Signal and Override act only on processes in this cgroup or below it",
                metadata: ["enforcement_cgroup": "\(fence.directory)", "cgroup_path": "\(fence.hierarchyPath)",
                           "cgroup_id": "\(fence.cgroupID)"])
        } else {
            logger.info("enforcement: whole node (no --enforcement-cgroup)")
        }
        var sensorOptions = configuration.sensor
        sensorOptions.fenceCgroupID = fence?.cgroupID ?? 0

        // Before the sensor (it takes over a previous run's process map) and the seccomp filter
        // (it may mount bpffs).
        let pins = try PinnedSensors.prepare(
            directory: configuration.bpfDirectory, keep: configuration.keepSensorsOnExit, logger: logger)
        sensorOptions.previousProcessMap = pins.previousProcessMap

        SecurityfsMount.ensure(logger: logger)
        let sensor = try ProcessSensor(options: sensorOptions, logger: logger)
        defer { sensor.close() }
        if let previousProcessMap = sensorOptions.previousProcessMap {
            if sensor.processIdentitiesTakenOver {
                pins.releasePreviousProcessTracking(of: previousProcessMap, logger: logger)
            } else {
                logger.warning(
                    "the previous run's process map differs from this build's (--process-map-entries changed?): a new one; processes started while no agent ran are known from /proc",
                    metadata: ["map": "\(previousProcessMap)"])
            }
        }
        let reader = RingBufferReader(
            ringBufferFD: sensor.eventsFD, configuration: configuration.reader, logger: logger)
        let batches = try reader.start()
        logger.info(
            "process sensor attached",
            metadata: [
                "attach_mode": "\(sensor.attachMode.rawValue)", "node_name": "\(configuration.nodeName)",
                "export": "\(configuration.export.filename ?? "stdout")",
            ])

        // Pods before the /proc scan, so the seed's container processes can get theirs.
        let kubernetes = try configuration.kubernetes.map {
            try KubernetesMetadata(options: $0, nodeName: configuration.nodeName, logger: logger)
        }
        let cgroup2Root = configuration.cgroup2Root ?? CgroupMounts.cgroup2Mount()
        // Container ids from cgroup ids; its mount fd is the one open_by_handle_at may use
        // under the seccomp filter below.
        let cgroupResolver = cgroup2Root.map { CgroupPathResolver(root: $0) }
        // Read once: host_ns in policies and is_host in exported namespaces come from it.
        let hostNamespaces = ProcFS.hostNamespaces(procRoot: configuration.procRoot)
        logger.info("host namespaces: \(hostNamespaces.summary)")
        var cache = ProcessCache(
            config: cacheConfig(resolver: cgroupResolver, hostNamespaces: hostNamespaces), clock: KtimeClock.current())
        // Attached before the scan: a process starting in between is seen at least once.
        var existing = (try? ProcFS.scan(procRoot: configuration.procRoot)) ?? []
        if let cgroup2Root {
            for i in existing.indices {
                existing[i].cgroupID =
                    ProcessCgroup.id(pid: existing[i].pid, procRoot: configuration.procRoot, cgroup2Root: cgroup2Root) ?? 0
            }
        }
        for event in cache.seed(existing) { emit(event, kubernetes, to: exporter) }
        flush(exporter)
        logger.info("procfs scan done", metadata: ["processes": "\(existing.count)"])
        // The kernel side learns binaries at exec: processes older than every sensor get theirs
        // from the scan, or binary selectors in the kernel would never match them.
        let seeded = sensor.seedProcessBinaries(existing.lazy.filter { !$0.binaryUnreadable }.map { ($0.pid, $0.binary) })
        logger.info("process binaries given to the kernel side", metadata: ["processes": "\(seeded)"])
        if configuration.keepSensorsOnExit {
            do {
                try sensor.pinProcessTracking(directory: configuration.bpfDirectory)
                logger.info("process tracking pinned", metadata: ["bpf_dir": "\(configuration.bpfDirectory)"])
            } catch {
                logger.error("process tracking not pinned: binary selectors of pinned enforcement go stale while no agent runs: \(error)")
            }
        }

        // Pod-scoped policies: their cgroup sets follow the pod watch.
        let scopes = kubernetes.flatMap { kubernetes in
            cgroup2Root.map { PodScopes(sensor: sensor, store: kubernetes.podStore, cgroupRoot: $0, logger: logger) }
        }
        var fileFence: (@Sendable (Int32) -> Bool)?
        if let fence {
            let procRoot = configuration.procRoot
            fileFence = { pid in fence.contains(pid: pid, procRoot: procRoot) }
        }
        let fileDenials = FileDenials(logger: logger, scopes: scopes, enforcementFence: fileFence)
        defer { fileDenials.stop() }
        let engine = try makePolicyEngine(
            sensor: sensor, hostNamespaces: hostNamespaces, cgroupRoot: cgroup2Root, fileDenials: fileDenials,
            scopes: scopes,
            pinDirectory: configuration.keepSensorsOnExit ? configuration.bpfDirectory : nil)
        // With --keep-sensors-on-exit the policy maps keep their contents for the pinned links.
        defer { if !configuration.keepSensorsOnExit { engine.removeAll() } }
        // Start-up is done (tracefs mounted, sensor attached): from here on the agent never
        // needs exec, ptrace, mount or module loading, so an attacker who takes it over gets none.
        let sandboxed = try SelfSandbox.install(configuration.seccomp, handleMountFD: cgroupResolver?.mountFD ?? -1)
        logger.info("seccomp \(configuration.seccomp.rawValue)", metadata: ["syscalls_filtered": "\(sandboxed)"])
        let registry = PrometheusCollectorRegistry()
        let metrics = VigilMetrics(registry: registry)
        let broadcaster = EventBroadcaster(onDrop: { count in metrics.missedEvents(.client).increment(by: Int64(count)) })
        defer { broadcaster.finish() }
        let eventCounters = EventTypeCounters(metrics: metrics)
        // The control API's stream always carries Vigil's own fields (tracectl shows monitor mode
        // and the fence from them): a strict export's policy events are encoded once more for
        // it, only while someone watches.
        let streamEncoder = exporter.encoder.vigilFields ? nil : JSONLineEncoder(vigilFields: true)
        exporter.lineObserver = { event, line in
            eventCounters.increment(event.kind)
            guard broadcaster.subscriberCount > 0 else { return }
            switch (streamEncoder, event.kind) {
            case (let encoder?, .tracepoint), (let encoder?, .kprobe), (let encoder?, .lsm):
                broadcaster.publish(Self.eventLine(encoder.encode(event), event))
            default:
                broadcaster.publish(Self.eventLine(Array(line), event))
            }
        }
        let started = Date()
        let kubernetesCounters = SharedCounters()
        let cacheSize = SharedCount()
        let controller = AgentController(
            engine: engine, sources: configuration.policies, persistDirectory: configuration.persistPolicies,
            broadcaster: broadcaster,
            context: .init(
                nodeName: configuration.nodeName, attachMode: sensor.attachMode.rawValue, started: started,
                counters: { [reader, kubernetesCounters] in
                    Self.counters(sensor: sensor.counters(), reader: reader.stats, cacheEntries: cacheSize.value)
                        .merging(kubernetesCounters.value) { a, _ in a }
                },
                enforcementFence: fence.map {
                    EnforcementFenceInfo(directory: $0.directory, path: $0.hierarchyPath, cgroupID: $0.cgroupID)
                }),
            logger: logger)
        if let directory = configuration.policies.directory, access(directory, F_OK) != 0 {
            logger.info("policy directory \(directory) does not exist; no policies from it")
        }
        for mechanism in await controller.status().mechanisms {
            logger.info(
                "mechanism",
                metadata: [
                    "hook": "\(mechanism.hook)", "mechanism": "\(mechanism.mechanism)", "observe": "\(mechanism.observe)",
                    "kill": "\(mechanism.kill)", "deny": "\(mechanism.deny)",
                ])
        }
        controller.reloadFiles(includePersisted: true)
        // Our policies are in place: what a previous run left pinned can go now.
        pins.releasePrevious(logger: logger)
        kubernetes?.watchPolicies(controller: controller)
        let watch = configuration.policies.directory.flatMap { directory in
            PolicyDirectoryWatch(directory: directory) {
                logger.info("policy directory changed: reloading")
                controller.reloadFiles()
            }
        }
        defer { watch?.stop() }
        let server = try configuration.serverAddress.map { path in
            try ControlServer(
                agent: controller, configuration: .init(socketPath: path, group: configuration.serverGroup), logger: logger)
        }
        let metricsServer = try configuration.metricsAddress.map { address in
            try MetricsServer(address: address, registry: registry, logger: logger)
        }
        let clock = KtimeClock.current()
        let nodeName = configuration.nodeName
        let health = exportHealth
        var exported = (bytes: UInt64(0), rotations: UInt64(0))

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // SIGHUP re-reads the policy files and directory.
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        logger.info("SIGHUP: reloading policies")
                        controller.reloadFiles()
                    }
                }
                if let server {
                    group.addTask {
                        do { try await server.run() } catch { logger.error("control API stopped: \(error)") }
                    }
                }
                if let scopes {
                    group.addTask { await scopes.run() }
                }
                if let metricsServer {
                    group.addTask {
                        do { try await metricsServer.run() } catch { logger.error("metrics server stopped: \(error)") }
                    }
                }
                group.addTask {
                    // Counters that live in the kernel or other threads reach Prometheus here.
                    while !Task.isCancelled {
                        let sensorCounters = sensor.counters()
                        metrics.advancePolicyFilteredEvents(toTotal: sensorCounters.policyFiltered)
                        metrics.advancePolicyOutOfScopeEvents(toTotal: sensorCounters.policyOutOfScope)
                        metrics.advancePolicyFencedActions(toTotal: sensorCounters.policyFenced)
                        metrics.advanceMissedEvents(.kernelReserve, toTotal: sensorCounters.totalDrops)
                        metrics.advanceMissedEvents(.userQueue, toTotal: reader.stats.queueDrops)
                        metrics.processCacheSize.record(cacheSize.value)
                        metrics.eventSubscribers.record(broadcaster.subscriberCount)
                        metrics.setPolicies(await controller.listPolicies())
                        let pods = kubernetesCounters.value
                        for (key, result) in [("pod_enriched", "enriched"), ("pod_missing", "missing"), ("pod_wait_overflow", "overflow")] {
                            if let total = pods[key] { metrics.advancePodMetadataEvents(result: result, toTotal: total) }
                        }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                // The stream ends after reader.stop(): the reader drains the ring once more
                // first, so every record the kernel wrote before shutdown is exported.
                // The reader sends an empty batch every ~100 ms when the ring is quiet, so this
                // loop wakes often enough to release events waiting for their pod without a
                // timer stream of its own (which would also bypass the reader's bounded queue).
                var lastPodTick = ContinuousClock.now
                var policyActions = PolicyActionTally()
                let countPolicyAction = { (policy: String, action: String, count: Int) in
                    metrics.policyActions(policy: policy, action: action).increment(by: Int64(count))
                    controller.record(policy: policy, action: action, count: UInt64(count))
                }
                for await batch in batches {
                    if let kubernetes, ContinuousClock.now - lastPodTick >= .milliseconds(200) {
                        // Events waiting for their pod: release those whose pod came or whose time is up.
                        lastPodTick = .now
                        for event in kubernetes.tick() { export(event, to: exporter) }
                        kubernetesCounters.value = kubernetes.counters
                        flush(exporter)
                    }
                    for record in batch {
                        if case .generic(let generic) = record {
                            guard let slot = engine.slot(generic.hookSlot) else { continue }
                            let event = PolicyEvents.event(for: generic, slot: slot, cache: cache, nodeName: nodeName, clock: clock)
                            policyActions.add(
                                slot: generic.hookSlot, action: generic.action, policy: slot.policyName, report: countPolicyAction)
                            emit(event, kubernetes, to: exporter)
                        } else if let event = cache.handle(record) {
                            emit(event, kubernetes, to: exporter)
                        }
                    }
                    // fanotify decisions (deny or monitor) become events here, with process context.
                    for decision in fileDenials.drain() {
                        guard let info = engine.fileRule(decision.ruleID) else { continue }
                        let event = FileDenials.event(for: decision, info: info, cache: cache, nodeName: nodeName)
                        metrics.policyActions(policy: info.policyName, action: "KPROBE_ACTION_OVERRIDE").increment()
                        controller.record(policy: info.policyName, action: "KPROBE_ACTION_OVERRIDE")
                        emit(event, kubernetes, to: exporter)
                    }
                    policyActions.flush(countPolicyAction)
                    cacheSize.value = cache.count
                    // A quiet ring: hand back what a mass exit freed (a no-op unless one happened).
                    if batch.isEmpty { cache.releaseFreedMemory() }
                    flush(exporter)
                    health.check(exporter.file, metrics: metrics)
                    if let file = exporter.file {
                        // The writer's running totals, as Prometheus counter increments.
                        metrics.exportBytes.increment(by: Int64(file.bytesWritten - min(exported.bytes, file.bytesWritten)))
                        metrics.exportRotations.increment(by: Int64(file.rotations - min(exported.rotations, file.rotations)))
                        exported = (file.bytesWritten, file.rotations)
                    }
                }
                broadcaster.finish()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            reader.stop()
        }
        if let kubernetes {
            for event in kubernetes.drain() { export(event, to: exporter) }
            await kubernetes.stop()
        }
        try exporter.close()
        let counters = sensor.counters()
        let stats = reader.stats
        logger.info(
            "vigil stopped",
            metadata: [
                "events_exported": "\(exporter.eventsExported)", "records": "\(stats.records)",
                "kernel_drops": "\(counters.totalDrops)", "queue_drops": "\(stats.queueDrops)",
                "decode_errors": "\(stats.decodeErrors)", "export_errors": "\(exporter.exportErrors)",
                "export_lines_dropped": "\(exporter.file?.droppedLines ?? 0)",
                "policy_matched": "\(counters.policyMatched)", "policy_filtered": "\(counters.policyFiltered)",
                "policy_signals": "\(counters.policySignals)", "policy_rate_limited": "\(counters.policyRateLimited)",
                "policy_out_of_scope": "\(counters.policyOutOfScope)", "policy_fenced": "\(counters.policyFenced)",
            ])
    }

    private func makePolicyEngine(
        sensor: ProcessSensor, hostNamespaces: HostNamespaces, cgroupRoot: String?, fileDenials: FileDenials,
        scopes: PodScopes?, pinDirectory: String?
    ) throws -> PolicyEngine {
        let tracefsRoot = try TracefsMount.ensure()
        let environment = CompileEnvironment.live(
            tracefsRoot: tracefsRoot, kprobesAvailable: TracefsMount.kprobesAvailable,
            hostNamespaces: hostNamespaces,
            connectSignalsAvailable: sensor.connectResultsAvailable, podScopesAvailable: configuration.kubernetes != nil,
            bpfLSM: sensor.bpfLSMAvailable, kprobeProgramsLoaded: sensor.kprobesAvailable,
            trampolineRefusal: configuration.disableTrampolines ? "disabled by --disable-trampolines" : sensor.trampolineRefusal,
            kernelFunctionHasBTF: { KernelBTF.hasFunction($0) })
        return PolicyEngine(
            sensor: sensor, environment: environment, cgroupRoot: cgroupRoot, logger: logger, pinDirectory: pinDirectory,
            scopes: scopes,
            fileRulesChanged: { rules in fileDenials.apply(rules) })
    }

    /// The line plus the fields event streams filter on, without parsing the JSON again.
    static func eventLine(_ line: [UInt8], _ event: ExportEvent) -> EventLine {
        var outcome: PolicyOutcome?
        switch event.kind {
        case .tracepoint(_, _, _, let o), .kprobe(_, _, let o), .lsm(_, _, let o): outcome = o
        case .exec, .exit: outcome = nil
        }
        return EventLine(
            bytes: line, type: event.kind.jsonKey, binary: String(decoding: event.process.binary, as: UTF8.self),
            policyName: outcome?.policyName, action: outcome?.action)
    }

    static func counters(sensor: ProcessSensor.Counters, reader: RingBufferReader.Stats, cacheEntries: Int) -> [String: UInt64] {
        [
            "exec_seen": sensor.execSeen, "clone_seen": sensor.cloneSeen, "exit_seen": sensor.exitSeen,
            "kernel_drops": sensor.totalDrops, "records": reader.records, "queue_drops": reader.queueDrops,
            "decode_errors": reader.decodeErrors, "policy_matched": sensor.policyMatched,
            "policy_filtered": sensor.policyFiltered, "policy_signals": sensor.policySignals,
            "policy_rate_limited": sensor.policyRateLimited, "process_cache_entries": UInt64(cacheEntries),
            "policy_out_of_scope": sensor.policyOutOfScope, "policy_fenced": sensor.policyFenced,
        ]
    }

    private func cacheConfig(resolver: CgroupPathResolver?, hostNamespaces: HostNamespaces) -> ProcessCacheConfig {
        var dockerID: (@Sendable (UInt64) -> String?)?
        if let resolver {
            dockerID = { id in resolver.containerID(for: id) }
        }
        return ProcessCacheConfig(
            nodeName: configuration.nodeName, enableAncestors: configuration.enableAncestors,
            exportNamespaces: configuration.exportNamespaces, exportCredentials: configuration.exportCredentials,
            hostNamespaces: hostNamespaces.knownOrZero,
            capacity: configuration.processCacheSize,
            dockerID: dockerID)
    }

    static func makeExporter(_ export: AgentConfiguration.Export, logger: Logger) throws -> Exporter {
        let file = try export.filename.map {
            try ExportFileWriter(
                path: $0, maxSizeMB: export.maxSizeMB, maxBackups: export.maxBackups, compress: export.compress,
                permissions: export.permissions, logger: logger)
        }
        return Exporter(
            stdout: export.stdout ? .standardOutput() : nil, file: file,
            encoder: JSONLineEncoder(vigilFields: export.vigilFields))
    }

    private func export(_ event: ExportEvent, to exporter: Exporter) {
        do { try exporter.export(event) } catch { exportHealth.failed(error) }
    }

    /// Exports `event` now, or once its pod is known (bounded wait) when Kubernetes is on.
    private func emit(_ event: ExportEvent, _ kubernetes: KubernetesMetadata?, to exporter: Exporter) {
        guard let kubernetes else { return export(event, to: exporter) }
        for ready in kubernetes.submit(event) { export(ready, to: exporter) }
    }

    private func flush(_ exporter: Exporter) {
        do { try exporter.flush() } catch { exportHealth.failed(error) }
    }
}

/// Counters one task writes and others read (the Kubernetes counters, for status).
final class SharedCounters: Sendable {
    private let storage = Mutex<[String: UInt64]>([:])
    var value: [String: UInt64] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// A number one task writes and others read (the process cache size, for status and metrics).
final class SharedCount: Sendable {
    private let storage = Atomic<Int>(0)
    var value: Int {
        get { storage.load(ordering: .relaxed) }
        set { storage.store(newValue, ordering: .relaxed) }
    }
}
