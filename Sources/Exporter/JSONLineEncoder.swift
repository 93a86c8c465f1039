// SPDX-License-Identifier: Apache-2.0

import Events

/// Encodes `ExportEvent`s as JSON lines in the shape Tetragon's Go protojson export produces
/// (`UseProtoNames`, proto field order, zero values omitted, wrapper types always present).
///
/// Writes bytes straight into a caller-owned buffer; no Foundation, no intermediate strings for
/// byte fields. Output is compact (no spaces), one object per line, terminated by `\n`.
///
/// By default every key is one of Tetragon's schema (docs/events.md names the version), so that
/// a consumer parsing with Tetragon's protobuf definitions and unknown fields as errors (Go's
/// `protojson.Unmarshal`) accepts every line. Vigil's own facts (the mechanism that served a
/// hook, monitor mode, the enforcement fence, a file's inode, device and open flags, ...) are
/// written only with ``vigilFields``, under `vigil` keys (see ``appendVigil(_:to:)``).
package struct JSONLineEncoder: Sendable {
    /// Whether Vigil's own fields are written (`--enable-vigil-fields`): a `vigil` object at the
    /// end of a policy event and in an argument, never a key of Tetragon's messages.
    package let vigilFields: Bool

    /// An encoder; `vigilFields` adds Vigil's own `vigil` objects to Tetragon's schema.
    package init(vigilFields: Bool = false) {
        self.vigilFields = vigilFields
    }

    /// Appends `event` as one JSON line, including the trailing newline, to `buffer`.
    package func encode(_ event: ExportEvent, into buffer: inout JSONBuffer) {
        buffer.reserveCapacity(forAppending: 1024 * (2 + event.ancestors.count))
        switch event.kind {
        case .exec:
            buffer.append(static: "{\"process_exec\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            appendAncestors(event.ancestors, to: &buffer)
        case .exit(let signal, let status, let time):
            buffer.append(static: "{\"process_exit\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            if let signal, !signal.isEmpty {
                buffer.append(static: ",\"signal\":")
                buffer.appendJSONString(signal)
            }
            if status != 0 {
                buffer.append(static: ",\"status\":")
                buffer.appendDecimal(status)
            }
            buffer.append(static: ",\"time\":\"")
            RFC3339.append(time, to: &buffer)
            buffer.append(UInt8(ascii: "\""))
            appendAncestors(event.ancestors, to: &buffer)
        case .tracepoint(let subsystem, let name, let args, let outcome):
            // `tetragon.ProcessTracepoint`: process 1, parent 2, subsys 4, event 5, args 6,
            // policy_name 7, action 8, message 9, tags 10, ancestors 11.
            buffer.append(static: "{\"process_tracepoint\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            if let keys = outcome.renderedKeys.keys {
                keys.bytes.withUnsafeBufferPointer { runs in
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<keys.ends.0]))
                    Self.appendArgs(args, labels: false, vigil: vigilFields, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.0..<keys.ends.1]))
                    Self.appendAction(outcome, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.1...]))
                }
            } else {
                Self.appendTracepointTarget(subsystem, name, to: &buffer)
                // Tetragon renders tracepoint arguments from untyped values: never a `label`.
                Self.appendArgs(args, labels: false, vigil: vigilFields, to: &buffer)
                Self.appendPolicyName(outcome, to: &buffer)
                Self.appendAction(outcome, to: &buffer)
                Self.appendMessage(outcome, to: &buffer)
                Self.appendTags(outcome, to: &buffer)
            }
            appendAncestors(event.ancestors, to: &buffer)
            if vigilFields { Self.appendVigil(outcome, to: &buffer) }
        case .kprobe(let functionName, let args, let outcome):
            // `tetragon.ProcessKprobe`: process 1, parent 2, function_name 3, args 4, (return 5),
            // action 6, (kernel_stack_trace 7), policy_name 8, (return_action 9), message 10,
            // tags 11, (user_stack_trace 12), ancestors 13.
            buffer.append(static: "{\"process_kprobe\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            if let keys = outcome.renderedKeys.keys {
                keys.bytes.withUnsafeBufferPointer { runs in
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<keys.ends.0]))
                    Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.0..<keys.ends.1]))
                    Self.appendReturn(outcome, key: ",\"return\":", vigil: vigilFields, to: &buffer)
                    Self.appendAction(outcome, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.1...]))
                }
            } else {
                Self.appendFunctionName(functionName, to: &buffer)
                Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                Self.appendReturn(outcome, key: ",\"return\":", vigil: vigilFields, to: &buffer)
                Self.appendAction(outcome, to: &buffer)
                Self.appendPolicyName(outcome, to: &buffer)
                Self.appendMessage(outcome, to: &buffer)
                Self.appendTags(outcome, to: &buffer)
            }
            appendAncestors(event.ancestors, to: &buffer)
            if vigilFields { Self.appendVigil(outcome, to: &buffer) }
        case .lsm(let functionName, let args, let outcome):
            // `tetragon.ProcessLsm`: process 1, parent 2, function_name 3, policy_name 4, message 5,
            // args 6, action 7, tags 8, ancestors 9, (ima_hash 11). It has no `return`: what the
            // hooked call returned is Vigil's `vigil.return`.
            buffer.append(static: "{\"process_lsm\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            if let keys = outcome.renderedKeys.keys {
                keys.bytes.withUnsafeBufferPointer { runs in
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<keys.ends.0]))
                    Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.0..<keys.ends.1]))
                    Self.appendAction(outcome, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.1...]))
                }
            } else {
                Self.appendFunctionName(functionName, to: &buffer)
                Self.appendPolicyName(outcome, to: &buffer)
                Self.appendMessage(outcome, to: &buffer)
                Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                Self.appendAction(outcome, to: &buffer)
                Self.appendTags(outcome, to: &buffer)
            }
            appendAncestors(event.ancestors, to: &buffer)
            if vigilFields { Self.appendVigil(outcome, vigilReturn: true, to: &buffer) }
        case .uprobe(let path, let symbol, let offset, let args, let outcome):
            // `tetragon.ProcessUprobe`: process 1, parent 2, path 3, symbol 4, policy_name 5,
            // message 6, args 7, tags 8, ancestors 9, offset 10, (ref_ctr_offset 11), action 12,
            // (data 13). It has no `return`: a uretprobe's return value is Vigil's `vigil.return`.
            buffer.append(static: "{\"process_uprobe\":{\"process\":")
            appendProcess(event.process, to: &buffer)
            appendParent(event.parent, to: &buffer)
            if let keys = outcome.renderedKeys.keys {
                keys.bytes.withUnsafeBufferPointer { runs in
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<keys.ends.0]))
                    Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[keys.ends.0...]))
                }
            } else {
                Self.appendUprobeTarget(path, symbol, to: &buffer)
                Self.appendPolicyName(outcome, to: &buffer)
                Self.appendMessage(outcome, to: &buffer)
                Self.appendArgs(args, labels: true, vigil: vigilFields, to: &buffer)
                Self.appendTags(outcome, to: &buffer)
            }
            appendAncestors(event.ancestors, to: &buffer)
            if offset != 0 {
                // uint64: a JSON string in protojson.
                buffer.append(static: ",\"offset\":\"")
                buffer.appendDecimal(offset)
                buffer.append(UInt8(ascii: "\""))
            }
            Self.appendAction(outcome, to: &buffer)
            if vigilFields { Self.appendVigil(outcome, vigilReturn: true, to: &buffer) }
        }
        buffer.append(UInt8(ascii: "}"))
        if !event.nodeName.isEmpty {
            buffer.appendNodeName(event.nodeName)
        }
        buffer.append(static: ",\"time\":\"")
        RFC3339.append(event.time, to: &buffer)
        buffer.append(static: "\"}\n")
    }

    /// Appends `event` as one JSON line, including the trailing newline, to `buffer`.
    package func encode(_ event: ExportEvent, into buffer: inout [UInt8]) {
        var line = JSONBuffer(capacity: 2048)
        encode(event, into: &line)
        line.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }

    /// `event` as one JSON line (with trailing newline).
    package func encode(_ event: ExportEvent) -> [UInt8] {
        var line = JSONBuffer(capacity: 2048)
        encode(event, into: &line)
        return line.bytes
    }

    // MARK: - Pieces

    @inline(__always)
    func appendParent(_ parent: ExportedProcess?, to b: inout JSONBuffer) {
        guard let parent else { return }
        b.append(static: ",\"parent\":")
        appendProcess(parent, to: &b)
    }

    @inline(__always)
    func appendAncestors(_ ancestors: [ExportedProcess], to b: inout JSONBuffer) {
        guard !ancestors.isEmpty else { return }
        b.append(static: ",\"ancestors\":[")
        for (i, ancestor) in ancestors.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            appendProcess(ancestor, to: &b)
        }
        b.append(UInt8(ascii: "]"))
    }

    /// `tetragon.Process`, fields in proto order. A process from the process cache carries a
    /// slot for its rendered fixed fields: on its first event they are written into the line
    /// and kept (copied out of the line), after that copied; only `pod`, `refcnt` and `tid` are
    /// written per event.
    func appendProcess(_ p: ExportedProcess, to b: inout JSONBuffer) {
        guard let slot = p.rendered.slot else {
            Self.appendProcessHead(p, to: &b)
            if let pod = p.pod { Self.appendPod(pod, namespacePID: p.namespacePID, to: &b) }
            Self.appendProcessIDs(p, to: &b)
            Self.appendRefcnt(p.refcnt, to: &b)
            Self.appendProcessNamespaces(p, to: &b)
            Self.appendTid(p.tid, to: &b)
            Self.appendProcessTail(p, to: &b)
            return
        }
        guard let rendered = slot.rendered else {
            // The same writes as uncached, remembering where the fixed runs are.
            let head = b.count
            Self.appendProcessHead(p, to: &b)
            let headEnd = b.count
            if let pod = p.pod { Self.appendPod(pod, namespacePID: p.namespacePID, to: &b) }
            let ids = b.count
            Self.appendProcessIDs(p, to: &b)
            let idsEnd = b.count
            Self.appendRefcnt(p.refcnt, to: &b)
            let namespaces = b.count
            Self.appendProcessNamespaces(p, to: &b)
            let namespacesEnd = b.count
            Self.appendTid(p.tid, to: &b)
            let tail = b.count
            Self.appendProcessTail(p, to: &b)
            let length0 = headEnd - head
            let length1 = length0 + idsEnd - ids
            let length2 = length1 + namespacesEnd - namespaces
            // A lost race leaves the other encoder's rendering of the same fields in the slot.
            let runs = b.gathering(head..<headEnd, ids..<idsEnd, namespaces..<namespacesEnd, tail..<b.count)
            _ = slot.fill(RenderedProcess(runs, ends: (length0, length1, length2)))
            return
        }
        let ends = rendered.ends
        rendered.bytes.withUnsafeBufferPointer { runs in
            b.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<ends.0]))
            if let pod = p.pod { Self.appendPod(pod, namespacePID: p.namespacePID, to: &b) }
            b.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.0..<ends.1]))
            Self.appendRefcnt(p.refcnt, to: &b)
            b.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.1..<ends.2]))
            Self.appendTid(p.tid, to: &b)
            b.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.2...]))
        }
    }

    /// `{` through `auid`.
    private static func appendProcessHead(_ p: ExportedProcess, to b: inout JSONBuffer) {
        b.append(UInt8(ascii: "{"))
        if !p.execID.isEmpty {
            b.append(static: "\"exec_id\":")
            b.appendJSONString(p.execID)
            b.append(static: ",\"pid\":")
        } else {
            b.append(static: "\"pid\":")
        }
        b.appendDecimal(p.pid)
        b.append(static: ",\"uid\":")
        b.appendDecimal(p.uid)
        if !p.cwd.isEmpty {
            b.append(static: ",\"cwd\":\"")
            b.appendJSONEscaped(bytes: p.cwd)
            b.append(UInt8(ascii: "\""))
        }
        if !p.binary.isEmpty {
            b.append(static: ",\"binary\":\"")
            b.appendJSONEscaped(bytes: p.binary)
            b.append(UInt8(ascii: "\""))
        }
        if let redacted = p.redactedArguments {
            // Already joined and quoted; a redaction filter rewrote it (`--redaction-filters`).
            if !redacted.isEmpty {
                b.append(static: ",\"arguments\":\"")
                b.appendJSONEscaped(bytes: redacted)
                b.append(UInt8(ascii: "\""))
            }
        } else if !p.arguments.isEmpty {
            b.append(static: ",\"arguments\":\"")
            Self.appendArguments(p.arguments, to: &b)
            b.append(UInt8(ascii: "\""))
        }
        if !p.flags.isEmpty {
            b.append(static: ",\"flags\":\"")
            var first = true
            let raw = p.flags.rawValue
            for (flag, name) in ProcessFlags.names where raw & flag.rawValue != 0 {
                if first { first = false } else { b.append(UInt8(ascii: " ")) }
                b.appendJSONEscaped(name)
            }
            b.append(UInt8(ascii: "\""))
        }
        b.append(static: ",\"start_time\":\"")
        RFC3339.append(p.startTime, to: &b)
        b.append(static: "\",\"auid\":")
        b.appendDecimal(p.auid)
    }

    /// `docker`, `parent_exec_id` (after `pod`).
    private static func appendProcessIDs(_ p: ExportedProcess, to b: inout JSONBuffer) {
        if let docker = p.docker, !docker.isEmpty {
            b.append(static: ",\"docker\":")
            b.appendJSONString(docker)
        }
        if let parentExecID = p.parentExecID, !parentExecID.isEmpty {
            b.append(static: ",\"parent_exec_id\":")
            b.appendJSONString(parentExecID)
        }
    }

    @inline(__always)
    private static func appendRefcnt(_ refcnt: UInt32, to b: inout JSONBuffer) {
        if refcnt != 0 {
            b.append(static: ",\"refcnt\":")
            b.appendDecimal(refcnt)
        }
    }

    /// `ns`, when exported.
    private static func appendProcessNamespaces(_ p: ExportedProcess, to b: inout JSONBuffer) {
        if let ns = p.namespaces {
            b.append(static: ",\"ns\":{\"uts\":")
            Self.appendNamespace(ns.uts, to: &b)
            b.append(static: ",\"ipc\":")
            Self.appendNamespace(ns.ipc, to: &b)
            b.append(static: ",\"mnt\":")
            Self.appendNamespace(ns.mnt, to: &b)
            b.append(static: ",\"pid\":")
            Self.appendNamespace(ns.pid, to: &b)
            b.append(static: ",\"pid_for_children\":")
            Self.appendNamespace(ns.pidForChildren, to: &b)
            b.append(static: ",\"net\":")
            Self.appendNamespace(ns.net, to: &b)
            b.append(static: ",\"cgroup\":")
            Self.appendNamespace(ns.cgroup, to: &b)
            b.append(static: ",\"user\":")
            Self.appendNamespace(ns.user, to: &b)
            b.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    private static func appendTid(_ tid: UInt32, to b: inout JSONBuffer) {
        b.append(static: ",\"tid\":")
        b.appendDecimal(tid)
    }

    /// `process_credentials`, when exported, and the closing `}`.
    private static func appendProcessTail(_ p: ExportedProcess, to b: inout JSONBuffer) {
        if let c = p.credentials {
            b.append(static: ",\"process_credentials\":")
            Self.appendCredentials(c, to: &b)
        }
        b.append(UInt8(ascii: "}"))
    }

    /// `tetragon.ProcessCredentials`: uids, gids and capability lists.
    static func appendCredentials(_ c: Credentials, to b: inout JSONBuffer) {
        b.append(static: "{\"uid\":")
        b.appendDecimal(c.uid)
        b.append(static: ",\"gid\":")
        b.appendDecimal(c.gid)
        b.append(static: ",\"euid\":")
        b.appendDecimal(c.euid)
        b.append(static: ",\"egid\":")
        b.appendDecimal(c.egid)
        b.append(static: ",\"suid\":")
        b.appendDecimal(c.suid)
        b.append(static: ",\"sgid\":")
        b.appendDecimal(c.sgid)
        b.append(static: ",\"fsuid\":")
        b.appendDecimal(c.fsuid)
        b.append(static: ",\"fsgid\":")
        b.appendDecimal(c.fsgid)
        b.append(static: ",\"caps\":{")
        var first = true
        Self.appendCapabilityList(c.capPermitted, key: "\"permitted\":", first: &first, to: &b)
        Self.appendCapabilityList(c.capEffective, key: "\"effective\":", first: &first, to: &b)
        Self.appendCapabilityList(c.capInheritable, key: "\"inheritable\":", first: &first, to: &b)
        b.append(static: "}}")
    }

    /// One list of `tetragon.Capabilities`, omitted when empty.
    @inline(__always)
    private static func appendCapabilityList(
        _ mask: UInt64, key: StaticString, first: inout Bool, to b: inout JSONBuffer
    ) {
        guard mask != 0 else { return }
        if first { first = false } else { b.append(UInt8(ascii: ",")) }
        b.append(static: key)
        CapabilityNames.appendJSONList(mask, to: &b)
    }

    /// `tetragon.Namespace`: `inum` omitted when 0, `is_host` omitted when false (proto3 scalars).
    @inline(__always)
    /// `,"pod":{...}` in Tetragon's field order.
    static func appendPod(_ pod: ExportedPod, namespacePID: UInt32, to b: inout JSONBuffer) {
        b.append(static: ",\"pod\":{\"namespace\":")
        b.appendJSONString(pod.namespace)
        b.append(static: ",\"name\":")
        b.appendJSONString(pod.name)
        if !pod.uid.isEmpty {
            b.append(static: ",\"uid\":")
            b.appendJSONString(pod.uid)
        }
        if let c = pod.container {
            b.append(static: ",\"container\":{\"id\":")
            b.appendJSONString(c.id)
            b.append(static: ",\"name\":")
            b.appendJSONString(c.name)
            if c.imageID != nil || c.imageName != nil {
                b.append(static: ",\"image\":{")
                if let id = c.imageID {
                    b.append(static: "\"id\":")
                    b.appendJSONString(id)
                    if c.imageName != nil { b.append(UInt8(ascii: ",")) }
                }
                if let name = c.imageName {
                    b.append(static: "\"name\":")
                    b.appendJSONString(name)
                }
                b.append(UInt8(ascii: "}"))
            }
            if let start = c.startTime {
                b.append(static: ",\"start_time\":")
                b.appendJSONString(start)
            }
            if namespacePID != 0 {
                b.append(static: ",\"pid\":")
                b.appendDecimal(namespacePID)
            }
            if c.privileged {
                b.append(static: ",\"security_context\":{\"privileged\":true}}")
            } else {
                b.append(static: ",\"security_context\":{}}")
            }
        }
        if !pod.labels.isEmpty {
            b.append(static: ",\"pod_labels\":{")
            for (i, label) in pod.labels.enumerated() {
                if i > 0 { b.append(UInt8(ascii: ",")) }
                b.appendJSONString(label.key)
                b.append(UInt8(ascii: ":"))
                b.appendJSONString(label.value)
            }
            b.append(UInt8(ascii: "}"))
        }
        if !pod.workload.isEmpty {
            b.append(static: ",\"workload\":")
            b.appendJSONString(pod.workload)
        }
        if !pod.workloadKind.isEmpty {
            b.append(static: ",\"workload_kind\":")
            b.appendJSONString(pod.workloadKind)
        }
        b.append(UInt8(ascii: "}"))
    }

    private static func appendNamespace(_ ns: ExportedNamespace, to b: inout JSONBuffer) {
        b.append(UInt8(ascii: "{"))
        if ns.inum != 0 {
            b.append(static: "\"inum\":")
            b.appendDecimal(ns.inum)
            if ns.isHost { b.append(static: ",\"is_host\":true") }
        } else if ns.isHost {
            b.append(static: "\"is_host\":true")
        }
        b.append(UInt8(ascii: "}"))
    }

    // MARK: - Policy events

    /// The fixed keys of a policy event of `kind` (its event name, policy name, message and
    /// tags; the arguments, action and return are not read), rendered for
    /// ``PolicyOutcome/renderedKeys``, in the three runs ``RenderedPolicyKeys`` describes:
    /// - `process_tracepoint`: `subsys`, `event` | `policy_name` | `message`, `tags`;
    /// - `process_kprobe`: `function_name` | (nothing: `return` and `action` follow) |
    ///   `policy_name`, `message`, `tags`;
    /// - `process_lsm`: `function_name`, `policy_name`, `message` | (nothing) | `tags`;
    /// - `process_uprobe`: `path`, `symbol`, `policy_name`, `message` | `tags` | (nothing: the
    ///   ancestors, `offset` and `action` follow, written per event).
    /// Nil for `process_exec` and `process_exit`.
    package static func renderedPolicyKeys(_ kind: ExportEventKind) -> RenderedPolicyKeys? {
        var b = JSONBuffer(capacity: 256)
        let ends: (Int, Int)
        switch kind {
        case .exec, .exit:
            return nil
        case .tracepoint(let subsystem, let name, _, let outcome):
            appendTracepointTarget(subsystem, name, to: &b)
            let end0 = b.count
            appendPolicyName(outcome, to: &b)
            ends = (end0, b.count)
            appendMessage(outcome, to: &b)
            appendTags(outcome, to: &b)
        case .kprobe(let functionName, _, let outcome):
            appendFunctionName(functionName, to: &b)
            ends = (b.count, b.count)
            appendPolicyName(outcome, to: &b)
            appendMessage(outcome, to: &b)
            appendTags(outcome, to: &b)
        case .lsm(let functionName, _, let outcome):
            appendFunctionName(functionName, to: &b)
            appendPolicyName(outcome, to: &b)
            appendMessage(outcome, to: &b)
            ends = (b.count, b.count)
            appendTags(outcome, to: &b)
        case .uprobe(let path, let symbol, _, _, let outcome):
            appendUprobeTarget(path, symbol, to: &b)
            appendPolicyName(outcome, to: &b)
            appendMessage(outcome, to: &b)
            let end0 = b.count
            appendTags(outcome, to: &b)
            ends = (end0, b.count)
        }
        return RenderedPolicyKeys(b.bytes, ends: ends)
    }

    /// `path` and `symbol` of a `process_uprobe`, each omitted when empty.
    private static func appendUprobeTarget(_ path: String, _ symbol: String, to b: inout JSONBuffer) {
        if !path.isEmpty {
            b.append(static: ",\"path\":")
            b.appendJSONString(path)
        }
        if !symbol.isEmpty {
            b.append(static: ",\"symbol\":")
            b.appendJSONString(symbol)
        }
    }

    /// `subsys` and `event`, each omitted when empty.
    private static func appendTracepointTarget(_ subsystem: String, _ name: String, to b: inout JSONBuffer) {
        if !subsystem.isEmpty {
            b.append(static: ",\"subsys\":")
            b.appendJSONString(subsystem)
        }
        if !name.isEmpty {
            b.append(static: ",\"event\":")
            b.appendJSONString(name)
        }
    }

    /// `function_name`, omitted when empty.
    private static func appendFunctionName(_ functionName: String, to b: inout JSONBuffer) {
        guard !functionName.isEmpty else { return }
        b.append(static: ",\"function_name\":")
        b.appendJSONString(functionName)
    }

    /// `policy_name`, omitted when empty (proto3 string).
    @inline(__always)
    private static func appendPolicyName(_ outcome: PolicyOutcome, to b: inout JSONBuffer) {
        guard !outcome.policyName.isEmpty else { return }
        b.append(static: ",\"policy_name\":")
        b.appendJSONString(outcome.policyName)
    }

    /// `action` (a `KprobeAction` enum name), omitted for the zero value `KPROBE_ACTION_UNKNOWN`,
    /// as protojson omits zero enums. The names are fixed text: no escaping to do.
    @inline(__always)
    private static func appendAction(_ outcome: PolicyOutcome, to b: inout JSONBuffer) {
        appendAction(outcome.action, to: &b)
    }

    /// See ``appendAction(_:to:)-(PolicyOutcome,_)``.
    @inline(__always)
    static func appendAction(_ action: PolicyAction, to b: inout JSONBuffer) {
        switch action {
        case .unknown: return
        case .post: b.append(static: ",\"action\":\"KPROBE_ACTION_POST\"")
        case .sigkill: b.append(static: ",\"action\":\"KPROBE_ACTION_SIGKILL\"")
        case .signal: b.append(static: ",\"action\":\"KPROBE_ACTION_SIGNAL\"")
        case .noPost: b.append(static: ",\"action\":\"KPROBE_ACTION_NOPOST\"")
        case .override: b.append(static: ",\"action\":\"KPROBE_ACTION_OVERRIDE\"")
        }
    }

    /// `message`, omitted when nil or empty.
    @inline(__always)
    private static func appendMessage(_ outcome: PolicyOutcome, to b: inout JSONBuffer) {
        if let message = outcome.message, !message.isEmpty {
            b.append(static: ",\"message\":")
            b.appendJSONString(message)
        }
    }

    /// `tags`, omitted when empty.
    @inline(__always)
    private static func appendTags(_ outcome: PolicyOutcome, to b: inout JSONBuffer) {
        guard !outcome.tags.isEmpty else { return }
        b.append(static: ",\"tags\":[")
        for (i, tag) in outcome.tags.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            b.appendJSONString(tag)
        }
        b.append(UInt8(ascii: "]"))
    }

    /// `return`: one `KprobeArgument`, as Tetragon writes it for kretprobes.
    @inline(__always)
    private static func appendReturn(
        _ outcome: PolicyOutcome, key: StaticString, vigil: Bool, to b: inout JSONBuffer
    ) {
        guard let value = outcome.returnValue else { return }
        b.append(static: key)
        appendArgument(Argument(value), label: false, vigil: vigil, to: &b)
    }

    /// Vigil's own facts of a policy event, as one `vigil` object after every Tetragon field
    /// (omitted when it would be empty), in this order:
    /// - `mechanism`: how Vigil observed or enforced the hook on this kernel
    ///   (`cgroup_sock_addr`, `tracepoint syscalls/sys_exit_openat`, ...);
    /// - `policy_mode`: `"monitor"` when the policy runs in monitor mode: `action` says what was
    ///   due and was not done;
    /// - `fenced`: `true` when the process was outside `--enforcement-cgroup`: `action` says what
    ///   was due and was not done;
    /// - `return` (process_lsm and process_uprobe, whose Tetragon messages have no `return`):
    ///   what the hooked call returned, a `KprobeArgument` (a connect's 0 or -errno, an open's
    ///   fd, a uretprobe's function result).
    private static func appendVigil(_ outcome: PolicyOutcome, vigilReturn: Bool = false, to b: inout JSONBuffer) {
        appendVigil(
            mechanism: outcome.mechanism, monitor: outcome.monitor, fenced: outcome.fenced,
            returnValue: vigilReturn ? outcome.returnValue : nil, to: &b)
    }

    /// See ``appendVigil(_:vigilReturn:to:)``; `returnValue` nil: no `return`.
    static func appendVigil(
        mechanism: String?, monitor: Bool, fenced: Bool, returnValue: ArgumentValue?, to b: inout JSONBuffer
    ) {
        var first = true
        @inline(__always) func key(_ name: StaticString) {
            if first {
                first = false
                b.append(static: ",\"vigil\":{")
            } else {
                b.append(UInt8(ascii: ","))
            }
            b.append(static: name)
        }
        if let mechanism, !mechanism.isEmpty {
            key("\"mechanism\":")
            b.appendJSONString(mechanism)
        }
        if monitor {
            key("\"policy_mode\":\"monitor\"")
        }
        if fenced {
            key("\"fenced\":true")
        }
        if let value = returnValue {
            key("\"return\":")
            appendArgument(Argument(value), label: false, vigil: true, to: &b)
        }
        if !first { b.append(UInt8(ascii: "}")) }
    }

    /// `args`, omitted when empty (protojson omits empty repeated fields).
    @inline(__always)
    private static func appendArgs(_ args: [Argument], labels: Bool, vigil: Bool, to b: inout JSONBuffer) {
        guard !args.isEmpty else { return }
        b.append(static: ",\"args\":[")
        for (i, arg) in args.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            appendArgument(arg, label: labels, vigil: vigil, to: &b)
        }
        b.append(UInt8(ascii: "]"))
    }

    /// One `tetragon.KprobeArgument`: the oneof value key first (always written once set, even
    /// for a zero value, since protojson keeps oneof presence), then `label` (proto field after
    /// the oneof) when `label` is asked for and the argument has a non-empty one. Fields inside
    /// nested messages follow the proto3 rules: zero values omitted, 64-bit integers as strings.
    ///
    /// With `vigil`, Vigil's facts of the argument follow as a `vigil` object (see
    /// ``appendArgumentVigil(_:to:)``). An argument that could not be read has no value key
    /// (Tetragon's `KprobeArgument` has none for it): `{}` or only its `label`, and with `vigil`
    /// `"vigil":{"error":...}` says why.
    package static func appendArgument(_ arg: Argument, label: Bool, vigil: Bool = false, to b: inout [UInt8]) {
        var out = JSONBuffer(capacity: 256)
        appendArgument(arg, label: label, vigil: vigil, to: &out)
        out.withUnsafeBytes { b.append(contentsOf: $0) }
    }

    /// See ``appendArgument(_:label:vigil:to:)-([UInt8])``.
    package static func appendArgument(_ arg: Argument, label: Bool, vigil: Bool = false, to b: inout JSONBuffer) {
        // Whether a key was written inside the argument's object (the oneof value), for the
        // comma before `label` and `vigil`; only an unreadable argument has none.
        var valueWritten = true
        switch arg.value {
        case .int(let v):
            b.append(static: "{\"int_arg\":")
            b.appendSignedDecimal(Int64(v))
        case .uint(let v):
            b.append(static: "{\"uint_arg\":")
            b.appendDecimal(v)
        case .long(let v):
            b.append(static: "{\"long_arg\":\"")
            b.appendSignedDecimal(v)
            b.append(UInt8(ascii: "\""))
        case .size(let v):
            b.append(static: "{\"size_arg\":\"")
            b.appendDecimal(v)
            b.append(UInt8(ascii: "\""))
        case .string(let bytes):
            b.append(static: "{\"string_arg\":\"")
            b.appendJSONEscaped(bytes: bytes)
            b.append(UInt8(ascii: "\""))
        case .bytes(let bytes):
            b.append(static: "{\"bytes_arg\":\"")
            b.appendBase64(bytes)
            b.append(UInt8(ascii: "\""))
        case .truncatedBytes(let bytes, let originalSize):
            b.append(static: "{\"truncated_bytes_arg\":{")
            var first = true
            if !bytes.isEmpty {
                first = false
                b.append(static: "\"bytes_arg\":\"")
                b.appendBase64(bytes)
                b.append(UInt8(ascii: "\""))
            }
            if originalSize != 0 {
                if !first { b.append(UInt8(ascii: ",")) }
                b.append(static: "\"orig_size\":\"")
                b.appendDecimal(originalSize)
                b.append(UInt8(ascii: "\""))
            }
            b.append(UInt8(ascii: "}"))
        case .file(let path, let permission, _), .binprm(let path, let permission, _),
            .path(let path, let permission, _):
            // Their FileDetails are Vigil's: the argument's `vigil` object, after `label`.
            if case .binprm = arg.value {
                b.append(static: "{\"linux_binprm_arg\":{\"path\":\"")
            } else if case .path = arg.value {
                b.append(static: "{\"path_arg\":{\"path\":\"")
            } else {
                b.append(static: "{\"file_arg\":{\"path\":\"")
            }
            b.appendJSONEscaped(bytes: path)
            b.append(UInt8(ascii: "\""))
            if !permission.isEmpty {
                b.append(static: ",\"permission\":")
                b.appendJSONString(permission)
            }
            b.append(static: "}")
        case .sock(let family, let type, let proto, let daddr, let dport):
            b.append(static: "{\"sock_arg\":{")
            var first = true
            for (key, value) in [("family", family), ("type", type), ("protocol", proto), ("daddr", daddr)] where !value.isEmpty {
                if first { first = false } else { b.append(UInt8(ascii: ",")) }
                b.append(UInt8(ascii: "\""))
                b.append(contentsOf: Array(key.utf8))
                b.append(static: "\":")
                b.appendJSONString(value)
            }
            if dport != 0 {
                if !first { b.append(UInt8(ascii: ",")) }
                b.append(static: "\"dport\":")
                b.appendDecimal(dport)
            }
            b.append(static: "}")
        case .socket(let sock):
            // Tetragon's KprobeSock field order; empty and zero values left out, as protojson does.
            b.append(static: "{\"sock_arg\":{")
            var first = true
            func key(_ name: StaticString) {
                if first { first = false } else { b.append(UInt8(ascii: ",")) }
                b.append(static: name)
            }
            // Key by key: a loop over an array of (name, value) pairs allocated the array and each
            // name's bytes per event (measurable with a flow event per connection).
            if !sock.family.isEmpty {
                key("\"family\":")
                b.appendJSONString(sock.family)
            }
            if !sock.type.isEmpty {
                key("\"type\":")
                b.appendJSONString(sock.type)
            }
            if !sock.protocol.isEmpty {
                key("\"protocol\":")
                b.appendJSONString(sock.protocol)
            }
            if sock.mark != 0 {
                key("\"mark\":")
                b.appendDecimal(sock.mark)
            }
            if !sock.saddr.isEmpty {
                key("\"saddr\":")
                b.appendJSONString(sock.saddr)
            }
            if !sock.daddr.isEmpty {
                key("\"daddr\":")
                b.appendJSONString(sock.daddr)
            }
            if sock.sport != 0 {
                key("\"sport\":")
                b.appendDecimal(sock.sport)
            }
            if sock.dport != 0 {
                key("\"dport\":")
                b.appendDecimal(sock.dport)
            }
            if sock.cookie != 0 {
                // uint64: a JSON string, as protojson writes 64-bit integers.
                key("\"cookie\":\"")
                b.appendDecimal(sock.cookie)
                b.append(UInt8(ascii: "\""))
            }
            if !sock.state.isEmpty {
                key("\"state\":")
                b.appendJSONString(sock.state)
            }
            b.append(UInt8(ascii: "}"))
        case .credentials(let c):
            b.append(static: "{\"process_credentials_arg\":")
            Self.appendCredentials(c, to: &b)
        case .sockaddr(let family, let address, let port):
            b.append(static: "{\"sockaddr_arg\":{")
            var first = true
            if !family.isEmpty {
                first = false
                b.append(static: "\"family\":")
                b.appendJSONString(family)
            }
            if !address.isEmpty {
                if first { first = false } else { b.append(UInt8(ascii: ",")) }
                b.append(static: "\"addr\":")
                b.appendJSONString(address)
            }
            if port != 0 {
                if !first { b.append(UInt8(ascii: ",")) }
                b.append(static: "\"port\":")
                b.appendDecimal(port)
            }
            b.append(UInt8(ascii: "}"))
        case .syscallID(let id, let abi):
            b.append(static: "{\"syscall_id\":{")
            if id != 0 {
                b.append(static: "\"id\":")
                b.appendDecimal(id)
                if !abi.isEmpty { b.append(UInt8(ascii: ",")) }
            }
            if !abi.isEmpty {
                b.append(static: "\"abi\":")
                b.appendJSONString(abi)
            }
            b.append(UInt8(ascii: "}"))
        case .error:
            // No value: Tetragon's KprobeArgument has no error member; `vigil.error` says why.
            b.append(UInt8(ascii: "{"))
            valueWritten = false
        }
        if label, let text = arg.label, !text.isEmpty {
            b.append(static: valueWritten ? ",\"label\":" : "\"label\":")
            b.appendJSONString(text)
            valueWritten = true
        }
        if vigil { appendArgumentVigil(arg.value, comma: valueWritten, to: &b) }
        b.append(UInt8(ascii: "}"))
    }

    /// Vigil's facts of one argument, as a `vigil` object after `label` (omitted when empty):
    /// a file's `inode` (uint64, a string as protojson writes 64-bit integers), `device`
    /// (`major:minor`) and `open_flags` (`O_RDONLY|O_CLOEXEC`, absent for an exec), on
    /// `file_arg`, `path_arg` and `linux_binprm_arg`; `error` for an argument that could not be
    /// read.
    private static func appendArgumentVigil(_ value: ArgumentValue, comma: Bool, to b: inout JSONBuffer) {
        switch value {
        case .file(_, _, let details?), .binprm(_, _, let details?), .path(_, _, let details?):
            b.append(static: comma ? ",\"vigil\":{\"inode\":\"" : "\"vigil\":{\"inode\":\"")
            b.appendDecimal(details.inode)
            b.append(static: "\",\"device\":")
            b.appendJSONString(details.deviceText)
            if let flags = details.openFlags {
                b.append(static: ",\"open_flags\":")
                b.appendJSONString(FileDetails.openFlagsText(flags))
            }
            b.append(UInt8(ascii: "}"))
        case .error(let message):
            b.append(static: comma ? ",\"vigil\":{\"error\":" : "\"vigil\":{\"error\":")
            b.appendJSONString(message)
            b.append(UInt8(ascii: "}"))
        default:
            break
        }
    }

    /// Tetragon's `arguments` string, JSON-escaped, without the surrounding quotes: argv[1...]
    /// joined by single spaces, each argument containing a space wrapped in double quotes (inner
    /// quotes are left as they are), an empty argument written as `""`, invalid UTF-8 bytes as
    /// `\xNN`.
    package static func appendArguments(_ arguments: [[UInt8]], to b: inout [UInt8]) {
        var out = JSONBuffer(capacity: 256)
        appendArguments(arguments, to: &out)
        out.withUnsafeBytes { b.append(contentsOf: $0) }
    }

    /// See ``appendArguments(_:to:)-([UInt8])``.
    package static func appendArguments(_ arguments: [[UInt8]], to b: inout JSONBuffer) {
        for (i, arg) in arguments.enumerated() {
            if i > 0 { b.append(UInt8(ascii: " ")) }
            let quoted = arg.isEmpty || arg.contains(UInt8(ascii: " "))
            if quoted { b.append(static: "\\\"") }
            b.appendJSONEscaped(bytes: arg)
            if quoted { b.append(static: "\\\"") }
        }
    }
}
