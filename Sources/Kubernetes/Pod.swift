// SPDX-License-Identifier: Apache-2.0

/// The parts of a Kubernetes Pod the agent uses (enrichment, selectors). Unknown fields are
/// ignored, missing optional ones are nil: the API server omits empty values.
package struct Pod: Codable, Sendable, Hashable {
    package var metadata: ObjectMeta
    package var spec: Spec?
    package var status: Status?

    package struct Spec: Codable, Sendable, Hashable {
        package var nodeName: String?
        package var containers: [Container]?
        package var initContainers: [Container]?
        package var ephemeralContainers: [Container]?
    }

    package struct Container: Codable, Sendable, Hashable {
        package var name: String
        package var image: String?
        package var securityContext: SecurityContext?
    }

    package struct SecurityContext: Codable, Sendable, Hashable {
        package var privileged: Bool?
    }

    package struct Status: Codable, Sendable, Hashable {
        package var phase: String?
        package var containerStatuses: [ContainerStatus]?
        package var initContainerStatuses: [ContainerStatus]?
        package var ephemeralContainerStatuses: [ContainerStatus]?
    }

    package struct ContainerStatus: Codable, Sendable, Hashable {
        package var name: String
        package var image: String?
        package var imageID: String?
        /// `<runtime>://<64 hex>`; empty or absent until the runtime created the container.
        package var containerID: String?
        package var state: ContainerState?
    }

    package struct ContainerState: Codable, Sendable, Hashable {
        package var running: Running?
        package var terminated: Terminated?

        package struct Running: Codable, Sendable, Hashable {
            package var startedAt: String?
        }

        package struct Terminated: Codable, Sendable, Hashable {
            package var startedAt: String?
        }
    }

    package var uid: String { metadata.uid ?? "" }

    /// Every container status (regular, init, ephemeral).
    package var allContainerStatuses: [ContainerStatus] {
        (status?.containerStatuses ?? []) + (status?.initContainerStatuses ?? [])
            + (status?.ephemeralContainerStatuses ?? [])
    }

    /// The UID the kubelet names the pod cgroup after: for a static pod's mirror, the config
    /// hash in `kubernetes.io/config.mirror`; otherwise `metadata.uid`.
    package var cgroupUID: String {
        metadata.annotations?["kubernetes.io/config.mirror"] ?? uid
    }
}

/// `metadata` of any object.
package struct ObjectMeta: Codable, Sendable, Hashable {
    package var name: String?
    package var namespace: String?
    package var uid: String?
    package var resourceVersion: String?
    package var labels: [String: String]?
    package var annotations: [String: String]?
    package var ownerReferences: [OwnerReference]?
    package var deletionTimestamp: String?

    package init(name: String? = nil, namespace: String? = nil, uid: String? = nil, resourceVersion: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
    }
}

package struct OwnerReference: Codable, Sendable, Hashable {
    package var apiVersion: String?
    package var kind: String
    package var name: String
    package var uid: String?
    package var controller: Bool?
}

/// A `Status` object: the body of API errors and of watch `ERROR` events.
package struct APIStatus: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    package var status: String?
    package var message: String?
    package var reason: String?
    package var code: Int?

    package var description: String {
        "\(code.map(String.init) ?? "?") \(reason ?? "") \(message ?? "")"
    }

    /// 410 Gone / reason Expired: the resource version was compacted, a new list is needed.
    package var isGone: Bool { code == 410 || reason == "Expired" || reason == "Gone" }
}
