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
    /// The current run of records of one key and policy, counted without hashing: a storm's
    /// records mostly come from one hook, and the dictionary lookup per record showed in the
    /// pipeline replay (~2.5%). Folded into `counts` when another key comes, and at flush.
    private var runKey = Key(slot: 0, action: .unknown)
    private var runPolicy = ""
    private var runCount = 0

    mutating func add(slot: UInt32, action: PolicyAction, policy: String, report: (String, PolicyAction, Int) -> Void) {
        let key = Key(slot: slot, action: action)
        if runCount > 0 && runKey == key && runPolicy == policy {
            runCount += 1
            return
        }
        foldRun(report)
        runKey = key
        runPolicy = policy
        runCount = 1
    }

    /// Adds the current run to `counts`.
    private mutating func foldRun(_ report: (String, PolicyAction, Int) -> Void) {
        guard runCount > 0 else { return }
        let key = runKey
        let policy = runPolicy
        let n = runCount
        runCount = 0
        if let index = counts.index(forKey: key) {
            // A slot reused by another policy within the batch: the old policy's count goes out first.
            if counts.values[index].policy != policy {
                report(counts.values[index].policy, key.action, counts.values[index].count)
                counts.values[index] = Count(policy: policy, count: n)
            } else {
                counts.values[index].count += n
            }
        } else {
            counts[key] = Count(policy: policy, count: n)
        }
    }

    /// Reports and clears the batch's counts.
    mutating func flush(_ report: (String, PolicyAction, Int) -> Void) {
        foldRun(report)
        guard !counts.isEmpty else { return }
        for (key, count) in counts { report(count.policy, key.action, count.count) }
        counts.removeAll(keepingCapacity: true)
    }
}
