// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import KernelFeatures

/// `tracectl probe`: what this kernel allows, without a running agent.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Show what this kernel allows, hook by hook (observe, kill, deny). No agent needed; run as root.")

    func run() throws {
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
