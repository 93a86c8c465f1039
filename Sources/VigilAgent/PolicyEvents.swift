// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import ProcessCache

/// Generic (policy hook) records -> `process_tracepoint` / `process_kprobe` events.
enum PolicyEvents {
    static func actionName(_ kind: UInt8) -> String {
        switch UInt32(kind) {
        case VIGIL_ACTION_SIGKILL.rawValue: "KPROBE_ACTION_SIGKILL"
        case VIGIL_ACTION_SIGNAL.rawValue: "KPROBE_ACTION_SIGNAL"
        case VIGIL_ACTION_NOPOST.rawValue: "KPROBE_ACTION_NOPOST"
        case VIGIL_ACTION_OVERRIDE.rawValue: "KPROBE_ACTION_OVERRIDE"
        default: "KPROBE_ACTION_POST"
        }
    }

    static func event(
        for record: GenericRecord, slot: PolicyEngine.SlotInfo, cache: ProcessCache, nodeName: String, clock: KtimeClock
    ) -> ExportEvent {
        let hook = slot.hook
        var args: [Argument] = []
        for (raw, arg) in zip(record.args, hook.args) { args.append(contentsOf: ArgumentRenderer.render(raw, as: arg)) }
        var outcome = PolicyOutcome(
            policyName: slot.policyName, action: actionName(record.action), message: hook.message, tags: hook.tags,
            monitor: record.monitor)
        outcome.fenced = record.fenced
        outcome.returnValue = record.result.map { .int(Int32(truncatingIfNeeded: $0)) }
        outcome.mechanism = record.ioUring ? "raw_tp io_uring_complete" : slot.mechanism.eventValue(category: hook.category, name: hook.name)
        return event(
            kind: kind(hook.event, args: args, outcome: outcome), pid: record.pid, tid: record.tid,
            processKtime: record.processKtime, cgroupID: record.cgroupID, binary: [],
            startTime: clock.wallTime(ktime: record.processKtime), time: clock.wallTime(ktime: record.ktime),
            cache: cache, nodeName: nodeName)
    }

    /// The event key and body for a compiled hook's kind of event.
    static func kind(_ event: HookEvent, args: [Argument], outcome: PolicyOutcome) -> ExportEventKind {
        switch event {
        case .tracepoint(let subsystem, let event): .tracepoint(subsystem: subsystem, event: event, args: args, outcome: outcome)
        case .kprobe(let functionName): .kprobe(functionName: functionName, args: args, outcome: outcome)
        case .lsm(let hook): .lsm(functionName: hook, args: args, outcome: outcome)
        }
    }

    /// A policy event with its process, parent and ancestors from the cache: the exact
    /// identity first, then the pid's latest entry, else a minimal process flagged `miss` so
    /// the event still goes out.
    static func event(
        kind: ExportEventKind, pid: UInt32, tid: UInt32, processKtime: UInt64, cgroupID: UInt64, binary: [UInt8],
        startTime: WallTime, time: WallTime, cache: ProcessCache, nodeName: String
    ) -> ExportEvent {
        let context =
            (processKtime != 0 ? cache.context(pid: pid, ktime: processKtime, tid: tid) : nil)
            ?? cache.context(pid: pid, ktime: 0, tid: tid)
        let process =
            context?.process
            ?? ExportedProcess(
                execID: ExecIDs.make(node: nodeName, ktime: processKtime, pid: pid), pid: pid, tid: tid, uid: 0,
                auid: UInt32.max, cwd: [], binary: binary, arguments: [], flags: [.miss], startTime: startTime,
                cgroupID: cgroupID)
        return ExportEvent(
            kind: kind, process: process, parent: context?.parent, ancestors: context?.ancestors ?? [],
            nodeName: nodeName, time: time)
    }
}
