// SPDX-License-Identifier: Apache-2.0
import Events
import Synchronization

/// Tetragon's `EventType` names, as `event_set` takes them, with a bit each.
package enum ExportEventType: String, Sendable, CaseIterable {
    case PROCESS_EXEC, PROCESS_EXIT, PROCESS_KPROBE, PROCESS_TRACEPOINT, PROCESS_LOADER, PROCESS_UPROBE,
        PROCESS_THROTTLE, PROCESS_LSM, PROCESS_USDT, RATE_LIMIT_INFO

    var bit: UInt32 { 1 << UInt32(Self.allCases.firstIndex(of: self)!) }

    /// The bit of an exported event's kind.
    @inline(__always)
    static func bit(of kind: ExportEventKind) -> UInt32 {
        switch kind {
        case .exec: 1 << 0
        case .exit: 1 << 1
        case .kprobe: 1 << 2
        case .tracepoint: 1 << 3
        case .uprobe: 1 << 5
        case .lsm: 1 << 7
        }
    }

    static func parse(_ names: [String], lines: FilterLines, line: Int, key: String) throws(FilterError) -> UInt32 {
        var bits: UInt32 = 0
        for (i, name) in names.enumerated() {
            guard let type = ExportEventType(rawValue: name) else {
                throw lines.error(
                    line, "\(key)[\(i)]",
                    "unknown event type \"\(name)\" (known: \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            bits |= type.bit
        }
        return bits
    }
}

/// One line of `--export-allowlist` or `--export-denylist`: Tetragon's `Filter`. Every field
/// given must match (AND); a list matches when any of its values does (OR).
///
/// A class: the lists are walked per event, and as a struct each step copied the line (a retain
/// and release of each of its arrays and expressions), which was most of the filters' cost.
package final class ExportFilter: @unchecked Sendable {
    // @unchecked: filled in while parsing, never changed afterwards.
    /// Which process object a regular expression over fixed process fields reads.
    enum Subject: Sendable { case process, parent, ancestors }
    /// Which fixed field it reads.
    enum Field: Sendable { case binary, arguments, containerID }

    /// `event_set` bits; 0: any type.
    var eventTypes: UInt32 = 0
    var pids: [UInt32] = []
    var pidSet: [UInt32] = []
    var policyNames: [String] = []
    /// `namespace`: exact, `""` for processes outside pods.
    var namespaces: [String]? = nil
    var namespaceRegex: FilterRegex? = nil
    var podRegex: FilterRegex? = nil
    var containerNameRegex: FilterRegex? = nil
    /// `labels`: any selector; never matches a process outside pods.
    var labels: [LabelSelector] = []
    /// Regular expressions over fixed process fields, as bits of the set's table (their
    /// verdicts are kept per process, see ``ExportFilters``): every bit must hold for the
    /// process, the parent, one of the ancestors.
    var processMask: UInt64 = 0
    var parentMask: UInt64 = 0
    var ancestorsMask: UInt64 = 0
    /// Which of the other checks the line has (``Check``), so that a line reads only what it checks.
    var checks: UInt8 = 0

    enum Check {
        static let pid: UInt8 = 1
        static let policy: UInt8 = 2
        static let pod: UInt8 = 4
        static let pidSet: UInt8 = 8
    }

    /// Sets ``checks`` from the fields; once parsed.
    func seal() {
        if !pids.isEmpty { checks |= Check.pid }
        if !policyNames.isEmpty { checks |= Check.policy }
        if namespaces != nil || namespaceRegex != nil || podRegex != nil || containerNameRegex != nil || !labels.isEmpty {
            checks |= Check.pod
        }
        if !pidSet.isEmpty { checks |= Check.pidSet }
    }

    init() {}

    /// The `Filter` keys Vigil evaluates.
    static let keys = [
        "event_set", "binary_regex", "parent_binary_regex", "ancestor_binary_regex", "arguments_regex",
        "parent_arguments_regex", "namespace", "namespace_regex", "pod_regex", "container_name_regex", "container_id",
        "labels", "policy_names", "pid", "pid_set",
    ]
    /// Tetragon's keys Vigil cannot evaluate, and why: refused, never ignored.
    static let refused: [String: String] = [
        "health_check":
            "needs the pods' exec probes (Tetragon's maybe_exec_probe), which Vigil's pod metadata does not read",
        "in_init_tree": "Vigil does not track whether a process descends from its container's init (in_init_tree)",
        "capabilities": "not evaluated by Vigil's export filters yet",
        "cel_expression": "Vigil has no CEL evaluator",
    ]
}

/// What the filters read that is not in the event: configuration of the agent.
package struct ExportFilterContext: Sendable {
    /// `--enable-ancestors base`: ancestors are on process_exec and process_exit events.
    package var ancestorsOnBase: Bool
    /// `--enable-pid-set-filter`.
    package var pidSetEnabled: Bool

    package init(ancestorsOnBase: Bool = false, pidSetEnabled: Bool = false) {
        self.ancestorsOnBase = ancestorsOnBase
        self.pidSetEnabled = pidSetEnabled
    }
}

/// `--export-allowlist` and `--export-denylist` together, Tetragon's semantics: no lists,
/// every event; an allowlist, only events one of its lines matches; a denylist line that
/// matches drops the event, whatever the allowlist says.
///
/// Cost: the cheap checks (type, pid, policy, namespace) run per event; regular expressions
/// over a process's binary, arguments and container id run once per process (the verdicts are
/// kept in its ``ProcessCore/filterMemo``, at most ``maxProcessRegexes`` of them per set) and
/// binaries' verdicts are shared between processes of the same binary. **Not thread-safe**
/// (the pid set and the binary cache): used by the one thread that exports.
package final class ExportFilters {
    /// Verdict bits kept per process: results in bits 0-27, "computed" in bits 28-55, the set's
    /// id in bits 56-62.
    package static let maxProcessRegexes = 28

    let allow: [ExportFilter]
    let deny: [ExportFilter]
    /// The same lines, walked per event without a retain and release of each (the arrays above
    /// keep them alive).
    private let allowRefs: [Unmanaged<ExportFilter>]
    private let denyRefs: [Unmanaged<ExportFilter>]
    /// The regular expressions over fixed process fields, in bit order.
    let processRegexes: [(field: ExportFilter.Field, regex: FilterRegex)]
    /// This set's tag in ``ProcessCore/filterMemo`` (1...127).
    private let id: UInt64
    /// Binary path -> (computed, results) of the binary expressions, shared by every process of
    /// one binary; cleared when it grows past 4096 binaries.
    private var binaryVerdicts: [[UInt8]: (UInt64, UInt64)] = [:]
    private let binaryBits: UInt64
    /// `pid_set`: pids of processes seen matching it (their descendants match through them).
    private var trackedPIDs: Set<UInt32> = []
    private let usesPIDSet: Bool

    private static let nextID = Atomic<UInt64>(0)

    /// Parses both flags' JSON lines. `names` are what errors call the two lists (the agent's
    /// flags; `tracectl events` passes its own).
    ///
    /// - Throws: ``FilterError`` naming the flag, line and field of the first mistake.
    package init(
        allowlist: String, denylist: String, context: ExportFilterContext = .init(),
        names: (allowlist: String, denylist: String) = ("--export-allowlist", "--export-denylist")
    ) throws(FilterError) {
        var table: [(ExportFilter.Field, FilterRegex)] = []
        var allow: [ExportFilter] = []
        var deny: [ExportFilter] = []
        for (text, flag, isAllowlist) in [(allowlist, names.allowlist, true), (denylist, names.denylist, false)] {
            let lines = FilterLines(flag: flag)
            for (line, object) in try lines.objects(text) {
                let filter = try Self.filter(object, line: line, lines: lines, context: context, table: &table)
                if isAllowlist { allow.append(filter) } else { deny.append(filter) }
            }
        }
        self.allow = allow
        self.deny = deny
        self.allowRefs = allow.map { Unmanaged.passUnretained($0) }
        self.denyRefs = deny.map { Unmanaged.passUnretained($0) }
        self.processRegexes = table
        var bits: UInt64 = 0
        for (i, entry) in table.enumerated() where entry.0 == .binary { bits |= 1 << UInt64(i) }
        self.binaryBits = bits
        self.usesPIDSet = (allow + deny).contains { !$0.pidSet.isEmpty }
        self.id = Self.nextID.add(1, ordering: .relaxed).newValue % 127 + 1
    }

    /// True when neither list has a line: every event is exported.
    package var isEmpty: Bool { allow.isEmpty && deny.isEmpty }

    private static func filter(
        _ object: [String: Any], line: Int, lines: FilterLines, context: ExportFilterContext,
        table: inout [(ExportFilter.Field, FilterRegex)]
    ) throws(FilterError) -> ExportFilter {
        for key in object.keys.sorted() {
            if let reason = ExportFilter.refused[key] { throw lines.error(line, key, "refused: \(reason)") }
        }
        try lines.checkKeys(object, line: line, known: ExportFilter.keys)
        let filter = ExportFilter()
        if let names = try lines.strings(object, "event_set", line: line) {
            filter.eventTypes = try ExportEventType.parse(names, lines: lines, line: line, key: "event_set")
        }
        filter.pids = try lines.unsignedIntegers(object, "pid", line: line) ?? []
        filter.pidSet = try lines.unsignedIntegers(object, "pid_set", line: line) ?? []
        if !filter.pidSet.isEmpty, !context.pidSetEnabled {
            throw lines.error(
                line, "pid_set",
                "pid_set follows descendants best-effort (by the pids of exec events); pass --enable-pid-set-filter to use it")
        }
        filter.policyNames = try lines.strings(object, "policy_names", line: line) ?? []
        filter.namespaces = try lines.strings(object, "namespace", line: line)
        filter.namespaceRegex = try lines.regex(lines.strings(object, "namespace_regex", line: line), "namespace_regex", line: line)
        filter.podRegex = try lines.regex(lines.strings(object, "pod_regex", line: line), "pod_regex", line: line)
        filter.containerNameRegex = try lines.regex(
            lines.strings(object, "container_name_regex", line: line), "container_name_regex", line: line)
        for (i, text) in (try lines.strings(object, "labels", line: line) ?? []).enumerated() {
            do {
                filter.labels.append(try LabelSelector(parsing: text))
            } catch {
                throw lines.error(line, "labels[\(i)]", "invalid label selector \"\(text)\": \(error)")
            }
        }
        let regexKeys: [(String, ExportFilter.Subject, ExportFilter.Field)] = [
            ("binary_regex", .process, .binary), ("parent_binary_regex", .parent, .binary),
            ("ancestor_binary_regex", .ancestors, .binary), ("arguments_regex", .process, .arguments),
            ("parent_arguments_regex", .parent, .arguments), ("container_id", .process, .containerID),
        ]
        for (key, subject, field) in regexKeys {
            guard let regex = try lines.regex(lines.strings(object, key, line: line), key, line: line) else { continue }
            if subject == .ancestors {
                // As Tetragon: only where every event type the line covers carries ancestors.
                let base = ExportEventType.PROCESS_EXEC.bit | ExportEventType.PROCESS_EXIT.bit
                guard context.ancestorsOnBase, filter.eventTypes != 0, filter.eventTypes & ~base == 0 else {
                    throw lines.error(
                        line, key,
                        "ancestors are exported only on process_exec and process_exit with --enable-ancestors base: "
                            + "give that flag and \"event_set\":[\"PROCESS_EXEC\",\"PROCESS_EXIT\"] (or one of them)")
                }
            }
            guard table.count < maxProcessRegexes else {
                throw lines.error(
                    line, key,
                    "more than \(maxProcessRegexes) binary, arguments and container id expressions in the export filters")
            }
            table.append((field, regex))
            let bit = UInt64(1) << UInt64(table.count - 1)
            switch subject {
            case .process: filter.processMask |= bit
            case .parent: filter.parentMask |= bit
            case .ancestors: filter.ancestorsMask |= bit
            }
        }
        filter.seal()
        return filter
    }

    /// Whether `event` goes to the export.
    @inline(__always)
    package func admits(_ event: ExportEvent) -> Bool {
        if isEmpty { return true }
        return evaluate(event)
    }

    private func evaluate(_ event: ExportEvent) -> Bool {
        let kind = ExportEventType.bit(of: event.kind)
        var admitted = allowRefs.isEmpty
        if !admitted {
            for filter in allowRefs where filter._withUnsafeGuaranteedRef({ matches($0, kind, event) }) {
                admitted = true
                break
            }
        }
        if admitted {
            for filter in denyRefs where filter._withUnsafeGuaranteedRef({ matches($0, kind, event) }) {
                admitted = false
                break
            }
        }
        if usesPIDSet, case .exit = event.kind { trackedPIDs.remove(event.process.pid) }
        return admitted
    }

    /// One line against one event; the cheap checks first, only those the line has.
    @inline(__always)
    private func matches(_ filter: ExportFilter, _ kind: UInt32, _ event: ExportEvent) -> Bool {
        if filter.eventTypes != 0, filter.eventTypes & kind == 0 { return false }
        let checks = filter.checks
        if checks & ExportFilter.Check.pid != 0, !filter.pids.contains(event.process.pid) { return false }
        if checks & ExportFilter.Check.policy != 0 {
            guard let name = Self.policyName(event), filter.policyNames.contains(name) else { return false }
        }
        if checks & ExportFilter.Check.pod != 0, !podMatches(filter, event.process.pod) { return false }
        if filter.processMask != 0, !holds(filter.processMask, event.process.core) { return false }
        if filter.parentMask != 0 {
            guard let parent = event.parent?.core, holds(filter.parentMask, parent) else { return false }
        }
        if filter.ancestorsMask != 0 {
            guard event.ancestors.contains(where: { holds(filter.ancestorsMask, $0.core) }) else { return false }
        }
        if checks & ExportFilter.Check.pidSet != 0, !pidSetMatches(filter.pidSet, event) { return false }
        return true
    }

    private func podMatches(_ filter: ExportFilter, _ pod: ExportedPod?) -> Bool {
        if let namespaces = filter.namespaces, !namespaces.contains(pod?.namespace ?? "") { return false }
        if let regex = filter.namespaceRegex, !regex.matches(pod?.namespace ?? "") { return false }
        if let regex = filter.podRegex {
            guard let pod, regex.matches(pod.name) else { return false }
        }
        if let regex = filter.containerNameRegex {
            guard let name = pod?.container?.name, regex.matches(name) else { return false }
        }
        if !filter.labels.isEmpty {
            guard let pod, filter.labels.contains(where: { $0.matches(pod.labels) }) else { return false }
        }
        return true
    }

    /// Tetragon's `pid_set`: the pid or one of its ancestors' is in the set. Best-effort as
    /// Tetragon's: descendants are followed through the exec events that pass this check (their
    /// pids are remembered until their exit), since an event names only its parent (and its
    /// ancestors with --enable-ancestors).
    private func pidSetMatches(_ set: [UInt32], _ event: ExportEvent) -> Bool {
        var pids = [event.process.pid]
        if let parent = event.parent { pids.append(parent.pid) }
        pids.append(contentsOf: event.ancestors.map(\.pid))
        let hit = pids.contains { set.contains($0) || trackedPIDs.contains($0) }
        if hit, case .exec = event.kind, trackedPIDs.count < 65536 { trackedPIDs.insert(event.process.pid) }
        return hit
    }

    @inline(__always)
    private static func policyName(_ event: ExportEvent) -> String? {
        switch event.kind {
        case .exec, .exit: nil
        case .tracepoint(_, _, _, let outcome), .kprobe(_, _, let outcome), .lsm(_, _, let outcome),
            .uprobe(_, _, _, _, let outcome):
            outcome.policyName
        }
    }

    /// Whether every expression of `mask` matches the process of `core`, from its memo where
    /// this set computed them.
    @inline(__always)
    private func holds(_ mask: UInt64, _ core: ProcessCore) -> Bool {
        var memo = core.filterMemo.load(ordering: .relaxed)
        if memo >> 56 != id { memo = id << 56 }
        let missing = mask & ~(memo >> 28) & 0x0FFF_FFFF
        if missing != 0 {
            memo = compute(core, missing, memo)
            core.filterMemo.store(memo, ordering: .relaxed)
        }
        return memo & mask == mask
    }

    /// Fills in the expressions of `missing` (a binary's from the verdicts shared by every
    /// process of that binary, computing only what no process of it needed yet) and returns the
    /// new memo word.
    private func compute(_ core: ProcessCore, _ missing: UInt64, _ memo: UInt64) -> UInt64 {
        var memo = memo
        let binaryMissing = missing & binaryBits
        if binaryMissing != 0 {
            var (computed, results) = binaryVerdicts[core.fields.binary] ?? (0, 0)
            var todo = binaryMissing & ~computed
            if todo != 0 {
                computed |= todo
                while todo != 0 {
                    let index = todo.trailingZeroBitCount
                    todo &= todo - 1
                    if processRegexes[index].regex.matches(bytes: core.fields.binary) { results |= UInt64(1) << UInt64(index) }
                }
                if binaryVerdicts.count >= 4096 { binaryVerdicts.removeAll(keepingCapacity: true) }
                binaryVerdicts[core.fields.binary] = (computed, results)
            }
            memo |= (computed & binaryBits) << 28 | (results & binaryBits)
        }
        var others = missing & ~binaryBits
        var arguments: [UInt8]?
        while others != 0 {
            let index = others.trailingZeroBitCount
            others &= others - 1
            let bit = UInt64(1) << UInt64(index)
            let matched: Bool
            switch processRegexes[index].field {
            case .binary:
                continue
            case .arguments:
                if arguments == nil { arguments = core.fields.redactedArguments ?? ArgumentsText.join(core.fields.arguments) }
                matched = processRegexes[index].regex.matches(bytes: arguments!)
            case .containerID:
                let docker = core.fields.docker ?? ""
                matched = !docker.isEmpty && processRegexes[index].regex.matches(docker)
            }
            memo |= bit << 28 | (matched ? bit : 0)
        }
        return memo
    }
}
