// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI

/// `tracectl policy enable NAME [-n NS]`.
package struct PolicyEnableCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "enable", abstract: "Attach a disabled policy's hooks again.")

    @OptionGroup package var global: GlobalOptions
    @OptionGroup package var policy: PolicyNameOptions

    package init() {}

    package func run() async throws {
        let client = global.client
        let (name, namespace) = (policy.name, policy.namespace)
        let info = try await reportingErrors { () async throws(ClientError) in
            try await client.setPolicyEnabled(name: name, namespace: namespace, enabled: true)
        }
        print("\(info.qualifiedName): \(info.state)")
    }
}
