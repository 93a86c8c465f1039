// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import ControlAPI
import Foundation
import Glibc

/// `tracectl events`: streams the agent's events, filtered by the agent.
package struct EventsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Stream live events (until Ctrl-C or the agent stops).",
        discussion: """
            Filters are applied by the agent. Several values of one filter match any of them; \
            different filters must all match. --allowlist and --denylist take Tetragon's export \
            filter lines and are evaluated by the same code as the agent's --export-allowlist and \
            --export-denylist; the other filters are shorthands read from each line's fields. If this client reads too slowly, the agent drops \
            events for it only and says so with a {"vigil_dropped_events": N} line.
            """)

    /// Values of `events -o`.
    package enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// The exported JSON lines, as they are.
        case json
        /// One readable line per event.
        case compact
    }

    @OptionGroup package var global: GlobalOptions
    @Option(name: [.short, .customLong("output")], help: "json or compact.")
    package var output: Format = .json
    @Option(help: ArgumentHelp("Only processes whose binary matches this regular expression.", valueName: "regex"))
    package var binary: String?
    @Option(help: ArgumentHelp("Only processes in this Kubernetes namespace (repeatable).", valueName: "ns"))
    package var namespace: [String] = []
    @Option(help: ArgumentHelp("Only pods whose name matches this regular expression.", valueName: "regex"))
    package var pod: String?
    @Option(name: .customLong("event-types"), parsing: .singleValue, help: ArgumentHelp(
        "Only these event types, comma-separated: process_exec (or exec), process_exit, process_kprobe, process_tracepoint.",
        valueName: "types"))
    package var eventTypes: [String] = []
    @Option(help: ArgumentHelp("Only events of this policy (repeatable).", valueName: "name"))
    package var policy: [String] = []
    @Option(help: ArgumentHelp("Only events with this action, e.g. sigkill or KPROBE_ACTION_POST (repeatable).", valueName: "action"))
    package var action: [String] = []
    @Option(help: ArgumentHelp(
        "denied: operations a policy's Override refused (or, in monitor mode or outside the fence, would have); allowed: network events (connects, sends, flows) no policy denied (repeatable).",
        valueName: "verdict"))
    package var verdict: [String] = []
    @Option(help: ArgumentHelp(
        "Tetragon's export filter: one JSON object, as one line of the agent's --export-allowlist, e.g. '{\"binary_regex\":[\"curl$\"]}' (repeatable: any line matches). The agent runs the export's own filter code on each event.",
        valueName: "json"))
    package var allowlist: [String] = []
    @Option(help: ArgumentHelp(
        "Tetragon's export filter: one JSON object, as one line of --export-denylist (repeatable: a matching line drops the event).",
        valueName: "json"))
    package var denylist: [String] = []

    package init() {}

    /// The query of `GET /v1/events` for the given options.
    package var query: [(String, String)] {
        var query: [(String, String)] = []
        let types = eventTypes.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        if !types.isEmpty { query.append(("types", types.joined(separator: ","))) }
        if let binary { query.append(("binary", binary)) }
        if !namespace.isEmpty { query.append(("namespace", namespace.joined(separator: ","))) }
        if let pod { query.append(("pod", pod)) }
        if !policy.isEmpty { query.append(("policy", policy.joined(separator: ","))) }
        if !action.isEmpty { query.append(("action", action.joined(separator: ","))) }
        if !verdict.isEmpty { query.append(("verdict", verdict.joined(separator: ","))) }
        // One object per line, as the flags' files hold them; the agent names a mistake's line.
        if !allowlist.isEmpty { query.append(("allowlist", allowlist.joined(separator: "\n"))) }
        if !denylist.isEmpty { query.append(("denylist", denylist.joined(separator: "\n"))) }
        return query
    }

    package func run() async throws {
        let client = global.client
        let (query, output) = (self.query, self.output)
        try await reportingErrors { () async throws(ClientError) in
            try await client.streamEvents(query: query) { line in
                // Unbuffered: each event is on the terminal (or in the pipe) as it arrives.
                let text = output == .json ? line : CompactFormatter.format(line)
                // write(2) directly: FileHandle.write traps on EPIPE. A reader that went away
                // (`tracectl events | head`) ends the stream quietly.
                let bytes = Array((text + "\n").utf8)
                var offset = 0
                while offset < bytes.count {
                    let n = bytes[offset...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { Glibc.exit(0) }
                    offset += n
                }
            }
        }
    }
}
