// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI

/// `tracectl policy mode NAME enforce|monitor [-n NS]`.
package struct PolicyModeCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "mode",
        abstract: "Switch a policy between enforce (actions are taken) and monitor (only reported).")

    @OptionGroup package var global: GlobalOptions
    @Argument(help: "The policy's metadata.name.")
    package var name: String
    @Argument(help: "enforce or monitor.")
    package var mode: PolicyMode
    @Option(name: [.short, .long], help: "Namespace of a TracingPolicyNamespaced.")
    package var namespace: String?

    package init() {}

    package func run() async throws {
        let client = global.client
        let (name, namespace, mode) = (self.name, self.namespace, self.mode)
        let info = try await reportingErrors { () async throws(ClientError) in
            try await client.setPolicyMode(name: name, namespace: namespace, mode: mode)
        }
        print("\(info.qualifiedName): \(info.mode)")
    }
}
