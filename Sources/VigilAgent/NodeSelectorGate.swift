// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler
import Synchronization
import TracingPolicy

/// Whether a policy applies on this node: a TracingPolicy's `spec.nodeSelector` against the
/// node's labels from the API server (Tetragon's meaning: the policy runs only on nodes whose
/// labels match).
///
/// Never node-wide by default: until the labels are known (the first list of the node watch, or a
/// node the API server does not know) a policy with a selector waits, and without the API
/// (`--enable-k8s-api`) the compiler refuses it. An empty selector (`nodeSelector: {}`) matches
/// every node, as in Kubernetes.
package final class NodeSelectorGate: Sendable {
    /// What to do with one policy.
    package enum Decision: Equatable, Sendable {
        /// No selector, an empty one, or the labels match.
        case apply
        /// Not on this node (now): the reason, for the log and `tracectl policy list`.
        case hold(String)
    }

    private let labels = Mutex<[String: String]?>(nil)

    package init(labels: [String: String]? = nil) {
        self.labels.withLock { $0 = labels }
    }

    /// Records the node's labels; returns whether they changed.
    @discardableResult
    package func update(_ new: [String: String]?) -> Bool {
        labels.withLock { current in
            guard current != new else { return false }
            current = new
            return true
        }
    }

    package var currentLabels: [String: String]? { labels.withLock { $0 } }

    package func decide(_ document: TracingPolicyDocument) -> Decision {
        guard let selector = document.spec.restrictingNodeSelector else { return .apply }
        let requirements = LabelRequirements(selector)
        guard let labels = currentLabels else {
            return .hold("nodeSelector {\(requirements)}: waiting for this node's labels from the API server")
        }
        if requirements.matches(labels) { return .apply }
        return .hold("nodeSelector {\(requirements)} does not match this node's labels")
    }
}
