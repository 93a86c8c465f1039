// SPDX-License-Identifier: Apache-2.0

import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `--health-server-address HOST:PORT` (Tetragon's flag; Tetragon answers gRPC health there,
/// Vigil plain HTTP, which a kubelet `httpGet` probe reads without a gRPC client):
/// `GET /livez` and `GET /readyz` answer 200 or 503, with the checks and the reason of each
/// failing one in the text body. A `Service`, on the same HTTP stack as `--metrics-server`.
package final class HealthServer: Service, Sendable {
    package let host: String
    package let port: Int
    private let health: HealthState
    private let logger: Logger
    private let listening = ReadySignal<Int>()

    /// - Throws: `ControlServerError` when `address` is not `host:port`.
    package init(address: String, health: HealthState, logger: Logger) throws(ControlServerError) {
        (host, port) = try MetricsServer.parse(address: address, flag: "--health-server-address")
        self.health = health
        self.logger = logger
    }

    package func run() async throws {
        let router = Router()
        let health = self.health
        router.get("/livez") { _, _ in Self.response(health.liveness()) }
        router.get("/readyz") { _, _ in Self.response(health.readiness()) }
        try await HTTPListener.run(router, host: host, port: port, name: "health server", listening: listening, logger: logger)
    }

    private static func response(_ checks: [HealthState.Check]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        let ok = checks.allSatisfy(\.ok)
        return Response(
            status: ok ? .ok : .serviceUnavailable, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: HealthState.body(checks))))
    }

    /// The port it listens on (the real one when configured with port 0), once it does.
    package func waitUntilListening() async throws -> Int {
        try await listening.wait()
    }
}
