// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI

/// `tracectl policy list [-o text|json]`.
package struct PolicyListCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the agent's policies with their state, mode, hooks and action counts.")

    @OptionGroup package var global: GlobalOptions
    @Option(name: [.short, .customLong("output")], help: "text or json.")
    package var output: OutputFormat = .text

    package init() {}

    package func run() async throws {
        let client = global.client
        let policies = try await reportingErrors { () async throws(ClientError) in try await client.listPolicies() }
        switch output {
        case .json: print(try JSONText.pretty(PolicyList(policies: policies)))
        case .text: print(TextOutput.policies(policies), terminator: "")
        }
    }
}
