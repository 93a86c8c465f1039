// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Foundation

/// The `-o text` renderings of the agent's JSON documents.
package enum TextOutput {
    /// `tracectl status`.
    package static func status(_ status: AgentStatus) -> String {
        var out = ""
        let fields: [(String, String)] = [
            ("version", status.version), ("node", status.nodeName), ("kernel", status.kernelRelease),
            ("uptime", duration(status.uptimeSeconds)), ("attach mode", status.attachMode),
            ("policies", "\(status.policies)"),
            ("enforcement", status.enforcementFence.map { "fenced to cgroup \($0.path) (\($0.directory), id \($0.cgroupID))" } ?? "whole node"),
        ]
        for (key, value) in fields { out += (key + ":").padding(toLength: 14, withPad: " ", startingAt: 0) + value + "\n" }
        if !status.mechanisms.isEmpty {
            out += "mechanisms:\n"
            let rows = [["HOOK", "MECHANISM", "OBSERVE", "KILL", "DENY"]] + status.mechanisms.map {
                [$0.hook, $0.mechanism, yesNo($0.observe), yesNo($0.kill), yesNo($0.deny)]
            }
            out += table(rows, indent: "  ")
        }
        if !status.counters.isEmpty {
            out += "counters:\n"
            out += table(status.counters.sorted { $0.key < $1.key }.map { [$0.key, "\($0.value)"] }, indent: "  ")
        }
        return out
    }

    /// `tracectl policy list`: one row per policy; a refused policy's error on the next line.
    package static func policies(_ policies: [PolicyInfo]) -> String {
        if policies.isEmpty { return "no policies\n" }
        var rows = [["NAME", "NAMESPACE", "STATE", "MODE", "SOURCE", "HOOKS", "ACTIONS"]]
        var errors: [Int: String] = [:]
        var scopes: [Int: String] = [:]
        for policy in policies {
            let actions = policy.actionCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            rows.append([
                policy.name, policy.namespace ?? "-", policy.state.rawValue, policy.mode.rawValue,
                policy.source.rawValue, "\(policy.hooks.count)", actions.isEmpty ? "-" : actions.joined(separator: ","),
            ])
            if let error = policy.error, !error.isEmpty { errors[rows.count - 1] = error }
            if let scope = policy.scope {
                scopes[rows.count - 1] =
                    "\(scope.selector) (\(scope.cgroups) cgroup\(scope.cgroups == 1 ? "" : "s")"
                    + (scope.unresolved > 0 ? ", \(scope.unresolved) not found yet)" : ")")
            }
        }
        let lines = table(rows, indent: "").split(separator: "\n", omittingEmptySubsequences: false)
        var out = ""
        for (index, line) in lines.enumerated() where index < rows.count {
            out += line + "\n"
            if let scope = scopes[index] { out += "  scope: \(scope)\n" }
            if let error = errors[index] {
                for errorLine in error.split(separator: "\n") { out += "  error: \(errorLine)\n" }
            }
        }
        return out
    }

    /// Columns padded to their widest cell, two spaces apart.
    static func table(_ rows: [[String]], indent: String) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            var line = indent
            for (i, cell) in row.enumerated() {
                line += i == row.count - 1 ? cell : cell.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0)
            }
            out += line + "\n"
        }
        return out
    }

    static func duration(_ seconds: Double) -> String {
        var rest = Int(seconds.rounded(.down))
        let days = rest / 86_400; rest %= 86_400
        let hours = rest / 3600; rest %= 3600
        let minutes = rest / 60; rest %= 60
        var out = ""
        if days > 0 { out += "\(days)d" }
        if days > 0 || hours > 0 { out += "\(hours)h" }
        if days > 0 || hours > 0 || minutes > 0 { out += "\(minutes)m" }
        return out + "\(rest)s"
    }

    private static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
}

/// Pretty JSON for `-o json`.
enum JSONText {
    static func pretty(_ value: some Encodable) throws -> String {
        let encoder = ControlJSON.encoder()
        encoder.outputFormatting.insert(.prettyPrinted)
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
