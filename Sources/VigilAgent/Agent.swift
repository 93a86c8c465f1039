// SPDX-License-Identifier: Apache-2.0
import BPFKit
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

        await withGracefulShutdownHandler {
            // The stream ends after reader.stop(): the reader drains the ring once more first,
            // so every record the kernel wrote before shutdown is exported.
            for await batch in batches {
                for record in batch {
                    if let event = cache.handle(record) { export(event, to: exporter) }
                }
                flush(exporter)
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
            ])
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
