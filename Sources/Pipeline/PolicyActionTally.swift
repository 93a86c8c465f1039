// SPDX-License-Identifier: Apache-2.0
import Events

/// Policy action counts of one ring-buffer batch, reported (to `vigil_policy_actions_total` and
/// the controller's per-policy counts) once per batch: per event, each of those is a locked
/// dictionary lookup hashing the policy and action names, a measurable share of an open storm.
/// Keyed by the record's hook slot and action (cheap integer hashing). One owner, the pipeline.
struct PolicyActionTally {
    private struct Key: Hashable {
        var slot: UInt32
        var action: PolicyAction
    }
    private struct Count {
        var policy: String
        var count: Int
    }
    private var counts: [Key: Count] = [:]

    mutating func add(slot: UInt32, action: PolicyAction, policy: String, report: (String, PolicyAction, Int) -> Void) {
        let key = Key(slot: slot, action: action)
        if let index = counts.index(forKey: key) {
            // A slot reused by another policy within the batch: the old policy's count goes out first.
            if counts.values[index].policy != policy {
                report(counts.values[index].policy, action, counts.values[index].count)
                counts.values[index] = Count(policy: policy, count: 1)
            } else {
                counts.values[index].count += 1
            }
        } else {
            counts[key] = Count(policy: policy, count: 1)
        }
    }

    /// Reports and clears the batch's counts.
    mutating func flush(_ report: (String, PolicyAction, Int) -> Void) {
        guard !counts.isEmpty else { return }
        for (key, count) in counts { report(count.policy, key.action, count.count) }
        counts.removeAll(keepingCapacity: true)
    }
}
