// SPDX-License-Identifier: Apache-2.0

import Events
import Synchronization

/// Fans exported event lines out to the `/v1/events` clients.
///
/// The agent's exporter calls `publish(_:)` once per exported line. It never blocks and never
/// waits for a client: each subscriber has its own bounded buffer (`bufferSize` lines); when a
/// client reads too slowly and its buffer is full, further lines are dropped **for that client
/// only** and counted. When the client has room again, it first receives one line
/// `{"vigil_dropped_events":N}` saying how many it missed, then the stream goes on. Other
/// clients and the agent are not affected.
///
/// Filters run in `publish` (on the exporter's thread), before a line takes buffer space, so
/// a client's drops count only lines it asked for. With no subscriber, `publish` is one
/// uncontended lock and an empty-array check.
package final class EventBroadcaster: Sendable {
    /// The default per-client buffer, in lines.
    package static let defaultBufferSize = 4096

    /// Lines buffered per client before its lines are dropped.
    package let bufferSize: Int

    private let state = Mutex(State())
    private let onDrop: (@Sendable (UInt64) -> Void)?

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        /// `subscribers.values`, cached for `publish`; rebuilt when a client comes or goes.
        var snapshot: [Subscriber] = []
        var nextID: UInt64 = 1
        var finished = false
        /// Drops of clients that are gone (the live ones keep their own counts).
        var droppedByGoneClients: UInt64 = 0

        mutating func rebuildSnapshot() {
            snapshot = subscribers.keys.sorted().compactMap { subscribers[$0] }
        }
    }

    /// A broadcaster; `onDrop` is called (outside any lock) with the number of lines dropped
    /// for a slow client each time some are, e.g. to move
    /// `vigil_missed_events_total{place="client"}`.
    package init(bufferSize: Int = EventBroadcaster.defaultBufferSize, onDrop: (@Sendable (UInt64) -> Void)? = nil) {
        precondition(bufferSize > 0, "bufferSize must be positive")
        self.bufferSize = bufferSize
        self.onDrop = onDrop
    }

    /// Queues `line` for every subscriber whose filter it passes. Never blocks. `event`, the
    /// event the line was encoded from, is what clients' Tetragon filter lines read; the agent
    /// calls this from its exporter's thread only (those filters are not thread-safe).
    package func publish(_ line: EventLine, event: ExportEvent? = nil) {
        let subscribers = state.withLock { $0.snapshot }
        guard !subscribers.isEmpty else { return }
        var dropped: UInt64 = 0
        for subscriber in subscribers where subscriber.filter.matches(line, event: event) {
            if !subscriber.deliver(line) { dropped += 1 }
        }
        if dropped > 0 { onDrop?(dropped) }
    }

    /// A new subscription receiving the lines that pass `filter`, from now on. The
    /// subscription ends when its consumer stops iterating (or its task is cancelled), when
    /// `EventSubscription.finish()` is called, or when the broadcaster is finished.
    package func subscribe(filter: EventFilter = EventFilter()) -> EventSubscription {
        let (stream, continuation) = AsyncStream.makeStream(
            of: EventLine.self, bufferingPolicy: .bufferingOldest(bufferSize))
        let subscriber: Subscriber? = state.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            let subscriber = Subscriber(id: id, filter: filter, continuation: continuation)
            state.subscribers[id] = subscriber
            state.rebuildSnapshot()
            return subscriber
        }
        guard let subscriber else {
            continuation.finish()
            return EventSubscription(stream: stream, continuation: continuation, id: 0)
        }
        continuation.onTermination = { [weak self] _ in
            self?.remove(subscriber.id)
        }
        return EventSubscription(stream: stream, continuation: continuation, id: subscriber.id)
    }

    private func remove(_ id: UInt64) {
        state.withLock { state in
            if let gone = state.subscribers.removeValue(forKey: id) {
                state.droppedByGoneClients += gone.statistics.dropped
                state.rebuildSnapshot()
            }
        }
    }

    /// Ends every subscription (buffered lines are still delivered) and refuses new ones: the
    /// agent is stopping.
    package func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            return state.snapshot
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    /// Clients currently subscribed.
    package var subscriberCount: Int {
        state.withLock { $0.subscribers.count }
    }

    /// Lines dropped for slow clients since start, over all clients (past and present).
    package var droppedTotal: UInt64 {
        let (gone, live) = state.withLock { ($0.droppedByGoneClients, $0.snapshot) }
        return live.reduce(gone) { $0 + $1.statistics.dropped }
    }

    /// Per-client counts of the current subscribers, by subscription id.
    package func statistics() -> [SubscriberStatistics] {
        state.withLock { $0.snapshot }.map(\.statistics)
    }
}

/// Counts of one `/v1/events` client.
package struct SubscriberStatistics: Sendable, Hashable {
    /// `EventSubscription.id`.
    package var id: UInt64
    /// Lines queued for the client (drop notices included).
    package var queued: UInt64
    /// Lines dropped because the client's buffer was full.
    package var dropped: UInt64
    /// Dropped lines not yet announced to the client with a drop notice.
    package var pendingNotice: UInt64
}

/// One subscriber's end of the broadcaster.
private final class Subscriber: Sendable {
    let id: UInt64
    let filter: EventFilter
    let continuation: AsyncStream<EventLine>.Continuation
    private let counts: Mutex<Counts>

    struct Counts {
        var queued: UInt64 = 0
        var dropped: UInt64 = 0
        var pendingNotice: UInt64 = 0
    }

    init(id: UInt64, filter: EventFilter, continuation: AsyncStream<EventLine>.Continuation) {
        self.id = id
        self.filter = filter
        self.continuation = continuation
        self.counts = Mutex(Counts())
    }

    /// Queues `line`, preceded by a drop notice when lines were dropped since the last one.
    /// Holding the lock across both yields keeps notice and line in order when several threads
    /// publish. Returns false when the line was dropped.
    func deliver(_ line: EventLine) -> Bool {
        counts.withLock { counts in
            if counts.pendingNotice > 0 {
                switch continuation.yield(.droppedNotice(counts.pendingNotice)) {
                case .enqueued:
                    counts.queued += 1
                    counts.pendingNotice = 0
                case .dropped:
                    counts.pendingNotice += 1
                    counts.dropped += 1
                    return false
                case .terminated:
                    return true
                @unknown default:
                    return true
                }
            }
            switch continuation.yield(line) {
            case .enqueued:
                counts.queued += 1
                return true
            case .dropped:
                counts.pendingNotice += 1
                counts.dropped += 1
                return false
            case .terminated:
                return true
            @unknown default:
                return true
            }
        }
    }

    var statistics: SubscriberStatistics {
        counts.withLock {
            SubscriberStatistics(id: id, queued: $0.queued, dropped: $0.dropped, pendingNotice: $0.pendingNotice)
        }
    }
}

/// One client's stream of event lines (`AgentControl.events(filter:)`).
///
/// Iterate it once. `finish()` ends it from the outside (the server does this on shutdown or
/// when the client goes away): lines already buffered are still delivered, then iteration ends.
package struct EventSubscription: AsyncSequence, Sendable {
    package typealias Element = EventLine
    package typealias AsyncIterator = AsyncStream<EventLine>.Iterator

    /// The underlying stream.
    package let stream: AsyncStream<EventLine>
    /// The broadcaster's id for this client (`SubscriberStatistics.id`); 0 for one made by hand.
    package let id: UInt64
    private let continuation: AsyncStream<EventLine>.Continuation

    /// A subscription over any stream, e.g. a test double's
    /// `AsyncStream.makeStream(of: EventLine.self)`.
    package init(stream: AsyncStream<EventLine>, continuation: AsyncStream<EventLine>.Continuation, id: UInt64 = 0) {
        self.stream = stream
        self.continuation = continuation
        self.id = id
    }

    package func makeAsyncIterator() -> AsyncStream<EventLine>.Iterator {
        stream.makeAsyncIterator()
    }

    /// Ends the stream after the lines already buffered.
    package func finish() {
        continuation.finish()
    }
}
