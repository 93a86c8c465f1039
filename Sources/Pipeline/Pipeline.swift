// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Events
import Exporter
import FileGuard
import ProcessCache

/// The agent's hot loop, user space only: records (raw or decoded) -> process cache -> policy
/// events -> JSON lines -> export sinks. The agent drives it with the ring buffer's batches;
/// the pipeline benchmark (`bench/pipeline`) and the pipeline tests drive the same type with
/// recorded or crafted records, policy records included, so what they measure and check is what
/// the agent runs.
///
/// Encoding and the export sinks run on this task, or with `exportThread` on a thread of their
/// own (``ExportThread``): the events of each batch are handed over at ``flush()``, in order.
///
/// **Not thread-safe**: owned by one task, like the process cache and the exporter it drives.
package final class Pipeline {
    /// What the pipeline asks of the loaded policies; all optional (no policies: generic
    /// records and file decisions name nothing and are skipped).
    package struct Policies {
        /// The compiled hook of a `hook_slot`, nil when no loaded policy holds the slot (a
        /// record that raced an unload).
        package var hookSlot: (UInt32) -> PolicyHookSlot?
        /// The fanotify rule of a decision's rule id, nil when it was removed meanwhile.
        package var fileRule: (UInt32) -> PolicyFileRule?
        /// Policy actions taken (or not taken: monitor mode, fence), counted per batch: policy
        /// name, action, count.
        package var reportActions: (String, PolicyAction, Int) -> Void

        package init(
            hookSlot: @escaping (UInt32) -> PolicyHookSlot? = { _ in nil },
            fileRule: @escaping (UInt32) -> PolicyFileRule? = { _ in nil },
            reportActions: @escaping (String, PolicyAction, Int) -> Void = { _, _, _ in }
        ) {
            self.hookSlot = hookSlot
            self.fileRule = fileRule
            self.reportActions = reportActions
        }
    }

    /// The pipeline's state is `@exclusivity(unchecked)`: the type is owned by one task and
    /// never re-entered (the callbacks it calls do not call it), and the run-time checks of its
    /// stored properties (three per policy record, `&cache` among them) showed in the replay's
    /// profile.
    @exclusivity(unchecked) package private(set) var cache: ProcessCache
    package let exporter: Exporter
    private let nodeName: String
    private let clock: KtimeClock
    /// Set once the policy engine is up (the /proc seed runs before it).
    @exclusivity(unchecked) package var policies: Policies
    /// Between building and export, e.g. the wait for an event's pod: takes an event, returns
    /// the events ready now (in order). Nil: every event is exported as built.
    private let hold: ((ExportEvent) -> [ExportEvent])?
    /// An export or flush error (the event is counted by the exporter and lost).
    private let exportFailed: (any Error) -> Void
    /// After each flush of the exporter, where it flushes (this task, or the export thread once
    /// started: set it before ``startExportThread(capacity:)``).
    package var afterFlush: (Exporter) -> Void = { _ in }
    /// Encoding and the sinks on a thread of their own; nil: on this task.
    @exclusivity(unchecked) private var exportThread: ExportThread?
    /// Events built since the last hand-over to ``exportThread``.
    @exclusivity(unchecked) private var pending: [ExportEvent] = []
    @exclusivity(unchecked) private var tally = PolicyActionTally()
    /// Names learnt from DNS answers (`--enable-dns-names`): connect and flow events to an
    /// address their cgroup resolved carry them (``DestinationNames``). nil: not learnt.
    @exclusivity(unchecked) package var dnsNames: DNSNameCache?

    /// Raw records that did not decode (``process(raw:)`` only; the agent's reader decodes).
    @exclusivity(unchecked) package private(set) var decodeErrors: UInt64 = 0

    package init(
        cache: ProcessCache, exporter: Exporter, nodeName: String, clock: KtimeClock, policies: Policies = .init(),
        hold: ((ExportEvent) -> [ExportEvent])? = nil, exportFailed: @escaping (any Error) -> Void = { _ in }
    ) {
        self.cache = cache
        self.exporter = exporter
        self.nodeName = nodeName
        self.clock = clock
        self.policies = policies
        self.hold = hold
        self.exportFailed = exportFailed
    }

    /// From now on encoding and the sinks run on a thread of their own (``ExportThread``), at
    /// most `capacity` events waiting for it; the exporter is the thread's until ``finish()``
    /// (its `lineObserver` and ``afterFlush`` must be set before). Once.
    package func startExportThread(capacity: Int = 16384) {
        precondition(exportThread == nil, "export thread started twice")
        flush()
        exportThread = ExportThread(exporter: exporter, capacity: capacity, exportFailed: exportFailed, afterFlush: afterFlush)
    }

    deinit { exportThread?.finish() }

    /// The processes found in /proc at start, as exec events (then flushed).
    package func seed(_ processes: [ProcFSProcess]) {
        for event in cache.seed(processes) { emit(event) }
        flush()
    }

    /// One batch of decoded records and the file decisions that came meanwhile, then a flush:
    /// what the agent does per ring-buffer batch. An empty batch means a quiet ring: memory a
    /// mass exit freed goes back to the system then.
    package func process(_ batch: some Sequence<Record>, fileDecisions: [FileDecisionEvent] = []) {
        var empty = true
        for record in batch {
            empty = false
            handle(record)
        }
        for decision in fileDecisions { handle(decision) }
        endBatch(quiet: empty)
    }

    /// One raw ring-buffer record (`vigil_abi.h`), decoded here; a record that does not decode
    /// is counted in ``decodeErrors``. Call ``endBatch(quiet:)`` after a batch of them.
    package func process(raw bytes: UnsafeRawBufferPointer) {
        guard let record = try? Record(decoding: bytes) else {
            decodeErrors += 1
            return
        }
        handle(record)
    }

    /// One decoded record: a policy or flow record becomes an event with its process from the
    /// cache; exec, clone and exit update the cache and export what it returns.
    package func handle(_ record: Record) {
        // One switch: each `if case` tested a copy of the whole record (an enum as large as
        // ExecRecord, ~300 bytes), per record.
        switch record {
        case .generic(let generic):
            handle(generic)
        case .flow(let flow):
            // Named as at the connect (or accept): a flow that outlived the answer's TTL keeps
            // its names only while the entry is not swept yet.
            var names: [String] = []
            // (`dnsNames!`: the cache sweeps expired entries as it answers, in place.)
            if dnsNames != nil, let address = DestinationNames.ip(family: flow.sock.family, flow.sock.daddr) {
                names = dnsNames!.names(cgroup: flow.cgroupID, address: address, now: flow.startKtime)
            }
            emit(FlowEvents.event(for: flow, cache: &cache, nodeName: nodeName, clock: clock, destinationNames: names))
        case .dns(let answer):
            // Learnt, never exported: the answer shows in the events that go to its addresses.
            dnsNames?.learn(answer)
        case .exec, .clone, .exit:
            if let event = cache.handle(record) { emit(event) }
        }
    }

    /// A policy record: its event, encoded from the record unless something between needs an
    /// ExportEvent (the pod wait, ``hold``, the export thread's queue, or the DNS names of its
    /// destination, one more argument than the record has).
    private func handle(_ generic: GenericRecord) {
        guard let slot = policies.hookSlot(generic.hookSlot) else { return }
        let event = PolicyEvents.recordEvent(for: generic, slot: slot, cache: &cache, nodeName: nodeName, clock: clock)
        tally.add(
            slot: generic.hookSlot, action: PolicyAction(abi: generic.action), policy: slot.policyName,
            report: policies.reportActions)
        if slot.readsArgv, let redact = cache.config.redactArguments {
            // --redaction-filters on vigil_argv: redacted in the rendered event, never encoded
            // from the record as the kernel read it.
            emit(PolicyEvents.event(rendering: event, slot: slot, redact: redact))
        } else if dnsNames != nil, let address = DestinationNames.destination(of: generic.args),
            let argument = DestinationNames.argument(dnsNames!.names(cgroup: generic.cgroupID, address: address, now: generic.ktime))
        {
            var rendered = event.rendered()
            DestinationNames.append(argument, to: &rendered)
            emit(rendered)
        } else if hold == nil && exportThread == nil {
            do { try exporter.export(event) } catch { exportFailed(error) }
        } else {
            emit(event.rendered())
        }
    }

    /// A fanotify decision (deny or monitor) as an event, with its process context.
    package func handle(_ decision: FileDecisionEvent) {
        guard let rule = policies.fileRule(decision.ruleID) else { return }
        let event = PolicyEvents.event(for: decision, rule: rule, cache: &cache, nodeName: nodeName)
        policies.reportActions(rule.policyName, .override, 1)
        emit(event)
    }

    /// Reports the batch's policy actions and flushes the export.
    package func endBatch(quiet: Bool = false) {
        tally.flush(policies.reportActions)
        if quiet { _ = cache.releaseFreedMemory() }
        flush()
    }

    /// Exports `event` now, or once ``hold`` releases it.
    package func emit(_ event: ExportEvent) {
        guard let hold else { return export(event) }
        for ready in hold(event) { export(ready) }
    }

    /// Exports `event` now (or hands it to the export thread at the next ``flush()``), past
    /// ``hold`` (events ``hold`` released on its own, e.g. on a timer).
    package func export(_ event: ExportEvent) {
        if exportThread != nil { return pending.append(event) }
        do { try exporter.export(event) } catch { exportFailed(error) }
    }

    /// Writes out what the sinks buffered, or hands the events built since the last flush to
    /// the export thread (which flushes once it has written them).
    package func flush() {
        if let exportThread {
            let batch = pending
            pending = []
            pending.reserveCapacity(batch.count)
            exportThread.submit(batch)
            return
        }
        do { try exporter.flush() } catch { exportFailed(error) }
        afterFlush(exporter)
    }

    /// Hands over what is pending and waits until the export thread has written and flushed
    /// every event: after this the exporter is the caller's (to close it), and later events
    /// are exported on the caller's task. Without an export thread, a flush.
    package func finish() {
        flush()
        guard let exportThread else { return }
        exportThread.finish()
        finishedThreadWaits += exportThread.submitWaits
        self.exportThread = nil
    }

    /// Times the pipeline waited for the export thread to make room (it was behind).
    package var exportThreadWaits: UInt64 { finishedThreadWaits + (exportThread?.submitWaits ?? 0) }
    private var finishedThreadWaits: UInt64 = 0
}
