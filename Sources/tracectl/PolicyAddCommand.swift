// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI
import Foundation
import TracingPolicy

/// `tracectl policy add FILE [--mode enforce|monitor]`.
package struct PolicyAddCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Load the TracingPolicies of a YAML file into the agent (all documents or none).")

    @OptionGroup package var global: GlobalOptions
    @Argument(help: "A TracingPolicy YAML file (several documents allowed); - reads standard input.")
    package var file: String
    @Option(help: "enforce or monitor: overrides the policies' spec.options policy-mode.")
    package var mode: PolicyMode?

    package init() {}

    package func run() async throws {
        let yaml: String
        do {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                                   : try Data(contentsOf: URL(fileURLWithPath: file))
            guard let text = String(data: data, encoding: .utf8) else {
                // The parser's refusal: the line, column and byte offset of the first bad byte.
                let name = file == "-" ? "stdin" : file
                for error in PolicyParser.parse(bytes: Array(data), file: name).errors { printError("error: \(error)") }
                throw ExitCode.failure
            }
            yaml = text
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("error: cannot read \(file): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let client = global.client
        let (file, mode) = (self.file == "-" ? "stdin" : self.file, self.mode)
        let added = try await reportingErrors { () async throws(ClientError) in
            try await client.addPolicy(yaml: yaml, fileName: file, mode: mode)
        }
        for policy in added {
            print("added \(policy.qualifiedName): \(policy.state), \(policy.mode), \(policy.hooks.count) hook\(policy.hooks.count == 1 ? "" : "s")")
        }
    }
}

extension PolicyMode: ExpressibleByArgument {}
