// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import FileGuard
import Foundation
import PolicyCompiler
import ProcessCache
import Tracefs
import TracingPolicy

/// A compiled hook of a loaded policy, by the slot its records name (`hook_slot`). A class: a
/// lookup per policy record hands out a reference, not a copy of the hook (its `vigil_hook` map
/// value alone is 2.4 KB). Immutable; a changed policy gets new slots.
///
/// It is also the hook of its records' ``PolicyRecordEvent``s: the encoder asks it for the
/// fixed keys and the arguments, which it writes from the decoded record in place.
package final class PolicyHookSlot: PolicyRecordHook {
    package let policyName: String
    package let hook: CompiledHook
    /// Where the hook runs: its backend's answer, which a fallback may have changed from the
    /// compiler's ``CompiledHook/mechanism``.
    package let mechanism: Mechanism
    /// The events' `mechanism` for this hook, rendered once here: built per event it was ~6% of
    /// a policy record's cost in the pipeline replay (string interpolation and its allocation).
    package let eventMechanism: String
    /// The JSON of the events' fixed keys (`subsys`, `event` or `function_name`, `policy_name`,
    /// `message`, `tags`), rendered once here and copied by the encoder: escaped per event they
    /// were part of every policy event's encoding.
    package let renderedKeys: RenderedPolicyKeys?
    package let eventTag: ExportEventKind.Tag
    package let uprobeOffset: UInt64
    /// Whether the hook reads Vigil's vigil_argv: with `--redaction-filters` its events are
    /// rendered (the pipeline redacts the argument there), never encoded from the record.
    package let readsArgv: Bool
    /// Each argument's `,"label":...` (empty: none), rendered once.
    private let labelKeys: [[UInt8]]

    package init(policyName: String, hook: CompiledHook, mechanism: Mechanism) {
        self.policyName = policyName
        self.hook = hook
        self.mechanism = mechanism
        self.eventMechanism = mechanism.eventValue(category: hook.category, name: hook.name)
        // Rendered from the same fields every event of the hook carries (the action is written
        // per event: the selectors of one hook may differ in it).
        let outcome = PolicyOutcome(policyName: policyName, action: .unknown, message: hook.message, tags: hook.tags)
        let kind = PolicyEvents.kind(hook.event, args: [], outcome: outcome)
        self.renderedKeys = JSONLineEncoder.renderedPolicyKeys(kind)
        self.eventTag = kind.tag
        if case .uprobe(_, _, let offset) = hook.event { uprobeOffset = offset } else { uprobeOffset = 0 }
        readsArgv = hook.args.contains { $0.declaredType == .vigilArgv }
        labelKeys = hook.args.map { arg in
            guard let label = arg.label, !label.isEmpty else { return [] }
            var b = JSONBuffer(capacity: 64)
            b.append(static: ",\"label\":")
            b.appendJSONString(label)
            return b.bytes
        }
    }

    package var policyKeys: RenderedPolicyKeys { renderedKeys! }

    package func mechanism(of record: GenericRecord) -> String {
        // An io_uring open seen at its completion ran a hook of an open syscall's exit; a
        // BPF-LSM socket_connect hook's send or TCP fast open was decided by the cgroup program
        // beside it (the LSM hook never saw it), and the event says so.
        record.ioUring
            ? "raw_tp io_uring_complete"
            : record.cgroupSockAddr && mechanism == .bpfLSM
                ? Mechanism.cgroupConnect.eventValue(category: "", name: "") : eventMechanism
    }

    /// The arguments as ``ArgumentRenderer`` renders them and the encoder writes them, without
    /// an ``Argument`` per value for the common kinds (integers, strings); other kinds (files,
    /// sockets, buffers, ...) are rendered and written as before.
    package func appendArgs(of record: GenericRecord, labels: Bool, vigil: Bool, to b: inout JSONBuffer) {
        var written = false
        @inline(__always) func open() {
            if written {
                b.append(UInt8(ascii: ","))
            } else {
                written = true
                b.append(static: ",\"args\":[")
            }
        }
        var i = 0
        let args = hook.args
        for raw in record.args {
            guard i < args.count else { break }
            defer { i += 1 }
            let arg = args[i]
            // A kind without a path of its own here: rendered, then written.
            var rendered = false
            switch raw {
            case .string(let bytes, _):
                open()
                b.append(static: "{\"string_arg\":\"")
                b.appendJSONEscaped(bytes: bytes)
                b.append(UInt8(ascii: "\""))
            case .integer(let v):
                switch arg.kind {
                case .int(let size, let signed):
                    open()
                    if size == 8 {
                        if signed {
                            b.append(static: "{\"long_arg\":\"")
                            b.appendSignedDecimal(Int64(bitPattern: v))
                        } else {
                            b.append(static: "{\"size_arg\":\"")
                            b.appendDecimal(v)
                        }
                        b.append(UInt8(ascii: "\""))
                    } else if signed {
                        b.append(static: "{\"int_arg\":")
                        b.appendSignedDecimal(Int64(Int32(truncatingIfNeeded: Int64(bitPattern: v))))
                    } else {
                        b.append(static: "{\"uint_arg\":")
                        b.appendDecimal(UInt32(truncatingIfNeeded: v))
                    }
                case .fd:
                    open()
                    b.append(static: "{\"int_arg\":")
                    b.appendSignedDecimal(Int64(Int32(truncatingIfNeeded: Int64(bitPattern: v))))
                case .syscall64:
                    rendered = true
                default:
                    open()
                    b.append(static: "{\"size_arg\":\"")
                    b.appendDecimal(v)
                    b.append(UInt8(ascii: "\""))
                }
            default:
                rendered = true
            }
            if rendered {
                for argument in ArgumentRenderer.render(raw, as: arg) {
                    open()
                    JSONLineEncoder.appendArgument(argument, label: labels, vigil: vigil, to: &b)
                }
                continue
            }
            // Integers and strings have no `vigil` facts: only the label follows.
            if labels { b.append(contentsOf: labelKeys[i]) }
            b.append(UInt8(ascii: "}"))
        }
        if written { b.append(UInt8(ascii: "]")) }
    }

    package func exportEvent(_ event: borrowing PolicyRecordEvent) -> ExportEvent {
        PolicyEvents.event(rendering: event, slot: self)
    }
}

/// A fanotify rule of a loaded policy, by the id its decisions name.
package struct PolicyFileRule: Sendable {
    package var policyName: String
    package var rule: CompiledFileRule

    package init(policyName: String, rule: CompiledFileRule) {
        self.policyName = policyName
        self.rule = rule
    }
}

/// The one place policy events are built: generic (policy hook) records and fanotify decisions
/// -> `process_tracepoint` / `process_kprobe` / `process_lsm` / `process_uprobe` events.
///
/// The builders for records and decisions take the cache `inout` although they only read it:
/// the pipeline's cache is a stored property of a class, and passed by value it is copied for
/// the call (a retain and a release of each of its tables per policy event, measurable in the
/// replay); `inout` lends it in place.
package enum PolicyEvents {
    /// A policy record's event for the export, the record read in place by the encoder
    /// (``PolicyRecordEvent``): no arguments or outcome rendered.
    package static func recordEvent(
        for record: GenericRecord, slot: PolicyHookSlot, cache: inout ProcessCache, nodeName: String, clock: KtimeClock
    ) -> PolicyRecordEvent {
        let (process, parent, ancestors) = processes(
            pid: record.pid, tid: record.tid, processKtime: record.processKtime, cgroupID: record.cgroupID, binary: [],
            startTime: clock.wallTime(ktime: record.processKtime), cache: cache, nodeName: nodeName)
        return PolicyRecordEvent(
            record: record, hook: slot, process: process, parent: parent, ancestors: ancestors, nodeName: nodeName,
            time: clock.wallTime(ktime: record.ktime))
    }

    /// A policy record's event as an ``ExportEvent``: ``recordEvent(for:slot:cache:nodeName:clock:)`` rendered.
    package static func event(
        for record: GenericRecord, slot: PolicyHookSlot, cache: inout ProcessCache, nodeName: String, clock: KtimeClock
    ) -> ExportEvent {
        event(
            rendering: recordEvent(for: record, slot: slot, cache: &cache, nodeName: nodeName, clock: clock), slot: slot,
            redact: cache.config.redactArguments)
    }

    /// `event` with its arguments rendered and its outcome: what ``PolicyRecordEvent/rendered()`` gives;
    /// with `redact` (`--redaction-filters`), a vigil_argv argument redacted as the process's
    /// own `arguments` are.
    package static func event(
        rendering event: borrowing PolicyRecordEvent, slot: PolicyHookSlot,
        redact: ((_ binary: [UInt8], _ arguments: [[UInt8]]) -> [UInt8]?)? = nil
    ) -> ExportEvent {
        let record = event.record
        let hook = slot.hook
        var args: [Argument] = []
        args.reserveCapacity(record.args.count)
        for (raw, arg) in zip(record.args, hook.args) { ArgumentRenderer.render(raw, as: arg, into: &args) }
        if let redact, slot.readsArgv { redactArgv(record, hook: hook, redact: redact, &args) }
        var outcome = PolicyOutcome(
            policyName: slot.policyName, action: PolicyAction(abi: record.action), message: hook.message, tags: hook.tags,
            monitor: record.monitor)
        outcome.fenced = record.fenced
        outcome.renderedKeys = RenderedPolicyKeysLink(slot.renderedKeys)
        outcome.returnValue = record.result.map { .int(Int32(truncatingIfNeeded: $0)) }
        outcome.mechanism = slot.mechanism(of: record)
        return ExportEvent(
            kind: kind(hook.event, args: args, outcome: outcome), process: event.process, parent: event.parent,
            ancestors: event.ancestors, nodeName: event.nodeName, time: event.time)
    }

    /// `--redaction-filters` on vigil_argv: the arguments are the process's own, so they are
    /// redacted as its `arguments` are (the binary is the hook's binprm path when it reads one).
    package static func redactArgv(
        _ record: GenericRecord, hook: CompiledHook, redact: ([UInt8], [[UInt8]]) -> [UInt8]?, _ args: inout [Argument]
    ) {
        guard args.count == hook.args.count, let slot = hook.args.firstIndex(where: { $0.declaredType == .vigilArgv }),
            slot < record.args.count, case .buffer(let bytes, let size, let truncated) = record.args[slot]
        else { return }
        var binary: [UInt8] = []
        for raw in record.args { if case .file(let path, _, _, _, _, _) = raw { binary = path } }
        let arguments = bytes.withUnsafeBytes { ExecRecord.splitArguments($0) }
        guard let text = redact(binary, arguments) else { return }
        args[slot].value = truncated ? .truncatedBytes(text, originalSize: size) : .string(text)
    }

    /// A fanotify decision as a `process_lsm` (or `process_kprobe`) event with action Override,
    /// stamped `now` (the guard answers in user space: there is no kernel time to convert).
    package static func event(
        for decision: FileDecisionEvent, rule fileRule: PolicyFileRule, cache: inout ProcessCache, nodeName: String,
        now: WallTime = WallTime(nanosecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1e9))
    ) -> ExportEvent {
        let rule = fileRule.rule
        let value: ArgumentValue =
            rule.kind == .exec ? .binprm(path: decision.path, permission: "") : .file(path: decision.path, permission: "")
        var outcome = PolicyOutcome(
            policyName: fileRule.policyName, action: .override, message: rule.message, tags: rule.tags,
            monitor: decision.monitor)
        outcome.fenced = decision.fenced
        // What the process got: -EPERM when denied (a fanotify answer carries EPERM unless the
        // kernel takes the rule's errno), 0 in monitor mode. A rule asking for another errno
        // than the one returned shows in the difference between `return` and the policy.
        outcome.returnValue = .int(decision.denied ? -decision.errno : 0)
        let mechanism = Mechanism.fanotify.eventValue(category: "", name: "")
        outcome.mechanism = decision.denied && decision.ruleErrno != 0 && decision.errno != decision.ruleErrno
            ? "\(mechanism) (errno \(decision.ruleErrno) not supported here, EPERM returned)" : mechanism
        let args = [Argument(value, label: rule.label)]
        let pid = UInt32(bitPattern: decision.pid)
        return event(
            kind: kind(rule.event, args: args, outcome: outcome), pid: pid, tid: pid, processKtime: 0,
            cgroupID: 0, binary: decision.binary ?? [], startTime: now, time: now, cache: cache, nodeName: nodeName)
    }

    /// The event key and body for a compiled hook's kind of event.
    package static func kind(_ event: HookEvent, args: [Argument], outcome: PolicyOutcome) -> ExportEventKind {
        switch event {
        case .tracepoint(let subsystem, let event): .tracepoint(subsystem: subsystem, event: event, args: args, outcome: outcome)
        case .kprobe(let functionName): .kprobe(functionName: functionName, args: args, outcome: outcome)
        case .lsm(let hook): .lsm(functionName: hook, args: args, outcome: outcome)
        case .uprobe(let path, let symbol, let offset): .uprobe(path: path, symbol: symbol, offset: offset, args: args, outcome: outcome)
        }
    }

    /// A policy event with its process, parent and ancestors from the cache: the exact
    /// identity first, then the pid's latest entry, else a minimal process flagged `miss` so
    /// the event still goes out.
    package static func event(
        kind: ExportEventKind, pid: UInt32, tid: UInt32, processKtime: UInt64, cgroupID: UInt64, binary: [UInt8],
        startTime: WallTime, time: WallTime, cache: ProcessCache, nodeName: String
    ) -> ExportEvent {
        let (process, parent, ancestors) = processes(
            pid: pid, tid: tid, processKtime: processKtime, cgroupID: cgroupID, binary: binary, startTime: startTime,
            cache: cache, nodeName: nodeName)
        return ExportEvent(kind: kind, process: process, parent: parent, ancestors: ancestors, nodeName: nodeName, time: time)
    }

    /// A policy event's process, parent and ancestors (see ``event(kind:pid:tid:processKtime:cgroupID:binary:startTime:time:cache:nodeName:)``).
    @inline(__always)
    static func processes(
        pid: UInt32, tid: UInt32, processKtime: UInt64, cgroupID: UInt64, binary: [UInt8], startTime: WallTime,
        cache: ProcessCache, nodeName: String
    ) -> (ExportedProcess, ExportedProcess?, [ExportedProcess]) {
        // One binding whose fields move into the event: optional chains on the context (one per
        // field) copied each field out and then destroyed the context, per policy event.
        if let context =
            (processKtime != 0 ? cache.context(pid: pid, ktime: processKtime, tid: tid) : nil)
            ?? cache.context(pid: pid, ktime: 0, tid: tid)
        {
            return (context.process, context.parent, context.ancestors)
        }
        let process = ExportedProcess(
            execID: ExecIDs.make(node: nodeName, ktime: processKtime, pid: pid), pid: pid, tid: tid, uid: 0,
            auid: UInt32.max, cwd: [], binary: binary, arguments: [], flags: [.miss], startTime: startTime,
            cgroupID: cgroupID)
        return (process, nil, [])
    }
}
