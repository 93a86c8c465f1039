// SPDX-License-Identifier: Apache-2.0

import NIOCore
import Synchronization

/// The `/v1/events` responses being served, so that shutdown can end them cleanly: each
/// stream's subscription is finished (its buffered lines still go out), the server waits until
/// the responses are complete and their bytes have left the channel, and only then closes
/// connections; a client that does not read is disconnected when the grace period is over.
final class EventStreams: Sendable {
    private struct Stream {
        var subscription: EventSubscription
        var channel: any Channel
    }

    private struct State {
        var nextID: UInt64 = 1
        /// Responses still writing.
        var active: [UInt64: Stream] = [:]
        /// Connections whose event response is complete, until they close.
        var finished: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }

    private let state = Mutex(State())

    /// Registers a response; nil when the server is shutting down. The subscription ends when
    /// the client goes away, even while its filter lets nothing through (no write would
    /// notice).
    func begin(_ subscription: EventSubscription, channel: any Channel) -> UInt64? {
        let id: UInt64? = state.withLock { state in
            guard !state.closing else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.active[id] = Stream(subscription: subscription, channel: channel)
            return id
        }
        guard let id else { return nil }
        channel.closeFuture.whenComplete { [weak self] _ in
            subscription.finish()
            self?.state.withLock { state in
                state.active[id] = nil
                state.finished[ObjectIdentifier(channel)] = nil
            }
        }
        return id
    }

    /// The response `id` has written its last byte (or failed).
    func end(_ id: UInt64) {
        state.withLock { state in
            if let stream = state.active.removeValue(forKey: id), stream.channel.isActive {
                state.finished[ObjectIdentifier(stream.channel)] = stream.channel
            }
        }
    }

    /// Ends every stream and waits, at most `grace`, until all responses are complete and
    /// flushed; then closes the connections of the streams still writing (clients that do not
    /// read). New streams are refused from now on.
    func endAll(grace: Duration) async {
        let streams = state.withLock { state in
            state.closing = true
            return Array(state.active.values)
        }
        for stream in streams { stream.subscription.finish() }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            let (active, finished) = state.withLock { ($0.active.count, Array($0.finished.values)) }
            var busy = active > 0
            if !busy {
                for channel in finished where channel.isActive {
                    let buffered = (try? await channel.getOption(ChannelOptions.bufferedWritableBytes).get()) ?? 0
                    if buffered > 0 {
                        busy = true
                        break
                    }
                }
            }
            if !busy { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let stalled = state.withLock { Array($0.active.values) }
        for stream in stalled { stream.channel.close(promise: nil) }
    }
}
