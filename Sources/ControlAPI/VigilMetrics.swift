// SPDX-License-Identifier: Apache-2.0

import Metrics
import Prometheus
import Synchronization

/// The agent's metrics, created through swift-metrics on a `PrometheusMetricsFactory` over the
/// registry the agent passes in (the executable bootstraps `MetricsSystem` with the same
/// registry if it wants library metrics too; this type never touches the global system).
///
/// Names follow Tetragon's (`tetragon_` becomes `vigil_`):
///
/// | metric | type | labels |
/// | --- | --- | --- |
/// | `vigil_events_total` | counter | `type` (`process_exec`, ...) |
/// | `vigil_missed_events_total` | counter | `place`: `kernel_reserve`, `user_queue`, `export`, `client` |
/// | `vigil_policy_filtered_events_total` | counter | |
/// | `vigil_policy_out_of_scope_events_total` | counter | |
/// | `vigil_policy_actions_total` | counter | `policy`, `action` |
/// | `vigil_policies` | gauge | `state`: `loaded`, `error`, `disabled`, `not_on_this_node` |
/// | `vigil_process_cache_size` | gauge | |
/// | `vigil_export_bytes_total` | counter | |
/// | `vigil_export_rotations_total` | counter | |
/// | `vigil_export_errors_total` | counter | failed writes of the export file (each retried) |
/// | `vigil_export_filtered_events_total` | counter | kept out by `--export-allowlist`/`--export-denylist` |
/// | `vigil_export_ratelimit_events_dropped_total` | counter | dropped by `--export-rate-limit` |
/// | `vigil_event_subscribers` | gauge | |
/// | `vigil_network_verdicts_total` | counter | `namespace`, `workload`, `policy`, `verdict` (`denied`, `would_deny`, `allowed`); at most ``networkLabelSets`` label sets, then `namespace`/`workload` `_other` |
/// | `vigil_flows_total` | counter | `result`: `exported`, `dropped`, `untracked`, `unowned` (`--enable-flows`) |
/// | `vigil_dns_answers_total` | counter | `result`: `learnt`, `refused`, `cut`, `dropped` (`--enable-dns-names`) |
/// | `vigil_dns_cache_evictions_total` | counter | (`--enable-dns-names`) |
///
/// Thread-safe: labelled counters are created on first use and cached.
package final class VigilMetrics: Sendable {
    /// Where events were lost.
    package enum MissedPlace: String, Sendable, CaseIterable {
        /// The BPF ring buffer was full (`bpf_ringbuf_reserve` failed).
        case kernelReserve = "kernel_reserve"
        /// The queue between the ring-buffer reader and the pipeline was full.
        case userQueue = "user_queue"
        /// Writing the export file or stdout failed.
        case export
        /// A `/v1/events` client read too slowly (`EventBroadcaster`).
        case client
    }

    /// The registry the metrics are in (serve it with `MetricsServer`).
    package let registry: PrometheusCollectorRegistry
    private let factory: DescribedMetricsFactory

    /// `vigil_policy_filtered_events_total`: hook hits that matched no selector (never left
    /// the kernel).
    package let policyFilteredEvents: CoreMetrics.Counter
    /// `vigil_policy_out_of_scope_events_total`: hook hits of pod-scoped policies by processes
    /// outside the policy's pods (never left the kernel).
    package let policyOutOfScopeEvents: CoreMetrics.Counter
    /// Kills and denies not done: the process was outside `--enforcement-cgroup`.
    package let policyFencedActions: CoreMetrics.Counter
    /// `vigil_process_cache_size`.
    package let processCacheSize: CoreMetrics.Gauge
    /// `vigil_export_bytes_total`.
    package let exportBytes: CoreMetrics.Counter
    /// `vigil_export_rotations_total`.
    package let exportRotations: CoreMetrics.Counter
    /// `vigil_export_errors_total`: failed export file writes (the lines are retried; those
    /// that could not be kept count in `vigil_missed_events_total{place="export"}`).
    package let exportErrors: CoreMetrics.Counter
    /// `vigil_event_subscribers`: `/v1/events` clients connected.
    package let eventSubscribers: CoreMetrics.Gauge
    /// `vigil_export_filtered_events_total`: events the allow and deny lists kept out.
    package let exportFilteredEvents: CoreMetrics.Counter
    /// `vigil_export_ratelimit_events_dropped_total` (Tetragon's
    /// `tetragon_export_ratelimit_events_dropped_total`): events `--export-rate-limit` dropped.
    package let exportRateLimitDrops: CoreMetrics.Counter

    private let cache = Mutex(Cache())

    private struct Cache {
        var events: [String: CoreMetrics.Counter] = [:]
        var missed: [MissedPlace: CoreMetrics.Counter] = [:]
        var actions: [PolicyActionKey: CoreMetrics.Counter] = [:]
        var policies: [PolicyState: CoreMetrics.Gauge] = [:]
        var network: [NetworkVerdictKey: CoreMetrics.Counter] = [:]
        /// Last absolute values given to `advance(...)`, per counter.
        var totals: [String: Int64] = [:]
    }

    private struct PolicyActionKey: Hashable {
        var policy: String
        var action: String
    }

    /// Creates the metrics in `registry`. The unlabelled ones, `vigil_missed_events_total` for
    /// every place and `vigil_policies` for every state appear at once (at 0), so dashboards
    /// and alerts see them before the first event.
    package init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let factory = DescribedMetricsFactory(registry: registry)
        self.factory = factory
        policyFilteredEvents = CoreMetrics.Counter(label: "vigil_policy_filtered_events_total", factory: factory)
        policyOutOfScopeEvents = CoreMetrics.Counter(label: "vigil_policy_out_of_scope_events_total", factory: factory)
        policyFencedActions = CoreMetrics.Counter(label: "vigil_policy_fenced_actions_total", factory: factory)
        processCacheSize = CoreMetrics.Gauge(label: "vigil_process_cache_size", factory: factory)
        exportBytes = CoreMetrics.Counter(label: "vigil_export_bytes_total", factory: factory)
        exportRotations = CoreMetrics.Counter(label: "vigil_export_rotations_total", factory: factory)
        exportErrors = CoreMetrics.Counter(label: "vigil_export_errors_total", factory: factory)
        eventSubscribers = CoreMetrics.Gauge(label: "vigil_event_subscribers", factory: factory)
        exportFilteredEvents = CoreMetrics.Counter(label: "vigil_export_filtered_events_total", factory: factory)
        exportRateLimitDrops = CoreMetrics.Counter(label: "vigil_export_ratelimit_events_dropped_total", factory: factory)
        for place in MissedPlace.allCases { _ = missedEvents(place) }
        for state in PolicyState.allCases { policies(state).record(0) }
        processCacheSize.record(0)
        eventSubscribers.record(0)
    }

    /// `vigil_events_total{type}`; `type` is the event's key, e.g. `process_exec`.
    package func events(type: String) -> CoreMetrics.Counter {
        cache.withLock { cache in
            if let counter = cache.events[type] { return counter }
            let counter = CoreMetrics.Counter(label: "vigil_events_total", dimensions: [("type", type)], factory: factory)
            cache.events[type] = counter
            return counter
        }
    }

    /// `vigil_missed_events_total{place}`.
    package func missedEvents(_ place: MissedPlace) -> CoreMetrics.Counter {
        cache.withLock { cache in
            if let counter = cache.missed[place] { return counter }
            let counter = CoreMetrics.Counter(
                label: "vigil_missed_events_total", dimensions: [("place", place.rawValue)], factory: factory)
            cache.missed[place] = counter
            return counter
        }
    }

    /// `vigil_policy_actions_total{policy,action}`; `action` as in the event, e.g.
    /// `KPROBE_ACTION_SIGKILL`.
    package func policyActions(policy: String, action: String) -> CoreMetrics.Counter {
        let key = PolicyActionKey(policy: policy, action: action)
        return cache.withLock { cache in
            if let counter = cache.actions[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: "vigil_policy_actions_total", dimensions: [("policy", policy), ("action", action)],
                factory: factory)
            cache.actions[key] = counter
            return counter
        }
    }

    /// Distinct (namespace, workload, policy, verdict) series of `vigil_network_verdicts_total`
    /// kept; past it, new namespaces and workloads are counted as `_other`, so a cluster with many
    /// short-lived workloads cannot grow the scrape without bound.
    package static let networkLabelSets = 1000

    package struct NetworkVerdictKey: Hashable, Sendable {
        package var namespace: String
        package var workload: String
        package var policy: String
        package var verdict: String

        package init(namespace: String, workload: String, policy: String, verdict: String) {
            self.namespace = namespace
            self.workload = workload
            self.policy = policy
            self.verdict = verdict
        }
    }

    /// `vigil_network_verdicts_total{namespace,workload,policy,verdict}` (bounded: see
    /// ``networkLabelSets``).
    package func networkVerdicts(_ key: NetworkVerdictKey) -> CoreMetrics.Counter {
        cache.withLock { cache in
            if let counter = cache.network[key] { return counter }
            var key = key
            if cache.network.count >= Self.networkLabelSets {
                key.namespace = "_other"
                key.workload = "_other"
                if let counter = cache.network[key] { return counter }
            }
            let counter = CoreMetrics.Counter(
                label: "vigil_network_verdicts_total",
                dimensions: [
                    ("namespace", key.namespace), ("workload", key.workload), ("policy", key.policy), ("verdict", key.verdict),
                ], factory: factory)
            cache.network[key] = counter
            return counter
        }
    }

    /// `vigil_policies{state}`.
    package func policies(_ state: PolicyState) -> CoreMetrics.Gauge {
        cache.withLock { cache in
            if let gauge = cache.policies[state] { return gauge }
            let gauge = CoreMetrics.Gauge(label: "vigil_policies", dimensions: [("state", state.rawValue)], factory: factory)
            cache.policies[state] = gauge
            return gauge
        }
    }

    /// Sets `vigil_policies` for every state from the agent's policy list (absent states are 0).
    package func setPolicies(_ policies: [PolicyInfo]) {
        var counts: [PolicyState: Int] = [:]
        for policy in policies { counts[policy.state, default: 0] += 1 }
        for state in PolicyState.allCases { self.policies(state).record(counts[state] ?? 0) }
    }

    /// Moves `vigil_missed_events_total{place}` to an absolute total the agent reads from
    /// somewhere cumulative (the BPF drop map, the reader's counter): increments by the
    /// difference to the last total given. A total lower than the last one (a counter reset)
    /// only resets the reference.
    package func advanceMissedEvents(_ place: MissedPlace, toTotal total: UInt64) {
        let delta = delta(key: "missed.\(place.rawValue)", total: total)
        if delta > 0 { missedEvents(place).increment(by: delta) }
    }

    /// Like `advanceMissedEvents`, for `vigil_export_errors_total`.
    package func advanceExportErrors(toTotal total: UInt64) {
        let delta = delta(key: "export_errors", total: total)
        if delta > 0 { exportErrors.increment(by: delta) }
    }

    /// Like `advanceMissedEvents`, for `vigil_export_filtered_events_total` and
    /// `vigil_export_ratelimit_events_dropped_total`.
    package func advanceExportFilters(filteredTotal: UInt64, rateLimitedTotal: UInt64) {
        let filtered = delta(key: "export_filtered", total: filteredTotal)
        if filtered > 0 { exportFilteredEvents.increment(by: filtered) }
        let dropped = delta(key: "export_ratelimit", total: rateLimitedTotal)
        if dropped > 0 { exportRateLimitDrops.increment(by: dropped) }
    }

    /// Like `advanceMissedEvents`, for `vigil_policy_filtered_events_total`.
    package func advancePolicyFilteredEvents(toTotal total: UInt64) {
        let delta = delta(key: "policy_filtered", total: total)
        if delta > 0 { policyFilteredEvents.increment(by: delta) }
    }

    /// Like `advanceMissedEvents`, for `vigil_policy_out_of_scope_events_total`.
    package func advancePolicyOutOfScopeEvents(toTotal total: UInt64) {
        let delta = delta(key: "policy_out_of_scope", total: total)
        if delta > 0 { policyOutOfScopeEvents.increment(by: delta) }
    }

    /// Moves `vigil_policy_fenced_actions_total` to the kernel's absolute total.
    package func advancePolicyFencedActions(toTotal total: UInt64) {
        let delta = delta(key: "policy_fenced", total: total)
        if delta > 0 { policyFencedActions.increment(by: delta) }
    }

    /// Moves `vigil_pod_metadata_events_total{result}` (`enriched`: left with their pod,
    /// `missing`: left without after the wait, `overflow`: released early by the wait's memory
    /// bound) to an absolute total, like `advanceMissedEvents`.
    package func advancePodMetadataEvents(result: String, toTotal total: UInt64) {
        let delta = delta(key: "pod.\(result)", total: total)
        guard delta > 0 else { return }
        CoreMetrics.Counter(label: "vigil_pod_metadata_events_total", dimensions: [("result", result)], factory: factory)
            .increment(by: delta)
    }

    /// Moves `vigil_flows_total{result}` to the kernel's absolute total (`--enable-flows`):
    /// `exported` flow records made and put in the ring buffer, `dropped` made but lost there,
    /// `untracked` flows the full flow map could not take, `unowned` accepted-side flows closed
    /// before an accept took them. Created on the first non-zero total: an agent without flows
    /// shows none.
    package func advanceFlows(result: String, toTotal total: UInt64) {
        let delta = delta(key: "flows.\(result)", total: total)
        guard delta > 0 else { return }
        CoreMetrics.Counter(label: "vigil_flows_total", dimensions: [("result", result)], factory: factory)
            .increment(by: delta)
    }

    /// Moves `vigil_dns_answers_total{result}` to an absolute total (`--enable-dns-names`):
    /// `learnt` answers parsed, `refused` payloads the parser refused (malformed, an error
    /// rcode, ...), `cut` answers longer than the capture, `dropped` answers the ring buffer had
    /// no room for. Created on the first non-zero total.
    package func advanceDNSAnswers(result: String, toTotal total: UInt64) {
        let delta = delta(key: "dns.\(result)", total: total)
        guard delta > 0 else { return }
        CoreMetrics.Counter(label: "vigil_dns_answers_total", dimensions: [("result", result)], factory: factory)
            .increment(by: delta)
    }

    /// Moves `vigil_dns_cache_evictions_total` (names still valid pushed out of the DNS name
    /// cache by its capacity, `--dns-cache-entries`) to an absolute total.
    package func advanceDNSCacheEvictions(toTotal total: UInt64) {
        let delta = delta(key: "dns.evictions", total: total)
        guard delta > 0 else { return }
        CoreMetrics.Counter(label: "vigil_dns_cache_evictions_total", factory: factory).increment(by: delta)
    }

    private func delta(key: String, total: UInt64) -> Int64 {
        let total = Int64(clamping: total)
        return cache.withLock { cache in
            let last = cache.totals[key] ?? 0
            cache.totals[key] = total
            return total >= last ? total - last : 0
        }
    }

    /// The registry's Prometheus text exposition.
    package func exposition() -> String {
        registry.emitToString()
    }
}

/// swift-prometheus's factory with a `# HELP` line for every Vigil metric: its own factory gives
/// none, and `promtool check metrics` reports each metric without one ("no help text").
/// Counters and gauges get their help here; everything else goes to the plain factory.
struct DescribedMetricsFactory: CoreMetrics.MetricsFactory {
    static let help: [String: String] = [
        "vigil_events_total": "Events exported, by event type.",
        "vigil_missed_events_total": "Events lost, by where: kernel_reserve (BPF ring buffer full), user_queue (reader queue full), export (file or stdout), client (a slow /v1/events reader).",
        "vigil_policy_filtered_events_total": "Policy hook hits that matched no selector (dropped in the kernel).",
        "vigil_policy_out_of_scope_events_total": "Hook hits of pod-scoped policies by processes outside their pods (dropped in the kernel).",
        "vigil_policy_fenced_actions_total": "Kills and denies not done because the process was outside --enforcement-cgroup.",
        "vigil_policy_actions_total": "Policy events, by policy and action.",
        "vigil_policies": "Tracing policies, by state.",
        "vigil_process_cache_size": "Processes in the process cache.",
        "vigil_export_bytes_total": "Bytes written to the export file.",
        "vigil_export_rotations_total": "Rotations of the export file.",
        "vigil_export_errors_total": "Failed writes of the export file (the lines are kept and retried).",
        "vigil_event_subscribers": "Clients of the control API's event stream.",
        "vigil_export_filtered_events_total": "Events kept out of the export by --export-allowlist and --export-denylist.",
        "vigil_export_ratelimit_events_dropped_total": "Events dropped by --export-rate-limit (reported in rate_limit_info events).",
        "vigil_flows_total": "TCP flows (--enable-flows), by result: exported, dropped (ring buffer full), untracked (flow map full), unowned (closed before any accept).",
        "vigil_dns_answers_total": "DNS answers (--enable-dns-names), by result: learnt, refused (malformed or an error), cut (longer than the capture), dropped (ring buffer full).",
        "vigil_dns_cache_evictions_total": "Entries of the DNS name cache pushed out by its capacity while still valid (--dns-cache-entries).",
        "vigil_pod_metadata_events_total": "Container events by pod metadata outcome: enriched, missing (after the wait), overflow.",
    ]

    let registry: PrometheusCollectorRegistry
    private let plain: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.plain = PrometheusMetricsFactory(registry: registry)
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: Self.help[label] ?? label)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CoreMetrics.CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any CoreMetrics.FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any CoreMetrics.RecorderHandler {
        aggregate
            ? plain.makeRecorder(label: label, dimensions: dimensions, aggregate: true)
            : registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any CoreMetrics.TimerHandler {
        plain.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CoreMetrics.CounterHandler) { plain.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any CoreMetrics.FloatingPointCounterHandler) { plain.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any CoreMetrics.RecorderHandler) { plain.destroyRecorder(handler) }
    func destroyTimer(_ handler: any CoreMetrics.TimerHandler) { plain.destroyTimer(handler) }
}
