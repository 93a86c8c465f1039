// SPDX-License-Identifier: Apache-2.0
import CLibbpf
import CVigilABI
import CVigilBPF
import Glibc
import HostFiles
import KernelFeatures
import Logging
import Synchronization

/// The loaded and attached process sensor (bpf/progs/process.bpf.c): exec, fork and exit.
///
/// Owns the libbpf object; ``close()`` (or deinit) detaches every program and frees the maps.
package final class ProcessSensor: Sendable {
    /// Which program family carries the hooks.
    package enum AttachMode: String, Sendable, CaseIterable {
        case tpBTF = "tp_btf"
        case rawTP = "raw_tp"

        var cValue: UInt32 {
            switch self {
            case .tpBTF: VIGIL_ATTACH_TP_BTF.rawValue
            case .rawTP: VIGIL_ATTACH_RAW_TP.rawValue
            }
        }
    }

    package struct Options: Sendable {
        /// Argument bytes captured per exec (`--args-max-bytes`).
        package var argsMaxBytes: UInt32 = UInt32(VIGIL_ARGS_DEFAULT)
        /// Ring buffer size (`--rb-size`): a power of two, at least one page.
        package var ringBufferBytes: UInt32 = 8 << 20
        /// Pending bytes that force a reader wake-up; 0 wakes the reader on every record.
        package var wakeupBytes: UInt64 = 256 << 10
        /// Processes whose identity the kernel side remembers.
        package var processMapEntries: UInt32 = 65536
        /// nil: tp_btf, falling back to raw_tp.
        package var attachMode: AttachMode?
        /// Load the BPF-LSM programs (lsmhooks served in the hook). nil: where the probe finds
        /// BPF-LSM running (``KernelProbe/bpfLSM(activeList:)``).
        package var bpfLSM: Bool?
        /// cgroup2 id of `--enforcement-cgroup`: kills and denies reach only tasks in that cgroup
        /// or below it (decided in the kernel, frozen at load); 0 for no fence.
        package var fenceCgroupID: UInt64 = 0
        /// A previous run's pinned `vg_procs` (``ProcessSensor/pinProcessTracking(directory:)``):
        /// the new object takes that map over instead of starting with an empty one, so the
        /// identities its pinned exec tracking kept while no agent ran stay in force.
        package var previousProcessMap: String?
        /// Load the TCP flow programs (`--enable-flows`); attached by ``attachFlows()``. They are
        /// tp_btf programs: with them asked for, the raw_tp fallback is refused.
        package var flows = false
        /// Open flows tracked at once (`--flow-map-entries`); a flow beyond them is counted in
        /// ``Counters/flowsUntracked``, never tracked silently wrong.
        package var flowMapEntries: UInt32 = 65536
        /// Load the DNS answer program (`--enable-dns-names`); attached by ``attachDNS(cgroup2Root:)``.
        package var dnsNames = false

        package init() {}

        /// Largest value `--args-max-bytes` accepts.
        package static let argsMaxBytesLimit = UInt32(VIGIL_ARGS_CAP) - 1
    }

    /// Sums of the kernel side's per-CPU counters.
    package struct Counters: Sendable, Hashable {
        package var execSeen: UInt64 = 0
        package var cloneSeen: UInt64 = 0
        package var exitSeen: UInt64 = 0
        /// Records the kernel could not put in the ring buffer, by kind.
        package var ringBufferDrops: (exec: UInt64, clone: UInt64, exit: UInt64) = (0, 0, 0)
        /// Policy events the kernel could not put in the ring buffer.
        package var policyDrops: UInt64 = 0
        /// Policy hook runs where no selector matched: filtered in the kernel, never sent.
        package var policyFiltered: UInt64 = 0
        package var policyMatched: UInt64 = 0
        package var policyRateLimited: UInt64 = 0
        package var policyNoPost: UInt64 = 0
        package var policySignals: UInt64 = 0
        /// Runs of pod-scoped policy hooks for processes outside their pods: nothing done.
        package var policyOutOfScope: UInt64 = 0
        /// Kills and denies not done because the task was outside `--enforcement-cgroup`.
        package var policyFenced: UInt64 = 0
        /// TCP flows closed with an owner: a flow record was made (`--enable-flows`).
        package var flowsClosed: UInt64 = 0
        /// Flow records the kernel could not put in the ring buffer.
        package var flowDrops: UInt64 = 0
        /// Flows not tracked because the flow map was full.
        package var flowsUntracked: UInt64 = 0
        /// Accepted-side flows closed before any accept took them: no owner, not reported.
        package var flowsUnowned: UInt64 = 0
        /// UDP datagrams from port 53 the DNS answer program saw (`--enable-dns-names`).
        package var dnsAnswers: UInt64 = 0
        /// ... and could not put in the ring buffer.
        package var dnsDrops: UInt64 = 0
        /// Addresses the DNS answer program wrote to vg_fqdn_allow for DNSName policies.
        package var fqdnLearnt: UInt64 = 0

        package var totalDrops: UInt64 {
            ringBufferDrops.exec + ringBufferDrops.clone + ringBufferDrops.exit + policyDrops + flowDrops + dnsDrops
        }

        package static func == (a: Counters, b: Counters) -> Bool {
            a.execSeen == b.execSeen && a.cloneSeen == b.cloneSeen && a.exitSeen == b.exitSeen
                && a.ringBufferDrops == b.ringBufferDrops && a.policyFiltered == b.policyFiltered
                && a.policyMatched == b.policyMatched
        }
        package func hash(into hasher: inout Hasher) {
            hasher.combine(execSeen)
            hasher.combine(totalDrops)
        }
    }

    /// Guards the C handle: close() and counter reads may come from different tasks.
    private let handle: Mutex<Handle?>
    package let attachMode: AttachMode
    package let eventsFD: Int32
    /// Why the BPF-LSM programs are not loaded (nil when they are): said next to the fallback
    /// mechanism in the log and the status.
    package let bpfLSMUnavailableReason: String?
    /// Why no policy program is loaded (nil when they are): kernels without bpf_loop() run the
    /// process sensor only, and every policy is refused with this reason.
    package let policyProgramsUnavailableReason: String?
    /// Whether the object took over ``Options/previousProcessMap`` (false: a map of its own,
    /// because none was given, it could not be opened, or its shape differs from this build's).
    package let processIdentitiesTakenOver: Bool
    /// For what the sensor reports after start-up (attachments made on a policy's demand).
    let logger: Logger

    /// Loads and attaches the sensor. Tries tp_btf first unless `options.attachMode` says
    /// otherwise, and falls back to raw_tp when the kernel refuses tp_btf.
    package init(options: Options, logger: Logger) throws(BPFError) {
        self.logger = logger
        LibbpfLog.install(logger: logger)
        guard options.ringBufferBytes >= 4096, options.ringBufferBytes & (options.ringBufferBytes - 1) == 0 else {
            throw BPFError(
                code: .other, errno: EINVAL, operation: "ring buffer size",
                message: "\(options.ringBufferBytes) is not a power of two of at least 4096 bytes")
        }
        let modes = options.attachMode.map { [$0] } ?? [.tpBTF, .rawTP]
        var lsmReason: String?
        var lsm = options.bpfLSM ?? false
        let processOnly = !KernelRequirements.hasBPFLoop()
        if processOnly {
            lsm = false
            lsmReason = "no policy programs on this kernel (no bpf_loop)"
        } else if options.bpfLSM == nil {
            let probe = KernelProbe.bpfLSM(activeList: HostFile.readText(atPath: "/sys/kernel/security/lsm"))
            lsm = probe.available == true
            if !lsm { lsmReason = KernelProbe.shortLSMReason(probe.detail) }
        } else if !lsm {
            lsmReason = "BPF-LSM turned off"
        }
        var lastError: BPFError?
        // One descriptor for every attempt below (libbpf duplicates it into the object that uses it).
        let previousProcs = options.previousProcessMap.map { path in path.withCString { bpf_obj_get($0) } } ?? -1
        defer { if previousProcs >= 0 { Glibc.close(previousProcs) } }
        if let path = options.previousProcessMap, previousProcs < 0 {
            logger.warning("cannot open the previous run's process map \(path): \(String(cString: strerror(errno))); starting with an empty one")
        }
        for mode in modes {
            // With the LSM programs first where BPF-LSM runs; a kernel whose verifier refuses them
            // still gets every other hook, with the reason logged.
            for withLSM in lsm ? [true, false] : [false] {
                var attempt = options
                attempt.bpfLSM = withLSM
                do {
                    let pointer = try Self.load(
                        options: attempt, mode: mode, previousProcs: previousProcs, processOnly: processOnly)
                    self.handle = Mutex(Handle(pointer: pointer))
                    self.processIdentitiesTakenOver = vigil_bpf_procs_taken_over(pointer) != 0
                    self.attachMode = mode
                    self.eventsFD = vigil_bpf_events_fd(pointer)
                    self.bpfLSMUnavailableReason = withLSM ? nil : lsmReason
                    self.policyProgramsUnavailableReason = processOnly ? KernelRequirements.noBPFLoopReason : nil
                    return
                } catch {
                    if error.code == .permissionDenied && !withLSM { throw error }
                    if withLSM {
                        logger.warning(
                            "BPF-LSM programs did not load (\(mode.rawValue)); lsmhooks fall back to fanotify and cgroup hooks",
                            metadata: ["error": "\(error)"])
                        lsmReason = "BPF-LSM programs did not load: \(error)"
                        continue
                    }
                    logger.warning(
                        "process sensor did not load with \(mode.rawValue)",
                        metadata: ["error": "\(error)"])
                    lastError = error
                }
            }
        }
        throw lastError ?? BPFError(code: .other, operation: "load process sensor", message: "no attach mode")
    }

    private static func load(options: Options, mode: AttachMode, previousProcs: Int32, processOnly: Bool) throws(BPFError)
        -> OpaquePointer
    {
        if options.flows && mode == .rawTP {
            // The flow programs need bpf_get_socket_cookie() and bpf_skc_to_tcp_sock(), which
            // only BTF-typed programs have: without tp_btf there are no flows to give.
            throw BPFError(
                code: .other, errno: EOPNOTSUPP, operation: "load process sensor (raw_tp)",
                message: "--enable-flows needs tp_btf programs (bpf_get_socket_cookie, bpf_skc_to_tcp_sock), and raw_tp has neither")
        }
        if options.dnsNames && processOnly {
            throw BPFError(
                code: .missingKernelFeature, errno: EOPNOTSUPP, operation: "load process sensor",
                message: "--enable-dns-names is offered from Linux 5.17 (bpf_loop()); on this kernel the agent runs its process sensor only")
        }
        if options.flows && processOnly {
            throw BPFError(
                code: .missingKernelFeature, errno: EOPNOTSUPP, operation: "load process sensor",
                message: "--enable-flows is offered from Linux 5.17 (bpf_loop()); on this kernel the agent runs its process sensor only")
        }
        var cOptions = vigil_bpf_options(
            args_max: min(max(options.argsMaxBytes, 1), Options.argsMaxBytesLimit),
            rb_size: options.ringBufferBytes, wakeup_bytes: options.wakeupBytes,
            procs_max: options.processMapEntries, attach_mode: mode.cValue, lsm: options.bpfLSM == true ? 1 : 0,
            procs_fd: previousProcs, fence_cgroup: options.fenceCgroupID, process_only: processOnly ? 1 : 0,
            flows: options.flows ? 1 : 0, flows_max: max(options.flowMapEntries, 1), dns: options.dnsNames ? 1 : 0)
        var pointer: OpaquePointer?
        try checkedRC("load process sensor (\(mode.rawValue))") { vigil_bpf_open_load(&cOptions, &pointer) }
        guard let pointer else { throw BPFError(code: .other, operation: "load process sensor", message: "no object") }
        let objectABI = vigil_bpf_object_abi_version(pointer)
        guard objectABI == UInt32(VIGIL_ABI_VERSION) else {
            vigil_bpf_destroy(pointer)
            throw BPFError(
                code: .abiMismatch, operation: "load process sensor",
                message: "BPF object has ABI \(objectABI), agent expects \(VIGIL_ABI_VERSION): rebuild with `make`")
        }
        do {
            try checkedRC("attach process sensor (\(mode.rawValue))") { vigil_bpf_attach(pointer) }
        } catch {
            vigil_bpf_destroy(pointer)
            throw error
        }
        return pointer
    }

    /// Current counter sums. Zero after ``close()``.
    package func counters() -> Counters {
        handle.withLock { handle in
            guard let pointer = handle?.pointer else { return Counters() }
            func read(_ counter: vigil_counter) -> UInt64 {
                var sum: UInt64 = 0
                return vigil_bpf_read_counter(pointer, counter.rawValue, &sum) == 0 ? sum : 0
            }
            var c = Counters()
            c.execSeen = read(VIGIL_CTR_EXEC_SEEN)
            c.cloneSeen = read(VIGIL_CTR_CLONE_SEEN)
            c.exitSeen = read(VIGIL_CTR_EXIT_SEEN)
            c.ringBufferDrops = (read(VIGIL_CTR_RB_DROPS_EXEC), read(VIGIL_CTR_RB_DROPS_CLONE), read(VIGIL_CTR_RB_DROPS_EXIT))
            c.policyDrops = read(VIGIL_CTR_RB_DROPS_GENERIC)
            c.policyFiltered = read(VIGIL_CTR_POLICY_FILTERED)
            c.policyMatched = read(VIGIL_CTR_POLICY_MATCHED)
            c.policyRateLimited = read(VIGIL_CTR_POLICY_RATE_LIMITED)
            c.policyNoPost = read(VIGIL_CTR_POLICY_NOPOST)
            c.policySignals = read(VIGIL_CTR_POLICY_SIGNALS)
            c.policyOutOfScope = read(VIGIL_CTR_POLICY_OUT_OF_SCOPE)
            c.policyFenced = read(VIGIL_CTR_POLICY_FENCED)
            c.flowsClosed = read(VIGIL_CTR_FLOWS_CLOSED)
            c.flowDrops = read(VIGIL_CTR_RB_DROPS_FLOW)
            c.flowsUntracked = read(VIGIL_CTR_FLOWS_MAP_FULL)
            c.flowsUnowned = read(VIGIL_CTR_FLOWS_UNOWNED)
            c.dnsAnswers = read(VIGIL_CTR_DNS_ANSWERS)
            c.dnsDrops = read(VIGIL_CTR_RB_DROPS_DNS)
            c.fqdnLearnt = read(VIGIL_CTR_FQDN_LEARNT)
            return c
        }
    }

    /// Attaches the TCP flow programs loaded with ``Options/flows``: the state-change tracepoint
    /// and the accept exits (syscall tracepoints: tracefs must be mounted).
    package func attachFlows() throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            try checkedRC("attach flow programs") { vigil_bpf_attach_flows(pointer) }
        }
    }

    /// Attaches the DNS answer program loaded with ``Options/dnsNames`` to the cgroup2 root at
    /// `cgroup2Root`: every socket below it has its UDP answers from port 53 copied. It only
    /// observes (it passes every packet), and its link goes with the sensor: never pinned.
    package func attachDNS(cgroup2Root: String) throws(BPFError) {
        try withHandle { pointer throws(BPFError) in
            try checkedRC("attach DNS answer program to \(cgroup2Root)") { vigil_bpf_attach_dns(pointer, cgroup2Root) }
        }
    }

    /// Runs `body` with the live C object; throws when the sensor was closed.
    func withHandle<T>(_ body: (OpaquePointer) throws(BPFError) -> T) throws(BPFError) -> T {
        try handle.withLock { handle throws(BPFError) -> T in
            guard let pointer = handle?.pointer else {
                throw BPFError(code: .other, errno: EBADF, operation: "process sensor", message: "already closed")
            }
            return try body(pointer)
        }
    }

    /// Detaches all programs and frees the object. Idempotent.
    package func close() {
        handle.withLock { handle in
            vigil_bpf_destroy(handle?.pointer)
            handle = nil
        }
    }

    deinit { close() }
}

/// The C object; only touched under ProcessSensor's mutex, which makes it safe to send.
private struct Handle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Routes libbpf's process-wide print callback to swift-log. libbpf keeps one callback per
/// process, so the logger it writes to is process-wide too.
enum LibbpfLog {
    private static let logger = Mutex<Logger?>(nil)

    static func install(logger newLogger: Logger) {
        logger.withLock { $0 = newLogger }
        vigil_bpf_set_log_sink { level, message in
            guard let message else { return }
            let text = String(cString: message).trimmingSuffix("\n")
            LibbpfLog.logger.withLock { logger in
                switch libbpf_print_level(UInt32(level)) {
                case LIBBPF_WARN: logger?.warning("libbpf: \(text)")
                case LIBBPF_INFO: logger?.debug("libbpf: \(text)")
                default: logger?.trace("libbpf: \(text)")
                }
            }
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
