// SPDX-License-Identifier: Apache-2.0

import Events
import ExportFilters
import Foundation

/// One exported event: the JSON line exactly as the exporter wrote it, plus the few fields the
/// `/v1/events` filters look at, so that filtering never parses JSON.
package struct EventLine: Sendable, Hashable {
    /// The JSON object, UTF-8; a trailing newline is allowed and not required.
    package var bytes: [UInt8]
    /// The event's top-level key: `process_exec`, `process_exit`, `process_kprobe`,
    /// `process_tracepoint`, ... (`vigil_dropped_events` for a drop notice).
    package var type: String
    /// `process.binary`.
    package var binary: String
    /// `process.pod.namespace`, when the process runs in a pod.
    package var namespace: String?
    /// `process.pod.name`.
    package var pod: String?
    /// `policy_name` of a policy event.
    package var policyName: String?
    /// `action` of a policy event, e.g. `KPROBE_ACTION_SIGKILL`.
    package var action: String?

    package init(
        bytes: [UInt8], type: String, binary: String, namespace: String? = nil, pod: String? = nil,
        policyName: String? = nil, action: String? = nil
    ) {
        self.bytes = bytes
        self.type = type
        self.binary = binary
        self.namespace = namespace
        self.pod = pod
        self.policyName = policyName
        self.action = action
    }

    /// A line from a string (the JSON text of one event) and its filter fields.
    package init(
        json: String, type: String, binary: String, namespace: String? = nil, pod: String? = nil,
        policyName: String? = nil, action: String? = nil
    ) {
        self.init(bytes: Array(json.utf8), type: type, binary: binary, namespace: namespace, pod: pod,
                  policyName: policyName, action: action)
    }

    /// A line whose filter fields are read from the JSON itself (tests, tools, replays). The
    /// agent should use the memberwise initialiser: it already has the fields.
    ///
    /// Returns nil when `bytes` is not one JSON object with one event key.
    package init?(parsing bytes: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            return nil
        }
        guard let type = object.keys.first(where: { $0 != "node_name" && $0 != "time" }) else { return nil }
        let body = object[type] as? [String: Any] ?? [:]
        let process = body["process"] as? [String: Any] ?? [:]
        let pod = process["pod"] as? [String: Any]
        self.init(
            bytes: bytes, type: type, binary: process["binary"] as? String ?? "",
            namespace: pod?["namespace"] as? String, pod: pod?["name"] as? String,
            policyName: body["policy_name"] as? String, action: body["action"] as? String
        )
    }

    /// `init(parsing:)` from a string.
    package init?(parsing json: String) {
        self.init(parsing: Array(json.utf8))
    }

    /// The JSON text without a trailing newline.
    package var json: String {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    /// Whether the event carries a socket (`sock_arg`: flows, `tcp_connect`) or a socket address
    /// (`sockaddr_arg`: connect and send hooks): a network event. Read from the bytes, as only
    /// the verdict filter asks.
    package var carriesSocket: Bool {
        Self.contains(bytes, Self.sockArgKey) || Self.contains(bytes, Self.sockaddrArgKey)
    }

    private static let sockArgKey = Array(#""sock_arg":"#.utf8)
    private static let sockaddrArgKey = Array(#""sockaddr_arg":"#.utf8)

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count, let first = needle.first else { return false }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// The `type` of the in-band line that tells a client how many lines it missed.
    package static let droppedNoticeType = "vigil_dropped_events"

    /// `{"vigil_dropped_events":N}`: sent to a client, in place, when it catches up after its
    /// buffer overflowed.
    package static func droppedNotice(_ count: UInt64) -> EventLine {
        EventLine(json: "{\"\(droppedNoticeType)\":\(count)}", type: droppedNoticeType, binary: "")
    }

    /// The count of a drop notice, nil for other lines.
    package var droppedCount: UInt64? {
        guard type == Self.droppedNoticeType else { return nil }
        let prefix = "{\"\(Self.droppedNoticeType)\":"
        let text = json.filter { $0 != " " }
        guard text.hasPrefix(prefix), text.hasSuffix("}") else { return nil }
        return UInt64(text.dropFirst(prefix.count).dropLast())
    }
}

extension EventLine: Codable {
    enum CodingKeys: String, CodingKey {
        case line
        case type
        case binary
        case namespace
        case pod
        case policyName = "policy_name"
        case action
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            json: try container.decode(String.self, forKey: .line),
            type: try container.decode(String.self, forKey: .type),
            binary: try container.decodeIfPresent(String.self, forKey: .binary) ?? "",
            namespace: try container.decodeIfPresent(String.self, forKey: .namespace),
            pod: try container.decodeIfPresent(String.self, forKey: .pod),
            policyName: try container.decodeIfPresent(String.self, forKey: .policyName),
            action: try container.decodeIfPresent(String.self, forKey: .action)
        )
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(json, forKey: .line)
        try container.encode(type, forKey: .type)
        try container.encode(binary, forKey: .binary)
        try container.encodeIfPresent(namespace, forKey: .namespace)
        try container.encodeIfPresent(pod, forKey: .pod)
        try container.encodeIfPresent(policyName, forKey: .policyName)
        try container.encodeIfPresent(action, forKey: .action)
    }
}

/// The `/v1/events` filters, applied by the agent before a line is queued for a client, so a
/// client's buffer only holds lines it asked for. Every set filter must match (AND); a list
/// filter matches when any of its values does (OR). Drop notices always pass.
package struct EventFilter: Sendable, Hashable, CustomStringConvertible {
    /// Event types, normalised (`process_exec`); empty = all.
    package var types: Set<String> = []
    /// Searched for in `process.binary` (unanchored, like Tetragon's `--binary`).
    package var binary: NSRegularExpression?
    /// Exact `process.pod.namespace` values; empty = all.
    package var namespaces: Set<String> = []
    /// Searched for in `process.pod.name`; a line without a pod never matches.
    package var pod: NSRegularExpression?
    /// Exact `policy_name` values; empty = all.
    package var policies: Set<String> = []
    /// Actions, normalised (`KPROBE_ACTION_SIGKILL`); empty = all.
    package var actions: Set<String> = []
    /// Verdicts (``Verdict``); empty = all lines, with a verdict or not.
    package var verdicts: Set<Verdict> = []
    /// Tetragon's filter lines (`allowlist=`, `denylist=`: the JSON lines `--export-allowlist`
    /// and `--export-denylist` take), evaluated on the event by the export's own filter code.
    package var exportFilters: StreamExportFilters?

    /// What a policy decided about an operation, for `tracectl events --verdict`.
    package enum Verdict: String, Sendable, Hashable, CaseIterable {
        /// A policy's Override: the operation failed with its errno (or, in monitor mode or
        /// outside the fence, would have).
        case denied
        /// A network event (one with a socket or socket-address argument: connects, sends,
        /// flows) that no policy denied.
        case allowed
    }

    /// The verdict of `line`, or nil for a line that carries none (an exec, an open reported
    /// without a denial).
    package static func verdict(of line: EventLine) -> Verdict? {
        if let action = line.action, normalizedAction(action) == "KPROBE_ACTION_OVERRIDE" { return .denied }
        return line.carriesSocket ? .allowed : nil
    }

    /// Matches every line.
    package init() {}

    /// The event types `types=` accepts (short forms like `exec` or `PROCESS_EXEC` too).
    package static let knownTypes: [String] = [
        "process_exec", "process_exit", "process_kprobe", "process_tracepoint",
        "process_uprobe", "process_lsm", "process_loader", "process_throttle",
    ]

    /// A filter from the query parameters of `GET /v1/events` (`types`, `binary`, `namespace`,
    /// `pod`, `policy`, `action`, `verdict`; lists are comma-separated and parameters may
    /// repeat; `allowlist` and `denylist` hold Tetragon's filter JSON lines, read with `context`
    /// as the agent reads its export flags).
    ///
    /// - Throws: `ControlError.badRequest` listing every bad value (unknown type, invalid regex,
    ///   a filter line's mistake with its line and field).
    package init(query: [(String, String)], context: ExportFilterContext = .init()) throws(ControlError) {
        var problems: [String] = []
        var binaryPatterns: [String] = []
        var podPatterns: [String] = []
        var allowlist: [String] = []
        var denylist: [String] = []
        for (key, value) in query {
            let items = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            switch key {
            case "types", "type", "event_types":
                for item in items {
                    if let type = Self.normalizedType(item) {
                        types.insert(type)
                    } else {
                        problems.append("types: unknown event type \"\(item)\" (known: \(Self.knownTypes.joined(separator: ", ")))")
                    }
                }
            case "binary":
                if !value.isEmpty { binaryPatterns.append(value) }
            case "namespace":
                namespaces.formUnion(items)
            case "pod":
                if !value.isEmpty { podPatterns.append(value) }
            case "policy", "policy_name":
                policies.formUnion(items)
            case "action":
                actions.formUnion(items.map(Self.normalizedAction))
            case "verdict":
                for item in items {
                    if let verdict = Verdict(rawValue: item.lowercased()) {
                        verdicts.insert(verdict)
                    } else {
                        problems.append("verdict: unknown verdict \"\(item)\" (known: denied, allowed)")
                    }
                }
            case "allowlist":
                allowlist.append(value)
            case "denylist":
                denylist.append(value)
            default:
                problems.append(
                    "\(key): unknown parameter (known: types, binary, namespace, pod, policy, action, verdict, allowlist, denylist)")
            }
        }
        if !allowlist.isEmpty || !denylist.isEmpty {
            do {
                exportFilters = try StreamExportFilters(
                    allowlist: allowlist.joined(separator: "\n"), denylist: denylist.joined(separator: "\n"), context: context)
            } catch {
                problems.append("\(error)")
            }
        }
        func compile(_ patterns: [String], _ name: String) -> NSRegularExpression? {
            guard !patterns.isEmpty else { return nil }
            // Several `binary=` parameters match when any of them does.
            let pattern = patterns.count == 1 ? patterns[0] : patterns.map { "(?:\($0))" }.joined(separator: "|")
            do {
                return try NSRegularExpression(pattern: pattern)
            } catch {
                problems.append("\(name): invalid regular expression \"\(pattern)\"")
                return nil
            }
        }
        binary = compile(binaryPatterns, "binary")
        pod = compile(podPatterns, "pod")
        if !problems.isEmpty {
            throw .badRequest("invalid event filter", details: problems)
        }
    }

    /// `process_exec` for `process_exec`, `PROCESS_EXEC`, `exec`; nil for unknown types.
    package static func normalizedType(_ text: String) -> String? {
        var type = text.lowercased()
        if !type.hasPrefix("process_") { type = "process_" + type }
        return knownTypes.contains(type) ? type : nil
    }

    /// `KPROBE_ACTION_SIGKILL` for `sigkill`, `Sigkill`, `KPROBE_ACTION_SIGKILL`.
    package static func normalizedAction(_ text: String) -> String {
        let action = text.uppercased()
        return action.hasPrefix("KPROBE_ACTION_") ? action : "KPROBE_ACTION_" + action
    }

    /// True when no filter is set.
    package var isEmpty: Bool {
        types.isEmpty && binary == nil && namespaces.isEmpty && pod == nil && policies.isEmpty && actions.isEmpty
            && verdicts.isEmpty && exportFilters == nil
    }

    /// Whether `line` passes. Cheap checks first; the regular expressions last. `event` is
    /// the event the line was encoded from, which Tetragon's filter lines read; a line without
    /// one (a replay) does not pass them.
    package func matches(_ line: EventLine, event: ExportEvent? = nil) -> Bool {
        if line.type == EventLine.droppedNoticeType { return true }
        if !types.isEmpty, !types.contains(line.type) { return false }
        if !policies.isEmpty {
            guard let name = line.policyName, policies.contains(name) else { return false }
        }
        if !actions.isEmpty {
            guard let action = line.action, actions.contains(Self.normalizedAction(action)) else { return false }
        }
        if !namespaces.isEmpty {
            guard let namespace = line.namespace, namespaces.contains(namespace) else { return false }
        }
        if let pod {
            guard let name = line.pod, Self.search(pod, in: name) else { return false }
        }
        if !verdicts.isEmpty {
            guard let verdict = Self.verdict(of: line), verdicts.contains(verdict) else { return false }
        }
        if let binary, !Self.search(binary, in: line.binary) { return false }
        if let exportFilters {
            guard let event, exportFilters.admits(event) else { return false }
        }
        return true
    }

    private static func search(_ expression: NSRegularExpression, in text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    package var description: String {
        var parts: [String] = []
        if !types.isEmpty { parts.append("types=\(types.sorted().joined(separator: ","))") }
        if let binary { parts.append("binary=\(binary.pattern)") }
        if !namespaces.isEmpty { parts.append("namespace=\(namespaces.sorted().joined(separator: ","))") }
        if let pod { parts.append("pod=\(pod.pattern)") }
        if !policies.isEmpty { parts.append("policy=\(policies.sorted().joined(separator: ","))") }
        if !actions.isEmpty { parts.append("action=\(actions.sorted().joined(separator: ","))") }
        if !verdicts.isEmpty { parts.append("verdict=\(verdicts.map(\.rawValue).sorted().joined(separator: ","))") }
        if let exportFilters {
            if !exportFilters.allowlist.isEmpty { parts.append("allowlist=\(exportFilters.allowlist)") }
            if !exportFilters.denylist.isEmpty { parts.append("denylist=\(exportFilters.denylist)") }
        }
        return parts.isEmpty ? "all" : parts.joined(separator: " ")
    }
}

/// Tetragon's `--export-allowlist`/`--export-denylist` lines for one `/v1/events` client, run by
/// the export's own ``ExportFilters``: the stream and the export file filter alike.
///
/// `@unchecked Sendable`: ``ExportFilters`` keeps caches (binary verdicts, the pid set) and is
/// not thread-safe; ``EventBroadcaster/publish(_:event:)``, its only caller, runs on the
/// exporter's one thread.
package final class StreamExportFilters: @unchecked Sendable, Hashable {
    /// The lines as given, one JSON object per line.
    package let allowlist: String
    package let denylist: String
    private let filters: ExportFilters

    /// - Throws: ``FilterError`` naming `allowlist` or `denylist`, the line and the field.
    package init(allowlist: String, denylist: String, context: ExportFilterContext) throws(FilterError) {
        self.allowlist = allowlist
        self.denylist = denylist
        filters = try ExportFilters(
            allowlist: allowlist, denylist: denylist, context: context, names: ("allowlist", "denylist"))
    }

    func admits(_ event: ExportEvent) -> Bool { filters.admits(event) }

    package static func == (a: StreamExportFilters, b: StreamExportFilters) -> Bool {
        a.allowlist == b.allowlist && a.denylist == b.denylist
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(allowlist)
        hasher.combine(denylist)
    }
}
