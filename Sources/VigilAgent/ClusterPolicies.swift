// SPDX-License-Identifier: Apache-2.0
import Kubernetes
import Logging
import Synchronization

/// TracingPolicy and TracingPolicyNamespaced objects of the cluster, in Vigil's group and in
/// Tetragon's, listed and watched like the pods and applied like policy files.
///
/// A collection whose CRD is not installed answers 404; its watcher retries with backoff, so
/// installing the CRD later is picked up.
final class ClusterPolicies: Sendable {
    static let collections = [
        "/apis/vigil.dev/v1alpha1/tracingpolicies", "/apis/vigil.dev/v1alpha1/tracingpoliciesnamespaced",
        "/apis/cilium.io/v1alpha1/tracingpolicies", "/apis/cilium.io/v1alpha1/tracingpoliciesnamespaced",
    ]

    private let watchers: [ListWatcher<RawObject>]
    /// origin -> the JSON last applied: a relist re-applies only what changed.
    private final class Applied: Sendable {
        let json = Mutex<[String: String]>([:])
    }

    init(client: KubeClient, controller: AgentController, logger: Logger, options: ListWatcher<RawObject>.Options = .init()) {
        var options = options
        // A missing CRD is retried this often at most.
        options.backoffMax = .seconds(60)
        let applied = Applied()
        @Sendable func apply(_ origin: String, _ object: RawObject) {
            guard applied.json.withLock({ $0.updateValue(object.json, forKey: origin) }) != object.json else { return }
            controller.applyClusterPolicy(json: object.json, origin: origin)
        }
        @Sendable func remove(_ origin: String) {
            applied.json.withLock { _ = $0.removeValue(forKey: origin) }
            controller.removeClusterPolicy(origin: origin)
        }
        watchers = Self.collections.map { path in
            ListWatcher<RawObject>(
                client: client, path: path, options: options,
                sink: .init(
                    replace: { objects in
                        let fresh = Dictionary(objects.map { (Self.origin(path, $0), $0) }) { a, _ in a }
                        let known = applied.json.withLock { Set($0.keys) }.union(controller.clusterPolicyOrigins)
                        for origin in known where origin.hasPrefix(path + "/") && fresh[origin] == nil { remove(origin) }
                        for (origin, object) in fresh.sorted(by: { $0.key < $1.key }) { apply(origin, object) }
                    },
                    upsert: { apply(Self.origin(path, $0), $0) },
                    delete: { remove(Self.origin(path, $0)) }),
                logger: logger)
        }
    }

    /// `<collection path>/<namespace>/<name>`, or `<collection path>/<name>` for cluster-scoped objects.
    static func origin(_ path: String, _ object: RawObject) -> String {
        let name = object.metadata.name ?? ""
        guard let namespace = object.metadata.namespace, !namespace.isEmpty else { return "\(path)/\(name)" }
        return "\(path)/\(namespace)/\(name)"
    }

    /// Lists and watches every collection until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for watcher in watchers { group.addTask { await watcher.run() } }
        }
    }
}
