// SPDX-License-Identifier: Apache-2.0

import ArgumentParser

/// `tracectl policy reload`.
package struct PolicyReloadCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Re-read the agent's policy files (as SIGHUP does) and list the result.")

    @OptionGroup package var global: GlobalOptions

    package init() {}

    package func run() async throws {
        let client = global.client
        let policies = try await reportingErrors { () async throws(ClientError) in try await client.reloadPolicies() }
        print(TextOutput.policies(policies), terminator: "")
    }
}
