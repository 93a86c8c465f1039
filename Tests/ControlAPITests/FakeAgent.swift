// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import TracingPolicy

/// An `AgentControl` that keeps policies in memory, validates YAML with the real parser and
/// publishes events through a real `EventBroadcaster`.
actor FakeAgent: AgentControl {
    nonisolated let broadcaster: EventBroadcaster
    private var policies: [PolicyInfo]
    private(set) var reloads = 0

    init(bufferSize: Int = EventBroadcaster.defaultBufferSize, policies: [PolicyInfo] = FakeAgent.filePolicies) {
        self.broadcaster = EventBroadcaster(bufferSize: bufferSize)
        self.policies = policies
    }

    static let filePolicies = [
        PolicyInfo(
            name: "sensitive-file-reads", source: .file, file: "/etc/vigil/tracing-policies/sensitive-file-reads.yaml",
            state: .loaded, mode: .enforce, hooks: [HookInfo(hook: "syscalls:sys_enter_openat", mechanism: "tracepoint")],
            actionCounts: ["post": 12]),
        PolicyInfo(
            name: "uses-lsm", source: .file, file: "/etc/vigil/tracing-policies/lsm.yaml", state: .error,
            error: "lsm.yaml:9:3: spec.lsmhooks: BPF-LSM is not available on this kernel", mode: .enforce),
    ]

    func status() async -> AgentStatus {
        AgentStatus(
            version: "0.0.0-test", uptimeSeconds: 3723.5, nodeName: "test-node", kernelRelease: "6.18.0",
            attachMode: "tp_btf",
            mechanisms: [
                MechanismInfo(hook: "tracepoint", mechanism: "tracepoint", observe: true, kill: true, deny: false),
                MechanismInfo(hook: "lsm", mechanism: "unavailable", observe: false, kill: false, deny: false),
            ],
            counters: ["events_exported": 42, "client_drops": broadcaster.droppedTotal],
            policies: policies.count)
    }

    func listPolicies() async -> [PolicyInfo] {
        policies
    }

    func addPolicy(yaml: String, fileName: String, mode: PolicyMode?) async throws(ControlError) -> [PolicyInfo] {
        let result = PolicyParser.parse(yaml: yaml, file: fileName)
        if !result.errors.isEmpty {
            throw .invalidPolicy("policy refused: \(result.errors.count) problem(s)", details: result.errors.map(\.description))
        }
        guard !result.documents.isEmpty else { throw .badRequest("\(fileName): no policy document") }
        var added: [PolicyInfo] = []
        for document in result.documents {
            if policies.contains(where: { $0.name == document.name && $0.namespace == document.namespace && $0.source == .file }) {
                throw .conflict("\(document.name): a policy of this name was loaded from a file")
            }
            let hooks = document.spec.tracepoints.map { HookInfo(hook: "\($0.subsystem):\($0.event)", mechanism: "tracepoint") }
                + document.spec.kprobes.map { HookInfo(hook: $0.call, mechanism: "syscall_tracepoint") }
            added.append(PolicyInfo(
                name: document.name, namespace: document.namespace, source: .api, file: fileName, state: .loaded,
                mode: mode ?? .enforce, hooks: hooks))
        }
        for info in added {
            policies.removeAll { $0.name == info.name && $0.namespace == info.namespace }
            policies.append(info)
        }
        return added
    }

    func deletePolicy(name: String, namespace: String?) async throws(ControlError) {
        let index = try find(name, namespace)
        policies.remove(at: index)
    }

    func setPolicyEnabled(name: String, namespace: String?, enabled: Bool) async throws(ControlError) -> PolicyInfo {
        let index = try find(name, namespace)
        guard policies[index].state != .error else {
            throw .conflict("\(name) is in the error state; fix and reload it")
        }
        policies[index].state = enabled ? .loaded : .disabled
        return policies[index]
    }

    func setPolicyMode(name: String, namespace: String?, mode: PolicyMode) async throws(ControlError) -> PolicyInfo {
        let index = try find(name, namespace)
        policies[index].mode = mode
        return policies[index]
    }

    func reloadPolicies() async throws(ControlError) -> [PolicyInfo] {
        reloads += 1
        return policies
    }

    nonisolated func events(filter: EventFilter) -> EventSubscription {
        broadcaster.subscribe(filter: filter)
    }

    private func find(_ name: String, _ namespace: String?) throws(ControlError) -> Int {
        guard let index = policies.firstIndex(where: { $0.name == name && $0.namespace == namespace }) else {
            throw .notFound("no policy named \(namespace.map { "\($0)/" } ?? "")\(name)")
        }
        return index
    }
}
