// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization

/// The pods of this node as the watch last reported them, indexed for the event path.
///
/// Written by the pod watcher (list, watch events), read by the pipeline for every event of a
/// containerised process. A pod leaves the store with its `DELETED` event or when a relist no
/// longer contains it; nothing else is kept after that.
package final class PodStore: Sendable {
    /// A container of a known pod.
    package struct Match: Sendable, Hashable {
        package var pod: Pod
        package var status: Pod.ContainerStatus
        /// The container's entry in the pod spec (image as written, security context).
        package var spec: Pod.Container?
        package var workload: Workload
    }

    private struct State {
        var pods: [String: Pod] = [:]
        /// Container id (scheme stripped, first `prefixLength` chars) -> pod uid.
        var byContainer: [String: String] = [:]
        var generation: UInt64 = 0
        /// Pods deleted in the last `deletedGrace`, by uid, for events from before their deletion.
        var deleted: [String: Deleted] = [:]
        var deletedByContainer: [String: String] = [:]
    }

    /// A deleted pod, kept for a while for the events that happened before its deletion.
    private struct Deleted {
        var pod: Pod
        /// Wall-clock time of the deletion (the watch event or the relist), ns since the epoch.
        var at: UInt64
        var expires: ContinuousClock.Instant
    }

    /// Tetragon's `docker` field carries 31 characters of the id; the index uses the same
    /// prefix so the process cache's value finds the pod.
    package static let prefixLength = 31

    private let state = Mutex(State())
    /// How long a deleted pod still answers for events from before its deletion.
    package let deletedGrace: Duration
    /// At most this many deleted pods are kept (the oldest go first).
    package let maxDeleted: Int
    private let wallNow: @Sendable () -> UInt64
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - deletedGrace: how long a deleted pod still enriches events that happened before its
    ///     deletion (an exit or a policy event the pipeline meets after the `DELETED` event, as
    ///     Tetragon's deleted-pod cache does). Events from after the deletion never get it.
    ///   - maxDeleted: bound on the deleted pods kept.
    package init(
        deletedGrace: Duration = .seconds(30), maxDeleted: Int = 1024,
        wallNow: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1e9) },
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.deletedGrace = deletedGrace
        self.maxDeleted = maxDeleted
        self.wallNow = wallNow
        self.now = now
    }

    /// Bumped by every change; readers that wait for a pod retry only when it moved.
    package var generation: UInt64 { state.withLock { $0.generation } }

    package var count: Int { state.withLock { $0.pods.count } }

    /// A snapshot of every pod, keyed by uid.
    package var pods: [String: Pod] { state.withLock { $0.pods } }

    package func pod(uid: String) -> Pod? { state.withLock { $0.pods[uid] } }

    /// Adds or replaces one pod (watch `ADDED`/`MODIFIED`).
    package func upsert(_ pod: Pod) {
        state.withLock { s in
            Self.unindex(uid: pod.uid, in: &s)
            s.pods[pod.uid] = pod
            Self.index(pod, in: &s)
            forgetDeleted(uid: pod.uid, in: &s)
            s.generation &+= 1
        }
    }

    /// Removes one pod (watch `DELETED`).
    package func delete(uid: String) {
        state.withLock { s in
            remember(uid: uid, in: &s)
            Self.unindex(uid: uid, in: &s)
            s.pods[uid] = nil
            s.generation &+= 1
        }
    }

    /// Replaces the whole set after a list; returns the uids that were dropped (pods whose
    /// deletion the watcher missed, e.g. during a 410 relist).
    @discardableResult
    package func replace(with pods: [Pod]) -> [String] {
        state.withLock { s in
            let fresh = Set(pods.map(\.uid))
            let dropped = s.pods.keys.filter { !fresh.contains($0) }.sorted()
            for uid in dropped { remember(uid: uid, in: &s) }
            s = State(generation: s.generation &+ 1, deleted: s.deleted, deletedByContainer: s.deletedByContainer)
            for pod in pods {
                s.pods[pod.uid] = pod
                Self.index(pod, in: &s)
                forgetDeleted(uid: pod.uid, in: &s)
            }
            return dropped
        }
    }

    /// The pod and container whose id starts with `containerID` (the full 64-hex id or
    /// Tetragon's 31-char `docker` prefix, no scheme).
    package func lookup(containerID: String) -> Match? {
        guard containerID.utf8.count >= Self.prefixLength else { return nil }
        let key = String(containerID.prefix(Self.prefixLength))
        return state.withLock { s -> Match? in
            guard let uid = s.byContainer[key], let pod = s.pods[uid] else { return nil }
            return Self.match(pod, containerID: containerID)
        }
    }

    private static func match(_ pod: Pod, containerID: String) -> Match? {
        guard let status = pod.allContainerStatuses.first(where: { Self.strippedID($0.containerID)?.hasPrefix(containerID) == true })
        else { return nil }
        let specs = (pod.spec?.containers ?? []) + (pod.spec?.initContainers ?? []) + (pod.spec?.ephemeralContainers ?? [])
        return Match(pod: pod, status: status, spec: specs.first { $0.name == status.name }, workload: Workload(pod: pod))
    }

    /// Keeps the pod `uid` (about to leave) as deleted; drops expired and excess entries.
    private func remember(uid: String, in s: inout State) {
        guard let pod = s.pods[uid], maxDeleted > 0 else { return }
        let t = now()
        for (old, entry) in s.deleted where entry.expires <= t { forgetDeleted(uid: old, in: &s) }
        while s.deleted.count >= maxDeleted, let oldest = s.deleted.min(by: { $0.value.at < $1.value.at })?.key {
            forgetDeleted(uid: oldest, in: &s)
        }
        s.deleted[uid] = Deleted(pod: pod, at: wallNow(), expires: t + deletedGrace)
        for status in pod.allContainerStatuses {
            guard let id = Self.strippedID(status.containerID), id.utf8.count >= Self.prefixLength else { continue }
            s.deletedByContainer[String(id.prefix(Self.prefixLength))] = uid
        }
    }

    private func forgetDeleted(uid: String, in s: inout State) {
        guard let entry = s.deleted.removeValue(forKey: uid) else { return }
        for status in entry.pod.allContainerStatuses {
            guard let id = Self.strippedID(status.containerID), id.utf8.count >= Self.prefixLength else { continue }
            let key = String(id.prefix(Self.prefixLength))
            if s.deletedByContainer[key] == uid { s.deletedByContainer[key] = nil }
        }
    }

    /// The pod and container of `containerID` if its pod was deleted after `eventTime` (ns since
    /// the epoch) and less than ``deletedGrace`` ago: an event from before the deletion still
    /// gets its pod; one from after never does.
    package func lookupDeleted(containerID: String, eventTime: UInt64) -> Match? {
        guard containerID.utf8.count >= Self.prefixLength else { return nil }
        let key = String(containerID.prefix(Self.prefixLength))
        let t = now()
        return state.withLock { s -> Match? in
            guard let uid = s.deletedByContainer[key], let entry = s.deleted[uid] else { return nil }
            guard entry.expires > t, eventTime <= entry.at else { return nil }
            return Self.match(entry.pod, containerID: containerID)
        }
    }

    /// Deleted pods kept now.
    package var deletedCount: Int { state.withLock { $0.deleted.count } }

    /// `containerd://abc` -> `abc`; nil for an empty id.
    package static func strippedID(_ id: String?) -> String? {
        guard let id, !id.isEmpty else { return nil }
        guard let range = id.range(of: "://") else { return id }
        let rest = id[range.upperBound...]
        return rest.isEmpty ? nil : String(rest)
    }

    private static func index(_ pod: Pod, in s: inout State) {
        for status in pod.allContainerStatuses {
            guard let id = strippedID(status.containerID), id.utf8.count >= prefixLength else { continue }
            s.byContainer[String(id.prefix(prefixLength))] = pod.uid
        }
    }

    private static func unindex(uid: String, in s: inout State) {
        guard let old = s.pods[uid] else { return }
        for status in old.allContainerStatuses {
            guard let id = strippedID(status.containerID), id.utf8.count >= prefixLength else { continue }
            let key = String(id.prefix(prefixLength))
            if s.byContainer[key] == uid { s.byContainer[key] = nil }
        }
    }
}
