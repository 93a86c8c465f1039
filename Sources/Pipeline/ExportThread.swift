// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import Foundation

/// Encoding and the export sinks on a thread of their own, fed by the pipeline's task in
/// batches: the pipeline's task decodes, keeps the process cache and builds events; this thread
/// encodes them as JSON lines and writes them. Two stages instead of one, so that on a machine
/// with a core to spare the agent keeps up with a faster event rate than one core encodes.
///
/// Order: batches are encoded in the order they were handed over, each batch's events in
/// order, by this one thread, so the export's order (hence each process's) is the one the
/// pipeline built.
///
/// Bounded: at most ``capacity`` events wait here (a batch larger than that alone is taken
/// whole). When the thread is behind, ``submit(_:)`` waits for room instead of dropping, so the
/// pipeline's task slows down, the ring-buffer reader's queue fills up and the one place where
/// user space drops records stays the reader's (`queue_drops`, counted and logged). The wait
/// blocks the pipeline's task the way a slow `write(2)` of the export file blocked it before.
///
/// Owns the ``Exporter`` from its start until ``finish()`` returns: nothing else may touch the
/// exporter meanwhile (``afterFlush`` runs on this thread and may read it).
package final class ExportThread: @unchecked Sendable {
    // @unchecked: `queue`, `queuedEvents`, `finishing`, `finished` and `waits` are guarded by
    // `condition`; `exporter` and the closures are used by the thread alone until `finish()`
    // has joined it.
    package let exporter: Exporter
    /// Events that may wait for the thread before ``submit(_:)`` waits.
    package let capacity: Int
    private let exportFailed: (any Error) -> Void
    private let afterFlush: (Exporter) -> Void
    private let condition = NSCondition()
    private var queue: [[ExportEvent]] = []
    private var queuedEvents = 0
    private var finishing = false
    private var finished = false
    private var waits: UInt64 = 0

    /// Starts the thread. `exportFailed` gets each export or flush error (the event is counted
    /// by the exporter and lost); `afterFlush` runs after each flush, on the thread.
    package init(
        exporter: Exporter, capacity: Int = 16384, exportFailed: @escaping (any Error) -> Void = { _ in },
        afterFlush: @escaping (Exporter) -> Void = { _ in }
    ) {
        self.exporter = exporter
        self.capacity = max(1, capacity)
        self.exportFailed = exportFailed
        self.afterFlush = afterFlush
        let thread = Thread { [self] in run() }
        thread.name = "vigil-export"
        thread.start()
    }

    /// Times ``submit(_:)`` waited for room: the thread was behind the pipeline.
    package var submitWaits: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return waits
    }

    /// Hands `batch` to the thread, to be encoded and written after every batch before it, then
    /// flushed; waits while the thread holds ``capacity`` events already. An empty batch asks
    /// for a flush only: the file writer retries failed writes and notices a replaced file when
    /// it flushes, which a quiet ring must not hold up.
    package func submit(_ batch: [ExportEvent]) {
        condition.lock()
        precondition(!finishing, "ExportThread.submit after finish")
        if batch.isEmpty && !queue.isEmpty {
            // A flush follows what is queued anyway.
            condition.unlock()
            return
        }
        if queuedEvents > 0 && queuedEvents + batch.count > capacity {
            waits += 1
            repeat { condition.wait() } while queuedEvents > 0 && queuedEvents + batch.count > capacity
        }
        queue.append(batch)
        queuedEvents += batch.count
        condition.broadcast()
        condition.unlock()
    }

    /// Lets the thread encode and write everything handed over, flush, and stop; returns once
    /// it has. The exporter is the caller's again (to close it). Idempotent.
    package func finish() {
        condition.lock()
        finishing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var taken: [[ExportEvent]] = []
        while true {
            condition.lock()
            while queue.isEmpty && !finishing { condition.wait() }
            if queue.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            swap(&taken, &queue)
            condition.unlock()
            var count = 0
            for batch in taken {
                for event in batch {
                    do { try exporter.export(event) } catch { exportFailed(error) }
                }
                count += batch.count
            }
            taken.removeAll(keepingCapacity: true)
            // One flush for everything taken: as many batches as came while the last were
            // written, so a busy thread writes in larger pieces.
            do { try exporter.flush() } catch { exportFailed(error) }
            afterFlush(exporter)
            condition.lock()
            queuedEvents -= count
            condition.broadcast()
            condition.unlock()
        }
    }
}
