// SPDX-License-Identifier: Apache-2.0

import Hummingbird
import Logging
import NIOCore

/// Runs a router on `host:port` for the agent's small HTTP servers (`--metrics-server`,
/// `--health-server-address`): logs where it listens, resolves `listening` with the real port
/// (port 0 picks one), and fails it when the server cannot start or stops.
enum HTTPListener {
    static func run(
        _ router: Router<BasicRequestContext>, host: String, port: Int, name: String,
        listening: ReadySignal<Int>, logger: Logger
    ) async throws {
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "vigil"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("\(name) listening", metadata: ["address": "\(host):\(port)"])
                listening.succeed(port)
            },
            logger: logger
        )
        do {
            try await app.run()
        } catch {
            listening.fail(error)
            throw error
        }
        listening.fail(ControlServerError("\(name) stopped"))
    }
}
