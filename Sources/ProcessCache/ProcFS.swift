// SPDX-License-Identifier: Apache-2.0
import Events
import Glibc

/// Reads the processes that already run when the agent starts, as Tetragon's `procfs` walk does.
///
/// Everything is read with raw `open`/`read`/`readlink`, so paths and arguments stay bytes. A
/// process that vanishes while it is read is skipped without error.
package enum ProcFS {
    /// Every user-space process under `procRoot`, sorted by start time (then pid).
    ///
    /// Kernel threads (pid 2, children of pid 2, or `PF_KTHREAD` in `stat`) are skipped as Tetragon
    /// skips them, and so are zombies: their exit already happened, no exit record would ever
    /// retire them.
    /// - Parameter procRoot: the procfs mount, `/proc` unless testing.
    /// - Throws: ``ProcFSError`` when `procRoot` itself cannot be listed.
    package static func scan(procRoot: String = "/proc") throws(ProcFSError) -> [ProcFSProcess] {
        guard let names = FileIO.list(procRoot) else { throw ProcFSError(errno: errno, path: procRoot) }
        var found: [ProcFSProcess] = []
        for name in names {
            guard let pid = UInt32(name), pid != 0 else { continue }
            if let process = process(pid: pid, procRoot: procRoot) { found.append(process) }
        }
        return found.sorted { ($0.startKtime, $0.pid) < ($1.startKtime, $1.pid) }
    }

    /// One process, or nil if it is gone, a kernel thread or a zombie.
    /// - Parameters:
    ///   - pid: thread-group id, a numeric directory under `procRoot`.
    ///   - procRoot: the procfs mount.
    package static func process(pid: UInt32, procRoot: String = "/proc") -> ProcFSProcess? {
        let dir = "\(procRoot)/\(pid)"
        let scanKtime = monotonicNow()
        guard let statBytes = FileIO.read(dir + "/stat"), let stat = Stat(statBytes) else { return nil }
        if pid == 2 || stat.ppid == 2 || stat.flags & pfKthread != 0 { return nil }
        if stat.state == UInt8(ascii: "Z") || stat.state == UInt8(ascii: "X") { return nil }
        guard let statusBytes = FileIO.read(dir + "/status") else { return nil }
        let status = Status(statusBytes)

        let argv = splitCommandLine(FileIO.read(dir + "/cmdline") ?? [])
        var binary: [UInt8] = []
        var binaryDeleted = false
        var binaryUnreadable = false
        if var exe = FileIO.readLink(dir + "/exe") {
            if exe.count > deletedSuffix.count, exe.suffix(deletedSuffix.count).elementsEqual(deletedSuffix) {
                exe.removeLast(deletedSuffix.count)
                binaryDeleted = true
            }
            binary = exe
        } else {
            binaryUnreadable = true
            binary = argv.first ?? []
        }
        let cwd = FileIO.readLink(dir + "/cwd")
        let auid = FileIO.read(dir + "/loginuid").flatMap { parseDecimal($0[...]) }
            .map { UInt32(truncatingIfNeeded: $0) }

        return ProcFSProcess(
            pid: pid, ppid: stat.ppid, nspid: status.nspid, comm: stat.comm,
            startKtime: ticksToNanoseconds(stat.startTicks), credentials: status.credentials,
            auid: auid ?? UInt32.max, argv: argv, binary: binary, binaryDeleted: binaryDeleted,
            binaryUnreadable: binaryUnreadable, cwd: cwd ?? [], cwdUnreadable: cwd == nil,
            namespaces: namespaces(dir: dir), cgroupID: 0, scanKtime: scanKtime
        )
    }

    /// The host's namespaces, each from the first source that knows it:
    /// 1. pid 1's `ns/` links, where pid 1 under `procRoot` is the kernel's init (its pid
    ///    namespace is the initial one: the host's `/proc`, or a container's with hostPID);
    /// 2. kthreadd's (pid 2, a kernel thread with no parent): kernel threads are seen only in
    ///    the initial pid namespace and all run in the kernel's initial namespaces;
    /// 3. the kernel's fixed number for its initial namespace of the kind (all but mnt and net).
    ///
    /// What none of them gives stays unknown, with the reason naming what could not be read.
    /// - Parameter procRoot: the procfs mount, `/proc` unless testing.
    package static func hostNamespaces(procRoot: String = "/proc") -> HostNamespaces {
        hostNamespaces(procRoot: procRoot, reader: .live)
    }

    /// Reads procfs for ``hostNamespaces(procRoot:reader:)``; injectable for tests.
    package struct NamespaceReader: Sendable {
        /// `readlink(2)` of a path: the target, or the errno.
        package var readLink: @Sendable (String) -> Result<[UInt8], NamespaceReadError>
        /// A whole file, nil when unreadable.
        package var readFile: @Sendable (String) -> [UInt8]?

        package init(
            readLink: @escaping @Sendable (String) -> Result<[UInt8], NamespaceReadError>,
            readFile: @escaping @Sendable (String) -> [UInt8]?
        ) {
            self.readLink = readLink
            self.readFile = readFile
        }

        package static let live = NamespaceReader(
            readLink: { path in
                if let link = FileIO.readLink(path) { return .success(link) }
                return .failure(NamespaceReadError(errno: errno))
            },
            readFile: { FileIO.read($0) })
    }

    /// A `readlink(2)` that failed.
    package struct NamespaceReadError: Error, Sendable {
        package var errno: Int32
        package init(errno: Int32) { self.errno = errno }
    }

    /// ``hostNamespaces(procRoot:)`` with the reads injected.
    package static func hostNamespaces(procRoot: String, reader: NamespaceReader) -> HostNamespaces {
        var host = HostNamespaces(unknown: "not looked up")
        // Reads one link as an inode number, or says why not.
        func read(_ path: String) -> Result<UInt32, Unreadable> {
            switch reader.readLink(path) {
            case .failure(let error): return .failure(Unreadable("cannot read \(path): \(errorText(error.errno))"))
            case .success(let link):
                guard let inum = parseNamespaceLink(link) else {
                    let text = String(decoding: link, as: UTF8.self)
                    return .failure(Unreadable("\(path) reads \"\(text)\", not a namespace"))
                }
                return .success(inum)
            }
        }

        var misses: [NamespaceKind: [String]] = [:]
        var sources: [(dir: String, kinds: [NamespaceKind])] = []
        // pid 1 counts only when it is the kernel's init: in a container's /proc (no hostPID)
        // pid 1 is the container's first process and its namespaces are the container's.
        let initPid = NamespaceKind.pid.initialInum!
        switch read("\(procRoot)/1/ns/pid") {
        case .success(let inum) where inum == initPid:
            sources.append(("\(procRoot)/1", NamespaceKind.allCases))
        case .success(let inum):
            let why = "\(procRoot)/1 is in pid:[\(inum)], not the initial pid namespace (a container's /proc)"
            for kind in NamespaceKind.allCases { misses[kind, default: []].append(why) }
        case .failure(let why):
            for kind in NamespaceKind.allCases { misses[kind, default: []].append(why.text) }
        }
        // kthreadd: pid 2, no parent, PF_KTHREAD.
        if let bytes = reader.readFile("\(procRoot)/2/stat"), let stat = Stat(bytes), stat.ppid == 0,
            stat.flags & pfKthread != 0
        {
            sources.append(("\(procRoot)/2", NamespaceKind.allCases))
        } else {
            let why = "\(procRoot)/2 is not kthreadd (no kernel threads in this /proc)"
            for kind in NamespaceKind.allCases { misses[kind, default: []].append(why) }
        }

        for kind in NamespaceKind.allCases {
            var known = false
            for source in sources {
                let path = "\(source.dir)/ns/\(kind.rawValue)"
                switch read(path) {
                case .success(let inum):
                    host.set(kind, inum, from: .read(path: path))
                    known = true
                case .failure(let why):
                    misses[kind, default: []].append(why.text)
                }
                if known { break }
            }
            if known { continue }
            if let fixed = kind.initialInum {
                host.set(kind, fixed, from: .kernelFixed)
            } else {
                let tried = (misses[kind] ?? []).joined(separator: "; ")
                host.setUnknown(
                    kind, reason: "\(tried); the kernel fixes no number for its initial \(kind.rawValue) namespace")
            }
        }
        return host
    }

    /// Why a namespace link gave no inode number.
    private struct Unreadable: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    /// "net:[4026531840]" -> 4026531840.
    static func parseNamespaceLink(_ link: [UInt8]) -> UInt32? {
        guard let open = link.firstIndex(of: UInt8(ascii: "[")),
            let close = link.lastIndex(of: UInt8(ascii: "]")), open < close,
            let value = parseDecimal(link[(open + 1)..<close]), value <= UInt64(UInt32.max), value != 0
        else { return nil }
        return UInt32(value)
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    // MARK: - Parsing

    /// `PF_KTHREAD` in `stat` field 9 (include/linux/sched.h).
    private static let pfKthread: UInt64 = 0x0020_0000
    private static let deletedSuffix = Array(" (deleted)".utf8)

    /// USER_HZ, the unit of `stat` times.
    private static let ticksPerSecond: UInt64 = {
        let hz = sysconf(Int32(_SC_CLK_TCK))
        return hz > 0 ? UInt64(hz) : 100
    }()

    static func ticksToNanoseconds(_ ticks: UInt64) -> UInt64 {
        let hz = ticksPerSecond
        return ticks / hz * 1_000_000_000 + ticks % hz * 1_000_000_000 / hz
    }

    private static func monotonicNow() -> UInt64 {
        var spec = timespec()
        guard clock_gettime(CLOCK_MONOTONIC, &spec) == 0 else { return 0 }
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// `cmdline`: NUL-terminated arguments; empty arguments in the middle are kept.
    static func splitCommandLine(_ bytes: [UInt8]) -> [[UInt8]] {
        guard !bytes.isEmpty else { return [] }
        var argv = bytes.split(separator: 0, omittingEmptySubsequences: false).map { Array($0) }
        if bytes.last == 0 { argv.removeLast() }
        return argv
    }

    private static func namespaces(dir: String) -> Namespaces {
        func inum(_ name: String) -> UInt32 {
            FileIO.readLink("\(dir)/ns/\(name)").flatMap(parseNamespaceLink) ?? 0
        }
        return Namespaces(
            uts: inum("uts"), ipc: inum("ipc"), mnt: inum("mnt"), pid: inum("pid"),
            pidForChildren: inum("pid_for_children"), net: inum("net"), cgroup: inum("cgroup"), user: inum("user")
        )
    }

    /// The fields of `/proc/PID/stat` the scanner needs.
    struct Stat {
        var comm: [UInt8]
        var state: UInt8
        var ppid: UInt32
        var flags: UInt64
        var startTicks: UInt64

        /// `comm` sits between the first `(` and the **last** `)`: it may contain both and spaces.
        init?(_ bytes: [UInt8]) {
            guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
                let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close
            else { return nil }
            let fields = bytes[(close + 1)...].split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == 10 })
            // fields[0] is stat field 3 (state); field N is fields[N - 3].
            guard fields.count >= 20, let state = fields[0].first,
                let ppid = parseDecimal(fields[1]), let flags = parseDecimal(fields[6]),
                let start = parseDecimal(fields[19])
            else { return nil }
            self.comm = Array(bytes[(open + 1)..<close])
            self.state = state
            self.ppid = UInt32(truncatingIfNeeded: ppid)
            self.flags = flags
            self.startTicks = start
        }
    }

    /// The lines of `/proc/PID/status` the scanner needs.
    struct Status {
        var credentials = Credentials()
        var nspid: UInt32 = 0

        init(_ bytes: [UInt8]) {
            for line in bytes.split(separator: 10) {
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
                let key = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
                let values = line[(colon + 1)...].split(whereSeparator: { $0 == 9 || $0 == 32 })
                switch key {
                case "Uid":
                    let ids = values.compactMap { parseDecimal($0).map { UInt32(truncatingIfNeeded: $0) } }
                    guard ids.count == 4 else { continue }
                    credentials.uid = ids[0]
                    credentials.euid = ids[1]
                    credentials.suid = ids[2]
                    credentials.fsuid = ids[3]
                case "Gid":
                    let ids = values.compactMap { parseDecimal($0).map { UInt32(truncatingIfNeeded: $0) } }
                    guard ids.count == 4 else { continue }
                    credentials.gid = ids[0]
                    credentials.egid = ids[1]
                    credentials.sgid = ids[2]
                    credentials.fsgid = ids[3]
                case "CapInh": credentials.capInheritable = values.first.flatMap(parseHex) ?? 0
                case "CapPrm": credentials.capPermitted = values.first.flatMap(parseHex) ?? 0
                case "CapEff": credentials.capEffective = values.first.flatMap(parseHex) ?? 0
                case "NSpid": nspid = values.last.flatMap(parseDecimal).map { UInt32(truncatingIfNeeded: $0) } ?? 0
                default: continue
                }
            }
        }
    }
}

/// ASCII decimal digits (surrounding whitespace ignored), or nil.
func parseDecimal(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    var value: UInt64 = 0
    var digits = 0
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = sum
            digits += 1
        case 9, 10, 32:
            if digits > 0 { return value }
        default:
            return nil
        }
    }
    return digits > 0 ? value : nil
}

/// ASCII hexadecimal digits, or nil.
func parseHex(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
    var value: UInt64 = 0
    for byte in bytes {
        let nibble: UInt8
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
        default: return nil
        }
        value = value << 4 | UInt64(nibble)
    }
    return value
}
