// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI
import Foundation

/// `tracectl`: talks to a running `vigil` over its control socket.
@main
package struct Tracectl: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "tracectl",
        abstract: "Control a running vigil agent: status, policies, live events.",
        discussion: """
            Talks to the agent over its UNIX socket (--server-address, default \
            \(ControlServerConfiguration.defaultSocketPath), or $VIGIL_SERVER_ADDRESS). \
            `tracectl policy validate` works offline.
            """,
        subcommands: [StatusCommand.self, PolicyCommand.self, EventsCommand.self, ProbeCommand.self]
    )

    /// Declared here too so that `tracectl --server-address PATH policy list` works as well as
    /// `tracectl policy list --server-address PATH`.
    @OptionGroup package var global: GlobalOptions

    package init() {}
}

/// Options every command that talks to the agent accepts (before or after the command name).
package struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("server-address"), help: ArgumentHelp(
        "The agent's control socket.", valueName: "path"))
    package var serverAddress: String?

    package init() {}

    /// `--server-address`, else `$VIGIL_SERVER_ADDRESS`, else the default path.
    package var socketPath: String {
        if let serverAddress, !serverAddress.isEmpty { return serverAddress }
        if let fromEnvironment = ProcessInfo.processInfo.environment["VIGIL_SERVER_ADDRESS"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return ControlServerConfiguration.defaultSocketPath
    }

    package var client: ControlClient {
        ControlClient(socketPath: socketPath)
    }
}

/// Runs `body`; a `ClientError` is printed to standard error (message, then each detail) and
/// becomes exit status 1.
func reportingErrors<T>(_ body: () async throws(ClientError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError(error.description)
        throw ExitCode.failure
    }
}

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Values of `-o`.
package enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}
