// SPDX-License-Identifier: Apache-2.0
import Events
import CMalloc

/// The process table: turns exec, clone and exit records into Tetragon's `process_exec` and
/// `process_exit` events with `process`, `parent` and `ancestors` filled in.
///
/// Identity is `(pid, ktime)` (``ProcessKey``), never the pid alone. Every entry holds a
/// reference count: 1 while its process lives (not exited, not replaced by a later exec) plus
/// one per entry whose parent it is. An entry leaves the cache the moment its count reaches 0,
/// which releases its parent's reference in turn, so a dead process stays exactly as long as
/// some descendant's entry names it as parent. On top of that, ``ProcessCacheConfig/capacity``
/// is a hard bound: the oldest dead entries are evicted first, then the oldest live ones.
///
/// Concurrency: a value type with `mutating` methods and no locks. One task owns it (the
/// pipeline task that reads records) and calls ``handle(_:)``, ``seed(_:)`` and the lookups in
/// record order; other tasks must not share it.
///
/// Performance: entries are objects, so a lookup hands out a reference instead of copying a
/// large struct (the copies were the largest item in the pipeline profile), and each entry
/// keeps its exported fixed fields in a shared ``ProcessCore``, which also holds their rendered
/// JSON once an encoder has written them (``RenderedProcessSlot``). Copies of the
/// cache stay independent: the first mutation of a copy copies the entries (see ``owner``).
/// The tables are rebuilt smaller when they are mostly empty, so their capacity goes back down
/// after a burst of long-lived processes exits, and the freed heap goes back to the system
/// (``releaseFreedMemory()``).
package struct ProcessCache: Sendable {
    /// What to export and how large to grow.
    package let config: ProcessCacheConfig
    /// Converts record ktimes to wall-clock time.
    package let clock: KtimeClock

    private var entries: [ProcessKey: Entry] = [:]
    /// Most recently created entry of each pid that is still held, alive or not.
    private var latest: [UInt32: UInt64] = [:]
    /// Every inserted key, oldest first (lazily pruned): the fallback eviction order.
    private var insertionOrder = KeyQueue()
    /// Keys of entries that died while children still referenced them, in order of death.
    private var deathOrder = KeyQueue()
    private var nextSerial: UInt64 = 1
    private var liveCount = 0
    private var counters = ProcessCacheStats()
    /// Shared by copies of this cache: not uniquely referenced means the entry objects are
    /// shared too, and are copied before the first change (copy-on-write).
    private var owner = Owner()
    /// Table sizes reached since the last shrink (entries' capacity is not observable cheaply).
    private var highWater = 0
    /// Set when the tables were rebuilt after a mass exit; cleared by ``releaseFreedMemory()``.
    private var releaseDue = false

    /// An empty cache.
    /// - Parameters:
    ///   - config: node name, export switches, capacity.
    ///   - clock: converts record ktimes to wall-clock time (``KtimeClock/current()`` in the agent).
    package init(config: ProcessCacheConfig, clock: KtimeClock) {
        self.config = config
        self.clock = clock
    }

    /// Number of entries held now.
    package var count: Int { entries.count }

    /// Counters, with the current entry counts.
    package var stats: ProcessCacheStats {
        var stats = counters
        stats.entries = entries.count
        stats.liveEntries = liveCount
        stats.tableCapacity = entries.capacity
        return stats
    }

    // MARK: - Input

    /// Applies one kernel record.
    ///
    /// - exec: a new entry (flags `execve`, plus `clone` for the first exec after a fork); the
    ///   pid's previous entry is retired. Returns its `process_exec`.
    /// - clone: a new entry copying the parent's binary, arguments and cwd (flags `clone`).
    ///   Not exported: returns nil.
    /// - exit: returns `process_exit` and retires the entry. An exit of an unknown process is
    ///   still exported, with the `miss` flag. A repeated exit returns nil.
    /// - generic (policy hooks), flow: nil, nothing changes.
    package mutating func handle(_ record: Record) -> ExportEvent? {
        makeEntriesUnique()
        switch record {
        case .exec(let exec): return handleExec(exec)
        case .clone(let clone):
            handleClone(clone)
            return nil
        case .exit(let exit): return handleExit(exit)
        case .generic, .flow, .dns:
            // Policy and flow events (and DNS answers) do not change the process table; the agent renders them with
            // ``context(pid:ktime:tid:)``.
            return nil
        }
    }

    /// Adds the processes that were running before the kernel side started, as Tetragon does at
    /// start-up, and returns one `process_exec` (flag `procFS`) per process added, parents before
    /// children. Identity ktime is the process start time; parents are linked by ppid.
    ///
    /// A pid that already has a live entry (a record was handled for it first) is skipped.
    package mutating func seed(_ processes: [ProcFSProcess]) -> [ExportEvent] {
        makeEntriesUnique()
        var events: [ExportEvent] = []
        for process in Self.parentsFirst(processes) {
            if let event = seedOne(process) { events.append(event) }
        }
        return events
    }

    // MARK: - Lookups for other events

    /// `process`, `parent` and `ancestors` of a process, for events other than exec and exit.
    /// - Parameters:
    ///   - pid: thread-group id.
    ///   - ktime: identity ktime, or 0 for the pid's most recent entry.
    /// - Parameter tid: thread to report in `process.tid`, or nil for the pid.
    package func context(pid: UInt32, ktime: UInt64, tid: UInt32? = nil) -> ProcessContext? {
        let key: ProcessKey
        if ktime != 0 {
            key = ProcessKey(pid: pid, ktime: ktime)
        } else {
            guard let latestKtime = latest[pid] else { return nil }
            key = ProcessKey(pid: pid, ktime: latestKtime)
        }
        guard let entry = entries[key] else { return nil }
        let parent = parentEntry(of: entry)
        return ProcessContext(
            process: info(entry, tid: tid), parent: parent.map { info($0) }, ancestors: ancestors(from: parent)
        )
    }

    /// `process` for `(pid, ktime)`, or nil when the cache does not hold it.
    package func process(pid: UInt32, ktime: UInt64) -> ExportedProcess? {
        entries[ProcessKey(pid: pid, ktime: ktime)].map { info($0) }
    }

    // MARK: - Records

    private mutating func handleExec(_ record: ExecRecord) -> ExportEvent? {
        let key = ProcessKey(pid: record.pid, ktime: record.ktime)
        guard entries[key] == nil else {
            counters.duplicateRecords += 1
            return nil
        }
        var previous = liveLatest(pid: record.pid)
        if let stale = previous, !sameTask(entries[stale]!, processStart: record.processStart) {
            // The pid now belongs to another task: the old one's exit was lost.
            counters.staleEntries += 1
            retire(stale)
            previous = nil
        }
        let previousEntry = previous.flatMap { entries[$0] }

        var flags = ProcessFlags.execve  // not an array literal: its generic init showed in the profile
        if previousEntry?.kind == .clone { flags.insert(.clone) }
        flags.formUnion(Self.flags(of: record.flags))
        if record.cwd == Self.root { flags.insert(.rootcwd) }

        // Tetragon (`AddExecEvent`): the first exec after a fork has the forking process as
        // parent; an exec replacing an exec'd (or /proc-seeded) image has that image as parent.
        // Exception: a seeded entry read after this exec happened (the agent attaches, then
        // scans, then handles the buffered records) *is* this image, not its predecessor.
        let previousIsSameImage = previousEntry.map { $0.kind == .procFS && record.ktime <= $0.scanKtime } ?? false
        var parent: Entry?
        if let previousEntry, previousEntry.kind != .clone, !previousIsSameImage {
            parent = previousEntry
        } else if let found = resolve(pid: record.ppid, ktime: record.parentKtime) {
            parent = found
        } else if let previousEntry, let forker = parentEntry(of: previousEntry) {
            parent = forker
        } else if record.ppid != 0 {
            counters.parentMisses += 1
        }

        let entry = Entry(
            kind: .exec, key: key, execID: execID(key), serial: 0, parent: parent.map(\.ref),
            parentExecID: parent?.execID ?? missingParentID(pid: record.ppid, ktime: record.parentKtime),
            processStart: record.processStart, uid: record.credentials.uid, auid: record.auid, cwd: record.cwd,
            binary: record.binary, arguments: Array(record.argv.dropFirst()), flags: flags,
            startTime: clock.wallTime(ktime: record.ktime),
            docker: docker(cgroupID: record.cgroupID, pid: record.pid) ?? inheritedDocker(previousEntry),
            namespaces: record.namespaces, credentials: record.credentials, cgroupID: record.cgroupID,
            redact: config.redactArguments
        )
        entry.namespacePID = record.nspid
        insert(entry)
        if let previous { retire(previous) }
        let event = event(for: key, kind: .exec, time: entry.startTime)
        enforceCapacity()
        return event
    }

    private mutating func handleClone(_ record: CloneRecord) {
        let key = ProcessKey(pid: record.pid, ktime: record.ktime)
        guard entries[key] == nil else {
            counters.duplicateRecords += 1
            return
        }
        if let stale = liveLatest(pid: record.pid) {
            counters.staleEntries += 1
            retire(stale)
        }
        let parent = resolve(pid: record.ppid, ktime: record.parentKtime)
        if parent == nil && record.ppid != 0 { counters.parentMisses += 1 }
        var flags = ProcessFlags.clone
        if parent == nil { flags.insert(.miss) }
        let entry = Entry(
            kind: .clone, key: key, execID: execID(key), serial: 0, parent: parent.map(\.ref),
            parentExecID: parent?.execID ?? missingParentID(pid: record.ppid, ktime: record.parentKtime),
            processStart: record.processStart, uid: parent?.uid ?? 0, auid: parent?.auid ?? UInt32.max,
            cwd: parent?.cwd ?? [], binary: parent?.binary ?? [], arguments: parent?.arguments ?? [], flags: flags,
            startTime: clock.wallTime(ktime: record.ktime),
            docker: docker(cgroupID: record.cgroupID, pid: record.pid) ?? parent?.docker,
            namespaces: parent?.namespaces ?? Namespaces(), credentials: parent?.credentials ?? Credentials(),
            cgroupID: record.cgroupID != 0 ? record.cgroupID : parent?.cgroupID ?? 0,
            redactedArguments: parent?.core.fields.redactedArguments
        )
        entry.namespacePID = record.nspid
        insert(entry)
        enforceCapacity()
    }

    private mutating func handleExit(_ record: ExitRecord) -> ExportEvent? {
        var key: ProcessKey?
        if record.processKtime != 0 {
            let exact = ProcessKey(pid: record.pid, ktime: record.processKtime)
            if entries[exact] != nil {
                key = exact
            } else if let current = liveLatest(pid: record.pid), entries[current]!.kind == .procFS {
                // A /proc-seeded identity carries the tick-resolution start time, which the
                // kernel side may not have used.
                key = current
            }
        } else {
            key = liveLatest(pid: record.pid)
        }
        let kind = ExportEventKind.exit(
            signal: Signals.name(record.signal), status: record.status, time: clock.wallTime(ktime: record.ktime)
        )
        guard let key else {
            counters.exitMisses += 1
            // One live thread group per pid: whatever entry still claims this pid is gone too
            // (its own exit, or the records of the exiting image, were lost).
            if let stale = liveLatest(pid: record.pid) {
                counters.staleEntries += 1
                retire(stale)
            }
            return missedExit(record, kind: kind)
        }
        guard entries[key]!.alive else {
            counters.duplicateRecords += 1
            return nil
        }
        entries[key]!.alive = false
        liveCount -= 1
        let event = event(for: key, kind: kind, time: clock.wallTime(ktime: record.ktime), tid: record.tid)
        settleDeath(key)
        return event
    }

    private mutating func seedOne(_ process: ProcFSProcess) -> ExportEvent? {
        let key = ProcessKey(pid: process.pid, ktime: process.startKtime)
        guard liveLatest(pid: process.pid) == nil, entries[key] == nil else { return nil }
        let parent = resolve(pid: process.ppid, ktime: 0)
        if parent == nil && process.ppid != 0 { counters.parentMisses += 1 }
        var flags = ProcessFlags.procFS
        if process.binaryUnreadable { flags.insert(.errorFilename) }
        if process.cwdUnreadable { flags.insert(.errorCWD) }
        if process.cwd == Self.root { flags.insert(.rootcwd) }
        if process.binaryDeleted { flags.insert(.deletedBinary) }
        let entry = Entry(
            kind: .procFS, key: key, execID: execID(key), serial: 0, parent: parent.map(\.ref),
            parentExecID: parent?.execID, processStart: process.startKtime, uid: process.credentials.uid,
            auid: process.auid, cwd: process.cwd, binary: process.binary, arguments: Array(process.argv.dropFirst()),
            flags: flags, startTime: clock.wallTime(ktime: process.startKtime),
            docker: docker(cgroupID: process.cgroupID, pid: process.pid),
            namespaces: process.namespaces, credentials: process.credentials, cgroupID: process.cgroupID,
            scanKtime: process.scanKtime, redact: config.redactArguments
        )
        insert(entry)
        let event = event(for: key, kind: .exec, time: entry.startTime)
        enforceCapacity()
        return event
    }

    // MARK: - Reference counting

    private mutating func insert(_ entry: Entry) {
        entry.serial = nextSerial
        nextSerial += 1
        if let parent = entry.parent { entries[parent.key]!.children += 1 }
        entries[entry.key] = entry
        highWater = max(highWater, entries.count)
        latest[entry.key.pid] = entry.key.ktime
        liveCount += 1
        insertionOrder.append(entry.key)
        if insertionOrder.count > 2 * entries.count + 1024 {
            let held = entries
            insertionOrder.compact { held[$0] != nil }
        }
    }

    /// The process behind `key` is gone (replaced by an exec, or its pid reused).
    private mutating func retire(_ key: ProcessKey) {
        guard entries[key]?.alive == true else { return }
        entries[key]!.alive = false
        liveCount -= 1
        settleDeath(key)
    }

    /// After `key` died: remove it now if nothing references it, else remember it as evictable.
    private mutating func settleDeath(_ key: ProcessKey) {
        if entries[key]!.refcount == 0 {
            remove(key)
            return
        }
        deathOrder.append(key)
        if deathOrder.count > 2 * entries.count + 1024 {
            let held = entries
            deathOrder.compact { held[$0]?.alive == false }
        }
    }

    /// Removes `key` and releases its parent's reference, cascading up while counts reach 0.
    private mutating func remove(_ key: ProcessKey) {
        var next: ProcessKey? = key
        while let current = next {
            next = nil
            guard let entry = entries.removeValue(forKey: current) else { break }
            if entry.alive { liveCount -= 1 }
            if latest[current.pid] == current.ktime { latest[current.pid] = nil }
            guard let parent = entry.parent, let held = entries[parent.key], held.serial == parent.serial,
                held.children > 0
            else { continue }
            held.children -= 1
            if held.children == 0 && !held.alive { next = parent.key }
        }
        shrinkIfMostlyEmpty()
    }

    /// Rebuilds the tables when they hold under an eighth of what they held at their largest:
    /// a dictionary never gives back capacity on removal, so 20,000 processes that came and
    /// went would otherwise keep their tables' memory for the agent's lifetime. Amortised: a
    /// rebuild of n entries follows at least 7n removals.
    private mutating func shrinkIfMostlyEmpty() {
        guard highWater >= 4096, entries.count < highWater / 8 else { return }
        entries = Self.rebuilt(entries)
        latest = Self.rebuilt(latest)
        let held = entries
        insertionOrder.compact { held[$0] != nil }
        deathOrder.compact { held[$0]?.alive == false }
        highWater = entries.count
        // glibc keeps freed heap pages for later allocations; after thousands of entries went
        // at once, hand them back to the system, or the agent's RSS stays at its peak. This
        // trim runs mid-burst (an eighth of the entries and their exit events are still to
        // go), so one more follows once the pipeline is idle (``releaseFreedMemory()``).
        malloc_trim(0)
        releaseDue = true
        counters.memoryTrims += 1
    }

    /// Hands the heap memory freed since a mass exit back to the system, once: call it when
    /// the pipeline is idle (the agent does on the reader's empty batch, a quiet ring). The
    /// trim in the table rebuild runs while the last eighth of the exiting processes, their
    /// records and their exit events are still held; without this second one their ~3 MB
    /// (20,000 processes) stayed resident. Does nothing unless the tables were rebuilt since
    /// the last call, so idle ticks cost a branch.
    /// - Returns: whether it trimmed.
    @discardableResult
    package mutating func releaseFreedMemory() -> Bool {
        guard releaseDue else { return false }
        releaseDue = false
        malloc_trim(0)
        counters.memoryTrims += 1
        return true
    }

    private static func rebuilt<K: Hashable, V>(_ table: [K: V]) -> [K: V] {
        var fresh = [K: V](minimumCapacity: table.count)
        for (key, value) in table { fresh[key] = value }
        return fresh
    }

    /// Copy-on-write for the entry objects: a copy of this cache shares them until one side
    /// changes; that side then takes copies of its own.
    private mutating func makeEntriesUnique() {
        guard !isKnownUniquelyReferenced(&owner) else { return }
        owner = Owner()
        entries = entries.mapValues { $0.copy() }
    }

    private mutating func enforceCapacity() {
        let capacity = max(1, config.capacity)
        while entries.count > capacity, let victim = nextVictim() {
            counters.evictions += 1
            remove(victim)
        }
    }

    /// The oldest dead entry still held, else the oldest entry.
    private mutating func nextVictim() -> ProcessKey? {
        while let key = deathOrder.popFirst() {
            if entries[key]?.alive == false { return key }
        }
        while let key = insertionOrder.popFirst() {
            if entries[key] != nil { return key }
        }
        return nil
    }

    // MARK: - Resolution

    /// The entry of `(pid, ktime)`; ktime 0 means "the kernel never saw it": the pid's most recent
    /// entry. An unknown non-zero ktime falls back to a live /proc-seeded entry of the pid.
    private func resolve(pid: UInt32, ktime: UInt64) -> Entry? {
        guard pid != 0 else { return nil }
        if ktime != 0, let exact = entries[ProcessKey(pid: pid, ktime: ktime)] { return exact }
        guard let latestKtime = latest[pid], let current = entries[ProcessKey(pid: pid, ktime: latestKtime)] else {
            return nil
        }
        if ktime == 0 { return current }
        return current.kind == .procFS && current.alive ? current : nil
    }

    private func liveLatest(pid: UInt32) -> ProcessKey? {
        guard let ktime = latest[pid] else { return nil }
        let key = ProcessKey(pid: pid, ktime: ktime)
        return entries[key]?.alive == true ? key : nil
    }

    /// Whether `entry` is the task an exec record with `processStart` comes from. Unknown start
    /// times, and seeded entries (tick resolution, boot clock), are given the benefit of the doubt.
    private func sameTask(_ entry: Entry, processStart: UInt64) -> Bool {
        if processStart == 0 || entry.processStart == 0 || entry.kind == .procFS { return true }
        return entry.processStart == processStart
    }

    private func parentEntry(of entry: Entry) -> Entry? {
        guard let ref = entry.parent, let parent = entries[ref.key], parent.serial == ref.serial else { return nil }
        return parent
    }

    // MARK: - Export

    private func event(for key: ProcessKey, kind: ExportEventKind, time: WallTime, tid: UInt32? = nil) -> ExportEvent {
        let entry = entries[key]!
        let parent = parentEntry(of: entry)
        return ExportEvent(
            kind: kind, process: info(entry, tid: tid), parent: parent.map { info($0) },
            ancestors: ancestors(from: parent), nodeName: config.nodeName, time: time
        )
    }

    /// Grand-parent upwards from `parent`, stopping after the first pid <= 2 or a missing entry
    /// (tetragon `GetAncestorsFromCache`).
    private func ancestors(from parent: Entry?) -> [ExportedProcess] {
        guard config.enableAncestors, var current = parent else { return [] }
        var result: [ExportedProcess] = []
        // Parents are always inserted before their children, so the chain cannot loop; the
        // bound only guards against a bug turning into a hang.
        while current.key.pid > 2, result.count < entries.count, let next = parentEntry(of: current) {
            result.append(info(next))
            current = next
        }
        return result
    }

    private func info(_ entry: Entry, tid: UInt32? = nil) -> ExportedProcess {
        var extras: ProcessExtras?
        if config.exportNamespaces || config.exportCredentials {
            // Boxed once per entry (its namespaces and credentials never change), then shared.
            if let made = entry.extras {
                extras = made
            } else {
                extras = ProcessExtras.make(
                    pod: nil, namespaces: config.exportNamespaces ? exported(entry.namespaces) : nil,
                    credentials: config.exportCredentials ? entry.credentials : nil)
                entry.extras = extras
            }
        }
        return ExportedProcess(
            core: entry.core, tid: tid ?? entry.key.pid, refcnt: entry.refcount, namespacePID: entry.namespacePID,
            extrasBox: extras, cachedRendering: true)
    }

    private func missedExit(_ record: ExitRecord, kind: ExportEventKind) -> ExportEvent {
        let key = ProcessKey(pid: record.pid, ktime: record.processKtime)
        let process = ExportedProcess(
            execID: execID(key), pid: record.pid, tid: record.tid, uid: 0, auid: UInt32.max, cwd: [], binary: [],
            arguments: [], flags: .miss, startTime: clock.wallTime(ktime: record.processKtime),
            docker: docker(cgroupID: record.cgroupID), cgroupID: record.cgroupID
        )
        return ExportEvent(
            kind: kind, process: process, parent: nil, nodeName: config.nodeName,
            time: clock.wallTime(ktime: record.ktime)
        )
    }

    private func exported(_ ns: Namespaces) -> ExportedNamespaces {
        let host = config.hostNamespaces
        func one(_ inum: UInt32, _ hostInum: UInt32) -> ExportedNamespace {
            ExportedNamespace(inum: inum, isHost: inum != 0 && inum == hostInum)
        }
        return ExportedNamespaces(
            uts: one(ns.uts, host.uts), ipc: one(ns.ipc, host.ipc), mnt: one(ns.mnt, host.mnt),
            pid: one(ns.pid, host.pid), pidForChildren: one(ns.pidForChildren, host.pidForChildren),
            net: one(ns.net, host.net), cgroup: one(ns.cgroup, host.cgroup), user: one(ns.user, host.user)
        )
    }

    private func execID(_ key: ProcessKey) -> String {
        ExecIDs.make(node: config.nodeName, ktime: key.ktime, pid: key.pid)
    }

    /// `parent_exec_id` for a parent the cache does not hold: the identity the kernel named, if any.
    private func missingParentID(pid: UInt32, ktime: UInt64) -> String? {
        pid != 0 && ktime != 0 ? execID(ProcessKey(pid: pid, ktime: ktime)) : nil
    }

    private func docker(cgroupID: UInt64, pid: UInt32? = nil) -> String? {
        var id = cgroupID != 0 ? config.dockerID?(cgroupID) : nil
        if id?.isEmpty ?? true, let pid, let ofProcess = config.dockerIDOfProcess { id = ofProcess(pid) }
        guard let id, !id.isEmpty else { return nil }
        return String(id.prefix(31))
    }

    /// On cgroup v1 only hosts (``ProcessCacheConfig/dockerIDOfProcess``), an exec whose
    /// process is gone before its record is handled keeps the container its fork inherited.
    private func inheritedDocker(_ previous: Entry?) -> String? {
        config.dockerIDOfProcess != nil ? previous?.docker : nil
    }

    private static let root: [UInt8] = [UInt8(ascii: "/")]

    private static func flags(of record: ExecRecordFlags) -> ProcessFlags {
        var flags = ProcessFlags()
        if record.contains(.pathTruncated) { flags.insert(.truncFilename) }
        if record.contains(.cwdTruncated) { flags.insert(.truncCWD) }
        if record.contains(.argsTruncated) { flags.insert(.truncArgs) }
        if record.contains(.pathError) { flags.insert(.errorFilename) }
        if record.contains(.cwdError) { flags.insert(.errorCWD) }
        if record.contains(.argsError) { flags.insert(.errorArgs) }
        if record.contains(.deleted) { flags.insert(.deletedBinary) }
        return flags
    }

    /// Seed order: every process after its parent (a reparented process may have started before
    /// its current parent, so start time alone is not enough); otherwise the input order.
    private static func parentsFirst(_ processes: [ProcFSProcess]) -> [ProcFSProcess] {
        var byPid: [UInt32: ProcFSProcess] = [:]
        for process in processes where byPid[process.pid] == nil { byPid[process.pid] = process }
        var visited = Set<UInt32>()
        var ordered: [ProcFSProcess] = []
        ordered.reserveCapacity(byPid.count)
        for process in processes {
            var chain: [ProcFSProcess] = []
            var current = process
            while visited.insert(current.pid).inserted {
                chain.append(current)
                guard let parent = byPid[current.ppid] else { break }
                current = parent
            }
            ordered.append(contentsOf: chain.reversed())
        }
        return ordered
    }
}

/// One cache entry. A class so that lookups share it instead of copying it; only the cache's
/// mutating methods change it, after ``ProcessCache/makeEntriesUnique()``, which is what makes
/// the unchecked Sendable hold.
private final class Entry: @unchecked Sendable {
    enum Kind: Sendable { case exec, clone, procFS }

    /// A parent link: the key plus the serial of the entry it was made to, so a link to an
    /// evicted entry never lands on a later entry that reuses the key.
    struct Ref: Sendable, Hashable {
        var key: ProcessKey
        var serial: UInt64
    }

    let kind: Kind
    let key: ProcessKey
    var serial: UInt64
    let parent: Ref?
    let processStart: UInt64
    /// The exported fields that never change (exec id, paths, arguments, flags, start time, ...),
    /// shared with every `ExportedProcess` made from this entry.
    let core: ProcessCore
    let namespaces: Namespaces
    let credentials: Credentials
    /// For seeded entries: when /proc was read (CLOCK_MONOTONIC ns), else 0.
    let scanKtime: UInt64
    /// Pid in the process's pid namespace (from the exec/clone record); 0 for /proc-seeded entries.
    var namespacePID: UInt32 = 0
    var alive = true
    var children: UInt32 = 0
    /// The exported `namespaces` and `credentials` box, made on first export (see `info`).
    var extras: ProcessExtras?

    var execID: String { core.fields.execID }
    var uid: UInt32 { core.fields.uid }
    var auid: UInt32 { core.fields.auid }
    var cwd: [UInt8] { core.fields.cwd }
    var binary: [UInt8] { core.fields.binary }
    var arguments: [[UInt8]] { core.fields.arguments }
    var docker: String? { core.fields.docker }
    var cgroupID: UInt64 { core.fields.cgroupID }
    var startTime: WallTime { core.fields.startTime }

    init(
        kind: Kind, key: ProcessKey, execID: String, serial: UInt64, parent: Ref?, parentExecID: String?,
        processStart: UInt64, uid: UInt32, auid: UInt32, cwd: [UInt8], binary: [UInt8], arguments: [[UInt8]],
        flags: ProcessFlags, startTime: WallTime, docker: String?, namespaces: Namespaces, credentials: Credentials,
        cgroupID: UInt64, scanKtime: UInt64 = 0, redactedArguments: [UInt8]? = nil,
        redact: (@Sendable ([UInt8], [[UInt8]]) -> [UInt8]?)? = nil
    ) {
        self.kind = kind
        self.key = key
        self.serial = serial
        self.parent = parent
        self.processStart = processStart
        // A redacted process keeps only the redacted text: the secret is not held in the cache.
        let redacted = redactedArguments ?? redact?(binary, arguments)
        self.core = ProcessCore(
            execID: execID, pid: key.pid, uid: uid, auid: auid, cwd: cwd, binary: binary,
            arguments: redacted == nil ? arguments : [], flags: flags, startTime: startTime, docker: docker,
            parentExecID: parentExecID, cgroupID: cgroupID, redactedArguments: redacted)
        self.namespaces = namespaces
        self.credentials = credentials
        self.scanKtime = scanKtime
    }

    private init(copying other: Entry) {
        kind = other.kind
        key = other.key
        serial = other.serial
        parent = other.parent
        processStart = other.processStart
        core = other.core
        namespaces = other.namespaces
        credentials = other.credentials
        scanKtime = other.scanKtime
        namespacePID = other.namespacePID
        alive = other.alive
        children = other.children
        extras = other.extras
    }

    /// An independent copy (the core, with its rendering, is shared: it never changes).
    func copy() -> Entry { Entry(copying: self) }

    var ref: Ref { Ref(key: key, serial: serial) }
    /// 1 while the process lives, plus one per child entry.
    var refcount: UInt32 { (alive ? 1 : 0) + children }
}

/// Identity token for ``ProcessCache``'s copy-on-write of its entries.
private final class Owner: Sendable {}

/// FIFO of keys with lazy deletion: stale keys are skipped on pop and dropped on compaction.
private struct KeyQueue: Sendable {
    private var storage: [ProcessKey] = []
    private var head = 0

    var count: Int { storage.count - head }

    mutating func append(_ key: ProcessKey) { storage.append(key) }

    mutating func popFirst() -> ProcessKey? {
        guard head < storage.count else { return nil }
        let key = storage[head]
        head += 1
        if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return key
    }

    mutating func compact(keeping isValid: (ProcessKey) -> Bool) {
        storage = storage[head...].filter(isValid)
        head = 0
    }
}
