// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFanotify
import Logging
import Synchronization

/// Why the guard could not be set up.
package enum FileGuardError: Error, CustomStringConvertible, Equatable {
    /// `fanotify_init` failed.
    case initFailed(errno: Int32)
    /// A helper file descriptor (eventfd) could not be created.
    case resource(what: String, errno: Int32)
    /// `start` was called twice, or after `stop`.
    case notStartable(String)

    package var description: String {
        switch self {
        case .initFailed(let e):
            var s = "fanotify_init (a permission-event group) failed: \(Sys.describe(errno: e)). "
            switch e {
            case EPERM:
                s += "File deny needs CAP_SYS_ADMIN (run the agent as root or grant CAP_SYS_ADMIN)"
            case EINVAL:
                s += "The kernel has no fanotify permission events: it needs CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y"
            case ENOSYS:
                s += "The kernel has no fanotify: it needs CONFIG_FANOTIFY=y and CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y"
            case EMFILE:
                s += "Too many fanotify groups for this user (/proc/sys/fs/fanotify/max_user_groups) or open files"
            default:
                s += "It needs CAP_SYS_ADMIN and a kernel built with CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y"
            }
            return s
        case .resource(let what, let e):
            return "\(what) failed: \(Sys.describe(errno: e))"
        case .notStartable(let why):
            return why
        }
    }
}

/// A fanotify mark that is in the kernel, keyed by what it marks.
package struct AppliedMark: Sendable, Hashable, CustomStringConvertible {
    /// An inode (file or directory) or a whole filesystem.
    package enum Scope: Sendable, Hashable { case inode, filesystem }

    package struct Key: Sendable, Hashable {
        package var scope: Scope
        /// `st_dev` of the object (for a filesystem mark: of the filesystem).
        package var dev: UInt64
        /// `st_ino`; 0 for a filesystem mark.
        package var ino: UInt64
    }

    package var key: Key
    /// The path it was marked through (reopened, and checked against `key`, to remove it).
    package var path: [UInt8]
    /// `fanotify_mark` flags (`FAN_MARK_ONLYDIR`, `FAN_MARK_FILESYSTEM`).
    package var flags: UInt32
    /// The event mask in the kernel.
    package var mask: UInt64

    package var description: String {
        let dev = "\(major(key.dev)):\(minor(key.dev))"
        switch key.scope {
        case .filesystem:
            return "filesystem dev \(dev) via \(ByteString.string(path)) mask 0x\(String(mask, radix: 16))"
        case .inode:
            let what = flags & UInt32(FAN_MARK_ONLYDIR) != 0 ? "directory" : "inode"
            return "\(what) \(ByteString.string(path)) (dev \(dev) ino \(key.ino)) mask 0x\(String(mask, radix: 16))"
        }
    }

    private func major(_ d: UInt64) -> UInt64 { ((d >> 8) & 0xfff) | ((d >> 32) & ~0xfff) }
    private func minor(_ d: UInt64) -> UInt64 { (d & 0xff) | ((d >> 12) & ~0xff) }
}

/// What `apply` (or `start`) did to the kernel marks.
package struct ApplyResult: Sendable, CustomStringConvertible {
    /// The plan for the rules.
    package var plan: MarkPlan
    /// The marks now in the kernel.
    package var marks: [AppliedMark]
    /// Marks added or widened, and removed or narrowed.
    package var added: Int
    package var removed: Int
    /// Patterns or marks that could not be placed or removed, one sentence each.
    package var problems: [String]
    /// The guard is not started: the rules are in effect for decisions but no mark was placed
    /// (marks are placed by `start`, so that no event waits for a reader that is not there).
    package var deferred: Bool

    package var description: String {
        if deferred { return "file rules stored (\(plan.marks.count) planned marks); marks are placed at start" }
        var lines = ["fanotify marks: \(marks.count) in the kernel (+\(added) -\(removed)), \(problems.count) problem\(problems.count == 1 ? "" : "s")"]
        lines += marks.map { "  \($0)" }
        lines += problems.map { "  problem: \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// Denies file opens and execs with fanotify permission events (`FAN_OPEN_PERM`,
/// `FAN_OPEN_EXEC_PERM`), answered from a `FileRuleSet` held in memory.
///
/// Life cycle: `init` creates the fanotify group and stores the rules; `start` starts the reader
/// thread and only then places the marks (a permission event that nobody reads would hang the
/// process that caused it); `apply` swaps the rules and reconciles the marks; `stop` removes every
/// mark, answers what is queued and closes the group (the kernel allows anything still pending).
/// Dropping the last reference stops the guard.
///
/// Threads: the kernel is read on a dedicated thread (`poll` + non-blocking `read`, never the
/// Swift cooperative pool), which answers every permission event itself: ALLOW on any internal
/// error (counted in `errors`), and always ALLOW for the agent's own pid, so the agent never waits
/// on itself. Reports go through a queue to a second thread that calls `onDecision`, so a slow
/// callback, or one that opens files on a marked filesystem, never delays an answer. The reader
/// thread calls `binaryOf`, which must therefore not block or open files (a process-cache lookup
/// is right).
///
/// Caveats: paths are as the agent's mount namespace resolves them; inode marks follow inodes
/// (see `MarkPlan`); filesystem marks make every open on the filesystem a round trip; a filesystem
/// mounted below a prefix after `apply` is covered only at the next `apply`; `procfs` refuses
/// permission marks (reported as a problem).
package final class FanotifyGuard: Sendable {
    /// Guard settings.
    package struct Options: Sendable {
        /// How rules become marks.
        package var plan: MarkPlan.Options
        /// Use a `FAN_CLASS_PRE_CONTENT` group so that deny rules can return their own errno
        /// (Linux 6.14+, only EPERM, EIO, EBUSY, ETXTBSY, EAGAIN, ENOSPC, EDQUOT; anything else,
        /// or an older kernel, gets EPERM). Off: a `FAN_CLASS_CONTENT` group, always EPERM.
        package var customErrno: Bool
        /// Reports queued for `onDecision` before further ones are dropped (and counted).
        package var reportQueueLimit: Int
        /// The enforcement fence (`--enforcement-cgroup`): whether a deny may reach process `pid`.
        /// A deny it refuses is answered ALLOW and reported with `fenced`. nil: every process.
        /// Asked on the reader thread, only for accesses a deny rule matched (it may read
        /// `/proc/PID/cgroup`; the process waits for the answer, so it is still there).
        package var enforcementFence: (@Sendable (Int32) -> Bool)?

        package init(
            plan: MarkPlan.Options = MarkPlan.Options(), customErrno: Bool = false, reportQueueLimit: Int = 65_536,
            enforcementFence: (@Sendable (Int32) -> Bool)? = nil
        ) {
            self.plan = plan
            self.customErrno = customErrno
            self.reportQueueLimit = reportQueueLimit
            self.enforcementFence = enforcementFence
        }
    }

    /// Running totals.
    package struct Counters: Sendable, Hashable, CustomStringConvertible {
        /// Permission events read.
        package var events: UInt64
        /// Answered FAN_DENY.
        package var denied: UInt64
        /// Answered FAN_ALLOW (including the agent's own and the errors).
        package var allowed: UInt64
        /// Events answered ALLOW because of an internal error, or answers the kernel refused.
        package var errors: UInt64
        /// Events of the agent's own process (always allowed, never decided).
        package var ownPid: UInt64
        /// `FAN_Q_OVERFLOW` notices (the kernel allows permission events it could not queue).
        package var overflows: UInt64
        /// Reports dropped because the `onDecision` queue was full.
        package var reportsDropped: UInt64

        package var description: String {
            "events \(events) denied \(denied) allowed \(allowed) errors \(errors) own-pid \(ownPid) overflows \(overflows) reports-dropped \(reportsDropped)"
        }
    }

    private let core: Core

    /// Creates the fanotify group and stores `rules`; no mark is placed before `start`.
    ///
    /// - Throws: `FileGuardError.initFailed`, whose description names `CAP_SYS_ADMIN` and
    ///   `CONFIG_FANOTIFY_ACCESS_PERMISSIONS`.
    package init(rules: FileRuleSet, logger: Logger = Logger(label: "vigil.fileguard"), options: Options = Options()) throws {
        core = try Core(rules: rules, logger: logger, options: options)
    }

    deinit {
        core.stop()
    }

    /// Starts the reader and reporter threads, then places the marks for the current rules.
    ///
    /// - Parameters:
    ///   - binaryOf: the binary of a pid, from the agent's process cache; nil (or a nil answer)
    ///     falls back to `readlink("/proc/PID/exe")`. Called on the reader thread: it must not
    ///     block or open files.
    ///   - onDecision: called for every access that a rule matched, in order, on the reporter
    ///     thread.
    @discardableResult
    package func start(
        binaryOf: (@Sendable (Int32) -> [UInt8]?)? = nil,
        onDecision: @escaping @Sendable (FileDecisionEvent) -> Void
    ) throws -> ApplyResult {
        try core.start(binaryOf: binaryOf, onDecision: onDecision)
    }

    /// Replaces the rule set: decisions use the new rules at once, then new marks are added, then
    /// marks no longer needed are removed. Before `start` it only stores the rules.
    @discardableResult
    package func apply(rules: FileRuleSet) -> ApplyResult {
        core.apply(rules: rules)
    }

    /// Removes every mark (`FAN_MARK_FLUSH`), answers the queued events, stops the threads and
    /// closes the group, so that no process is left waiting. Idempotent.
    package func stop() {
        core.stop()
    }

    /// The rules decisions are made from.
    package var rules: FileRuleSet { core.rules.withLock { $0 } }

    /// The marks currently in the kernel, as the guard placed them.
    package var marks: [AppliedMark] { core.state.withLock { $0.orderedMarks } }

    /// Running totals.
    package var counters: Counters { core.counters() }

    /// The marks as the kernel lists them (`fanotify ino:`/`sdev:`/`mnt_id:` lines of
    /// `/proc/self/fdinfo/<group fd>`); empty once stopped.
    package func kernelMarks() -> [String] { core.kernelMarks() }
}

// MARK: - Core

/// Everything the threads share; the threads retain it, not the `FanotifyGuard`, so dropping the
/// guard stops them.
private final class Core: Sendable {
    struct State {
        var started = false
        var stopped = false
        var applied: [AppliedMark.Key: AppliedMark] = [:]
        var order: [AppliedMark.Key] = []
        var reader: pthread_t?
        var reporter: pthread_t?

        var orderedMarks: [AppliedMark] { order.compactMap { applied[$0] } }
    }

    enum Outgoing: Sendable {
        case event(FileDecisionEvent)
        case diagnostic(String)
    }

    let fanFd: Int32
    /// Readable once `stop` wants the reader to finish.
    let stopFd: Int32
    /// Counts reports queued for the reporter.
    let reportFd: Int32
    let ownPid: Int32
    let logger: Logger
    let options: Options
    let customErrnoGroup: Bool

    typealias Options = FanotifyGuard.Options

    let rules: Mutex<FileRuleSet>
    let state = Mutex(State())
    let outgoing = Mutex<[Outgoing]>([])
    let reporterShouldExit = Atomic<Bool>(false)
    let customErrnoRefused = Atomic<Bool>(false)

    let nEvents = Atomic<UInt64>(0)
    let nDenied = Atomic<UInt64>(0)
    let nAllowed = Atomic<UInt64>(0)
    let nErrors = Atomic<UInt64>(0)
    let nOwn = Atomic<UInt64>(0)
    let nOverflows = Atomic<UInt64>(0)
    let nDropped = Atomic<UInt64>(0)

    init(rules: FileRuleSet, logger: Logger, options: Options) throws {
        let eventFlags = UInt32(O_RDONLY | cfan_o_largefile() | O_CLOEXEC)
        let cls = options.customErrno ? FAN_CLASS_PRE_CONTENT : FAN_CLASS_CONTENT
        // FAN_UNLIMITED_QUEUE: a permission event that does not fit in the default queue (16384)
        // is allowed by the kernel without asking; each waiting event blocks the thread that caused
        // it, so the queue is bounded by the number of threads anyway.
        let fd = cfan_init(UInt32(cls | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE), eventFlags)
        guard fd >= 0 else { throw FileGuardError.initFailed(errno: errno) }
        let stopFd = cfan_eventfd()
        guard stopFd >= 0 else {
            let e = errno
            close(fd)
            throw FileGuardError.resource(what: "eventfd", errno: e)
        }
        let reportFd = cfan_eventfd()
        guard reportFd >= 0 else {
            let e = errno
            close(fd)
            close(stopFd)
            throw FileGuardError.resource(what: "eventfd", errno: e)
        }
        self.fanFd = fd
        self.stopFd = stopFd
        self.reportFd = reportFd
        self.ownPid = getpid()
        self.logger = logger
        self.options = options
        self.customErrnoGroup = options.customErrno
        self.rules = Mutex(rules)
    }

    func counters() -> FanotifyGuard.Counters {
        FanotifyGuard.Counters(
            events: nEvents.load(ordering: .relaxed), denied: nDenied.load(ordering: .relaxed),
            allowed: nAllowed.load(ordering: .relaxed), errors: nErrors.load(ordering: .relaxed),
            ownPid: nOwn.load(ordering: .relaxed), overflows: nOverflows.load(ordering: .relaxed),
            reportsDropped: nDropped.load(ordering: .relaxed))
    }

    // MARK: start / apply / stop

    func start(
        binaryOf: (@Sendable (Int32) -> [UInt8]?)?,
        onDecision: @escaping @Sendable (FileDecisionEvent) -> Void
    ) throws -> ApplyResult {
        try state.withLock { st in
            guard !st.stopped else { throw FileGuardError.notStartable("the file guard is stopped; create a new one") }
            guard !st.started else { throw FileGuardError.notStartable("the file guard is already started") }
            // The reporter first, so that the reader always has somewhere to send reports.
            let reporter = try spawnThread(name: "vigil-fg-report") { [self] in
                reportLoop(onDecision: onDecision)
            }
            let reader: pthread_t
            do {
                reader = try spawnThread(name: "vigil-fanotify") { [self] in
                    readLoop(binaryOf: binaryOf)
                }
            } catch {
                // The reporter closes reportFd as it exits; the guard is unusable from here.
                reporterShouldExit.store(true, ordering: .releasing)
                wake(reportFd)
                pthread_join(reporter, nil)
                st.stopped = true
                close(fanFd)
                close(stopFd)
                throw error
            }
            st.reporter = reporter
            st.reader = reader
            st.started = true
            let result = reconcile(&st, rules: rules.withLock { $0 })
            logger.info("file guard started", metadata: ["marks": "\(st.applied.count)", "problems": "\(result.problems.count)"])
            return result
        }
    }

    func apply(rules newRules: FileRuleSet) -> ApplyResult {
        // Under the state lock, so that concurrent applies leave rules and marks from the same
        // call (the reader never takes this lock).
        state.withLock { st in
            // Decisions use the new rules before any mark changes.
            rules.withLock { $0 = newRules }
            guard st.started, !st.stopped else {
                return ApplyResult(plan: MarkPlan(rules: newRules, options: options.plan), marks: st.orderedMarks,
                                   added: 0, removed: 0,
                                   problems: st.stopped ? ["the file guard is stopped: no mark is placed"] : [],
                                   deferred: true)
            }
            return reconcile(&st, rules: newRules)
        }
    }

    func stop() {
        let threads: (reader: pthread_t?, reporter: pthread_t?)? = state.withLock { st in
            guard !st.stopped else { return nil }
            st.stopped = true
            // No new events from here on; what is queued is answered by the reader's last drain.
            _ = cfan_mark(fanFd, UInt32(FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM), 0, AT_FDCWD, nil)
            _ = cfan_mark(fanFd, UInt32(FAN_MARK_FLUSH | FAN_MARK_MOUNT), 0, AT_FDCWD, nil)
            _ = cfan_mark(fanFd, UInt32(FAN_MARK_FLUSH), 0, AT_FDCWD, nil)
            st.applied = [:]
            st.order = []
            let t = (st.reader, st.reporter)
            st.reader = nil
            st.reporter = nil
            return t
        }
        guard let threads else { return }
        let me = pthread_self()
        if let reader = threads.reader {
            // The reader drains the queue, then closes the group (the kernel allows anything
            // still pending when it is released) and stopFd.
            wake(stopFd)
            if pthread_equal(reader, me) == 0 { pthread_join(reader, nil) } else { pthread_detach(reader) }
        } else {
            close(fanFd)
            close(stopFd)
        }
        if let reporter = threads.reporter {
            // The reporter delivers what is queued, then exits and closes reportFd itself.
            reporterShouldExit.store(true, ordering: .releasing)
            wake(reportFd)
            if pthread_equal(reporter, me) == 0 { pthread_join(reporter, nil) } else { pthread_detach(reporter) }
        } else {
            close(reportFd)
        }
        let c = counters()
        logger.info("file guard stopped", metadata: ["counters": "\(c)"])
    }

    func kernelMarks() -> [String] {
        state.withLock { st -> [String] in
            guard !st.stopped else { return [] }
            var path = "/proc/self/fdinfo/"
            path += String(fanFd)
            guard let text = Sys.readFile(path) else { return [] }
            return ByteString.string(text).split(separator: "\n").map(String.init)
                .filter { $0.hasPrefix("fanotify ") && !$0.hasPrefix("fanotify flags:") }
        }
    }

    // MARK: marks

    private struct Desired {
        var path: [UInt8]
        var flags: UInt32
        var mask: UInt64
    }

    /// Adds what `rules` need, then removes what they no longer need. Called with the state lock.
    private func reconcile(_ st: inout State, rules: FileRuleSet) -> ApplyResult {
        let plan = MarkPlan(rules: rules, options: options.plan)
        var problems: [String] = plan.unmarked.map { "\($0)" }
        var desired: [AppliedMark.Key: Desired] = [:]
        var order: [AppliedMark.Key] = []
        var mountinfo: [UInt8]?

        func want(_ key: AppliedMark.Key, _ path: [UInt8], _ flags: UInt32, _ mask: UInt64) {
            if var d = desired[key] {
                d.flags |= flags
                d.mask |= mask
                desired[key] = d
            } else {
                desired[key] = Desired(path: path, flags: flags, mask: mask)
                order.append(key)
            }
        }
        func inodeKey(_ path: [UInt8], directory: Bool) -> (key: AppliedMark.Key?, errno: Int32) {
            let (fd, e) = Sys.openPath(path, directory: directory)
            guard fd >= 0 else { return (nil, e) }
            defer { close(fd) }
            guard let id = Sys.identity(fd: fd) else { return (nil, errno) }
            return (AppliedMark.Key(scope: .inode, dev: id.dev, ino: id.ino), 0)
        }
        func filesystemKey(_ path: [UInt8]) -> (key: AppliedMark.Key, path: [UInt8])? {
            // The nearest existing ancestor holds the (future) subtree.
            var p = path
            while true {
                let (fd, _) = Sys.openPath(p)
                if fd >= 0 {
                    defer { close(fd) }
                    if let id = Sys.identity(fd: fd) { return (AppliedMark.Key(scope: .filesystem, dev: id.dev, ino: 0), p) }
                    return nil
                }
                if p == [UInt8(ascii: "/")] { return nil }
                p = MarkPlan.parent(of: p)
            }
        }

        for mark in plan.marks {
            let eventMask = MarkPlan.mask(for: mark.events)
            let childMask = eventMask | UInt64(FAN_EVENT_ON_CHILD)
            let dirFlags = UInt32(FAN_MARK_ONLYDIR)
            switch mark.target {
            case .file(let path):
                let (key, e) = inodeKey(path, directory: false)
                if let key {
                    want(key, path, UInt32(FAN_MARK_INODE), eventMask)
                    continue
                }
                let parent = MarkPlan.parent(of: path)
                if e == ENOENT, let pkey = inodeKey(parent, directory: true).key {
                    want(pkey, parent, dirFlags, childMask)
                    problems.append("\(ByteString.string(path)) does not exist: its directory \(ByteString.string(parent)) is marked instead (rules \(mark.ruleIDs))")
                } else {
                    problems.append("\(mark.target) not marked: \(Sys.describe(errno: e)) (rules \(mark.ruleIDs))")
                }
            case .directory(let path):
                let (key, e) = inodeKey(path, directory: true)
                if let key {
                    want(key, path, dirFlags, childMask)
                } else if !options.plan.subtreeFilesystemMarks || e != ENOENT {
                    problems.append("\(mark.target) not marked: \(Sys.describe(errno: e)) (rules \(mark.ruleIDs))")
                }
            case .filesystem(let path):
                guard let fs = filesystemKey(path) else {
                    problems.append("\(mark.target) not marked: no existing ancestor (rules \(mark.ruleIDs))")
                    continue
                }
                let (key, via) = (fs.key, fs.path)
                want(key, via, UInt32(FAN_MARK_FILESYSTEM), eventMask)
                if mountinfo == nil { mountinfo = Sys.readFile("/proc/self/mountinfo") ?? [] }
                for mp in MountInfo.mountPoints(below: via, in: mountinfo!) {
                    let (fd, _) = Sys.openPath(mp)
                    guard fd >= 0 else { continue }
                    defer { close(fd) }
                    if let id = Sys.identity(fd: fd) {
                        want(AppliedMark.Key(scope: .filesystem, dev: id.dev, ino: 0), mp, UInt32(FAN_MARK_FILESYSTEM), eventMask)
                    }
                }
            }
        }

        var added = 0
        var removed = 0
        // 1. Add (FAN_MARK_ADD ORs into an existing mark, so a widened mask never has a gap).
        for key in order {
            let d = desired[key]!
            let have = st.applied[key]?.mask ?? 0
            if have & d.mask == d.mask, st.applied[key] != nil { continue }
            let outcome = markThrough(d.path, key: key, flags: UInt32(FAN_MARK_ADD) | d.flags, mask: d.mask)
            if outcome == .done {
                added += 1
                if st.applied[key] == nil { st.order.append(key) }
                st.applied[key] = AppliedMark(key: key, path: d.path, flags: d.flags, mask: have | d.mask)
            } else {
                var why = "\(outcome)"
                if outcome == .kernel(EINVAL), key.scope == .filesystem { why += " (this filesystem refuses permission events, e.g. procfs)" }
                problems.append("marking \(ByteString.string(d.path)) failed: \(why)")
            }
        }
        // 2. Remove what is no longer wanted, and narrow what was widened before.
        for key in st.order {
            guard let have = st.applied[key] else { continue }
            let keep = desired[key]?.mask ?? 0
            let drop = have.mask & ~keep
            guard drop != 0 else { continue }
            // Keep FAN_EVENT_ON_CHILD while some event still needs it.
            let dropMask = keep & ~UInt64(FAN_EVENT_ON_CHILD) != 0 ? drop : have.mask
            let outcome = markThrough(have.path, key: key, flags: UInt32(FAN_MARK_REMOVE) | have.flags, mask: dropMask)
            // ENOENT from the kernel: the mark is already gone (its inode or filesystem went away).
            if outcome == .done || outcome == .kernel(ENOENT) {
                removed += 1
                if keep & ~UInt64(FAN_EVENT_ON_CHILD) == 0 {
                    st.applied[key] = nil
                } else {
                    st.applied[key]!.mask = keep
                }
            } else {
                problems.append("removing the mark on \(ByteString.string(have.path)) failed: \(outcome); it stays until stop (its events are allowed unless a rule matches)")
            }
        }
        st.order.removeAll { st.applied[$0] == nil }
        let result = ApplyResult(plan: plan, marks: st.orderedMarks, added: added, removed: removed, problems: problems, deferred: false)
        if !problems.isEmpty {
            for p in problems { logger.warning("file guard: \(p)") }
        }
        logger.debug("file guard marks", metadata: ["plan": "\(plan)", "applied": "\(result)"])
        return result
    }

    private enum MarkOutcome: Equatable, CustomStringConvertible {
        case done
        /// `fanotify_mark` failed with this errno.
        case kernel(Int32)
        /// The path cannot be opened any more.
        case pathGone(Int32)
        /// The path now names another object (replaced, or another filesystem mounted on it).
        case replaced

        var description: String {
            switch self {
            case .done: "done"
            case .kernel(let e): "fanotify_mark: \(Sys.describe(errno: e))"
            case .pathGone(let e): "the path is gone: \(Sys.describe(errno: e))"
            case .replaced: "the path now names another file or filesystem"
            }
        }
    }

    /// `fanotify_mark` on the object at `path`, after checking it is still the one `key` names
    /// (through an `O_PATH` fd and its `/proc/self/fd` link).
    private func markThrough(_ path: [UInt8], key: AppliedMark.Key, flags: UInt32, mask: UInt64) -> MarkOutcome {
        let (fd, e) = Sys.openPath(path)
        guard fd >= 0 else { return .pathGone(e) }
        defer { close(fd) }
        guard let id = Sys.identity(fd: fd) else { return .pathGone(errno) }
        switch key.scope {
        case .inode: if id.dev != key.dev || id.ino != key.ino { return .replaced }
        case .filesystem: if id.dev != key.dev { return .replaced }
        }
        let rc = Sys.withProcPath("/proc/self/fd/", fd) {
            cfan_mark(fanFd, flags, mask, AT_FDCWD, $0)
        }
        return rc == 0 ? .done : .kernel(errno)
    }

    // MARK: threads

    private func wake(_ fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }

    /// Reads and answers permission events until `stopFd` is readable, then drains once and
    /// closes the group and `stopFd` (it owns them from `start` on).
    private func readLoop(binaryOf: (@Sendable (Int32) -> [UInt8]?)?) {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var fds = [pollfd(fd: fanFd, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFd, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let r = poll(&fds, 2, -1)
            if r < 0 {
                let e = errno
                if e == EINTR { continue }
                nErrors.add(1, ordering: .relaxed)
                diagnose("poll on the fanotify group failed: \(Sys.describe(errno: e))")
                usleep(10_000)
                continue
            }
            drain(buffer, binaryOf: binaryOf)
            if fds[1].revents != 0 {
                drain(buffer, binaryOf: binaryOf)
                close(fanFd)
                close(stopFd)
                return
            }
        }
    }

    /// Reads until the group has nothing queued.
    private func drain(_ buffer: UnsafeMutableRawBufferPointer, binaryOf: (@Sendable (Int32) -> [UInt8]?)?) {
        while true {
            let n = read(fanFd, buffer.baseAddress, buffer.count)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e != EAGAIN {
                    nErrors.add(1, ordering: .relaxed)
                    diagnose("reading the fanotify group failed: \(Sys.describe(errno: e))")
                }
                return
            }
            if n == 0 { return }
            process(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), binaryOf: binaryOf)
        }
    }

    private static let metadataLength = Int(cfan_metadata_len())
    private static let permMask = UInt64(FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)

    private func process(_ bytes: UnsafeRawBufferPointer, binaryOf: (@Sendable (Int32) -> [UInt8]?)?) {
        var offset = 0
        while bytes.count - offset >= Core.metadataLength {
            let meta = bytes.loadUnaligned(fromByteOffset: offset, as: fanotify_event_metadata.self)
            let length = Int(meta.event_len)
            guard length >= Core.metadataLength, offset + length <= bytes.count else {
                nErrors.add(1, ordering: .relaxed)
                diagnose("malformed fanotify event (length \(length)); rest of the read skipped")
                return
            }
            offset += length
            if meta.mask & UInt64(FAN_Q_OVERFLOW) != 0 {
                nOverflows.add(1, ordering: .relaxed)
                continue
            }
            let fd = meta.fd
            guard fd >= 0 else { continue }
            handle(meta, fd: fd, binaryOf: binaryOf)
            close(fd)
        }
    }

    /// Answers one event; every path through it writes exactly one response.
    private func handle(_ meta: fanotify_event_metadata, fd: Int32, binaryOf: (@Sendable (Int32) -> [UInt8]?)?) {
        guard meta.mask & Core.permMask != 0 else { return }
        nEvents.add(1, ordering: .relaxed)
        let pid = meta.pid
        if pid == ownPid || meta.vers != UInt8(FANOTIFY_METADATA_VERSION) {
            if pid == ownPid { nOwn.add(1, ordering: .relaxed) } else {
                nErrors.add(1, ordering: .relaxed)
                diagnose("fanotify metadata version \(meta.vers), expected \(FANOTIFY_METADATA_VERSION): allowed")
            }
            respond(fd, UInt32(FAN_ALLOW))
            return
        }
        let kind: FileAccessKind = meta.mask & UInt64(FAN_OPEN_EXEC_PERM) != 0 ? .exec : .open
        guard let path = Sys.pathOfFd(fd) else {
            nErrors.add(1, ordering: .relaxed)
            diagnose("cannot resolve the path of a \(kind) event of pid \(pid): allowed")
            respond(fd, UInt32(FAN_ALLOW))
            return
        }
        let rules = self.rules.withLock { $0 }
        var binary: [UInt8]?
        var binaryLooked = false
        if rules.needsBinary {
            binary = binaryOf?(pid) ?? Sys.exeOf(pid: pid)
            binaryLooked = true
        }
        var identity: FileIdentity?
        if rules.needsIdentity {
            var st = stat()
            if fstat(fd, &st) == 0 { identity = FileIdentity(st) }
        }
        let decision = rules.decide(path: path, pid: pid, binary: binary, kind: kind, identity: identity)
        // For the report, read the binary while the process still waits for the answer: once
        // answered it may exit (a denied open usually ends the program) and take /proc/PID along.
        if decision.ruleID != nil && !binaryLooked {
            binary = binaryOf?(pid) ?? Sys.exeOf(pid: pid)
            binaryLooked = true
        }
        var deniedErrno: Int32 = 0
        let fenced = decision.deny && options.enforcementFence.map { !$0(pid) } == true
        if decision.deny && !fenced {
            deniedErrno = EPERM
            var response = UInt32(FAN_DENY)
            if customErrnoGroup, decision.errno != EPERM, Core.customErrnos.contains(decision.errno),
               !customErrnoRefused.load(ordering: .relaxed) {
                response = cfan_deny_errno(decision.errno)
                deniedErrno = decision.errno
            }
            var rc = cfan_respond(fanFd, fd, response)
            if rc == -EINVAL, response != UInt32(FAN_DENY) {
                // The kernel does not take custom errnos (before 6.14): EPERM from now on.
                customErrnoRefused.store(true, ordering: .relaxed)
                deniedErrno = EPERM
                rc = cfan_respond(fanFd, fd, UInt32(FAN_DENY))
            }
            if rc == 0 {
                nDenied.add(1, ordering: .relaxed)
            } else {
                nErrors.add(1, ordering: .relaxed)
                deniedErrno = 0
                diagnose("answering DENY for \(ByteString.string(path)) failed: \(Sys.describe(errno: -rc))")
                // Still answer, unless the kernel no longer waits for this event (ENOENT).
                if rc != -ENOENT { respond(fd, UInt32(FAN_ALLOW)) }
            }
        } else {
            respond(fd, UInt32(FAN_ALLOW))
        }
        guard let ruleID = decision.ruleID else { return }
        report(.event(FileDecisionEvent(
            ruleID: ruleID, pid: pid, path: path, binary: binary, kind: kind,
            denied: deniedErrno != 0, monitor: decision.monitor, errno: deniedErrno,
            ruleErrno: decision.errno, monotonicNanos: Sys.monotonicNanos(), fenced: fenced)))
    }

    /// The errnos Linux 6.14+ accepts in `FAN_DENY_ERRNO` (pre-content groups).
    private static let customErrnos: Set<Int32> = [EPERM, EIO, EBUSY, ETXTBSY, EAGAIN, ENOSPC, EDQUOT]

    private func respond(_ fd: Int32, _ response: UInt32) {
        let rc = cfan_respond(fanFd, fd, response)
        if rc == 0 {
            nAllowed.add(1, ordering: .relaxed)
        } else {
            nErrors.add(1, ordering: .relaxed)
            diagnose("answering ALLOW failed: \(Sys.describe(errno: -rc))")
        }
    }

    private func diagnose(_ message: String) {
        // Logged by the reporter thread: a log handler may do I/O, the reader must not.
        if nErrors.load(ordering: .relaxed) <= 100 { report(.diagnostic(message)) }
    }

    private func report(_ item: Outgoing) {
        let queued = outgoing.withLock { q -> Bool in
            guard q.count < options.reportQueueLimit else { return false }
            q.append(item)
            return true
        }
        if queued { wake(reportFd) } else { nDropped.add(1, ordering: .relaxed) }
    }

    /// Delivers reports until `stop` asks it to exit; then delivers what is left and closes
    /// `reportFd` (it owns it: `stop` may be running inside `onDecision`).
    private func reportLoop(onDecision: @Sendable (FileDecisionEvent) -> Void) {
        var pfd = pollfd(fd: reportFd, events: Int16(POLLIN), revents: 0)
        while true {
            pfd.revents = 0
            let r = poll(&pfd, 1, -1)
            if r < 0, errno != EINTR { usleep(10_000) }
            var counter: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &counter) { read(reportFd, $0.baseAddress, 8) }
            let exiting = reporterShouldExit.load(ordering: .acquiring)
            let batch = outgoing.withLock { q -> [Outgoing] in
                let b = q
                q.removeAll(keepingCapacity: true)
                return b
            }
            for item in batch {
                switch item {
                case .event(let e): onDecision(e)
                case .diagnostic(let m): logger.warning("file guard: \(m)")
                }
            }
            if exiting {
                close(reportFd)
                return
            }
        }
    }
}

// MARK: - Threads

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// A joinable pthread (not the Swift cooperative pool), named for `top -H`.
private func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    let box = Unmanaged.passRetained(ThreadBody {
        cfan_set_thread_name(name)
        body()
    })
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
        body.run()
        return nil
    }, box.toOpaque())
    guard rc == 0 else {
        box.release()
        throw FileGuardError.resource(what: "pthread_create(\(name))", errno: rc)
    }
    return thread
}
