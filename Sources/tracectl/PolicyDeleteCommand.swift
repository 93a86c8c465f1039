// SPDX-License-Identifier: Apache-2.0

import ArgumentParser

/// `tracectl policy delete NAME [-n NS]`.
package struct PolicyDeleteCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Detach a policy and forget it.")

    @OptionGroup package var global: GlobalOptions
    @OptionGroup package var policy: PolicyNameOptions

    package init() {}

    package func run() async throws {
        let client = global.client
        let (name, namespace) = (policy.name, policy.namespace)
        try await reportingErrors { () async throws(ClientError) in
            try await client.deletePolicy(name: name, namespace: namespace)
        }
        print("deleted \(namespace.map { "\($0)/" } ?? "")\(name)")
    }
}
