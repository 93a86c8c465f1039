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
/// `ring_buffer__poll` blocks in `epoll_wait`, so it never runs on Swift's cooperative pool.
/// The BPF side wakes the reader only when a fill threshold is crossed; the thread also drains
/// every ``Configuration/drainInterval`` so that records never wait long.
package final class RingBufferReader: Sendable {
    package struct Configuration: Sendable {
        /// Batches the stream buffers before the reader drops (and counts) records.
        package var queueBatches: Int = 4096
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

    /// Starts the poll thread and returns the stream of record batches. The stream finishes
    /// after ``stop()``, once the ring has been drained one last time. Call once.
    package func start() throws(BPFError) -> AsyncStream<Batch> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Batch.self, bufferingPolicy: .bufferingOldest(configuration.queueBatches))
        let context = Context(reader: self, continuation: continuation)
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
            continuation.finish()
            unmanaged.release()
        }
        thread.name = "vigil-ringbuf"
        thread.start()
        return stream
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

        init(reader: RingBufferReader, continuation: AsyncStream<Batch>.Continuation) {
            self.reader = reader
            self.continuation = continuation
        }

        func accept(_ bytes: UnsafeRawBufferPointer) {
            do {
                batch.append(try Record(decoding: bytes))
                decoded += 1
            } catch {
                errors += 1
            }
        }

        func flush() {
            let count = UInt64(batch.count)
            var dropped: UInt64 = 0
            if batch.isEmpty {
                idlePolls += 1
                if idlePolls >= 5 {
                    idlePolls = 0
                    _ = continuation.yield([])
                }
            } else {
                idlePolls = 0
                if case .dropped = continuation.yield(batch) { dropped = count }
            }
            batch.removeAll(keepingCapacity: true)
            let (d, e) = (decoded, errors)
            decoded = 0
            errors = 0
            guard d > 0 || e > 0 else { return }
            reader.state.withLock {
                $0.records += d
                $0.decodeErrors += e
                $0.queueDrops += dropped
            }
        }
    }
}

/// A libbpf ring_buffer pointer handed to the poll thread, which is its only user.
private struct RingPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
