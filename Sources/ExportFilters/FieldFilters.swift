// SPDX-License-Identifier: Apache-2.0
import Events

/// `--field-filters`: Tetragon's `FieldFilter` lines,
/// `{"event_set":["PROCESS_EXEC"],"fields":"process.binary,parent.binary","action":"INCLUDE"}`.
/// `fields` are paths into the event's body (`process_exec`'s object), snake_case (camelCase
/// as protobuf writes field masks is read too); a path through a list (`ancestors.binary`)
/// applies to each element. `INCLUDE` keeps only the paths given, `EXCLUDE` drops them;
/// `node_name` and `time` always stay. A line applies to the event types of `event_set` (all
/// when absent), or with `invert_event_set` to every other type. Lines apply in order, each to
/// the previous one's result, as Tetragon's exporter does: an `EXCLUDE` wins over an `INCLUDE`,
/// and two `INCLUDE`s on one type keep what both name.
///
/// Runs on the encoded line (a copy that skips what goes), only for events a line applies to;
/// the control API's event stream gets the whole line, as Tetragon's export field filters do
/// not apply to its gRPC streams.
package struct FieldFilters: Sendable {
    final class Node: @unchecked Sendable {
        // @unchecked: built once at start, read-only afterwards.
        var children: [[UInt8]: Node] = [:]
        var terminal = false
    }
    struct Line: Sendable {
        var eventTypes: UInt32
        var invert: Bool
        var include: Bool
        var mask: Node
    }
    let lines: [Line]

    /// Keys of an event body across Tetragon's event types, and Vigil's own `vigil`.
    static let bodyKeys: Set<String> = [
        "process", "parent", "ancestors", "signal", "status", "time", "function_name", "args", "return", "action",
        "policy_name", "message", "tags", "subsys", "event", "return_action", "kernel_stack_trace",
        "user_stack_trace", "data", "ima_hash", "path", "symbol", "offset", "ref_ctr_offset", "provider", "name",
        "flags", "buildid", "type", "cgroup", "number_of_dropped_process_events", "vigil",
    ]
    /// Keys of Tetragon's `Process`.
    static let processKeys: Set<String> = [
        "exec_id", "pid", "uid", "cwd", "binary", "arguments", "flags", "start_time", "auid", "pod", "docker",
        "parent_exec_id", "refcnt", "cap", "ns", "tid", "process_credentials", "binary_properties", "user",
        "in_init_tree", "environment_variables",
    ]

    /// - Throws: ``FilterError`` naming the line and field of the first mistake.
    package init(_ text: String) throws(FilterError) {
        let parser = FilterLines(flag: "--field-filters")
        var lines: [Line] = []
        for (line, object) in try parser.objects(text) {
            try parser.checkKeys(object, line: line, known: ["event_set", "fields", "action", "invert_event_set"])
            let types = try ExportEventType.parse(
                parser.strings(object, "event_set", line: line) ?? [], lines: parser, line: line, key: "event_set")
            let invert = try parser.bool(object, "invert_event_set", line: line) ?? false
            var include = true
            if let action = object["action"] {
                switch action {
                case let name as String where name == "INCLUDE": include = true
                case let name as String where name == "EXCLUDE": include = false
                case let number as Int where number == 0 || number == 1: include = number == 0
                default: throw parser.error(line, "action", "must be INCLUDE or EXCLUDE")
                }
            }
            guard let fields = try parser.string(object, "fields", line: line) else {
                throw parser.error(line, "fields", "missing: a comma-separated list of field paths, e.g. \"process.binary,parent.binary\"")
            }
            let root = Node()
            for (i, rawPath) in fields.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                let path = rawPath.trimmingSpaces
                let components = path.split(separator: ".", omittingEmptySubsequences: false).map { Self.snakeCase(String($0)) }
                guard !path.isEmpty, components.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                    throw parser.error(line, "fields path \(i + 1)", "\"\(path)\" is not a field path like process.binary")
                }
                guard Self.bodyKeys.contains(components[0]) else {
                    throw parser.error(line, "fields path \(i + 1)", "unknown field \"\(components[0])\" in \"\(path)\" (an event body has: \(Self.bodyKeys.sorted().joined(separator: ", ")))")
                }
                if ["process", "parent", "ancestors"].contains(components[0]), components.count > 1,
                    !Self.processKeys.contains(components[1])
                {
                    throw parser.error(line, "fields path \(i + 1)", "unknown field \"\(components[1])\" in \"\(path)\" (a process has: \(Self.processKeys.sorted().joined(separator: ", ")))")
                }
                var node = root
                for component in components {
                    let key = Array(component.utf8)
                    if let child = node.children[key] {
                        node = child
                    } else {
                        let child = Node()
                        node.children[key] = child
                        node = child
                    }
                }
                node.terminal = true
            }
            lines.append(Line(eventTypes: types, invert: invert, include: include, mask: root))
        }
        self.lines = lines
    }

    package var isEmpty: Bool { lines.isEmpty }

    /// `parentExecId` -> `parent_exec_id`; snake_case unchanged.
    static func snakeCase(_ text: String) -> String {
        var out = ""
        for c in text {
            if c.isUppercase {
                out.append("_")
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Whether some line applies to events of `kind`.
    @inline(__always)
    package func applies(to kind: ExportEventKind) -> Bool {
        let bit = ExportEventType.bit(of: kind)
        return lines.contains { Self.applies($0, bit) }
    }

    @inline(__always)
    static func applies(_ line: Line, _ bit: UInt32) -> Bool {
        guard line.eventTypes != 0 else { return true }
        return (line.eventTypes & bit != 0) != line.invert
    }

    /// `line` (one encoded event, `{"<type>":{...},"node_name":...,"time":...}` and a newline)
    /// with the lines that apply to `kind` applied to its body.
    package func apply(to line: [UInt8], kind: ExportEventKind) -> [UInt8] {
        let bit = ExportEventType.bit(of: kind)
        var current = line
        for filter in lines where Self.applies(filter, bit) {
            current = Self.filterEnvelope(current, filter)
        }
        return current
    }

    /// Copies the envelope, filtering the first member's value (the body).
    static func filterEnvelope(_ line: [UInt8], _ filter: Line) -> [UInt8] {
        line.withUnsafeBufferPointer { s in
            var out: [UInt8] = []
            out.reserveCapacity(s.count)
            var scanner = JSONScanner(s)
            guard let open = scanner.next(UInt8(ascii: "{")), let key = scanner.string() else { return line }
            out.append(contentsOf: s[open...key.upperBound])
            guard let colon = scanner.next(UInt8(ascii: ":")) else { return line }
            out.append(contentsOf: s[(key.upperBound + 1)...colon])
            scanner.skipSpace()
            let bodyStart = scanner.index
            guard let bodyEnd = scanner.skipValue(), s[bodyStart] == UInt8(ascii: "{") else { return line }
            filterObject(s, bodyStart..<bodyEnd, filter.mask, include: filter.include, into: &out)
            out.append(contentsOf: s[bodyEnd...])
            return out
        }
    }

    /// Copies the object at `range`, members kept or dropped by `node`.
    static func filterObject(
        _ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ node: Node, include: Bool, into out: inout [UInt8]
    ) {
        var scanner = JSONScanner(s, range)
        _ = scanner.next(UInt8(ascii: "{"))
        out.append(UInt8(ascii: "{"))
        var first = true
        while true {
            scanner.skipSpace()
            if scanner.index >= range.upperBound || s[scanner.index] == UInt8(ascii: "}") { break }
            if s[scanner.index] == UInt8(ascii: ",") {
                scanner.index += 1
                continue
            }
            guard let key = scanner.string(), scanner.next(UInt8(ascii: ":")) != nil else { break }
            scanner.skipSpace()
            let valueStart = scanner.index
            guard let valueEnd = scanner.skipValue() else { break }
            let name = Array(s[(key.lowerBound + 1)..<key.upperBound])
            let child = node.children[name]
            @inline(__always) func member(_ body: (inout [UInt8]) -> Void) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: s[key.lowerBound...key.upperBound])
                out.append(UInt8(ascii: ":"))
                body(&out)
            }
            switch (include, child) {
            case (true, nil): continue
            case (false, nil): member { $0.append(contentsOf: s[valueStart..<valueEnd]) }
            case (true, let child?) where child.terminal: member { $0.append(contentsOf: s[valueStart..<valueEnd]) }
            case (false, let child?) where child.terminal: continue
            case (_, let child?):
                let kind = s[valueStart]
                if kind == UInt8(ascii: "{") {
                    member { filterObject(s, valueStart..<valueEnd, child, include: include, into: &$0) }
                } else if kind == UInt8(ascii: "[") {
                    member { filterArray(s, valueStart..<valueEnd, child, include: include, into: &$0) }
                } else if !include {
                    member { $0.append(contentsOf: s[valueStart..<valueEnd]) }
                }
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A list whose objects are filtered by `node`; other elements copied.
    static func filterArray(
        _ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ node: Node, include: Bool, into out: inout [UInt8]
    ) {
        var scanner = JSONScanner(s, range)
        _ = scanner.next(UInt8(ascii: "["))
        out.append(UInt8(ascii: "["))
        var first = true
        while true {
            scanner.skipSpace()
            if scanner.index >= range.upperBound || s[scanner.index] == UInt8(ascii: "]") { break }
            if s[scanner.index] == UInt8(ascii: ",") {
                scanner.index += 1
                continue
            }
            let start = scanner.index
            guard let end = scanner.skipValue() else { break }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            if s[start] == UInt8(ascii: "{") {
                filterObject(s, start..<end, node, include: include, into: &out)
            } else {
                out.append(contentsOf: s[start..<end])
            }
        }
        out.append(UInt8(ascii: "]"))
    }
}

/// Walks JSON text the encoder wrote (valid, compact); enough to find members and skip values.
struct JSONScanner {
    let s: UnsafeBufferPointer<UInt8>
    var index: Int
    let end: Int

    init(_ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>? = nil) {
        self.s = s
        self.index = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? s.count
    }

    mutating func skipSpace() {
        while index < end, s[index] == 0x20 || s[index] == 0x0A || s[index] == 0x09 || s[index] == 0x0D { index += 1 }
    }

    /// Consumes `byte` (after spaces) and returns its index.
    mutating func next(_ byte: UInt8) -> Int? {
        skipSpace()
        guard index < end, s[index] == byte else { return nil }
        index += 1
        return index - 1
    }

    /// Consumes a string; its range from the opening to the closing quote (both included, the
    /// upper bound being the closing quote's index).
    mutating func string() -> ClosedRange<Int>? {
        skipSpace()
        guard index < end, s[index] == UInt8(ascii: "\"") else { return nil }
        let open = index
        index += 1
        while index < end {
            if s[index] == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if s[index] == UInt8(ascii: "\"") {
                index += 1
                return open...(index - 1)
            }
            index += 1
        }
        return nil
    }

    /// Consumes one value; returns its end.
    mutating func skipValue() -> Int? {
        skipSpace()
        guard index < end else { return nil }
        switch s[index] {
        case UInt8(ascii: "\""):
            return string().map { $0.upperBound + 1 }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < end {
                let c = s[index]
                if c == UInt8(ascii: "\"") {
                    guard string() != nil else { return nil }
                    continue
                }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return index
                    }
                }
                index += 1
            }
            return nil
        default:
            while index < end, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(s[index]) { index += 1 }
            return index
        }
    }
}
