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
        let outcome = PolicyOutcome(
            policyName: slot.policyName, action: actionName(record.action), message: hook.message, tags: hook.tags,
            monitor: record.monitor)
        let kind: ExportEventKind =
            switch hook.event {
            case .tracepoint(let subsystem, let event):
                .tracepoint(subsystem: subsystem, event: event, args: args, outcome: outcome)
            case .kprobe(let functionName):
                .kprobe(functionName: functionName, args: args, outcome: outcome)
            case .lsm(let hook):
                .lsm(functionName: hook, args: args, outcome: outcome)
            }
        let context =
            cache.context(pid: record.pid, ktime: record.processKtime, tid: record.tid)
            ?? cache.context(pid: record.pid, ktime: 0, tid: record.tid)
        let process =
            context?.process
            ?? ExportedProcess(
                execID: ExecIDs.make(node: nodeName, ktime: record.processKtime, pid: record.pid), pid: record.pid,
                tid: record.tid, uid: 0, auid: UInt32.max, cwd: [], binary: [], arguments: [], flags: [.miss],
                startTime: clock.wallTime(ktime: record.processKtime), cgroupID: record.cgroupID)
        return ExportEvent(
            kind: kind, process: process, parent: context?.parent, ancestors: context?.ancestors ?? [],
            nodeName: nodeName, time: clock.wallTime(ktime: record.ktime))
    }
}
