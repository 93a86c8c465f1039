// SPDX-License-Identifier: Apache-2.0
import ControlAPI
import CoreMetrics
import Events

/// Policy action counts of one ring-buffer batch, added to `vigil_policy_actions_total` and
/// the controller's per-policy counts once per batch: per event, each of those is a locked
/// dictionary lookup hashing the policy and action names, a measurable share of an open storm.
/// Keyed by the record's hook slot and action number (cheap integer hashing). Pipeline task only.
struct PolicyActionTally {
    private struct Key: Hashable {
        var slot: UInt32
        var action: UInt8
    }
    private struct Count {
        var policy: String
        var action: String
        var count: Int
    }
    private var counts: [Key: Count] = [:]

    mutating func add(slot: UInt32, action: UInt8, policy: String, report: (String, String, Int) -> Void) {
        let key = Key(slot: slot, action: action)
        if let index = counts.index(forKey: key) {
            // A slot reused by another policy within the batch: the old policy's count goes out first.
            if counts.values[index].policy != policy {
                let old = counts.values[index]
                report(old.policy, old.action, old.count)
                counts.values[index] = Count(policy: policy, action: PolicyEvents.actionName(action), count: 1)
            } else {
                counts.values[index].count += 1
            }
        } else {
            counts[key] = Count(policy: policy, action: PolicyEvents.actionName(action), count: 1)
        }
    }

    /// Reports and clears the batch's counts.
    mutating func flush(_ report: (String, String, Int) -> Void) {
        guard !counts.isEmpty else { return }
        for count in counts.values { report(count.policy, count.action, count.count) }
        counts.removeAll(keepingCapacity: true)
    }
}

/// `vigil_events_total{type}` counters by event kind, looked up in `VigilMetrics` (locked, by
/// name) once per kind instead of once per event. Created on first use as before, so a type
/// appears in the metrics only once an event of it was exported. Pipeline task only.
final class EventTypeCounters {
    private let metrics: VigilMetrics
    private var counters: [CoreMetrics.Counter?] = Array(repeating: nil, count: 5)

    init(metrics: VigilMetrics) { self.metrics = metrics }

    func increment(_ kind: ExportEventKind) {
        let index: Int
        switch kind {
        case .exec: index = 0
        case .exit: index = 1
        case .tracepoint: index = 2
        case .kprobe: index = 3
        case .lsm: index = 4
        }
        if let counter = counters[index] { return counter.increment() }
        let counter = metrics.events(type: kind.jsonKey)
        counters[index] = counter
        counter.increment()
    }
}
