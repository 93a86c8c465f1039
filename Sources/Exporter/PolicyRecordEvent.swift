// SPDX-License-Identifier: Apache-2.0

import Events

/// What the encoder asks of the hook behind a ``PolicyRecordEvent``: the pipeline's
/// `PolicyHookSlot` (which knows the compiled hook: its arguments' kinds and labels, its
/// mechanism), kept out of this module so the exporter does not depend on the policy compiler.
/// A class: an event holds a reference, never a copy of the hook.
package protocol PolicyRecordHook: AnyObject, Sendable {
    /// The policy the hook belongs to (`policy_name`).
    var policyName: String { get }
    /// The kind of event the hook's records become (`process_tracepoint`, `process_kprobe`,
    /// `process_lsm` or `process_uprobe`).
    var eventTag: ExportEventKind.Tag { get }
    /// The `offset` of a `process_uprobe` (0: none, left out).
    var uprobeOffset: UInt64 { get }
    /// The events' fixed keys, rendered once for the hook (see ``JSONLineEncoder/renderedPolicyKeys(_:)``).
    var policyKeys: RenderedPolicyKeys { get }
    /// Appends the `args` key of `record` (omitted when no argument is written), read in place
    /// from the decoded record: the same bytes as its rendered ``Argument``s give.
    func appendArgs(of record: GenericRecord, labels: Bool, vigil: Bool, to b: inout JSONBuffer)
    /// Vigil's `mechanism` of `record`'s event.
    func mechanism(of record: GenericRecord) -> String
    /// `event` as an ``ExportEvent``, with its rendered arguments and outcome: what the export
    /// filters, the pod wait and the event stream read.
    func exportEvent(_ event: borrowing PolicyRecordEvent) -> ExportEvent
}

/// A policy hook's event as the pipeline builds it for the export: the decoded record, its
/// hook and its processes, with no rendered ``Argument``s and no ``PolicyOutcome`` (its strings,
/// arrays and box were built and torn down per event). Noncopyable: built once and lent to the
/// exporter, never copied (as a copyable value its init, called across modules, copied it
/// once and destroyed it twice per event). The encoder reads the record in place
/// (``JSONLineEncoder/encode(_:into:)-(PolicyRecordEvent,_)``); ``rendered()`` gives the
/// ``ExportEvent`` it stands for, byte for byte the same line, where a reader needs one.
package struct PolicyRecordEvent: ~Copyable {
    package var record: GenericRecord
    package let hook: any PolicyRecordHook
    package var process: ExportedProcess
    package var parent: ExportedProcess?
    package var ancestors: [ExportedProcess]
    package var nodeName: String
    package var time: WallTime

    package init(
        record: GenericRecord, hook: any PolicyRecordHook, process: ExportedProcess, parent: ExportedProcess?,
        ancestors: [ExportedProcess], nodeName: String, time: WallTime
    ) {
        self.record = record
        self.hook = hook
        self.process = process
        self.parent = parent
        self.ancestors = ancestors
        self.nodeName = nodeName
        self.time = time
    }

    /// The ``ExportEvent`` this event stands for.
    package func rendered() -> ExportEvent { hook.exportEvent(self) }
}

/// The event behind a line the exporter hands to its ``Exporter/lineObserver``: an
/// ``ExportEvent``, or a ``PolicyRecordEvent`` rendered only when ``event`` is read. Valid
/// during the observer's call only (it points at the exporter's argument).
package struct ObservedEvent {
    private let full: UnsafePointer<ExportEvent>?
    private let policy: UnsafePointer<PolicyRecordEvent>?
    /// The event's kind, without rendering it.
    package let tag: ExportEventKind.Tag

    init(_ event: UnsafePointer<ExportEvent>) {
        full = event
        policy = nil
        tag = event.pointee.kind.tag
    }

    init(_ event: UnsafePointer<PolicyRecordEvent>) {
        full = nil
        policy = event
        tag = event.pointee.hook.eventTag
    }

    /// What `vigil_network_verdicts_total` counts of the event, read without rendering it: nil
    /// for an event on no network operation (one without a socket or socket-address argument).
    package var networkVerdict: NetworkVerdict? {
        if let policy {
            // Read in place: the event is noncopyable.
            guard policy.pointee.record.args.contains(where: \.isNetwork) else { return nil }
            let record = policy.pointee.record
            return NetworkVerdict(
                pod: policy.pointee.process.pod, policy: policy.pointee.hook.policyName,
                action: PolicyAction(abi: record.action), notDone: record.monitor || record.fenced)
        }
        guard let full else { return nil }
        let args: [Argument]
        let outcome: PolicyOutcome
        switch full.pointee.kind {
        case .tracepoint(_, _, let a, let o), .kprobe(_, let a, let o), .lsm(_, let a, let o), .uprobe(_, _, _, let a, let o):
            (args, outcome) = (a, o)
        case .exec, .exit:
            return nil
        }
        guard args.contains(where: \.value.isNetwork) else { return nil }
        // A flow (--enable-flows) has no policy: a connection no policy denied.
        return NetworkVerdict(
            pod: full.pointee.process.pod, policy: outcome.policyName, action: outcome.action,
            notDone: outcome.monitor || outcome.fenced)
    }

    /// The event (a policy record's is rendered here, per read: read it once).
    package var event: ExportEvent {
        if let full { return full.pointee }
        return policy!.pointee.rendered()
    }
}

extension JSONLineEncoder {
    /// Appends `event` as one JSON line, including the trailing newline: the bytes
    /// ``encode(_:into:)-(ExportEvent,_)`` writes for `event.rendered()`, with the arguments,
    /// action, return and Vigil's fields read from the record.
    package func encode(_ event: borrowing PolicyRecordEvent, into buffer: inout JSONBuffer) {
        buffer.reserveCapacity(forAppending: 1024 * (2 + event.ancestors.count))
        let hook = event.hook
        let record = event.record
        let keys = hook.policyKeys
        let action = PolicyAction(abi: record.action)
        let returned = record.result.map { Int32(truncatingIfNeeded: $0) }
        let tag = hook.eventTag
        switch tag {
        case .tracepoint: buffer.append(static: "{\"process_tracepoint\":{\"process\":")
        case .kprobe: buffer.append(static: "{\"process_kprobe\":{\"process\":")
        case .lsm: buffer.append(static: "{\"process_lsm\":{\"process\":")
        case .uprobe: buffer.append(static: "{\"process_uprobe\":{\"process\":")
        case .exec, .exit: preconditionFailure("a policy hook posts policy events only")
        }
        appendProcess(event.process, to: &buffer)
        appendParent(event.parent, to: &buffer)
        // The same runs and pieces, in the same order, as the ExportEvent path of each kind.
        keys.bytes.withUnsafeBufferPointer { runs in
            let ends = keys.ends
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[..<ends.0]))
            // Tetragon renders tracepoint arguments from untyped values: never a `label`.
            hook.appendArgs(of: record, labels: tag != .tracepoint, vigil: vigilFields, to: &buffer)
            switch tag {
            case .uprobe:
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.0...]))
                return
            case .kprobe:
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.0..<ends.1]))
                if let returned {
                    buffer.append(static: ",\"return\":{\"int_arg\":")
                    buffer.appendSignedDecimal(Int64(returned))
                    buffer.append(UInt8(ascii: "}"))
                }
            default:
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.0..<ends.1]))
            }
            Self.appendAction(action, to: &buffer)
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: runs[ends.1...]))
        }
        appendAncestors(event.ancestors, to: &buffer)
        if tag == .uprobe {
            let offset = hook.uprobeOffset
            if offset != 0 {
                // uint64: a JSON string in protojson.
                buffer.append(static: ",\"offset\":\"")
                buffer.appendDecimal(offset)
                buffer.append(UInt8(ascii: "\""))
            }
            Self.appendAction(action, to: &buffer)
        }
        if vigilFields {
            Self.appendVigil(
                mechanism: hook.mechanism(of: record), monitor: record.monitor, fenced: record.fenced,
                returnValue: tag == .lsm || tag == .uprobe ? returned.map { .int($0) } : nil, to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
        if !event.nodeName.isEmpty {
            buffer.appendNodeName(event.nodeName)
        }
        buffer.append(static: ",\"time\":\"")
        RFC3339.append(event.time, to: &buffer)
        buffer.append(static: "\"}\n")
    }

    /// `event` as one JSON line (with trailing newline).
    package func encode(_ event: borrowing PolicyRecordEvent) -> [UInt8] {
        var line = JSONBuffer(capacity: 2048)
        encode(event, into: &line)
        return line.bytes
    }
}

/// A network event's labels in `vigil_network_verdicts_total`: where it came from, which policy
/// decided, and what it decided.
package struct NetworkVerdict: Sendable, Hashable {
    /// `process.pod.namespace`, empty for a host process.
    package var namespace: String
    /// `process.pod.workload`, empty for a host process.
    package var workload: String
    /// `policy_name`, empty for a flow no policy reported.
    package var policy: String
    /// `denied` (an Override that was done), `would_deny` (in monitor mode or outside the
    /// fence), `allowed` (anything else: reported, killed after the fact, or a flow).
    package var verdict: String

    package init(pod: ExportedPod?, policy: String, action: PolicyAction, notDone: Bool) {
        namespace = pod?.namespace ?? ""
        workload = pod?.workload ?? ""
        self.policy = policy
        verdict = action == .override ? (notDone ? "would_deny" : "denied") : "allowed"
    }

    package init(namespace: String, workload: String, policy: String, verdict: String) {
        self.namespace = namespace
        self.workload = workload
        self.policy = policy
        self.verdict = verdict
    }
}

extension RawArgument {
    /// A socket or socket address: the argument of a connect, a send or a flow.
    var isNetwork: Bool {
        switch self {
        case .sock, .sockaddr, .kernelSock: true
        default: false
        }
    }
}

extension ArgumentValue {
    /// A socket or socket address (`sock_arg`, `sockaddr_arg`).
    var isNetwork: Bool {
        switch self {
        case .sock, .sockaddr, .socket: true
        default: false
        }
    }
}
