// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The agent with `--enable-k8s-api` against the fixture API server, and real runc containers
/// whose ids the fixture's pods carry in their status: events of processes in a container carry
/// the pod, a host process's carry none; a pod that shows up after the container's first exec
/// still gets onto that exec, one that never shows up lets the event go after the bound, counted.
@Suite(
    .enabled(if: RuncContainer.unavailableReason == nil, "\(RuncContainer.unavailableReason ?? "")"),
    .serialized, .timeLimit(.minutes(3)))
struct PodKernelTests {
    @Test func eventsOfContainerisedProcessesCarryTheirPod() throws {
        let server = try FixtureAPIServer()
        let kubeconfig = try server.writeKubeconfig()
        let agent = try AgentHarness(arguments: ["--enable-k8s-api", "--k8s-kubeconfig-path", kubeconfig, "--pod-wait-timeout", "4"])
        var containers: [RuncContainer] = []
        let dir = try TempDir("vigil-host")
        var log: String?
        defer {
            for c in containers { c.remove() }
            if log == nil { agent.stop() }
            agent.cleanUp()
            server.stop()
            dir.remove()
        }
        // Another node's pod is not this agent's business.
        server.addPod(FixturePods.pod(name: "elsewhere", node: "other-node", containerID: String(repeating: "e", count: 64)))

        // A: the pod is served before the container runs anything.
        let a = try RuncContainer()
        containers.append(a)
        server.addPod(
            FixturePods.pod(
                name: "cart-5b9f7c6d8-hh9tc", namespace: "shop", uid: a.podUID, node: agent.nodeName,
                labels: ["app": "cart", "tier": "backend"], containerName: "cart", containerID: a.id))
        #expect(try a.execUnique(["true"]) == 0)
        let binaryA = "/bin/\(a.uniqueBinaryName)"
        let execA = try agent.waitFor("process_exec of \(binaryA)") { $0.type == "process_exec" && $0.binary == binaryA }
        let pod = try #require(execA.process["pod"] as? [String: Any], "no pod in \(execA.line)")
        #expect(pod["namespace"] as? String == "shop")
        #expect(pod["name"] as? String == "cart-5b9f7c6d8-hh9tc")
        #expect(pod["uid"] as? String == a.podUID)
        #expect(pod["workload"] as? String == "cart")
        #expect(pod["workload_kind"] as? String == "Deployment")
        #expect(pod["pod_labels"] as? [String: String] == ["app": "cart", "tier": "backend", "pod-template-hash": "5b9f7c6d8"])
        let container = try #require(pod["container"] as? [String: Any])
        #expect(container["id"] as? String == "containerd://\(a.id)")
        #expect(container["name"] as? String == "cart")
        #expect((container["image"] as? [String: Any])?["name"] as? String == "registry.example.com/shop/cart:2.4.1")
        #expect(((container["image"] as? [String: Any])?["id"] as? String)?.hasPrefix("registry.example.com/shop/cart@sha256:") == true)
        #expect(container["start_time"] as? String == "2026-11-21T07:02:19Z")
        // runc exec'd it into the container's pid namespace, where sleep is 1.
        #expect((container["pid"] as? Int).map { $0 > 1 } == true)
        #expect(execA.process["docker"] as? String == String(a.id.prefix(31)))
        let exitA = try agent.waitFor("process_exit of \(binaryA)") { $0.type == "process_exit" && $0.execID == execA.execID }
        #expect((exitA.process["pod"] as? [String: Any])?["name"] as? String == "cart-5b9f7c6d8-hh9tc")
        #expect(((exitA.process["pod"] as? [String: Any])?["container"] as? [String: Any])?["name"] as? String == "cart")

        // Host: no pod, no docker.
        let hostBinary = try dir.copy(RuncContainer.busyboxPath!, as: a.uniqueBinaryName)
        #expect(try Spawn.run(hostBinary, argv: [Array(hostBinary.utf8), Array("true".utf8)]) == 0)
        let host = try agent.waitFor("process_exec of \(hostBinary)") { $0.type == "process_exec" && $0.binary == hostBinary }
        #expect(host.process["pod"] == nil)
        #expect(host.process["docker"] == nil)

        // B: the first exec happens before the pod is in the watch; the event waits for it.
        let b = try RuncContainer()
        containers.append(b)
        #expect(try b.execUnique(["true"]) == 0)
        usleep(1_000_000)
        server.addPod(FixturePods.pod(name: "late-pod", uid: b.podUID, node: agent.nodeName, containerName: "late", containerID: b.id, deployment: nil))
        let binaryB = "/bin/\(b.uniqueBinaryName)"
        let execB = try agent.waitFor("process_exec of \(binaryB)") { $0.type == "process_exec" && $0.binary == binaryB }
        let podB = try #require(execB.process["pod"] as? [String: Any], "no pod in \(execB.line)")
        #expect(podB["name"] as? String == "late-pod")
        #expect(podB["workload_kind"] as? String == "Pod")
        #expect((podB["container"] as? [String: Any])?["name"] as? String == "late")

        // C: no pod ever; the exec goes out without one after the bound.
        let c = try RuncContainer()
        containers.append(c)
        let started = Date()
        #expect(try c.execUnique(["true"]) == 0)
        let binaryC = "/bin/\(c.uniqueBinaryName)"
        let execC = try agent.waitFor(timeout: 20, "process_exec of \(binaryC)") { $0.type == "process_exec" && $0.binary == binaryC }
        #expect(Date().timeIntervalSince(started) >= 3.5)
        #expect(execC.process["pod"] == nil)
        #expect(execC.process["docker"] as? String == String(c.id.prefix(31)))

        // The pod leaves with its DELETED event: later events of A's container carry none.
        server.deletePod(uid: a.podUID)
        usleep(500_000)
        #expect(try a.execUnique(["true"]) == 0)
        let laterA = try agent.waitFor(timeout: 20, "second exec of \(binaryA)") {
            $0.type == "process_exec" && $0.binary == binaryA && $0.execID != execA.execID
        }
        #expect(laterA.process["pod"] == nil)

        let stopping = Date()
        log = agent.stop()
        // The pod watch's TLS connection closes promptly, not after a close_notify timeout.
        #expect(Date().timeIntervalSince(stopping) < 4)
        let summary = try #require(log?.split(separator: "\n").last { $0.contains("pod metadata") })
        // C's exec and its sleep's (runc's init) never found a pod.
        let missing = summary.firstRange(of: /pod_missing=(\d+)/).map { Int(summary[$0].split(separator: "=")[1]) ?? 0 } ?? 0
        #expect(missing >= 1, "\(summary)")
    }
}
