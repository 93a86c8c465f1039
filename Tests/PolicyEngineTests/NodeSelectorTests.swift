// SPDX-License-Identifier: Apache-2.0
import ControlAPI
import Foundation
import Logging
import PolicyCompiler
import Testing
import TracingPolicy
import VigilAgent

/// A policy's `nodeSelector` against this node's labels: applied only where they match, held
/// while they are unknown, and installed or removed as they change. Through the agent's
/// controller on a ``RecordingKernel``: no root, no BPF.
@Suite struct NodeSelectorTests {
    static func controller(_ kernel: RecordingKernel) -> AgentController {
        var environment = PolicyEngineTests.environment()
        environment.podScopesAvailable = true  // as with --enable-k8s-api
        let engine = PolicyEngine(
            kernel: kernel, environment: environment, cgroupRoot: "/sys/fs/cgroup",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return AgentController(
            engine: engine, sources: PolicySources(trust: nil), persistDirectory: nil, broadcaster: EventBroadcaster(),
            context: .init(nodeName: "node-a", attachMode: "test", started: Date(), counters: { [:] }),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func policy(name: String = "web-only", selector: String, call: String = "web_function") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          nodeSelector:
        \(selector.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
          kprobes:
          - call: \(call)
            syscall: false
        """
    }

    static func state(_ controller: AgentController, _ name: String = "web-only") async throws -> PolicyInfo {
        try #require(await controller.listPolicies().first { $0.name == name })
    }

    @Test func appliedOnlyWhileTheNodesLabelsMatch() async throws {
        let kernel = RecordingKernel()
        let controller = Self.controller(kernel)
        _ = try await controller.addPolicy(
            yaml: Self.policy(selector: "matchLabels:\n  role: web"), fileName: "web.yaml", mode: nil)
        // Labels not known yet: held, not node-wide.
        var info = try await Self.state(controller)
        #expect(info.state == .notOnThisNode)
        #expect(info.error == "nodeSelector {role=web}: waiting for this node's labels from the API server")
        #expect(kernel.attached.isEmpty)

        controller.nodeLabelsChanged(["role": "db", "kubernetes.io/hostname": "node-a"])
        info = try await Self.state(controller)
        #expect(info.state == .notOnThisNode)
        #expect(info.error == "nodeSelector {role=web} does not match this node's labels")
        #expect(kernel.attached.isEmpty)

        controller.nodeLabelsChanged(["role": "web", "kubernetes.io/hostname": "node-a"])
        info = try await Self.state(controller)
        #expect(info.state == .loaded)
        #expect(info.error == nil)
        #expect(kernel.attached == ["kprobe web_function"])

        // The label goes: the policy leaves this node.
        controller.nodeLabelsChanged(["kubernetes.io/hostname": "node-a"])
        info = try await Self.state(controller)
        #expect(info.state == .notOnThisNode)
        #expect(kernel.attached.isEmpty)

        // The node disappears from the API server: its labels are unknown again, the policy waits.
        controller.nodeLabelsChanged(["role": "web"])
        #expect(kernel.attached == ["kprobe web_function"])
        controller.nodeLabelsChanged(nil)
        #expect(kernel.attached.isEmpty)
        #expect(try await Self.state(controller).error?.contains("waiting for this node's labels") == true)
    }

    @Test func matchExpressionsAndEmptySelectors() async throws {
        let kernel = RecordingKernel()
        let controller = Self.controller(kernel)
        controller.nodeLabelsChanged(["zone": "eu-1"])
        _ = try await controller.addPolicy(
            yaml: Self.policy(name: "not-us", selector: "matchExpressions:\n- key: zone\n  operator: NotIn\n  values: [us-1, us-2]",
                              call: "not_us_function"),
            fileName: "not-us.yaml", mode: nil)
        _ = try await controller.addPolicy(
            yaml: Self.policy(name: "every-node", selector: "{}", call: "every_function").replacingOccurrences(of: "nodeSelector:\n    {}", with: "nodeSelector: {}"),
            fileName: "every.yaml", mode: nil)
        #expect(try await Self.state(controller, "not-us").state == .loaded)
        #expect(try await Self.state(controller, "every-node").state == .loaded)
        controller.nodeLabelsChanged(["zone": "us-2"])
        #expect(try await Self.state(controller, "not-us").state == .notOnThisNode)
        // `{}` selects every node, whatever its labels.
        #expect(try await Self.state(controller, "every-node").state == .loaded)
        #expect(kernel.attached == ["kprobe every_function"])
    }

    @Test func aPolicyThatDoesNotCompileIsRefusedOnEveryNode() async throws {
        let kernel = RecordingKernel()
        let controller = Self.controller(kernel)
        controller.nodeLabelsChanged(["role": "db"])
        let bad = Self.policy(selector: "matchLabels:\n  role: web").replacingOccurrences(of: "syscall: false", with: "syscall: false\n    selectors:\n    - matchActions:\n      - action: NoSuchAction")
        await #expect(throws: ControlError.self) {
            _ = try await controller.addPolicy(yaml: bad, fileName: "bad.yaml", mode: nil)
        }
    }
}
