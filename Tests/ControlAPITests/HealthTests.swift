// SPDX-License-Identifier: Apache-2.0

import AsyncHTTPClient
import ControlAPI
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

/// `--health-server-address`: what liveness and readiness say as the agent's parts report, on a
/// clock the test moves. The kernel half (a real export stalled) is HealthKernelTests.
@Suite struct HealthTests {
    final class FakeClock: Sendable {
        let nanoseconds = Atomic<Int64>(1_000_000_000)
        func advance(seconds: Int64) { nanoseconds.add(seconds * 1_000_000_000, ordering: .relaxed) }
    }

    func failing(_ checks: [HealthState.Check]) -> [String] { checks.filter { !$0.ok }.map(\.name) }

    @Test("readiness waits for the sensor and the policies; liveness lets a starting agent be")
    func startUp() {
        let clock = FakeClock()
        let health = HealthState(drainTimeout: .seconds(5)) { clock.nanoseconds.load(ordering: .relaxed) }
        #expect(failing(health.liveness()).isEmpty)
        #expect(failing(health.readiness()) == ["sensor", "policies"])
        health.sensorAttached("tp_btf")
        health.drained()
        #expect(failing(health.readiness()) == ["policies"])
        health.policiesLoaded(count: 2, problems: [])
        #expect(failing(health.readiness()).isEmpty)
        #expect(HealthState.body(health.readiness()).hasPrefix("ok\n"))
    }

    @Test("a refused policy keeps the agent live and not ready, with the position of the mistake")
    func refusedPolicy() {
        let health = HealthState()
        health.sensorAttached("tp_btf")
        health.drained()
        health.policiesLoaded(count: 1, problems: ["/etc/vigil/tracing-policies/bad.yaml:7:5: unknown key 'matchArg'"])
        #expect(failing(health.liveness()).isEmpty)
        let body = HealthState.body(health.readiness())
        #expect(body.hasPrefix("not ok\n"))
        #expect(body.contains("[-] policies: 1 loaded, 1 refused: /etc/vigil/tracing-policies/bad.yaml:7:5: unknown key 'matchArg'"), "\(body)")
    }

    @Test("an export file that fails: not ready with the error, still live (it is retried); then ready again")
    func exportFile() {
        let health = HealthState()
        health.sensorAttached("raw_tp")
        health.policiesLoaded(count: 0, problems: [])
        health.drained()
        health.exportFile(error: "write /var/log/vigil/events.log: No space left on device")
        #expect(failing(health.liveness()).isEmpty)
        #expect(HealthState.body(health.liveness()).contains("retried every second: write /var/log/vigil/events.log: No space left on device"))
        #expect(failing(health.readiness()) == ["export"])
        health.exportFile(error: nil)
        #expect(failing(health.readiness()).isEmpty)
    }

    @Test("a stdout write failure makes the agent unready for ten seconds")
    func stdoutFailure() {
        let clock = FakeClock()
        let health = HealthState { clock.nanoseconds.load(ordering: .relaxed) }
        health.sensorAttached("tp_btf")
        health.policiesLoaded(count: 0, problems: [])
        health.exportFailed("write stdout: Broken pipe")
        #expect(failing(health.readiness()) == ["export"])
        clock.advance(seconds: 11)
        #expect(failing(health.readiness()).isEmpty)
    }

    @Test("a pipeline that stops draining is not live past the timeout, and live again when it drains")
    func stall() {
        let clock = FakeClock()
        let health = HealthState(drainTimeout: .seconds(5)) { clock.nanoseconds.load(ordering: .relaxed) }
        health.sensorAttached("tp_btf")
        health.policiesLoaded(count: 0, problems: [])
        health.drained()
        clock.advance(seconds: 4)
        #expect(failing(health.liveness()).isEmpty)
        clock.advance(seconds: 2)
        #expect(failing(health.liveness()) == ["pipeline"])
        #expect(failing(health.readiness()) == ["pipeline"])
        #expect(HealthState.body(health.liveness()).contains("has not drained the ring buffer for 6000 ms (limit 5000 ms)"))
        health.drained()
        #expect(failing(health.liveness()).isEmpty)
    }

    @Test("HealthServer answers /livez and /readyz with 200 or 503 and the checks")
    func server() async throws {
        let health = HealthState()
        let server = try HealthServer(address: "127.0.0.1:0", health: health, logger: quietLogger())
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger()))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let port = try await withTimeout(10, "health server start") { try await server.waitUntilListening() }

        func get(_ path: String) async throws -> (Int, String) {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 16)))
        }
        #expect(try await get("/livez").0 == 200)
        let (status, body) = try await get("/readyz")
        #expect(status == 503)
        #expect(body.contains("[-] sensor: not attached yet"), "\(body)")
        health.sensorAttached("tp_btf")
        health.policiesLoaded(count: 3, problems: [])
        health.drained()
        let ready = try await get("/readyz")
        #expect(ready.0 == 200)
        #expect(ready.1.hasPrefix("ok\n[+] pipeline: draining"), "\(ready.1)")
        #expect(try await get("/other").0 == 404)

        await group.triggerGracefulShutdown()
        try await withTimeout(10, "health server stop") { try await running.value }
    }

    @Test("--health-server-address takes the metrics server's address forms and names itself in errors")
    func addresses() throws {
        #expect(try MetricsServer.parse(address: ":6789", flag: "--health-server-address") == ("0.0.0.0", 6789))
        #expect(throws: ControlServerError("--health-server-address: \"6789\": expected host:port, [ipv6]:port or :port")) {
            _ = try HealthServer(address: "6789", health: HealthState(), logger: quietLogger())
        }
    }
}
