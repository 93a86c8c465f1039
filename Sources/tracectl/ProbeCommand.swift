// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import KernelFeatures
import PolicyCompiler

/// `tracectl probe`: what this kernel allows, without a running agent.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Show what this kernel allows, hook by hook (observe, kill, deny). No agent needed; run as root.",
        discussion: """
            -o json writes the same plus "capabilities": the facts the agent's policy compiler reads (tracepoints \
            and the formats of the common ones, kernel functions, BTF, BPF-LSM, trampolines, kprobes), for \
            `tracectl policy validate --node-probe FILE` elsewhere.
            """)

    @Option(name: [.customShort("o"), .customLong("output")], help: "text or json.")
    var output: OutputFormat = .text

    func run() throws {
        if output == .json {
            let facts = MachineFacts.collect()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let file = ProbeFile(features: facts.probe.features, hooks: facts.probe.hooks, capabilities: facts.capabilities())
            FileHandle.standardOutput.write(try encoder.encode(file) + Data("\n".utf8))
            return
        }
        let probe = KernelProbe.run()
        print("features:")
        let width = probe.features.map(\.name.count).max() ?? 0
        for feature in probe.features {
            let state = feature.available.map { $0 ? "yes" : "no" } ?? "unknown"
            print("  \(feature.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(state.padding(toLength: 7, withPad: " ", startingAt: 0))  \(feature.detail)")
        }
        print("hooks:")
        let hookWidth = probe.hooks.map(\.hook.count).max() ?? 0
        let mechanismWidth = probe.hooks.map(\.mechanism.count).max() ?? 0
        print("  \("HOOK".padding(toLength: hookWidth, withPad: " ", startingAt: 0))  \("MECHANISM".padding(toLength: mechanismWidth, withPad: " ", startingAt: 0))  OBSERVE  KILL  DENY")
        for hook in probe.hooks {
            func yn(_ b: Bool) -> String { b ? "yes" : "no" }
            print(
                "  \(hook.hook.padding(toLength: hookWidth, withPad: " ", startingAt: 0))  \(hook.mechanism.padding(toLength: mechanismWidth, withPad: " ", startingAt: 0))  "
                    + "\(yn(hook.observe).padding(toLength: 7, withPad: " ", startingAt: 0))  \(yn(hook.kill).padding(toLength: 4, withPad: " ", startingAt: 0))  \(yn(hook.deny))")
        }
    }
}

/// `tracectl probe -o json`: what the text shows, and the compiler's facts.
struct ProbeFile: Codable {
    var features: [KernelProbe.Feature]
    var hooks: [KernelProbe.Hook]
    /// Absent in files written before `validate --node-probe` existed.
    var capabilities: NodeCapabilities?
}
