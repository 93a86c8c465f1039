// SPDX-License-Identifier: Apache-2.0

import AsyncHTTPClient
import ControlAPI
import Foundation
import Metrics
import NIOHTTP1
import NIOCore
import Prometheus
import ServiceLifecycle
import Testing

/// Parses Prometheus text exposition: `# TYPE name kind` lines and `name{labels} value` samples,
/// failing on any other line.
func parsePrometheus(_ text: String) throws -> (types: [String: String], samples: [String: Double]) {
    var types: [String: String] = [:]
    var samples: [String: Double] = [:]
    let sample = try Regex(#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$"#)
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 4, "\(line)")
            #expect(["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])), "\(line)")
            types[String(parts[2])] = String(parts[3])
        } else if line.hasPrefix("# HELP ") {
            continue
        } else {
            guard let match = line.wholeMatch(of: sample) else {
                Issue.record("not a Prometheus sample line: \(line)")
                continue
            }
            let value = String(line[match.range].split(separator: " ").last!)
            let key = String(line.dropLast(value.count + 1))
            samples[key] = Double(value)
        }
    }
    return (types, samples)
}

@Suite("Metrics")
struct MetricsTests {
    @Test("vigil_network_verdicts_total: labelled by namespace, workload, policy and verdict, and bounded")
    func networkVerdicts() throws {
        let metrics = VigilMetrics(registry: PrometheusCollectorRegistry())
        metrics.networkVerdicts(.init(namespace: "shop", workload: "web", policy: "egress", verdict: "denied")).increment()
        metrics.networkVerdicts(.init(namespace: "shop", workload: "web", policy: "egress", verdict: "denied")).increment()
        metrics.networkVerdicts(.init(namespace: "", workload: "", policy: "", verdict: "allowed")).increment()
        var parsed = try parsePrometheus(metrics.exposition())
        #expect(parsed.types["vigil_network_verdicts_total"] == "counter")
        #expect(parsed.samples[#"vigil_network_verdicts_total{namespace="shop",workload="web",policy="egress",verdict="denied"}"#] == 2)
        #expect(parsed.samples[#"vigil_network_verdicts_total{namespace="",workload="",policy="",verdict="allowed"}"#] == 1)
        // Past the bound, new namespaces and workloads fold into _other; known series go on.
        for i in 0..<(VigilMetrics.networkLabelSets + 50) {
            metrics.networkVerdicts(.init(namespace: "ns\(i)", workload: "w", policy: "egress", verdict: "allowed")).increment()
        }
        metrics.networkVerdicts(.init(namespace: "shop", workload: "web", policy: "egress", verdict: "denied")).increment()
        parsed = try parsePrometheus(metrics.exposition())
        let series = parsed.samples.keys.filter { $0.hasPrefix("vigil_network_verdicts_total{") }
        #expect(series.count == VigilMetrics.networkLabelSets + 1, "\(series.count)")
        #expect(parsed.samples[#"vigil_network_verdicts_total{namespace="_other",workload="_other",policy="egress",verdict="allowed"}"#] == 52)
        #expect(parsed.samples[#"vigil_network_verdicts_total{namespace="shop",workload="web",policy="egress",verdict="denied"}"#] == 3)
    }

    @Test("VigilMetrics: names, labels, cumulative totals")
    func vigilMetrics() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = VigilMetrics(registry: registry)
        var parsed = try parsePrometheus(metrics.exposition())
        // Present at 0 before anything happens.
        for place in ["kernel_reserve", "user_queue", "export", "client"] {
            #expect(parsed.samples["vigil_missed_events_total{place=\"\(place)\"}"] == 0)
        }
        #expect(parsed.samples["vigil_policies{state=\"loaded\"}"] == 0)
        #expect(parsed.samples["vigil_process_cache_size"] == 0)
        #expect(parsed.types["vigil_missed_events_total"] == "counter")
        #expect(parsed.types["vigil_policies"] == "gauge")

        metrics.events(type: "process_exec").increment(by: 3)
        metrics.events(type: "process_exit").increment()
        metrics.policyActions(policy: "block", action: "KPROBE_ACTION_SIGKILL").increment()
        metrics.setPolicies(FakeAgent.filePolicies)
        metrics.processCacheSize.record(17)
        metrics.exportBytes.increment(by: 4096)
        metrics.exportRotations.increment()
        metrics.advanceMissedEvents(.kernelReserve, toTotal: 10)
        metrics.advanceMissedEvents(.kernelReserve, toTotal: 15)
        metrics.advancePolicyFilteredEvents(toTotal: 7)
        metrics.advancePolicyOutOfScopeEvents(toTotal: 3)
        metrics.advancePolicyOutOfScopeEvents(toTotal: 4)

        parsed = try parsePrometheus(metrics.exposition())
        #expect(parsed.types["vigil_events_total"] == "counter")
        #expect(parsed.samples["vigil_events_total{type=\"process_exec\"}"] == 3)
        #expect(parsed.samples["vigil_events_total{type=\"process_exit\"}"] == 1)
        #expect(parsed.samples["vigil_policy_actions_total{policy=\"block\",action=\"KPROBE_ACTION_SIGKILL\"}"] == 1)
        #expect(parsed.samples["vigil_policies{state=\"loaded\"}"] == 1)
        #expect(parsed.samples["vigil_policies{state=\"error\"}"] == 1)
        #expect(parsed.samples["vigil_policies{state=\"disabled\"}"] == 0)
        #expect(parsed.samples["vigil_process_cache_size"] == 17)
        #expect(parsed.samples["vigil_export_bytes_total"] == 4096)
        #expect(parsed.samples["vigil_export_rotations_total"] == 1)
        #expect(parsed.samples["vigil_missed_events_total{place=\"kernel_reserve\"}"] == 15)
        #expect(parsed.samples["vigil_policy_filtered_events_total"] == 7)
        #expect(parsed.samples["vigil_policy_out_of_scope_events_total"] == 4)

        metrics.advancePodMetadataEvents(result: "missing", toTotal: 2)
        metrics.advancePodMetadataEvents(result: "missing", toTotal: 5)
        metrics.advancePodMetadataEvents(result: "enriched", toTotal: 40)
        parsed = try parsePrometheus(metrics.exposition())
        #expect(parsed.samples["vigil_pod_metadata_events_total{result=\"missing\"}"] == 5)
        #expect(parsed.samples["vigil_pod_metadata_events_total{result=\"enriched\"}"] == 40)
    }

    @Test("the broadcaster's client drops move vigil_missed_events_total{place=\"client\"}")
    func clientDrops() throws {
        let metrics = VigilMetrics(registry: PrometheusCollectorRegistry())
        let broadcaster = EventBroadcaster(bufferSize: 1) { metrics.missedEvents(.client).increment(by: Int64($0)) }
        let subscription = broadcaster.subscribe()
        for n in 0..<5 { broadcaster.publish(execLine("/bin/x", n: n)) }
        let parsed = try parsePrometheus(metrics.exposition())
        #expect(parsed.samples["vigil_missed_events_total{place=\"client\"}"] == 4)
        subscription.finish()
    }

    @Test("MetricsServer serves /metrics as Prometheus text, and counters move")
    func server() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = VigilMetrics(registry: registry)
        let server = try MetricsServer(address: "127.0.0.1:0", registry: registry, logger: quietLogger())
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger()))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let port = try await withTimeout(10, "metrics server start") { try await server.waitUntilListening() }
        #expect(port > 0)

        func scrape() async throws -> (String, String?) {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
            #expect(response.status.code == 200)
            let body = try await response.body.collect(upTo: 1 << 20)
            return (String(buffer: body), response.headers.first(name: "content-type"))
        }
        let (first, contentType) = try await scrape()
        #expect(contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        let before = try parsePrometheus(first)
        #expect(before.types["vigil_export_bytes_total"] == "counter")
        #expect(before.samples["vigil_export_bytes_total"] == 0)

        metrics.exportBytes.increment(by: 100)
        metrics.events(type: "process_kprobe").increment(by: 2)
        let after = try parsePrometheus(try await scrape().0)
        #expect(after.samples["vigil_export_bytes_total"] == 100)
        #expect(after.samples["vigil_events_total{type=\"process_kprobe\"}"] == 2)

        let missing = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/other"), timeout: .seconds(10))
        #expect(missing.status.code == 404)

        await group.triggerGracefulShutdown()
        try await withTimeout(10, "metrics server stop") { try await running.value }
    }

    @Test("--metrics-server addresses")
    func addresses() throws {
        #expect(try MetricsServer.parse(address: "127.0.0.1:2112") == ("127.0.0.1", 2112))
        #expect(try MetricsServer.parse(address: ":2112") == ("0.0.0.0", 2112))
        #expect(try MetricsServer.parse(address: "[::1]:9090") == ("::1", 9090))
        #expect(try MetricsServer.parse(address: "localhost:0") == ("localhost", 0))
        for bad in ["", "2112", "host:", "host:99999", "::1:80", "[::1]", "[]:80"] {
            #expect(throws: ControlServerError.self, "\(bad)") { try MetricsServer.parse(address: bad) }
        }
    }
}
