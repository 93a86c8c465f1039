// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// Pod-scoped policies enforced in the kernel: the fixture API server serves pods whose
/// containers are real runc containers, and the same busybox runs in each and on the host. Only
/// processes in the selected pods hit the policy; the set follows the pod watch.
@Suite(
    .enabled(if: RuncContainer.unavailableReason == nil, "\(RuncContainer.unavailableReason ?? "")"),
    .serialized, .timeLimit(.minutes(3)))
struct PodScopeKernelTests {
    /// Sigkill for whoever opens `path` (a name only this test uses), scoped by `scope` (YAML).
    /// A fixture API server, an agent that watches it, and runc containers whose pods the
    /// server serves; `close()` removes all of it, whatever was reached.
    final class Scene {
        let server: FixtureAPIServer
        let dir: TempDir
        let tag = UUID().uuidString.prefix(8).lowercased()
        private(set) var agent: AgentHarness?
        private var containers: [RuncContainer] = []

        init() throws {
            server = try FixtureAPIServer()
            do { dir = try TempDir("vigil-podscope") } catch {
                server.stop()
                throw error
            }
        }

        /// Starts the agent with the Kubernetes API on and `policyArguments`.
        func start(_ policyArguments: [String]) throws -> AgentHarness {
            let agent = try AgentHarness(
                arguments: ["--enable-k8s-api", "--k8s-kubeconfig-path", try server.writeKubeconfig()] + policyArguments)
            self.agent = agent
            return agent
        }

        /// A new container, and its pod in the server's list.
        func container(
            pod: String, namespace: String = "shop", labels: [String: String] = ["app": "cart"], containerName: String = "cart"
        ) throws -> RuncContainer {
            let container = try track(RuncContainer(fence: agent?.fence))
            server.addPod(
                FixturePods.pod(
                    name: pod, namespace: namespace, uid: container.podUID, node: agent?.nodeName ?? "", labels: labels,
                    containerName: containerName, containerID: container.id))
            return container
        }

        /// Removes `container` with the rest.
        func track(_ container: RuncContainer) -> RuncContainer {
            containers.append(container)
            return container
        }

        func close() {
            for c in containers { c.remove() }
            agent?.stop()
            agent?.cleanUp()
            server.stop()
            dir.remove()
        }
    }

    static func killOnOpen(name: String, kind: String = "TracingPolicy", namespace: String? = nil, path: String, scope: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: \(kind)
        metadata:
          name: \(name)
        \(namespace.map { "  namespace: \($0)" } ?? "")
        spec:
        \(scope.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 6
                operator: Equal
                values: ["\(path)"]
              matchActions:
              - action: Sigkill
        """
    }

    /// The scope of `name` as `tracectl policy list -o json` shows it: (cgroups, unresolved).
    static func scope(_ agent: AgentHarness, _ name: String) throws -> (Int, Int)? {
        let output = try agent.tracectl(["policy", "list", "-o", "json"]).output
        guard let data = output.data(using: .utf8),
            let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let policies = root["policies"] as? [[String: Any]],
            let policy = policies.first(where: { $0["name"] as? String == name }),
            let scope = policy["scope"] as? [String: Any]
        else { return nil }
        return (scope["cgroups"] as? Int ?? -1, scope["unresolved"] as? Int ?? -1)
    }

    static func waitForScope(_ agent: AgentHarness, _ name: String, cgroups: Int, timeout: Double = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last: (Int, Int)?
        while Date() < deadline {
            last = try scope(agent, name)
            if last?.0 == cgroups { return }
            usleep(100_000)
        }
        throw Spawn.Failure(description: "scope of \(name) never had \(cgroups) cgroups (last: \(String(describing: last)))")
    }

    /// Runs busybox `cat path` in `container`; true when SIGKILL ended it (runc exec: 128 + 9).
    static func killed(in container: RuncContainer, opening path: String) throws -> Bool {
        try container.execUnique(["cat", path]) == 128 + SIGKILL
    }

    /// The same on the host (in the agent's fence), with a copy of busybox.
    static func killed(host busybox: String, opening path: String, agent: AgentHarness) throws -> Bool {
        try agent.run(busybox, argv: [Array(busybox.utf8), Array("cat".utf8), Array(path.utf8)]) & 0x7f == SIGKILL
    }

    @Test func podSelectorSigkillHitsOnlyTheSelectedPod() throws {
        let scene = try Scene()
        defer { scene.close() }
        let (server, dir, tag) = (scene.server, scene.dir, scene.tag)
        let path = "/tmp/vigil-podscope-\(tag)"
        let name = "kill-in-pod-\(tag)"
        let file = "\(dir.path)/policy.yaml"
        try Self.killOnOpen(name: name, path: path, scope: "podSelector:\n  matchLabels:\n    app: target-\(tag)")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try scene.start(["--tracing-policy", file])
        let a = try scene.container(pod: "target-\(tag)", labels: ["app": "target-\(tag)"])
        let b = try scene.container(pod: "bystander-\(tag)", labels: ["app": "bystander-\(tag)"])
        // One pod selected: its pod-level cgroup.
        try Self.waitForScope(agent, name, cgroups: 1)

        #expect(try Self.killed(in: a, opening: path))
        #expect(try !Self.killed(in: b, opening: path))
        let hostBusybox = try dir.copy(RuncContainer.busyboxPath!, as: "busybox-vigil-host-\(tag)")
        #expect(try !Self.killed(host: hostBusybox, opening: path, agent: agent))

        let binaryA = "/bin/\(a.uniqueBinaryName)"
        let event = try agent.waitFor("Sigkill event in the selected pod") {
            $0.type == "process_tracepoint" && $0.policyName == name && $0.binary == binaryA
        }
        #expect(event.action == "KPROBE_ACTION_SIGKILL")
        #expect((event.process["pod"] as? [String: Any])?["name"] as? String == "target-\(tag)")
        // A sentinel exec after the other two: once it is out, their events would be too.
        #expect(try b.execUnique(["true"]) == 0)
        _ = try agent.waitFor("sentinel exec") {
            $0.type == "process_exec" && $0.binary == "/bin/\(b.uniqueBinaryName)" && $0.process["arguments"] as? String == "true"
        }
        usleep(300_000)
        agent.poll()
        let hits = agent.events.filter { $0.policyName == name }
        #expect(hits.count == 1, "\(hits.map(\.line))")
        // Every other open on the node ran the hook out of scope, and was counted.
        let status = try agent.tracectl(["status", "-o", "json"]).output
        let outOfScope = status.firstMatch(of: /"policy_out_of_scope"\s*:\s*(\d+)/).flatMap { Int($0.1) } ?? 0
        #expect(outOfScope > 0, "\(status)")

        // A selected pod the API server knows before the kubelet made its cgroup (the usual
        // order): unresolved at first, picked up when its cgroup appears.
        let lateUID = UUID().uuidString.lowercased()
        server.addPod(
            FixturePods.pod(
                name: "late-\(tag)", uid: lateUID, node: agent.nodeName, labels: ["app": "target-\(tag)"],
                containerName: "cart", containerID: nil))
        let deadline = Date().addingTimeInterval(10)
        while try Self.scope(agent, name)?.1 != 1 && Date() < deadline { usleep(100_000) }
        #expect(try Self.scope(agent, name)?.1 == 1)
        let late = try scene.track(RuncContainer(podUID: lateUID, fence: agent.fence))
        try Self.waitForScope(agent, name, cgroups: 2)
        #expect(try Self.killed(in: late, opening: path))
    }

    @Test func containerSelectorAndFanotifyDenyFollowTheScope() throws {
        let scene = try Scene()
        defer { scene.close() }
        let (dir, tag) = (scene.dir, scene.tag)
        let path = "/tmp/vigil-cscope-\(tag)"
        let secret = "\(dir.path)/secret-\(tag)"
        try "x".write(toFile: secret, atomically: true, encoding: .utf8)
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try Self.killOnOpen(name: "kill-in-api-\(tag)", path: path, scope: "containerSelector:\n  matchLabels:\n    name: api")
            .write(toFile: "\(policies)/kill.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: deny-in-pod-\(tag)
            spec:
              podSelector:
                matchLabels:
                  app: api-\(tag)
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: file
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(secret)"]
                  matchActions:
                  - action: Override
                    argError: -1
            """.write(toFile: "\(policies)/deny.yaml", atomically: true, encoding: .utf8)
        let agent = try scene.start(["--tracing-policy-dir", policies])
        let a = try scene.container(pod: "api-\(tag)", labels: ["app": "api-\(tag)"], containerName: "api")
        let b = try scene.container(pod: "cart-\(tag)", labels: ["app": "cart-\(tag)"])
        // containerSelector: the container's own cgroup; podSelector: the pod's.
        try Self.waitForScope(agent, "kill-in-api-\(tag)", cgroups: 1)
        try Self.waitForScope(agent, "deny-in-pod-\(tag)", cgroups: 1)
        #expect(try Self.killed(in: a, opening: path))
        #expect(try !Self.killed(in: b, opening: path))

        // fanotify decides in the agent: a host shell that moves itself into the selected
        // container's cgroup is denied, the same shell outside is not.
        let busybox = try dir.copy(RuncContainer.busyboxPath!, as: "busybox-vigil-fan-\(tag)")
        let cgroup2 = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
        func cat(inside: Bool) throws -> Int32 {
            let move = inside ? "echo $$ > \(cgroup2)\(a.cgroupPath)/cgroup.procs && " : ""
            let script = "\(move)exec \(busybox) cat \(secret) > /dev/null"
            return try agent.run(busybox, argv: [busybox, "sh", "-c", script].map { Array($0.utf8) })
        }
        #expect(try cat(inside: false) == 0)
        #expect(try cat(inside: true) != 0)
        let event = try agent.waitFor("Override event of the shell in the pod") {
            $0.type == "process_lsm" && $0.policyName == "deny-in-pod-\(tag)"
        }
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
    }

    /// The cgroup connect hooks (and the connect result at sys_exit) honour the scope too: a
    /// host shell moved into the selected pod's cgroup is denied, the same busybox outside is not.
    @Test func connectDenyAppliesOnlyInTheSelectedPod() throws {
        let scene = try Scene()
        defer { scene.close() }
        let (dir, tag) = (scene.dir, scene.tag)
        // A port nothing listens on: outside the pod the connect is refused, inside it is denied.
        let probe = try ConnectKernelTests.Listener()
        let port = probe.port
        probe.close()
        let name = "deny-connect-\(tag)"
        let file = "\(dir.path)/policy.yaml"
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: \(name)
            spec:
              podSelector:
                matchLabels:
                  app: net-\(tag)
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["\(port)"]
                  matchActions:
                  - action: Override
                    argError: -1
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try scene.start(["--tracing-policy", file])
        let a = try scene.container(pod: "net-\(tag)", labels: ["app": "net-\(tag)"])
        try Self.waitForScope(agent, name, cgroups: 1)

        let inside = try dir.copy(RuncContainer.busyboxPath!, as: "busybox-vigil-in-\(tag)")
        let outside = try dir.copy(RuncContainer.busyboxPath!, as: "busybox-vigil-out-\(tag)")
        let cgroup2 = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
        let move = "echo $$ > \(cgroup2)\(a.cgroupPath)/cgroup.procs && "
        for (busybox, script) in [
            (outside, "exec \(outside) nc 127.0.0.1 \(port) < /dev/null"),
            (inside, move + "exec \(inside) nc 127.0.0.1 \(port) < /dev/null"),
        ] {
            _ = try agent.run(busybox, argv: [busybox, "sh", "-c", script].map { Array($0.utf8) })
        }
        let denied = try agent.waitFor("denied connect in the pod") { $0.policyName == name && $0.binary == inside }
        #expect(denied.action == "KPROBE_ACTION_OVERRIDE")
        // The outside connect came first: had it matched, its event would be out by now.
        usleep(300_000)
        agent.poll()
        #expect(!agent.events.contains { $0.policyName == name && $0.binary == outside })
    }

    @Test func namespacedCRDPolicyAppliesInItsNamespaceAndFollowsPodDeletion() throws {
        let scene = try Scene()
        defer { scene.close() }
        let (server, tag) = (scene.server, scene.tag)
        let collection = "/apis/cilium.io/v1alpha1/tracingpoliciesnamespaced"
        server.serveCollection(collection)
        let path = "/tmp/vigil-nsscope-\(tag)"
        let name = "ns-kill-\(tag)"
        let namespace = "team-\(tag)"
        let agent = try scene.start(["--tracing-policy-dir", "/nonexistent"])
        // Same labels, different namespaces.
        let a = try scene.container(pod: "in-\(tag)", namespace: namespace)
        let b = try scene.container(pod: "out-\(tag)", namespace: "other-\(tag)")
        server.addObjects(
            [Self.namespacedObject(name: name, namespace: namespace, uid: "uid-\(name)", path: path)], path: collection)
        try agent.waitForLog("policy loaded", timeout: 90)
        try Self.waitForScope(agent, name, cgroups: 1)

        #expect(try Self.killed(in: a, opening: path))
        #expect(try !Self.killed(in: b, opening: path))
        _ = try agent.waitFor("Sigkill event in the namespace") {
            $0.type == "process_tracepoint" && $0.policyName == name && $0.binary == "/bin/\(a.uniqueBinaryName)"
        }

        // The pod leaves the watch: its containers are out of scope.
        server.deletePod(uid: a.podUID)
        try Self.waitForScope(agent, name, cgroups: 0)
        #expect(try !Self.killed(in: a, opening: path))
        let listed = try agent.tracectl(["policy", "list"]).output
        #expect(listed.contains("scope: namespace=\(namespace) pods{} (0 cgroups)"), "\(listed)")
    }

    /// A TracingPolicyNamespaced object as the CRD collection serves it, applying to every pod
    /// (`podSelector: {}`) of its namespace.
    static func namespacedObject(name: String, namespace: String, uid: String, path: String) -> [String: Any] {
        [
            "apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicyNamespaced",
            "metadata": ["name": name, "namespace": namespace, "uid": uid, "generation": 1],
            "spec": [
                "podSelector": [String: Any](),
                "tracepoints": [[
                    "subsystem": "syscalls", "event": "sys_enter_openat",
                    "args": [["index": 6, "type": "string"]],
                    "selectors": [[
                        "matchArgs": [["index": 6, "operator": "Equal", "values": [path]]],
                        "matchActions": [["action": "Sigkill"]],
                    ]],
                ]],
            ],
        ]
    }
}
