// SPDX-License-Identifier: Apache-2.0

import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Serves a Prometheus registry as text at `GET /metrics` on `--metrics-server ADDR`
/// (`host:port`, `[v6]:port`, or `:port` for every interface). A `Service`.
package final class MetricsServer: Service, Sendable {
    package let host: String
    package let port: Int
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let listening = ReadySignal<Int>()

    /// A server for `registry` at `address`.
    ///
    /// - Throws: `ControlServerError` when `address` is not `host:port`.
    package init(address: String, registry: PrometheusCollectorRegistry, logger: Logger) throws(ControlServerError) {
        (host, port) = try Self.parse(address: address)
        self.registry = registry
        self.logger = logger
    }

    /// Splits `host:port`, `[::1]:port`, `:port` (all interfaces).
    package static func parse(address: String, flag: String = "--metrics-server") throws(ControlServerError) -> (host: String, port: Int) {
        let problem = ControlServerError("\(flag): \"\(address)\": expected host:port, [ipv6]:port or :port")
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port)
        else { throw problem }
        var host = String(address[..<colon])
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw problem }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw problem
        }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    package func run() async throws {
        let router = Router()
        let registry = self.registry
        router.get("/metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
        }
        // "metrics listening": the line operators and tests look for.
        try await HTTPListener.run(router, host: host, port: port, name: "metrics", listening: listening, logger: logger)
    }

    /// The port it listens on (the real one when configured with port 0), once it does.
    package func waitUntilListening() async throws -> Int {
        try await listening.wait()
    }
}
