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
    }

    /// Tetragon's `docker` field carries 31 characters of the id; the index uses the same
    /// prefix so the process cache's value finds the pod.
    package static let prefixLength = 31

    private let state = Mutex(State())

    package init() {}

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
            s.generation &+= 1
        }
    }

    /// Removes one pod (watch `DELETED`).
    package func delete(uid: String) {
        state.withLock { s in
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
            s = State(generation: s.generation &+ 1)
            for pod in pods {
                s.pods[pod.uid] = pod
                Self.index(pod, in: &s)
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
            guard let status = pod.allContainerStatuses.first(where: { Self.strippedID($0.containerID)?.hasPrefix(containerID) == true })
            else { return nil }
            let specs = (pod.spec?.containers ?? []) + (pod.spec?.initContainers ?? []) + (pod.spec?.ephemeralContainers ?? [])
            return Match(pod: pod, status: status, spec: specs.first { $0.name == status.name }, workload: Workload(pod: pod))
        }
    }

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
