// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import TracingPolicy

/// `tracectl policy validate FILE...`: offline, no agent needed.
package struct PolicyValidateCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check TracingPolicy files without an agent; each problem is printed as file:line:column.",
        discussion: "Exits with status 1 when any file has an error (warnings do not count).")

    @Argument(help: "TracingPolicy YAML files.")
    package var files: [String]

    package init() {}

    package func validate() throws {
        if files.isEmpty { throw ArgumentParser.ValidationError("give at least one policy file") }
    }

    package func run() throws {
        let report = Self.report(files: files)
        for line in report.lines { print(line) }
        if report.failed { throw ExitCode.failure }
    }

    /// What `run` prints, and whether any file had an error: every error as
    /// `file:line:column: path: message`, every warning as `file:line:column: warning: ...`,
    /// then `file: ok (names)` for a file without errors.
    package static func report(files: [String]) -> (lines: [String], failed: Bool) {
        var lines: [String] = []
        var failed = false
        for file in files {
            let result = PolicyParser.parse(fileAt: file)
            for error in result.errors { lines.append(error.description) }
            for warning in result.warnings {
                lines.append(warning.path.isEmpty
                    ? "\(warning.location): warning: \(warning.message)"
                    : "\(warning.location): warning: \(warning.path): \(warning.message)")
            }
            if result.errors.isEmpty {
                let names = result.documents.map { doc in doc.namespace.map { "\($0)/\(doc.name)" } ?? doc.name }
                lines.append("\(file): ok (\(names.count) polic\(names.count == 1 ? "y" : "ies")\(names.isEmpty ? "" : ": " + names.joined(separator: ", ")))")
            } else {
                failed = true
            }
        }
        return (lines, failed)
    }
}
