// SPDX-License-Identifier: Apache-2.0
import CLibbpf
import Events
import Foundation
import Glibc
import Logging
import Synchronization

/// Reads the sensor's ring buffer on a dedicated thread and hands decoded records over in
/// batches through a bounded `AsyncStream`.
///
/// The one place where user space drops records: when the consumer (process cache, export)
/// falls behind, at most ``Configuration/maxQueuedRecords`` decoded records wait between this
/// thread and it; the records that do not fit are dropped here, counted in
/// ``Stats/queueDrops`` and logged (at most every ``Configuration/dropLogInterval``). Memory
/// therefore stays bounded however slow the export sink is, and the ring buffer itself keeps
/// draining (so the kernel side does not drop instead, silently to the consumer).
///
/// `ring_buffer__poll` blocks in `epoll_wait`, so it never runs on Swift's cooperative pool.
/// The BPF side wakes the reader only when a fill threshold is crossed; the thread also drains
/// every ``Configuration/drainInterval`` so that records never wait long.
///
/// `VIGIL_RECORD_RAW=FILE` in the environment also appends every raw record to FILE, as a
/// little-endian UInt32 length and the bytes, for the pipeline benchmark's fixtures
/// (`bench/pipeline`). Off by default; it costs one branch per record when off.
package final class RingBufferReader: Sendable {
    package struct Configuration: Sendable {
        /// Batches the stream buffers before the reader drops (and counts) records.
        package var queueBatches: Int = 4096
        /// Decoded records waiting for the consumer (`--event-queue-size`) before the reader
        /// drops (and counts) records; a batch counts until the consumer asks for the next one.
        package var maxQueuedRecords: Int = 65536
        /// Least time between two log lines about drops, in seconds.
        package var dropLogInterval: Double = 10
        /// How often the ring is drained without a wake-up, in milliseconds.
        package var drainIntervalMilliseconds: Int32 = 20
        package init() {}
    }

    /// Counts of what the reader saw and lost.
    package struct Stats: Sendable, Hashable {
        package var records: UInt64 = 0
        package var decodeErrors: UInt64 = 0
        /// Records lost because the consumer was too slow (user-space queue full).
        package var queueDrops: UInt64 = 0
    }

    package typealias Batch = [Record]

    private let state: Mutex<Stats> = Mutex(Stats())
    /// Records handed to the stream whose batch the consumer has not finished yet.
    private let queued = Atomic<Int>(0)
    private let stopFlag = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)
    private let fd: Int32
    private let configuration: Configuration
    private let logger: Logger

    package init(ringBufferFD: Int32, configuration: Configuration = .init(), logger: Logger) {
        self.fd = ringBufferFD
        self.configuration = configuration
        self.logger = logger
    }

    package var stats: Stats { state.withLock { $0 } }

    /// Records waiting for the consumer now (for tests and status).
    package var queuedRecords: Int { queued.load(ordering: .relaxed) }

    /// The batches, in order. A batch's records stop counting against
    /// ``Configuration/maxQueuedRecords`` when the consumer asks for the next batch.
    package struct Batches: AsyncSequence, Sendable {
        package typealias Element = Batch
        let stream: AsyncStream<Batch>
        let reader: RingBufferReader

        package struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncStream<Batch>.AsyncIterator
            let reader: RingBufferReader
            var outstanding = 0

            package mutating func next() async -> Batch? {
                if outstanding > 0 {
                    reader.queued.subtract(outstanding, ordering: .relaxed)
                    outstanding = 0
                }
                guard let batch = await base.next() else { return nil }
                outstanding = batch.count
                return batch
            }
        }

        package func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: stream.makeAsyncIterator(), reader: reader)
        }
    }

    /// Starts the poll thread and returns the stream of record batches. The stream finishes
    /// after ``stop()``, once the ring has been drained one last time. Call once.
    package func start() throws(BPFError) -> Batches {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Batch.self, bufferingPolicy: .bufferingOldest(configuration.queueBatches))
        let context = Context(reader: self, continuation: continuation)
        if let path = ProcessInfo.processInfo.environment["VIGIL_RECORD_RAW"], !path.isEmpty {
            context.raw = fopen(path, "w")
            if context.raw == nil { logger.error("VIGIL_RECORD_RAW: cannot open \(path): errno \(errno)") }
        }
        let unmanaged = Unmanaged.passRetained(context)
        guard
            let ring = ring_buffer__new(
                fd,
                { ctx, data, size in
                    let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
                    context.accept(UnsafeRawBufferPointer(start: data, count: Int(size)))
                    return 0
                }, unmanaged.toOpaque(), nil)
        else {
            unmanaged.release()
            throw BPFError(errno: errno, operation: "ring_buffer__new")
        }
        let ringBox = RingPointer(ring)
        let thread = Thread { [self] in
            self.pollLoop(ring: ringBox.pointer, context: context)
            ring_buffer__free(ringBox.pointer)
            if let raw = context.raw { fclose(raw) }
            continuation.finish()
            unmanaged.release()
        }
        thread.name = "vigil-ringbuf"
        thread.start()
        return Batches(stream: stream, reader: self)
    }

    /// Asks the poll thread to drain once more and finish the stream.
    package func stop() {
        stopFlag.store(true, ordering: .releasing)
    }

    private func pollLoop(ring: OpaquePointer, context: Context) {
        while !stopFlag.load(ordering: .acquiring) {
            let rc = ring_buffer__poll(ring, configuration.drainIntervalMilliseconds)
            if rc < 0 && rc != -EINTR {
                logger.error("ring buffer poll failed", metadata: ["errno": "\(-rc)"])
                usleep(10_000)
            }
            // Records written with BPF_RB_NO_WAKEUP never wake epoll: drain them here.
            _ = ring_buffer__consume(ring)
            context.flush()
        }
        _ = ring_buffer__consume(ring)
        context.flush()
    }

    /// Lives on the poll thread only: the batch is touched by the callback and flush, both
    /// called from that thread, which is what makes the unchecked Sendable safe.
    private final class Context: @unchecked Sendable {
        let reader: RingBufferReader
        let continuation: AsyncStream<Batch>.Continuation
        var batch: Batch = []
        var decoded: UInt64 = 0
        var errors: UInt64 = 0
        /// Polls since the last batch went out: an empty batch every few polls lets the consumer
        /// do periodic work (queued fanotify decisions) on a quiet machine too.
        var idlePolls = 0
        /// VIGIL_RECORD_RAW's file, when set.
        var raw: UnsafeMutablePointer<FILE>?

        init(reader: RingBufferReader, continuation: AsyncStream<Batch>.Continuation) {
            self.reader = reader
            self.continuation = continuation
        }

        /// Records consumed past the queue's room since the last flush: dropped without being
        /// decoded, so a full ring (tens of thousands of records in one consume) never becomes
        /// a batch of that size in memory.
        var overflow: UInt64 = 0

        func accept(_ bytes: UnsafeRawBufferPointer) {
            if let raw {
                var size = UInt32(bytes.count).littleEndian
                fwrite(&size, 4, 1, raw)
                fwrite(bytes.baseAddress, 1, bytes.count, raw)
            }
            if batch.count >= max(0, reader.configuration.maxQueuedRecords - reader.queued.load(ordering: .relaxed)) {
                overflow += 1
                decoded += 1
                return
            }
            do {
                batch.append(try Record(decoding: bytes))
                decoded += 1
            } catch {
                errors += 1
            }
        }

        /// Drops since the last log line, and when that was.
        var unloggedDrops: UInt64 = 0
        var lastDropLog: ContinuousClock.Instant?

        func flush() {
            var dropped = overflow
            overflow = 0
            if batch.isEmpty {
                idlePolls += 1
                if idlePolls >= 5 {
                    idlePolls = 0
                    _ = continuation.yield([])
                }
            } else {
                idlePolls = 0
                // What does not fit under the record bound is dropped here, newest first, so
                // that what is kept stays in order.
                let room = max(0, reader.configuration.maxQueuedRecords - reader.queued.load(ordering: .relaxed))
                if batch.count > room {
                    dropped = UInt64(batch.count - room)
                    batch.removeLast(batch.count - room)
                }
                if !batch.isEmpty {
                    let count = batch.count
                    reader.queued.add(count, ordering: .relaxed)
                    if case .dropped = continuation.yield(batch) {
                        reader.queued.subtract(count, ordering: .relaxed)
                        dropped += UInt64(count)
                    }
                }
            }
            batch.removeAll(keepingCapacity: true)
            let (d, e) = (decoded, errors)
            decoded = 0
            errors = 0
            if dropped > 0 { logDrops(dropped) }
            guard d > 0 || e > 0 else { return }
            reader.state.withLock {
                $0.records += d
                $0.decodeErrors += e
                $0.queueDrops += dropped
            }
        }

        private func logDrops(_ count: UInt64) {
            unloggedDrops += count
            let now = ContinuousClock.now
            if let last = lastDropLog, now - last < .seconds(reader.configuration.dropLogInterval) { return }
            lastDropLog = now
            reader.logger.warning(
                "events dropped: the pipeline is behind (export sink slow?); raise --event-queue-size or speed up the sink",
                metadata: [
                    "dropped": "\(unloggedDrops)", "queue_drops_total": "\(reader.stats.queueDrops + count)",
                    "event_queue_size": "\(reader.configuration.maxQueuedRecords)",
                ])
            unloggedDrops = 0
        }
    }
}

/// A libbpf ring_buffer pointer handed to the poll thread, which is its only user.
private struct RingPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
