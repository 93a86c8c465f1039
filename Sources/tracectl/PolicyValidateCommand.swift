// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import Foundation
import KernelFeatures
import PolicyCompiler
import TracingPolicy

/// `tracectl policy validate FILE...`: the agent's load-time checks, without an agent.
package struct PolicyValidateCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check TracingPolicy files as the agent does at load, against this kernel or a node's probe file.",
        discussion: """
            Runs the agent's parser, then its compiler (selectors and operators this build supports, limits, \
            hooks and tracepoints, mechanisms) against this machine's kernel, or against the node whose \
            `tracectl probe -o json` output is given with --node-probe. Each problem is printed as the agent \
            refuses it: file:line:column: path: message. Checks that cannot run (tracefs unreadable without \
            root, a format not in the probe file) are printed as "not checked". Exits with status 1 when any \
            file has an error (warnings and unchecked parts do not count, unless --strict).
            """)

    @Argument(help: "TracingPolicy YAML files.")
    package var files: [String]

    @Option(name: .customLong("node-probe"), help: ArgumentHelp(
        "Check against this node's kernel: the output of `tracectl probe -o json` saved on it.", valueName: "file"))
    package var nodeProbe: String?

    @Flag(name: .customLong("enable-k8s-api"), help: "As the agent with --enable-k8s-api: pod-scoped policies can run.")
    package var podScopes = false

    @Flag(name: .customLong("enable-dns-names"), help: "As the agent with --enable-dns-names: DNSName and NotDNSName can run.")
    package var dnsNames = false

    @Flag(name: .customLong("disable-trampolines"), help: "As the agent with --disable-trampolines: kernel functions on kprobes only.")
    package var disableTrampolines = false

    @Flag(help: "Exit with status 1 when a check could not run, as for an error.")
    package var strict = false

    package init() {}

    package func validate() throws {
        if files.isEmpty { throw ArgumentParser.ValidationError("give at least one policy file") }
    }

    package func run() throws {
        var target: ValidationTarget
        if let nodeProbe {
            do {
                target = try ValidationTarget(probeFile: nodeProbe, podScopes: podScopes)
            } catch {
                printError("\(nodeProbe): \(error)")
                throw ExitCode.failure
            }
        } else {
            target = ValidationTarget.thisMachine(podScopes: podScopes)
        }
        // The agent's own words for it (Agent.makePolicyEngine).
        if disableTrampolines { target.environment.trampolineRefusal = "disabled by --disable-trampolines" }
        if dnsNames { target.environment.dnsNamesRefusal = nil }
        let report = Self.report(files: files, target: target)
        for line in report.lines { print(line) }
        if report.failed || (strict && report.unchecked) { throw ExitCode.failure }
    }

    /// What `run` prints, whether any file had an error, and whether any check could not run:
    /// first each check that could not run on `target`, then per file every error as
    /// `file:line:column: path: message` (the agent's text), every warning, every part not
    /// checked, then `file: ok (names)` for a file without errors.
    package static func report(files: [String], target: ValidationTarget) -> (lines: [String], failed: Bool, unchecked: Bool) {
        var lines = target.unchecked.map { "note: not checked against \(target.name): \($0)" }
        var failed = false
        var unchecked = !target.unchecked.isEmpty
        let compiler = PolicyCompiler(environment: target.environment)
        for file in files {
            let result = PolicyParser.parse(fileAt: file)
            for error in result.errors { lines.append(error.description) }
            for warning in result.warnings {
                lines.append(warning.path.isEmpty
                    ? "\(warning.location): warning: \(warning.message)"
                    : "\(warning.location): warning: \(warning.path): \(warning.message)")
            }
            guard result.errors.isEmpty else {
                failed = true
                continue
            }
            var fileFailed = false
            var fileUnchecked = false
            for document in result.documents {
                var sets = SetIDAllocator(first: UInt32.max / 2)  // throwaway ids: nothing is written
                switch compiler.compile(document, sets: &sets) {
                case .success(let compiled):
                    for warning in compiled.warnings { lines.append("\(file): warning: policy \(document.name): \(warning)") }
                    // Whether it runs on a node depends on that node's labels, which only the
                    // agent there reads from the API server.
                    if let selector = document.spec.restrictingNodeSelector {
                        lines.append(
                            "\(selector.location): note: policy \(document.name): \(NotChecked.marker)whether a node's labels "
                                + "match nodeSelector {\(LabelRequirements(selector))}: it runs only on nodes where they do")
                        fileUnchecked = true
                    }
                case .failure(let failure):
                    for error in failure.errors {
                        lines.append(error.description)
                        if error.message.contains(NotChecked.marker) { fileUnchecked = true } else { fileFailed = true }
                    }
                }
            }
            failed = failed || fileFailed
            unchecked = unchecked || fileUnchecked
            guard !fileFailed else { continue }
            let names = result.documents.map { doc in doc.namespace.map { "\($0)/\(doc.name)" } ?? doc.name }
            let summary = "\(names.count) polic\(names.count == 1 ? "y" : "ies")\(names.isEmpty ? "" : ": " + names.joined(separator: ", "))"
            lines.append(
                fileUnchecked || !target.unchecked.isEmpty
                    ? "\(file): ok as far as checked against \(target.name) (\(summary)); see the \"not checked\" lines"
                    : "\(file): ok (\(summary))")
        }
        return (lines, failed, unchecked)
    }
}

/// The kernel `validate` checks against: this machine, or a node's probe file.
package struct ValidationTarget: Sendable {
    /// "this machine (KERNEL)" or "node probe FILE (KERNEL)".
    package var name: String
    package var environment: CompileEnvironment
    /// Checks that cannot run against it, with the reason.
    package var unchecked: [String]

    package init(name: String, environment: CompileEnvironment, unchecked: [String]) {
        self.name = name
        self.environment = environment
        self.unchecked = unchecked
    }

    /// A node's `tracectl probe -o json`.
    package init(probeFile path: String, podScopes: Bool) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let probe = try JSONDecoder().decode(ProbeFile.self, from: data)
        guard let capabilities = probe.capabilities else {
            throw ProbeFileError(description: "no \"capabilities\" object: write it with `tracectl probe -o json` of this version")
        }
        self.init(capabilities: capabilities, source: "node probe \(path)", podScopes: podScopes)
    }

    package init(capabilities: NodeCapabilities, source: String, podScopes: Bool) {
        var environment = capabilities.environment(podScopesAvailable: podScopes)
        // A node without bpf_loop() runs no policy program: the agent there refuses them all.
        if capabilities.bpfLoop?.available == false { environment.policyProgramsUnavailable = KernelProbe.noBPFLoopReason }
        self.init(
            name: "\(source) (kernel \(capabilities.kernel))", environment: environment, unchecked: capabilities.unchecked)
    }

    /// The running kernel, probed as `tracectl probe` does.
    static func thisMachine(podScopes: Bool) -> ValidationTarget {
        let facts = MachineFacts.collect()
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return ValidationTarget(
            name: "this machine (kernel \(release))", environment: facts.environment(podScopesAvailable: podScopes),
            unchecked: facts.unchecked)
    }
}

struct ProbeFileError: Error, CustomStringConvertible {
    var description: String
}
