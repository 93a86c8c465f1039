// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Kubernetes

private func decodePod(_ object: [String: Any]) throws -> Pod {
    try JSONDecoder().decode(Pod.self, from: JSONSerialization.data(withJSONObject: object))
}

@Suite struct WorkloadTests {
    private func pod(owner: (String, String)?, hash: String? = nil, name: String = "p") -> Pod {
        var meta = ObjectMeta(name: name, namespace: "ns", uid: "u")
        if let hash { meta.labels = ["pod-template-hash": hash] }
        if let (kind, ownerName) = owner {
            meta.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: kind, name: ownerName, uid: "o", controller: true)]
        }
        return Pod(metadata: meta, spec: nil, status: nil)
    }

    @Test func replicaSetWithTemplateHashIsItsDeployment() {
        #expect(Workload(pod: pod(owner: ("ReplicaSet", "frontend-7d9c8b6f5d"), hash: "7d9c8b6f5d")) == Workload(name: "frontend", kind: "Deployment"))
    }

    @Test func replicaSetWithoutMatchingHashStaysAReplicaSet() {
        #expect(Workload(pod: pod(owner: ("ReplicaSet", "standalone"), hash: "abc")) == Workload(name: "standalone", kind: "ReplicaSet"))
    }

    @Test func cronJobJobIsItsCronJob() {
        #expect(Workload(pod: pod(owner: ("Job", "backup-29012345"))) == Workload(name: "backup", kind: "CronJob"))
        #expect(Workload(pod: pod(owner: ("Job", "migrate-1"))) == Workload(name: "migrate-1", kind: "Job"))
    }

    @Test func otherOwnersAndBarePods() {
        #expect(Workload(pod: pod(owner: ("DaemonSet", "vigil"))) == Workload(name: "vigil", kind: "DaemonSet"))
        #expect(Workload(pod: pod(owner: nil, name: "debug")) == Workload(name: "debug", kind: "Pod"))
    }
}

@Suite struct PodStoreTests {
    static let idA = String(repeating: "a1", count: 32)
    static let idB = String(repeating: "b2", count: 32)

    @Test func looksUpByFullIdAndByDockerPrefix() throws {
        let store = PodStore()
        let p = try decodePod(FixturePods.pod(name: "cart-1", uid: "u1", node: "n", containerID: Self.idA))
        store.upsert(p)
        let match = try #require(store.lookup(containerID: Self.idA))
        #expect(match.pod.metadata.name == "cart-1")
        #expect(match.status.name == "cart")
        #expect(match.spec?.image == "registry.example.com/shop/cart:2.4.1")
        #expect(match.workload == Workload(name: "cart", kind: "Deployment"))
        #expect(store.lookup(containerID: String(Self.idA.prefix(31)))?.pod.uid == "u1")
        #expect(store.lookup(containerID: Self.idB) == nil)
        #expect(store.lookup(containerID: "a1a1") == nil)
    }

    @Test func containerIdArrivingInALaterUpdateIsIndexed() throws {
        let store = PodStore()
        store.upsert(try decodePod(FixturePods.pod(name: "p", uid: "u1", node: "n", containerID: nil)))
        #expect(store.lookup(containerID: Self.idA) == nil)
        store.upsert(try decodePod(FixturePods.pod(name: "p", uid: "u1", node: "n", containerID: Self.idA)))
        #expect(store.lookup(containerID: Self.idA)?.pod.uid == "u1")
    }

    @Test func deleteAndReplaceForgetPods() throws {
        let store = PodStore()
        store.upsert(try decodePod(FixturePods.pod(name: "a", uid: "u1", node: "n", containerID: Self.idA)))
        store.upsert(try decodePod(FixturePods.pod(name: "b", uid: "u2", node: "n", containerID: Self.idB)))
        store.delete(uid: "u1")
        #expect(store.lookup(containerID: Self.idA) == nil)
        #expect(store.count == 1)
        let dropped = store.replace(with: [])
        #expect(dropped == ["u2"])
        #expect(store.lookup(containerID: Self.idB) == nil)
        #expect(store.count == 0)
    }

    /// A deleted pod still answers for events from before its deletion, for `deletedGrace`,
    /// and never for later ones; the bound keeps the newest.
    @Test func deletedPodsAnswerOnlyForEarlierEventsForAWhile() throws {
        final class Clocks: Sendable {
            let wall = Atomic<UInt64>(1_000)
            let mono = Mutex(ContinuousClock.now)
        }
        let clocks = Clocks()
        let store = PodStore(
            deletedGrace: .seconds(30), maxDeleted: 1, wallNow: { clocks.wall.load(ordering: .relaxed) },
            now: { clocks.mono.withLock { $0 } })
        store.upsert(try decodePod(FixturePods.pod(name: "a", uid: "u1", node: "n", containerID: Self.idA)))
        store.delete(uid: "u1")
        #expect(store.lookup(containerID: Self.idA) == nil)
        #expect(store.lookupDeleted(containerID: Self.idA, eventTime: 999)?.pod.metadata.name == "a")
        #expect(store.lookupDeleted(containerID: String(Self.idA.prefix(31)), eventTime: 1_000)?.pod.uid == "u1")
        #expect(store.lookupDeleted(containerID: Self.idA, eventTime: 1_001) == nil)
        #expect(store.count == 0)
        clocks.mono.withLock { $0 += .seconds(31) }
        #expect(store.lookupDeleted(containerID: Self.idA, eventTime: 999) == nil)

        // A relist that drops a pod keeps it the same way; only `maxDeleted` are kept.
        clocks.wall.store(2_000, ordering: .relaxed)
        store.upsert(try decodePod(FixturePods.pod(name: "b", uid: "u2", node: "n", containerID: Self.idB)))
        store.replace(with: [])
        #expect(store.lookupDeleted(containerID: Self.idB, eventTime: 1_500)?.pod.metadata.name == "b")
        #expect(store.deletedCount == 1)
        // Coming back (same uid) ends its deleted entry.
        store.upsert(try decodePod(FixturePods.pod(name: "b", uid: "u2", node: "n", containerID: Self.idB)))
        #expect(store.deletedCount == 0)
        #expect(store.lookup(containerID: Self.idB)?.pod.metadata.name == "b")
    }

    @Test func mirrorPodsAreKeyedByTheirConfigHash() throws {
        var object = FixturePods.pod(name: "etcd-node", uid: "u1", node: "n", containerID: Self.idA)
        var metadata = object["metadata"] as! [String: Any]
        metadata["annotations"] = ["kubernetes.io/config.mirror": "6a1f0c3e9b2d4f5a8c7e1d0b3a9f2e4c"]
        object["metadata"] = metadata
        #expect(try decodePod(object).cgroupUID == "6a1f0c3e9b2d4f5a8c7e1d0b3a9f2e4c")
    }

    @Test func realClusterPodDecodes() throws {
        // The example pod of reference/kubernetes.md, trimmed to the fields a real list carries.
        let json = #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"frontend-7d9c8b6f5d-x2x8k","generateName":"frontend-7d9c8b6f5d-","namespace":"shop","uid":"3f6b1f0e-8a4c-4c1e-9d61-2b7f5a0c9e41","resourceVersion":"48213377","creationTimestamp":"2026-11-20T09:14:02Z","labels":{"app":"frontend","pod-template-hash":"7d9c8b6f5d"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-20T09:13:58Z"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"frontend-7d9c8b6f5d","uid":"5e1f0a3c-6b0d-4c47-9a8e-0f4f3b2d9c11","controller":true,"blockOwnerDeletion":true}]},"spec":{"nodeName":"node-a","containers":[{"name":"nginx","image":"docker.io/library/nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],"securityContext":{"privileged":false}}]},"status":{"phase":"Running","qosClass":"Burstable","containerStatuses":[{"name":"nginx","ready":true,"started":true,"restartCount":0,"image":"docker.io/library/nginx:1.27","imageID":"docker.io/library/nginx@sha256:9c1f4e7a2b8d5c3e6f0a1b4d7e9c2f5a8b3d6e1f4a7c0b9d2e5f8a3c6b1d4e70","containerID":"containerd://4c8e2d9b7a1f3e5d6c0b8a7f9e2d1c3b5a4f6e8d7c9b0a1e2f3d4c5b6a7e8f90","state":{"running":{"startedAt":"2026-11-20T09:14:05Z"}}}]}}"#
        let pod = try JSONDecoder().decode(Pod.self, from: Data(json.utf8))
        let store = PodStore()
        store.upsert(pod)
        let match = try #require(store.lookup(containerID: "4c8e2d9b7a1f3e5d6c0b8a7f9e2d1c3"))
        #expect(match.workload == Workload(name: "frontend", kind: "Deployment"))
        #expect(match.status.state?.running?.startedAt == "2026-11-20T09:14:05Z")
        #expect(match.pod.metadata.labels?["app"] == "frontend")
    }
}

@Suite struct KubeConfigTests {
    @Test func inClusterNeedsTheServiceEnvironment() throws {
        #expect(throws: KubeConfig.Error.self) { try KubeConfig.inCluster(environment: [:]) }
        let dir = try TempDir("vigil-sa")
        defer { dir.remove() }
        try Data("tok\n".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/token"))
        try Data("PEM".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/ca.crt"))
        let config = try KubeConfig.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: dir.path)
        #expect(config.server == "https://[fd00::1]:443")
        #expect(try config.token.current() == "tok")
        #expect(config.caPEM == Array("PEM".utf8))
    }

    @Test func kubeconfigCurrentContextWithTokenFileAndCAData() throws {
        let dir = try TempDir("vigil-kubeconfig")
        defer { dir.remove() }
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/tok"))
        let yaml = """
            apiVersion: v1
            kind: Config
            current-context: b
            clusters:
            - name: c1
              cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: \(Data("CA".utf8).base64EncodedString())}
            - name: c2
              cluster: {server: "https://127.0.0.1:7443", insecure-skip-tls-verify: true}
            contexts:
            - {name: a, context: {cluster: c1, user: u1}}
            - {name: b, context: {cluster: c2, user: u2}}
            users:
            - {name: u1, user: {token: inline}}
            - {name: u2, user: {tokenFile: tok}}
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: "\(dir.path)/config"))
        let config = try KubeConfig.load(kubeconfig: "\(dir.path)/config")
        #expect(config.server == "https://127.0.0.1:7443")
        #expect(config.insecureSkipVerify)
        #expect(try config.token.current() == "secret")

        let clientCert = yaml.replacingOccurrences(of: "{tokenFile: tok}", with: "{client-certificate: c.crt}")
        try Data(clientCert.utf8).write(to: URL(fileURLWithPath: "\(dir.path)/config2"))
        let error = #expect(throws: KubeConfig.Error.self) { try KubeConfig.load(kubeconfig: "\(dir.path)/config2") }
        #expect(error?.description.contains("client certificate") == true)
    }

    @Test func tokenIsReReadAfterInvalidate() throws {
        let dir = try TempDir("vigil-token")
        defer { dir.remove() }
        let path = "\(dir.path)/token"
        try Data("one".utf8).write(to: URL(fileURLWithPath: path))
        let source = TokenSource(file: path)
        #expect(try source.current() == "one")
        try Data("two".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try source.current() == "one")  // cached for a minute
        source.invalidate()
        #expect(try source.current() == "two")
    }
}

@Suite struct RawObjectTests {
    @Test func keepsTheObjectWholeWithIntegersIntact() throws {
        let json = #"{"apiVersion":"vigil.dev/v1alpha1","kind":"TracingPolicy","metadata":{"name":"p","resourceVersion":"7"},"spec":{"kprobes":[{"call":"sys_write","args":[{"index":0,"type":"int"}],"selectors":[{"matchArgs":[{"index":0,"operator":"Equal","values":["18446744073709551615"]}]}],"syscall":true}]},"x":18446744073709551615,"y":-1.5}"#
        let object = try JSONDecoder().decode(RawObject.self, from: Data(json.utf8))
        #expect(object.metadata.name == "p")
        #expect(object.metadata.resourceVersion == "7")
        let again = try JSONSerialization.jsonObject(with: Data(object.json.utf8)) as? NSDictionary
        let original = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary
        #expect(again == original)
        #expect(object.json.contains(#""index":0"#))
        #expect(object.json.contains(#""x":18446744073709551615"#))
    }
}
