// SPDX-License-Identifier: Apache-2.0
import Events

/// Adds `pod` to the events of containerised processes, holding an event whose pod the watch has
/// not reported yet for a bounded time.
///
/// A container's first exec often reaches the agent before the kubelet has published the
/// container id in the pod status. Such an event waits (with every later event of the same
/// container, so their order holds) until the pod shows up or `maxWait` passes; then it goes out
/// without `pod` and ``Stats/timedOut`` counts it. At most `maxPending` events wait; beyond that
/// the oldest goes out at once (``Stats/overflow``). Events of other containers and of host
/// processes never wait. Used from the pipeline task only.
package final class PodEnricher {
    package struct Stats: Sendable, Hashable {
        /// Events that left with a pod.
        package var enriched: UInt64 = 0
        /// Events that had to wait for their pod (whether it came or not).
        package var waited: UInt64 = 0
        /// Events that left without a pod after waiting `maxWait`.
        package var timedOut: UInt64 = 0
        /// Events released early because `maxPending` were waiting.
        package var overflow: UInt64 = 0
        /// Events waiting now.
        package var pending: Int = 0
    }

    package let store: PodStore
    package let maxWait: Duration
    package let maxPending: Int
    package private(set) var stats = Stats()
    private let now: () -> ContinuousClock.Instant
    /// Per container (the `docker` value): events in arrival order with their deadlines.
    private var waiting: [String: [(event: ExportEvent, deadline: ContinuousClock.Instant)]] = [:]
    private var seenGeneration: UInt64 = .max
    private var cache: [String: ExportedPod?] = [:]
    private var cacheGeneration: UInt64 = .max

    package init(
        store: PodStore, maxWait: Duration = .seconds(3), maxPending: Int = 4096,
        now: @escaping () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.store = store
        self.maxWait = maxWait
        self.maxPending = maxPending
        self.now = now
    }

    /// The events that may go out now, in order: `event` itself (enriched), or nothing if it waits.
    package func submit(_ event: ExportEvent) -> [ExportEvent] {
        guard let container = event.process.docker, !container.isEmpty else { return [enrichParents(event)] }
        if waiting[container] != nil {
            waiting[container]!.append((event, now() + maxWait))
            stats.waited += 1
            stats.pending += 1
            return overflowIfNeeded()
        }
        if let pod = pod(container) ?? deletedPod(container, before: event.time) {
            return [enriched(event, pod: pod)]
        }
        waiting[container] = [(event, now() + maxWait)]
        stats.waited += 1
        stats.pending += 1
        return overflowIfNeeded()
    }

    /// Releases waiting events whose pod arrived or whose time ran out; call it regularly.
    package func tick() -> [ExportEvent] {
        guard !waiting.isEmpty else { return [] }
        let t = now()
        let generation = store.generation
        let storeMoved = generation != seenGeneration
        seenGeneration = generation
        var out: [ExportEvent] = []
        for container in waiting.keys.sorted() {
            guard var queue = waiting[container] else { continue }
            if storeMoved, let pod = pod(container) {
                out += queue.map { enriched($0.event, pod: pod) }
                stats.pending -= queue.count
                waiting[container] = nil
                continue
            }
            var released = 0
            // A pod that came and went between two ticks: the events from before its deletion.
            while storeMoved, released < queue.count,
                let pod = deletedPod(container, before: queue[released].event.time)
            {
                out.append(enriched(queue[released].event, pod: pod))
                released += 1
            }
            stats.pending -= released
            queue.removeFirst(released)
            released = 0
            while released < queue.count, queue[released].deadline <= t {
                out.append(enrichParents(queue[released].event))
                released += 1
            }
            if released == 0 {
                waiting[container] = queue.isEmpty ? nil : queue
                continue
            }
            guard released > 0 else { continue }
            stats.timedOut += UInt64(released)
            stats.pending -= released
            queue.removeFirst(released)
            waiting[container] = queue.isEmpty ? nil : queue
        }
        return out
    }

    /// Everything still waiting, without pod (at shutdown).
    package func drain() -> [ExportEvent] {
        var out: [ExportEvent] = []
        for container in waiting.keys.sorted() {
            out += waiting[container]!.map { enrichParents($0.event) }
        }
        stats.timedOut += UInt64(stats.pending)
        stats.pending = 0
        waiting = [:]
        return out
    }

    // MARK: - Internals

    private func overflowIfNeeded() -> [ExportEvent] {
        var out: [ExportEvent] = []
        while stats.pending > maxPending {
            // The container whose head waited longest.
            guard let oldest = waiting.min(by: { $0.value[0].deadline < $1.value[0].deadline })?.key else { break }
            let head = waiting[oldest]!.removeFirst()
            if waiting[oldest]!.isEmpty { waiting[oldest] = nil }
            out.append(enrichParents(head.event))
            stats.overflow += 1
            stats.pending -= 1
        }
        return out
    }

    private func enriched(_ event: ExportEvent, pod: ExportedPod) -> ExportEvent {
        var event = enrichParents(event)
        event.process.pod = pod
        stats.enriched += 1
        return event
    }

    /// Parent and ancestors get their pod if it is known; they never make an event wait.
    private func enrichParents(_ event: ExportEvent) -> ExportEvent {
        var event = event
        if var parent = event.parent, let container = parent.docker,
            let pod = pod(container) ?? deletedPod(container, before: event.time)
        {
            parent.pod = pod
            event.parent = parent
        }
        if !event.ancestors.isEmpty {
            event.ancestors = event.ancestors.map { ancestor in
                var ancestor = ancestor
                if let container = ancestor.docker, let pod = pod(container) { ancestor.pod = pod }
                return ancestor
            }
        }
        return event
    }

    /// The exported pod of a container, cached until the store changes.
    private func pod(_ container: String) -> ExportedPod? {
        let generation = store.generation
        if generation != cacheGeneration {
            cache.removeAll(keepingCapacity: true)
            cacheGeneration = generation
        }
        if let hit = cache[container] { return hit }
        let pod = store.lookup(containerID: container).map(Self.exported)
        cache[container] = pod
        return pod
    }

    /// The pod of a container whose pod was deleted after `time` (see ``PodStore/lookupDeleted``);
    /// not cached: the answer depends on the event's time.
    private func deletedPod(_ container: String, before time: WallTime) -> ExportedPod? {
        store.lookupDeleted(containerID: container, eventTime: time.nanosecondsSinceEpoch).map(Self.exported)
    }

    /// Tetragon's rendering of a pod and one of its containers.
    package static func exported(_ match: PodStore.Match) -> ExportedPod {
        let status = match.status
        let container = ExportedPod.Container(
            id: status.containerID ?? "", name: status.name, imageID: status.imageID,
            imageName: status.image ?? match.spec?.image,
            startTime: status.state?.running?.startedAt ?? status.state?.terminated?.startedAt,
            privileged: match.spec?.securityContext?.privileged ?? false)
        let labels = (match.pod.metadata.labels ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        return ExportedPod(
            namespace: match.pod.metadata.namespace ?? "", name: match.pod.metadata.name ?? "", uid: match.pod.uid,
            container: container, labels: labels, workload: match.workload.name, workloadKind: match.workload.kind)
    }
}
