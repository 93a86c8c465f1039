// SPDX-License-Identifier: Apache-2.0
import BPFKit
import Glibc
import PolicyCompiler
import TracingPolicy
import Cgroups
import Events
import Exporter
import Logging
import ProcessCache
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

    package init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    package func run() async throws {
        // Output first: a bad export path fails before anything is loaded into the kernel.
        let exporter = try Self.makeExporter(configuration.export, logger: logger)
        try KernelRequirements.check(procRoot: configuration.procRoot)

        let sensor = try ProcessSensor(options: configuration.sensor, logger: logger)
        defer { sensor.close() }
        let reader = RingBufferReader(
            ringBufferFD: sensor.eventsFD, configuration: configuration.reader, logger: logger)
        let batches = try reader.start()
        logger.info(
            "process sensor attached",
            metadata: [
                "attach_mode": "\(sensor.attachMode.rawValue)", "node_name": "\(configuration.nodeName)",
                "export": "\(configuration.export.filename ?? "stdout")",
            ])

        let cgroup2Root = configuration.cgroup2Root ?? CgroupMounts.cgroup2Mount()
        var cache = ProcessCache(config: cacheConfig(cgroup2Root: cgroup2Root), clock: KtimeClock.current())
        // Attached before the scan: a process starting in between is seen at least once.
        var existing = (try? ProcFS.scan(procRoot: configuration.procRoot)) ?? []
        if let cgroup2Root {
            for i in existing.indices {
                existing[i].cgroupID =
                    ProcessCgroup.id(pid: existing[i].pid, procRoot: configuration.procRoot, cgroup2Root: cgroup2Root) ?? 0
            }
        }
        for event in cache.seed(existing) { export(event, to: exporter) }
        flush(exporter)
        logger.info("procfs scan done", metadata: ["processes": "\(existing.count)"])

        let engine = try makePolicyEngine(sensor: sensor, cgroupRoot: cgroup2Root)
        defer { engine.removeAll() }
        loadPolicies(into: engine)
        let clock = KtimeClock.current()
        let nodeName = configuration.nodeName

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // SIGHUP re-reads the policy files and directory.
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        logger.info("SIGHUP: reloading policies")
                        loadPolicies(into: engine)
                    }
                }
                // The stream ends after reader.stop(): the reader drains the ring once more
                // first, so every record the kernel wrote before shutdown is exported.
                for await batch in batches {
                    for record in batch {
                        if case .generic(let generic) = record {
                            guard let slot = engine.slot(generic.hookSlot) else { continue }
                            export(
                                PolicyEvents.event(for: generic, slot: slot, cache: cache, nodeName: nodeName, clock: clock),
                                to: exporter)
                        } else if let event = cache.handle(record) {
                            export(event, to: exporter)
                        }
                    }
                    flush(exporter)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            reader.stop()
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
                "policy_matched": "\(counters.policyMatched)", "policy_filtered": "\(counters.policyFiltered)",
                "policy_signals": "\(counters.policySignals)", "policy_rate_limited": "\(counters.policyRateLimited)",
            ])
    }

    private func makePolicyEngine(sensor: ProcessSensor, cgroupRoot: String?) throws -> PolicyEngine {
        let tracefsRoot = try TracefsMount.ensure()
        let environment = CompileEnvironment.live(
            tracefsRoot: tracefsRoot, kprobesAvailable: TracefsMount.kprobesAvailable,
            hostNamespaces: ProcFS.hostNamespaces(procRoot: configuration.procRoot))
        return PolicyEngine(sensor: sensor, environment: environment, cgroupRoot: cgroupRoot, logger: logger)
    }

    /// Parses every policy source and installs each valid policy; each mistake is logged with
    /// file:line:column. Policies loaded before that are no longer in the sources are removed.
    private func loadPolicies(into engine: PolicyEngine) {
        let sources = configuration.policies
        if let directory = sources.directory, access(directory, F_OK) != 0 {
            logger.info("policy directory \(directory) does not exist; no policies from it")
        }
        let parsed = sources.parse()
        for warning in parsed.warnings { logger.warning("policy: \(warning)") }
        for error in parsed.errors { logger.error("policy refused: \(error)") }
        var wanted: Set<String> = []
        for document in parsed.documents {
            wanted.insert(PolicyEngine.key(name: document.name, namespace: document.namespace))
            do {
                let loaded = try engine.install(document, source: document.source.file)
                logger.info(
                    "policy loaded",
                    metadata: [
                        "policy": "\(loaded.name)", "mode": "\(loaded.mode.rawValue)",
                        "hooks": "\(loaded.hooks.joined(separator: ","))", "source": "\(loaded.source)",
                    ])
            } catch let failure as PolicyCompileFailure {
                for error in failure.errors { logger.error("policy refused: \(error)") }
            } catch {
                logger.error("policy refused: \(document.source): \(error)")
            }
        }
        for loaded in engine.loaded where !wanted.contains(PolicyEngine.key(name: loaded.name, namespace: loaded.namespace)) {
            engine.remove(name: loaded.name, namespace: loaded.namespace)
            logger.info("policy removed", metadata: ["policy": "\(loaded.name)"])
        }
    }

    private func cacheConfig(cgroup2Root: String?) -> ProcessCacheConfig {
        var dockerID: (@Sendable (UInt64) -> String?)?
        if let root = cgroup2Root {
            let resolver = CgroupPathResolver(root: root)
            dockerID = { id in resolver.containerID(for: id) }
        }
        return ProcessCacheConfig(
            nodeName: configuration.nodeName, enableAncestors: configuration.enableAncestors,
            exportNamespaces: configuration.exportNamespaces, exportCredentials: configuration.exportCredentials,
            hostNamespaces: ProcFS.hostNamespaces(procRoot: configuration.procRoot),
            capacity: configuration.processCacheSize,
            dockerID: dockerID)
    }

    static func makeExporter(_ export: AgentConfiguration.Export, logger: Logger) throws -> Exporter {
        let file = try export.filename.map {
            try ExportFileWriter(
                path: $0, maxSizeMB: export.maxSizeMB, maxBackups: export.maxBackups, compress: export.compress,
                permissions: export.permissions, logger: logger)
        }
        return Exporter(stdout: export.stdout ? .standardOutput() : nil, file: file)
    }

    private func export(_ event: ExportEvent, to exporter: Exporter) {
        do { try exporter.export(event) } catch { logger.error("export failed: \(error)") }
    }

    private func flush(_ exporter: Exporter) {
        do { try exporter.flush() } catch { logger.error("export flush failed: \(error)") }
    }
}
