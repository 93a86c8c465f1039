// SPDX-License-Identifier: Apache-2.0
import ControlAPI
import CoreMetrics
import Exporter
import Logging

/// Reports export trouble without flooding: the export file's error and drop counters become
/// metrics, and log lines at most every `interval` (one when writes start failing, then a
/// reminder with what was lost, one when they succeed again). The pipeline keeps running and
/// enforcement is untouched: a failing sink only costs lines, and those are counted.
/// Unchecked Sendable: the agent calls it from the one thread that owns the exporter at a time
/// (the pipeline's task, then the export thread).
final class ExportHealth: @unchecked Sendable {
    private let logger: Logger
    private let interval: Duration
    private var lastLog: ContinuousClock.Instant?
    private var failing = false
    private var loggedDrops: UInt64 = 0
    /// Sink errors that are not the file's (standard output).
    private var otherErrors: UInt64 = 0
    private var lastOtherError: String?
    /// Readiness: false while the file fails, or for a while after a stdout write failed.
    private let health: HealthState?
    /// The export file's totals last published, for counter increments.
    private var published = (bytes: UInt64(0), rotations: UInt64(0))

    init(logger: Logger, interval: Duration = .seconds(10), health: HealthState? = nil) {
        self.logger = logger
        self.interval = interval
        self.health = health
    }

    /// A failed export or flush call (already counted by the exporter).
    func failed(_ error: any Error) {
        if error is ExportFileError { return }  // the file's state is read in `check`
        otherErrors += 1
        lastOtherError = "\(error)"
        health?.exportFailed("\(error)")
        if due() {
            logger.error("export failed", metadata: ["error": "\(error)", "errors_total": "\(otherErrors)"])
        }
    }

    /// Called after each flush: reads the file's counters into metrics and logs changes.
    func check(_ file: ExportFileWriter?, metrics: VigilMetrics) {
        guard let file else { return }
        health?.exportFile(error: file.currentError.map { "\($0)" })
        // The writer's running totals, as Prometheus counter increments.
        metrics.exportBytes.increment(by: Int64(file.bytesWritten - min(published.bytes, file.bytesWritten)))
        metrics.exportRotations.increment(by: Int64(file.rotations - min(published.rotations, file.rotations)))
        published = (file.bytesWritten, file.rotations)
        metrics.advanceExportErrors(toTotal: file.writeErrors)
        metrics.advanceMissedEvents(.export, toTotal: file.droppedLines)
        if let error = file.currentError {
            let first = !failing
            failing = true
            if first || due() {
                lastLog = .now
                logger.error(
                    "export file not writable; lines are kept and retried",
                    metadata: [
                        "error": "\(error)", "write_errors": "\(file.writeErrors)",
                        "lines_dropped": "\(file.droppedLines)", "bytes_waiting": "\(file.currentSize)",
                    ])
            }
        } else if failing {
            failing = false
            lastLog = .now
            logger.warning(
                "export file writable again",
                metadata: [
                    "write_errors": "\(file.writeErrors)",
                    "lines_dropped_while_failing": "\(file.droppedLines - loggedDrops)",
                ])
            loggedDrops = file.droppedLines
        }
    }

    private func due() -> Bool {
        let now = ContinuousClock.now
        if let lastLog, now - lastLog < interval { return false }
        lastLog = now
        return true
    }
}
