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
import DNSNames
import Events
import FileGuard
import ExportFilters
import Exporter
import Logging
import Pipeline
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

/// exec/fork/exit and policy records -> ``Pipeline`` -> JSON lines, with the sensor, the
/// policies and the servers around it.
package struct ProcessMonitorService: Service {
    let configuration: AgentConfiguration
    let logger: Logger
    /// Export errors become rate-limited log lines and metrics (used by the pipeline task only).
    private let exportHealth: ExportHealth
    /// What `--health-server-address` answers; the pipeline, the sensor and the policy loads report to it.
    private let health: HealthState

    package init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.health = HealthState(drainTimeout: configuration.healthDrainTimeout)
        self.exportHealth = ExportHealth(logger: logger, health: health)
    }

    package func run() async throws {
        // Output first: a bad export path fails before anything is loaded into the kernel.
        let exporter = try Self.makeExporter(
            configuration.export, nodeName: configuration.nodeName, ancestors: configuration.enableAncestors,
            logger: logger)
        // Up before the long start-up (sensor, /proc scan, policies): probes answer "starting"
        // meanwhile instead of connection refused.
        let healthServer = try configuration.healthAddress.map { address in
            try HealthServer(address: address, health: health, logger: logger)
        }
        let healthTask = healthServer.map { server in
            Task { [logger] in
                do { try await server.run() } catch { logger.error("health server stopped: \(error)") }
            }
        }
        defer { healthTask?.cancel() }
        try KernelRequirements.check(procRoot: configuration.procRoot)

        // The fence before the sensor: its cgroup id is frozen into the programs at load.
        let fence = try resolveFence()
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
        if configuration.sensor.flows {
            // The accept exits are syscall tracepoints, attached through tracefs.
            _ = try TracefsMount.ensure()
            try sensor.attachFlows()
            logger.info("TCP flows attached", metadata: ["flow_map_entries": "\(configuration.sensor.flowMapEntries)"])
        }
        health.sensorAttached(sensor.attachMode.rawValue)
        if let reason = sensor.policyProgramsUnavailableReason { logger.warning("\(reason)") }
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
        let pipeline = Pipeline(
            cache: ProcessCache(
                config: cacheConfig(resolver: cgroupResolver, hostNamespaces: hostNamespaces), clock: KtimeClock.current()),
            exporter: exporter, nodeName: configuration.nodeName, clock: KtimeClock.current(),
            hold: kubernetes.map { kubernetes in { kubernetes.submit($0) } },
            exportFailed: { [exportHealth] in exportHealth.failed($0) })
        if configuration.sensor.dnsNames {
            // On the cgroup2 root: every socket of the node has its answers learnt, per cgroup.
            guard let cgroup2Root else {
                throw BPFError(
                    code: .missingKernelFeature, errno: ENOENT, operation: "--enable-dns-names",
                    message: "no cgroup2 mount: the DNS answer program attaches to the cgroup2 root")
            }
            pipeline.dnsNames = DNSNameCache(capacity: configuration.dnsCacheEntries)
            try sensor.attachDNS(cgroup2Root: cgroup2Root)
            logger.info(
                "DNS answers attached", metadata: ["cgroup": "\(cgroup2Root)", "dns_cache_entries": "\(configuration.dnsCacheEntries)"])
        }
        // Attached before the scan: a process starting in between is seen at least once.
        let existing = scanProcFS(cgroup2Root: cgroup2Root)
        pipeline.seed(existing)
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
        // A clean exit says so to the kernel at once: fail-closed scopes need not wait out the
        // heartbeat's grace.
        defer { scopes?.stop() }
        let fileDenials = FileDenials(logger: logger, scopes: scopes, enforcementFence: fileFence(fence))
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
        observeLines(
            of: exporter, broadcaster: broadcaster, counters: EventTypeCounters(metrics: metrics),
            network: NetworkVerdictCounters(metrics: metrics))
        let shared = SharedState()
        let controller = AgentController(
            engine: engine, sources: configuration.policies, persistDirectory: configuration.persistPolicies,
            broadcaster: broadcaster,
            context: controllerContext(sensor: sensor, reader: reader, fence: fence, shared: shared, health: health),
            logger: logger)
        pipeline.policies = Self.policies(engine: engine, controller: controller, metrics: metrics)
        await startPolicies(controller: controller, pins: pins, kubernetes: kubernetes)
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

        // The export file's health and totals, after each flush, on the thread that flushes.
        pipeline.afterFlush = { [exportHealth] exporter in
            exportHealth.check(exporter.file, metrics: metrics)
            metrics.advanceExportFilters(filteredTotal: exporter.eventsFiltered, rateLimitedTotal: exporter.eventsRateLimited)
        }
        // Encoding and the export file stay on this task: on their own thread
        // (`pipeline.startExportThread()`) they cost ~18% more CPU per event in the replay
        // (events built on one core, encoded and freed on the other) and gave no more events
        // per second on the shared 2-core machine, where a storm holds the other core
        // (bench/analysis.md, "Policy events: fixed keys rendered once per hook").

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                addServiceTasks(
                    to: &group, controller: controller, server: server, metricsServer: metricsServer, scopes: scopes)
                group.addTask {
                    await Self.publishCounters(
                        sensor: sensor, reader: reader, metrics: metrics, broadcaster: broadcaster, controller: controller,
                        shared: shared)
                }
                await consume(
                    batches, pipeline: pipeline, fileDenials: fileDenials, kubernetes: kubernetes, shared: shared)
                broadcaster.finish()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            reader.stop()
        }
        if let kubernetes {
            for event in kubernetes.drain() { pipeline.export(event) }
            await kubernetes.stop()
        }
        // Every event built is written before the file is closed.
        pipeline.finish()
        try exporter.close()
        logStopped(exporter: exporter, sensor: sensor.counters(), reader: reader.stats)
    }

    /// SIGHUP reloads, the control API, the pod scopes and the metrics server, each a task of
    /// its own until the group is cancelled.
    private func addServiceTasks(
        to group: inout TaskGroup<Void>, controller: AgentController, server: ControlServer?,
        metricsServer: MetricsServer?, scopes: PodScopes?
    ) {
        let logger = logger
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
    }

    /// The hot loop: each ring-buffer batch and the fanotify decisions that came meanwhile go
    /// through the pipeline; the export's health and totals reach the metrics after each flush
    /// (``Pipeline/afterFlush``), on the export thread when there is one.
    ///
    /// The stream ends after reader.stop(): the reader drains the ring once more first, so every
    /// record the kernel wrote before shutdown is exported. The reader sends an empty batch every
    /// ~100 ms when the ring is quiet, so this loop wakes often enough to release events waiting
    /// for their pod without a timer stream of its own (which would also bypass the reader's
    /// bounded queue).
    private func consume(
        _ batches: RingBufferReader.Batches, pipeline: Pipeline, fileDenials: FileDenials,
        kubernetes: KubernetesMetadata?, shared: SharedState
    ) async {
        var lastPodTick = ContinuousClock.now
        for await batch in batches {
            health.drained()
            if let kubernetes, ContinuousClock.now - lastPodTick >= .milliseconds(200) {
                // Events waiting for their pod: release those whose pod came or whose time is up.
                lastPodTick = .now
                for event in kubernetes.tick() { pipeline.export(event) }
                shared.kubernetesCounters.value = kubernetes.counters
                pipeline.flush()
            }
            pipeline.process(batch, fileDecisions: fileDenials.drain())
            shared.cacheSize.value = pipeline.cache.count
            if let names = pipeline.dnsNames { shared.dnsNames.value = names.counters }
        }
    }

    /// What the pipeline asks of the loaded policies, and where their action counts go.
    private static func policies(engine: PolicyEngine, controller: AgentController, metrics: VigilMetrics) -> Pipeline.Policies {
        Pipeline.Policies(
            hookSlot: { slot in engine.slot(slot) },
            fileRule: { id in engine.fileRule(id).map { PolicyFileRule(policyName: $0.policyName, rule: $0.rule) } },
            reportActions: { policy, action, count in
                metrics.policyActions(policy: policy, action: action.rawValue).increment(by: Int64(count))
                controller.record(policy: policy, action: action.rawValue, count: UInt64(count))
            })
    }

    /// `--enforcement-cgroup`, resolved and logged.
    private func resolveFence() throws -> EnforcementFence? {
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
        return fence
    }

    /// Whether a fanotify deny may reach a pid (the fence's cgroup or below); nil: every process.
    private func fileFence(_ fence: EnforcementFence?) -> (@Sendable (Int32) -> Bool)? {
        guard let fence else { return nil }
        let procRoot = configuration.procRoot
        return { pid in fence.contains(pid: pid, procRoot: procRoot) }
    }

    /// The processes running now, with their cgroup ids when cgroup2 is mounted.
    private func scanProcFS(cgroup2Root: String?) -> [ProcFSProcess] {
        var existing = (try? ProcFS.scan(procRoot: configuration.procRoot)) ?? []
        if let cgroup2Root {
            for i in existing.indices {
                existing[i].cgroupID =
                    ProcessCgroup.id(pid: existing[i].pid, procRoot: configuration.procRoot, cgroup2Root: cgroup2Root) ?? 0
            }
        }
        return existing
    }

    /// Every exported line counts toward `vigil_events_total` and goes to the control API's
    /// event streams while someone watches.
    private func observeLines(
        of exporter: Exporter, broadcaster: EventBroadcaster, counters: EventTypeCounters, network: NetworkVerdictCounters
    ) {
        // The control API's stream always carries Vigil's own fields (tracectl shows monitor mode
        // and the fence from them): a strict export's policy events are encoded once more for
        // it, only while someone watches.
        let streamEncoder = exporter.encoder.vigilFields ? nil : JSONLineEncoder(vigilFields: true)
        // Events the export filters or its rate limit keep out still reach the stream (its own
        // filters apply), as Tetragon's export filters leave its gRPC streams alone.
        let fullEncoder = streamEncoder ?? exporter.encoder
        exporter.unexportedObserver = { event in
            guard broadcaster.subscriberCount > 0 else { return }
            broadcaster.publish(Self.eventLine(fullEncoder.encode(event), event), event: event)
        }
        exporter.lineObserver = { observed, line in
            counters.increment(observed.tag)
            if let verdict = observed.networkVerdict { network.increment(verdict) }
            guard broadcaster.subscriberCount > 0 else { return }
            // A policy record's event is rendered here, only while someone watches.
            let event = observed.event
            switch (streamEncoder, event.kind) {
            case (let encoder?, .tracepoint), (let encoder?, .kprobe), (let encoder?, .lsm), (let encoder?, .uprobe):
                broadcaster.publish(Self.eventLine(encoder.encode(event), event), event: event)
            default:
                broadcaster.publish(Self.eventLine(Array(line), event), event: event)
            }
        }
    }

    /// What status and the control API read of the running agent.
    private func controllerContext(
        sensor: ProcessSensor, reader: RingBufferReader, fence: EnforcementFence?, shared: SharedState,
        health: HealthState
    ) -> AgentController.Context {
        AgentController.Context(
            nodeName: configuration.nodeName, attachMode: sensor.attachMode.rawValue, started: Date(),
            counters: { [reader, shared] in
                Self.counters(sensor: sensor.counters(), reader: reader.stats, cacheEntries: shared.cacheSize.value)
                    .merging(shared.kubernetesCounters.value) { a, _ in a }
                    .merging(shared.dnsNames.value) { a, _ in a }
            },
            enforcementFence: fence.map {
                EnforcementFenceInfo(directory: $0.directory, path: $0.hierarchyPath, cgroupID: $0.cgroupID)
            },
            filesReloaded: { policies, problems in health.policiesLoaded(count: policies, problems: problems) },
            streamFilterContext: ExportFilterContext(
                ancestorsOnBase: configuration.enableAncestors, pidSetEnabled: configuration.export.pidSetFilter))
    }

    /// Logs the mechanisms, loads the configured policies, then lets go of what a previous run
    /// left pinned and starts following cluster policies.
    private func startPolicies(controller: AgentController, pins: PinnedSensors, kubernetes: KubernetesMetadata?) async {
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
        // This node's labels (nodeSelector) arrive from the watch; policies gated on them wait.
        kubernetes?.watchNode(controller: controller)
        controller.reloadFiles(includePersisted: true)
        // Our policies are in place: what a previous run left pinned can go now.
        pins.releasePrevious(logger: logger)
        kubernetes?.watchPolicies(controller: controller)
    }

    /// Counters that live in the kernel or other threads reach Prometheus here, every second.
    private static func publishCounters(
        sensor: ProcessSensor, reader: RingBufferReader, metrics: VigilMetrics, broadcaster: EventBroadcaster,
        controller: AgentController, shared: SharedState
    ) async {
        while !Task.isCancelled {
            let sensorCounters = sensor.counters()
            metrics.advancePolicyFilteredEvents(toTotal: sensorCounters.policyFiltered)
            metrics.advancePolicyOutOfScopeEvents(toTotal: sensorCounters.policyOutOfScope)
            metrics.advancePolicyFencedActions(toTotal: sensorCounters.policyFenced)
            metrics.advanceFlows(result: "exported", toTotal: sensorCounters.flowsClosed &- sensorCounters.flowDrops)
            metrics.advanceFlows(result: "dropped", toTotal: sensorCounters.flowDrops)
            metrics.advanceFlows(result: "untracked", toTotal: sensorCounters.flowsUntracked)
            metrics.advanceFlows(result: "unowned", toTotal: sensorCounters.flowsUnowned)
            let dns = shared.dnsNames.value
            for (key, total) in dns where key.hasPrefix("dns_answers_") {
                metrics.advanceDNSAnswers(result: String(key.dropFirst("dns_answers_".count)), toTotal: total)
            }
            if let evicted = dns["dns_cache_evictions"] { metrics.advanceDNSCacheEvictions(toTotal: evicted) }
            metrics.advanceDNSAnswers(result: "dropped", toTotal: sensorCounters.dnsDrops)
            metrics.advanceMissedEvents(.kernelReserve, toTotal: sensorCounters.totalDrops)
            metrics.advanceMissedEvents(.userQueue, toTotal: reader.stats.queueDrops)
            metrics.processCacheSize.record(shared.cacheSize.value)
            metrics.eventSubscribers.record(broadcaster.subscriberCount)
            metrics.setPolicies(await controller.listPolicies())
            let pods = shared.kubernetesCounters.value
            for (key, result) in [("pod_enriched", "enriched"), ("pod_missing", "missing"), ("pod_wait_overflow", "overflow")] {
                if let total = pods[key] { metrics.advancePodMetadataEvents(result: result, toTotal: total) }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func logStopped(exporter: Exporter, sensor counters: ProcessSensor.Counters, reader stats: RingBufferReader.Stats) {
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
                "flows_closed": "\(counters.flowsClosed)", "flow_drops": "\(counters.flowDrops)",
                "flows_untracked": "\(counters.flowsUntracked)", "flows_unowned": "\(counters.flowsUnowned)",
                "dns_answers": "\(counters.dnsAnswers)", "dns_drops": "\(counters.dnsDrops)",
                "fqdn_learnt": "\(counters.fqdnLearnt)",
            ])
    }

    private func makePolicyEngine(
        sensor: ProcessSensor, hostNamespaces: HostNamespaces, cgroupRoot: String?, fileDenials: FileDenials,
        scopes: PodScopes?, pinDirectory: String?
    ) throws -> PolicyEngine {
        let tracefsRoot = try TracefsMount.ensure()
        var environment = CompileEnvironment.live(
            tracefsRoot: tracefsRoot, kprobesAvailable: TracefsMount.kprobesAvailable,
            hostNamespaces: hostNamespaces,
            connectSignalsAvailable: sensor.connectResultsAvailable,
            syscallExitArgumentsAvailable: sensor.syscallDispatchAvailable, podScopesAvailable: configuration.kubernetes != nil,
            bpfLSM: sensor.bpfLSMAvailable, kprobeProgramsLoaded: sensor.kprobesAvailable,
            trampolineRefusal: configuration.disableTrampolines ? "disabled by --disable-trampolines" : sensor.trampolineRefusal,
            kernelFunctionHasBTF: { KernelBTF.hasFunction($0) },
            uprobeRefusal: CompileEnvironment.uprobePMURefusal()
                ?? (sensor.uprobesAvailable ? nil : "the agent's uprobe programs did not load here (see the agent log)"))
        environment.rawTracepointArguments = { RawTracepointLookup(btfArguments: KernelBTF.rawTracepointArguments($0)) }
        // The DNS answer program is attached before the engine starts (or the agent stopped).
        if configuration.sensor.dnsNames { environment.dnsNamesRefusal = nil }
        environment.overlayUpperLayerRefusal = { KernelBTF.overlayUpperLayerRefusal() }
        return PolicyEngine(
            sensor: sensor, environment: environment, cgroupRoot: cgroupRoot, logger: logger, pinDirectory: pinDirectory,
            whileAgentDown: configuration.whileAgentDown, scopes: scopes,
            fileRulesChanged: { rules in fileDenials.apply(rules) })
    }

    /// The line plus the fields event streams filter on, without parsing the JSON again.
    package static func eventLine(_ line: [UInt8], _ event: ExportEvent) -> EventLine {
        var outcome: PolicyOutcome?
        switch event.kind {
        case .tracepoint(_, _, _, let o), .kprobe(_, _, let o), .lsm(_, _, let o), .uprobe(_, _, _, _, let o): outcome = o
        case .exec, .exit: outcome = nil
        }
        // The pod too: `tracectl events --namespace` and `--pod` filter on it.
        let pod = event.process.pod
        return EventLine(
            bytes: line, type: event.kind.jsonKey, binary: String(decoding: event.process.binary, as: UTF8.self),
            namespace: pod?.namespace, pod: pod?.name, policyName: outcome?.policyName, action: outcome?.action.rawValue)
    }

    static func counters(sensor: ProcessSensor.Counters, reader: RingBufferReader.Stats, cacheEntries: Int) -> [String: UInt64] {
        [
            "exec_seen": sensor.execSeen, "clone_seen": sensor.cloneSeen, "exit_seen": sensor.exitSeen,
            "kernel_drops": sensor.totalDrops, "records": reader.records, "queue_drops": reader.queueDrops,
            "decode_errors": reader.decodeErrors, "policy_matched": sensor.policyMatched,
            "policy_filtered": sensor.policyFiltered, "policy_signals": sensor.policySignals,
            "policy_rate_limited": sensor.policyRateLimited, "process_cache_entries": UInt64(cacheEntries),
            "policy_out_of_scope": sensor.policyOutOfScope, "policy_fenced": sensor.policyFenced,
            "flows_closed": sensor.flowsClosed, "flow_drops": sensor.flowDrops, "flows_untracked": sensor.flowsUntracked,
            "flows_unowned": sensor.flowsUnowned, "dns_answers": sensor.dnsAnswers, "dns_drops": sensor.dnsDrops,
            "fqdn_learnt": sensor.fqdnLearnt,
        ]
    }

    private func cacheConfig(resolver: CgroupPathResolver?, hostNamespaces: HostNamespaces) -> ProcessCacheConfig {
        var dockerID: (@Sendable (UInt64) -> String?)?
        var dockerIDOfProcess: (@Sendable (UInt32) -> String?)?
        if let resolver {
            dockerID = { id in resolver.containerID(for: id) }
        } else {
            // No cgroup2 hierarchy (cgroup v1 only, e.g. Amazon Linux 2 nodes): every process's
            // cgroup2 id is the unused unified root's, so the container comes from its v1 paths.
            let procRoot = configuration.procRoot
            dockerIDOfProcess = { pid in
                HostFile.readText(atPath: "\(procRoot)/\(pid)/cgroup")
                    .flatMap(ContainerID.cgroupPath(procCgroup:)).flatMap { ContainerID.parse(cgroupPath: $0)?.id }
            }
            logger.warning(
                "no cgroup2 mount: container ids come from each process's cgroup v1 paths (/proc/PID/cgroup) when its record is handled; pod-scoped policies, --enforcement-cgroup and the cgroup connect hooks need cgroup2")
        }
        return ProcessCacheConfig(
            nodeName: configuration.nodeName, enableAncestors: configuration.enableAncestors,
            exportNamespaces: configuration.exportNamespaces, exportCredentials: configuration.exportCredentials,
            hostNamespaces: hostNamespaces.knownOrZero,
            capacity: configuration.processCacheSize,
            dockerID: dockerID, dockerIDOfProcess: dockerIDOfProcess, redactArguments: Self.redactor(configuration.export))
    }

    /// `--redaction-filters` as the process cache applies them; nil without any.
    static func redactor(_ export: AgentConfiguration.Export) -> (@Sendable ([UInt8], [[UInt8]]) -> [UInt8]?)? {
        // Checked at start-up (`vigil`'s validate): a failure here cannot happen, and refuses anyway.
        guard let filters = try? RedactionFilters(export.redactionFilters), !filters.isEmpty else { return nil }
        return { binary, arguments in filters.redact(binary: binary, arguments: arguments) }
    }

    /// The export's sinks, encoder and filters (`--export-allowlist`, `--export-denylist`,
    /// `--field-filters`, `--export-rate-limit`).
    ///
    /// - Throws: when the export file cannot be opened or a filter is refused (``FilterError``).
    static func makeExporter(
        _ export: AgentConfiguration.Export, nodeName: String, ancestors: Bool, logger: Logger
    ) throws -> Exporter {
        let filters = try ExportFilters(
            allowlist: export.allowlist, denylist: export.denylist,
            context: ExportFilterContext(ancestorsOnBase: ancestors, pidSetEnabled: export.pidSetFilter))
        let fieldFilters = try FieldFilters(export.fieldFilters)
        let file = try export.filename.map {
            try ExportFileWriter(
                path: $0, maxSizeMB: export.maxSizeMB, maxBackups: export.maxBackups, compress: export.compress,
                permissions: export.permissions, logger: logger)
        }
        if let interval = export.rotationInterval {
            let (seconds, attoseconds) = interval.components
            file?.rotationIntervalNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        }
        let exporter = Exporter(
            stdout: export.stdout ? .standardOutput() : nil, file: file,
            encoder: JSONLineEncoder(vigilFields: export.vigilFields))
        exporter.filters = filters
        exporter.fieldFilters = fieldFilters
        if export.rateLimit >= 0 {
            exporter.rateLimiter = ExportRateLimiter(eventsPerMinute: export.rateLimit, nodeName: nodeName)
        }
        return exporter
    }
}

/// What the pipeline task writes and status and metrics read from other tasks.
final class SharedState: Sendable {
    /// The Kubernetes enricher's counters.
    let kubernetesCounters = SharedCounters()
    /// The process cache's size.
    let cacheSize = SharedCount()
    /// The DNS name cache's counters (``DNSNameCache/counters``), when names are learnt.
    let dnsNames = SharedCounters()
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
