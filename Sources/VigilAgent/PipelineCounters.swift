// SPDX-License-Identifier: Apache-2.0
import ControlAPI
import CoreMetrics
import Events
import Exporter

/// `vigil_events_total{type}` counters by event kind, looked up in `VigilMetrics` (locked, by
/// name) once per kind instead of once per event. Created on first use as before, so a type
/// appears in the metrics only once an event of it was exported. Pipeline task only.
final class EventTypeCounters {
    private let metrics: VigilMetrics
    private var counters: [CoreMetrics.Counter?] = Array(repeating: nil, count: 6)

    init(metrics: VigilMetrics) { self.metrics = metrics }

    func increment(_ kind: ExportEventKind.Tag) {
        let index: Int
        switch kind {
        case .exec: index = 0
        case .exit: index = 1
        case .tracepoint: index = 2
        case .kprobe: index = 3
        case .lsm: index = 4
        case .uprobe: index = 5
        }
        if let counter = counters[index] { return counter.increment() }
        let counter = metrics.events(type: kind.jsonKey)
        counters[index] = counter
        counter.increment()
    }
}

/// `vigil_network_verdicts_total` by the labels of each network event, the counters kept here
/// so an event costs a dictionary lookup, not `VigilMetrics`' lock. Pipeline task only.
final class NetworkVerdictCounters {
    private let metrics: VigilMetrics
    private var counters: [NetworkVerdict: CoreMetrics.Counter] = [:]

    init(metrics: VigilMetrics) { self.metrics = metrics }

    func increment(_ verdict: NetworkVerdict) {
        if let counter = counters[verdict] { return counter.increment() }
        // Past VigilMetrics' bound its series fold into `_other`; this table of lookups stays
        // bounded too.
        if counters.count >= 4 * VigilMetrics.networkLabelSets { counters.removeAll(keepingCapacity: true) }
        let counter = metrics.networkVerdicts(
            .init(namespace: verdict.namespace, workload: verdict.workload, policy: verdict.policy, verdict: verdict.verdict))
        counters[verdict] = counter
        counter.increment()
    }
}
