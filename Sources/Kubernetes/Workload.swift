// SPDX-License-Identifier: Apache-2.0

/// The workload a pod belongs to, derived from its controller owner the way Tetragon does
/// (`pkg/podhelpers`): a ReplicaSet whose name is `<deployment>-<pod-template-hash>` stands for
/// that Deployment, a Job named `<cronjob>-<digits>` for its CronJob; without a controller owner
/// the pod is its own workload (kind `Pod`).
package struct Workload: Sendable, Hashable {
    package var name: String
    package var kind: String

    package init(name: String, kind: String) {
        self.name = name
        self.kind = kind
    }

    package init(pod: Pod) {
        let owners = pod.metadata.ownerReferences ?? []
        guard let owner = owners.first(where: { $0.controller == true }) ?? owners.first else {
            self.init(name: pod.metadata.name ?? "", kind: "Pod")
            return
        }
        switch owner.kind {
        case "ReplicaSet":
            if let hash = pod.metadata.labels?["pod-template-hash"], owner.name.hasSuffix("-\(hash)") {
                self.init(name: String(owner.name.dropLast(hash.count + 1)), kind: "Deployment")
                return
            }
        case "Job":
            // CronJob jobs are named <cronjob>-<scheduled time in minutes>: 8 to 10 digits.
            if let dash = owner.name.lastIndex(of: "-") {
                let suffix = owner.name[owner.name.index(after: dash)...]
                if (8...10).contains(suffix.count), suffix.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    self.init(name: String(owner.name[..<dash]), kind: "CronJob")
                    return
                }
            }
        default:
            break
        }
        self.init(name: owner.name, kind: owner.kind)
    }
}
