// SPDX-License-Identifier: Apache-2.0
import Logging
import Synchronization

/// The parts of a Kubernetes Node the agent uses: its labels (a TracingPolicy's `nodeSelector`).
package struct Node: Codable, Sendable, Hashable, KubeObject {
    package var metadata: ObjectMeta

    package init(metadata: ObjectMeta) {
        self.metadata = metadata
    }
}

/// This node's object, listed and watched (`fieldSelector=metadata.name=<node>`), reporting its
/// labels each time they change.
///
/// `onLabels` gets the labels after the first list and after every change; nil when the list has
/// no node of that name (the agent's `--node-name` is not a node of the cluster), so that a
/// policy gated on labels waits instead of being judged against labels the node does not have.
package final class NodeWatcher: Sendable {
    package let nodeName: String
    private let watcher: ListWatcher<Node>
    /// The labels last reported; `.none` before the first report.
    private final class Last: Sendable {
        let labels = Mutex<[String: String]??>(.none)
    }
    private let last = Last()

    package init(
        client: KubeClient, nodeName: String, options: ListWatcher<Node>.Options = .init(), logger: Logger,
        onLabels: @escaping @Sendable ([String: String]?) -> Void
    ) {
        self.nodeName = nodeName
        let last = self.last
        @Sendable func report(_ labels: [String: String]?) {
            // Bookmarks and unchanged MODIFIED events (status heartbeats) say nothing new.
            let changed = last.labels.withLock { previous -> Bool in
                if case .some(let before) = previous, before == labels { return false }
                previous = .some(labels)
                return true
            }
            if changed { onLabels(labels) }
        }
        watcher = ListWatcher(
            client: client, path: "/api/v1/nodes", query: [("fieldSelector", "metadata.name=\(nodeName)")],
            options: options,
            sink: .init(
                replace: { nodes in
                    let node = nodes.first { $0.metadata.name == nodeName }
                    if node == nil {
                        logger.warning(
                            "node \(nodeName) is not in the API server's node list: policies with a nodeSelector wait for its labels")
                    }
                    report(node.map { $0.metadata.labels ?? [:] })
                },
                upsert: { node in
                    guard node.metadata.name == nodeName else { return }
                    report(node.metadata.labels ?? [:])
                },
                delete: { node in
                    guard node.metadata.name == nodeName else { return }
                    report(nil)
                }),
            logger: logger)
    }

    package var stats: ListWatcher<Node>.Stats { watcher.stats }

    /// The labels last reported (nil before the first list, or while the node is unknown).
    package var labels: [String: String]? {
        last.labels.withLock { if case .some(let labels) = $0 { return labels } else { return nil } }
    }

    /// Lists and watches until cancelled.
    package func run() async {
        await watcher.run()
    }
}
