// SPDX-License-Identifier: Apache-2.0
import Logging

/// The pods scheduled on one node, listed and watched into a ``PodStore``.
package final class PodWatcher: Sendable {
    package let store: PodStore
    package let nodeName: String
    private let watcher: ListWatcher<Pod>

    package init(
        client: KubeClient, nodeName: String, store: PodStore = PodStore(),
        options: ListWatcher<Pod>.Options = .init(), logger: Logger
    ) {
        self.store = store
        self.nodeName = nodeName
        watcher = ListWatcher(
            client: client, path: "/api/v1/pods", query: [("fieldSelector", "spec.nodeName=\(nodeName)")],
            options: options,
            sink: .init(
                replace: { pods in
                    let dropped = store.replace(with: pods)
                    if !dropped.isEmpty {
                        logger.info("pods gone from the new list (deletions missed while disconnected)", metadata: ["uids": "\(dropped)"])
                    }
                },
                upsert: { store.upsert($0) },
                delete: { store.delete(uid: $0.uid) }),
            logger: logger)
    }

    package var stats: ListWatcher<Pod>.Stats { watcher.stats }

    /// Lists and watches until cancelled.
    package func run() async {
        await watcher.run()
    }
}
