// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI

/// `tracectl policy disable NAME [-n NS]`.
package struct PolicyDisableCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Detach a policy's hooks but keep it (enable brings it back).")

    @OptionGroup package var global: GlobalOptions
    @OptionGroup package var policy: PolicyNameOptions

    package init() {}

    package func run() async throws {
        let client = global.client
        let (name, namespace) = (policy.name, policy.namespace)
        let info = try await reportingErrors { () async throws(ClientError) in
            try await client.setPolicyEnabled(name: name, namespace: namespace, enabled: false)
        }
        print("\(info.qualifiedName): \(info.state)")
    }
}
