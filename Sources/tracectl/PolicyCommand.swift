// SPDX-License-Identifier: Apache-2.0

import ArgumentParser

/// `tracectl policy ...`.
package struct PolicyCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "List, add, delete, enable, disable, switch mode, reload and validate TracingPolicies.",
        subcommands: [
            PolicyListCommand.self, PolicyAddCommand.self, PolicyDeleteCommand.self, PolicyEnableCommand.self,
            PolicyDisableCommand.self, PolicyModeCommand.self, PolicyReloadCommand.self,
            PolicyValidateCommand.self,
        ]
    )

    @OptionGroup package var global: GlobalOptions

    package init() {}
}

/// `-n/--namespace` of the commands that name one policy.
package struct PolicyNameOptions: ParsableArguments {
    @Argument(help: "The policy's metadata.name.")
    package var name: String
    @Option(name: [.short, .long], help: "Namespace of a TracingPolicyNamespaced.")
    package var namespace: String?

    package init() {}
}
