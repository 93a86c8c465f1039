// SPDX-License-Identifier: Apache-2.0
import Events
import Kubernetes
import Logging
import Synchronization

/// `--enable-k8s-api` and friends.
package struct KubernetesOptions: Sendable {
    /// `--k8s-kubeconfig-path`; nil uses the in-cluster service account.
    package var kubeconfig: String?
    /// How long an event of a container waits for its pod (`--pod-wait-timeout`).
    package var podWait: Duration = .seconds(3)
    /// Events waiting at most (memory bound).
    package var maxPending = 4096
    package init() {}
}

/// The pod watch of this node and the enrichment of events with `pod`.
final class KubernetesMetadata {
    let watcher: PodWatcher
    let enricher: PodEnricher
    let client: KubeClient
    private let task: Task<Void, Never>
    private let policyTask = Mutex<Task<Void, Never>?>(nil)
    private let nodeTask = Mutex<(watcher: NodeWatcher, task: Task<Void, Never>)?>(nil)
    private let nodeName: String
    private let logger: Logger

    /// Reads the configuration and starts the pod watch. Throws (naming the file or variable)
    /// when the configuration cannot be read; API errors later are retried, not thrown.
    init(options: KubernetesOptions, nodeName: String, logger: Logger) throws {
        let config = try options.kubeconfig.map { try KubeConfig.load(kubeconfig: $0) } ?? KubeConfig.inCluster()
        client = try KubeClient(config: config)
        watcher = PodWatcher(client: client, nodeName: nodeName, logger: logger)
        enricher = PodEnricher(store: watcher.store, maxWait: options.podWait, maxPending: options.maxPending)
        self.logger = logger
        self.nodeName = nodeName
        let w = watcher
        task = Task { await w.run() }
        logger.info("watching pods", metadata: ["server": "\(config.server)", "node_name": "\(nodeName)"])
    }

    /// The pods of this node, as the watch keeps them (pod scopes follow it).
    var podStore: PodStore { watcher.store }

    /// See ``PodEnricher/submit(_:)``.
    func submit(_ event: ExportEvent) -> [ExportEvent] { enricher.submit(event) }
    /// See ``PodEnricher/tick()``.
    func tick() -> [ExportEvent] { enricher.tick() }
    /// See ``PodEnricher/drain()``.
    func drain() -> [ExportEvent] { enricher.drain() }

    /// Starts applying the cluster's TracingPolicy objects through `controller`.
    func watchPolicies(controller: AgentController) {
        let policies = ClusterPolicies(client: client, controller: controller, logger: logger)
        policyTask.withLock { $0 = Task { await policies.run() } }
    }

    /// Starts watching this node's object: its labels decide where policies with a
    /// `nodeSelector` run (``AgentController/nodeLabelsChanged(_:)``).
    func watchNode(controller: AgentController) {
        let watcher = NodeWatcher(client: client, nodeName: nodeName, logger: logger) { labels in
            controller.nodeLabelsChanged(labels)
        }
        nodeTask.withLock { $0 = (watcher, Task { await watcher.run() }) }
    }

    func stop() async {
        task.cancel()
        await task.value
        if let node = nodeTask.withLock({ $0 }) {
            node.task.cancel()
            await node.task.value
        }
        if let policies = policyTask.withLock({ $0 }) {
            policies.cancel()
            await policies.value
        }
        await client.shutdown()
        let s = enricher.stats
        logger.info(
            "pod metadata",
            metadata: [
                "enriched": "\(s.enriched)", "waited": "\(s.waited)", "pod_missing": "\(s.timedOut)",
                "pod_wait_overflow": "\(s.overflow)", "pods": "\(watcher.store.count)",
            ])
    }

    var counters: [String: UInt64] {
        let s = enricher.stats
        let w = watcher.stats
        return [
            "pod_enriched": s.enriched, "pod_waited": s.waited, "pod_missing": s.timedOut, "pod_wait_overflow": s.overflow,
            "pod_wait_pending": UInt64(s.pending), "pods": UInt64(watcher.store.count), "k8s_lists": w.lists,
            "k8s_relists": w.relists, "k8s_watches": w.watches, "k8s_errors": w.errors,
        ]
    }
}
