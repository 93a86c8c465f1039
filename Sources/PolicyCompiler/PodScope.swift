// SPDX-License-Identifier: Apache-2.0
import TracingPolicy

/// Which processes a pod-scoped policy applies to: containers of pods that match its
/// `podSelector`, its `containerSelector` and (for a `TracingPolicyNamespaced`) its namespace.
/// Host processes (in no known pod) only with `hostSelector: {}`.
///
/// Pure: the agent feeds it the pods of the node (``matches(namespace:labels:)``,
/// ``matches(containerName:image:)``) and turns the answer into cgroup ids for the kernel.
package struct PodScope: Sendable, Hashable, CustomStringConvertible {
    /// `metadata.namespace` of a `TracingPolicyNamespaced`; nil: any namespace.
    package var namespace: String?
    /// nil: any pod (the policy is scoped by namespace or container only).
    package var podSelector: LabelRequirements?
    /// nil: every container of a matching pod. Keys `name` and `repo`.
    package var containerSelector: LabelRequirements?
    /// `hostSelector: {}`: also processes outside every pod.
    package var includeHost: Bool

    package init(
        namespace: String? = nil, podSelector: LabelRequirements? = nil, containerSelector: LabelRequirements? = nil,
        includeHost: Bool = false
    ) {
        self.namespace = namespace
        self.podSelector = podSelector
        self.containerSelector = containerSelector
        self.includeHost = includeHost
    }

    /// The scope of `document`, or nil when the policy applies to every process (no podSelector,
    /// no containerSelector, not namespaced).
    package static func of(_ document: TracingPolicyDocument) -> PodScope? {
        let spec = document.spec
        let namespaced = document.kind == .tracingPolicyNamespaced
        guard namespaced || spec.podSelector != nil || spec.containerSelector != nil else { return nil }
        return PodScope(
            namespace: namespaced ? document.namespace : nil,
            podSelector: spec.podSelector.map(LabelRequirements.init),
            containerSelector: spec.containerSelector.map(LabelRequirements.init),
            // A namespaced policy never reaches the host (the decoder refuses hostSelector on it).
            includeHost: !namespaced && spec.hostSelector != nil)
    }

    /// Whether a pod in `namespace` with `labels` is in scope (its containers then go through
    /// ``matches(containerName:image:)``).
    package func matches(namespace: String, labels: [String: String]) -> Bool {
        if let wanted = self.namespace, wanted != namespace { return false }
        return podSelector?.matches(labels) ?? true
    }

    /// Whether a container named `containerName` running `image` is in scope. Tetragon's keys:
    /// `name` (the container's name in the pod spec) and `repo` (the image without tag or digest).
    package func matches(containerName: String, image: String?) -> Bool {
        guard let containerSelector else { return true }
        var labels = ["name": containerName]
        if let image { labels["repo"] = Self.repository(of: image) }
        return containerSelector.matches(labels)
    }

    /// Whether membership depends on containers (then the set holds container cgroups; otherwise
    /// pod cgroups, which also cover containers not started yet).
    package var selectsContainers: Bool { containerSelector != nil }

    /// `registry:5000/team/app:1.2@sha256:...` -> `registry:5000/team/app`.
    package static func repository(of image: String) -> String {
        var name = Substring(image)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        let lastSlash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true { name = name[..<colon] }
        return String(name)
    }

    /// For `tracectl policy list` and logs: `namespace=shop pods{app=cart} containers{name In (api)} +host`.
    package var description: String {
        var parts: [String] = []
        if let namespace { parts.append("namespace=\(namespace)") }
        if let podSelector { parts.append("pods{\(podSelector)}") }
        if let containerSelector { parts.append("containers{\(containerSelector)}") }
        if includeHost { parts.append("+host") }
        return parts.joined(separator: " ")
    }
}

/// A Kubernetes label selector as a list of requirements, all of which must hold
/// (`k8s.io/apimachinery/pkg/labels` semantics): matchLabels `k: v` is `k In (v)`; `In` needs the
/// key with one of the values, `NotIn` is true when the key is absent or has none of them,
/// `Exists` / `DoesNotExist` test the key only. An empty selector matches everything.
package struct LabelRequirements: Sendable, Hashable, CustomStringConvertible {
    package struct Requirement: Sendable, Hashable {
        package var key: String
        package var `operator`: LabelSelectorOperator
        package var values: [String]

        package init(key: String, operator: LabelSelectorOperator, values: [String] = []) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    package var requirements: [Requirement]

    package init(_ requirements: [Requirement]) {
        self.requirements = requirements
    }

    /// From a decoded selector; matchLabels first, sorted by key, then matchExpressions in order.
    package init(_ selector: LabelSelector) {
        requirements =
            selector.matchLabels.sorted { $0.key < $1.key }.map { Requirement(key: $0.key, operator: .in, values: [$0.value]) }
            + selector.matchExpressions.map { Requirement(key: $0.key, operator: $0.operator, values: $0.values) }
    }

    package func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            let value = labels[r.key]
            switch r.operator {
            case .in: return value.map { r.values.contains($0) } ?? false
            case .notIn: return value.map { !r.values.contains($0) } ?? true
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            }
        }
    }

    package var description: String {
        requirements.map { r in
            switch r.operator {
            case .in where r.values.count == 1: "\(r.key)=\(r.values[0])"
            case .in: "\(r.key) in (\(r.values.joined(separator: ",")))"
            case .notIn: "\(r.key) notin (\(r.values.joined(separator: ",")))"
            case .exists: r.key
            case .doesNotExist: "!\(r.key)"
            }
        }.joined(separator: ",")
    }
}
