// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI
import Foundation

/// `tracectl status`.
package struct StatusCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the agent's version, kernel, hooks and counters.")

    @OptionGroup package var global: GlobalOptions
    @Option(name: [.short, .customLong("output")], help: "text or json.")
    package var output: OutputFormat = .text

    package init() {}

    package func run() async throws {
        let client = global.client
        let status = try await reportingErrors { () async throws(ClientError) in try await client.status() }
        switch output {
        case .json: print(try JSONText.pretty(status))
        case .text: print(TextOutput.status(status), terminator: "")
        }
    }
}
