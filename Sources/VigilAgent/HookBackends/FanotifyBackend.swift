// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler

/// Deny rules of file_open / bprm_check_security hooks with Override where BPF-LSM does not
/// run them: fanotify permission events, answered in user space by the file guard from the
/// rules handed over here (no I/O on that path). Its unit is a policy's rule list, not a
/// vg_hooks slot: nothing of it is in the kernel's policy maps.
struct FanotifyBackend: Sendable {
    static let mechanism = Mechanism.fanotify

    /// Every rule of every loaded policy, by the id decisions carry.
    private(set) var rules: [UInt32: PolicyEngine.FileRuleInfo] = [:]
    private var nextID: UInt32 = 1
    /// Called (under the engine's lock, so in order) with every rule after each change.
    private let changed: @Sendable ([UInt32: PolicyEngine.FileRuleInfo]) -> Void

    init(changed: @escaping @Sendable ([UInt32: PolicyEngine.FileRuleInfo]) -> Void) {
        self.changed = changed
    }

    /// Replaces the rules of the policy `key` by `compiled` (none: removes them). The guard
    /// hears of it only when the policy had or has rules.
    mutating func install(
        _ compiled: [CompiledFileRule], policyKey key: String, policyName: String, monitor: Bool, policyID: UInt32,
        scoped: Bool
    ) {
        guard !compiled.isEmpty || rules.values.contains(where: { $0.policyKey == key }) else { return }
        rules = rules.filter { $0.value.policyKey != key }
        for rule in compiled {
            rules[nextID] = PolicyEngine.FileRuleInfo(
                policyKey: key, policyName: policyName, rule: rule, monitor: monitor, policyID: policyID, scoped: scoped)
            nextID += 1
        }
        changed(rules)
    }

    /// Forgets the rules of the policy `key`.
    mutating func remove(policyKey key: String) {
        install([], policyKey: key, policyName: "", monitor: false, policyID: 0, scoped: false)
    }

    /// Switches the rules of the policy `key` between deny and monitor.
    mutating func setMonitor(_ monitor: Bool, policyKey key: String) {
        guard rules.values.contains(where: { $0.policyKey == key }) else { return }
        for (id, info) in rules where info.policyKey == key { rules[id]?.monitor = monitor }
        changed(rules)
    }

    /// A rule as `tracectl policy list` shows it.
    static func hookDescription(_ rule: CompiledFileRule) -> String {
        mechanism.hookDescription(category: "", name: "\(rule.kind == .open ? "file_open" : "bprm_check_security") deny")
    }
}
