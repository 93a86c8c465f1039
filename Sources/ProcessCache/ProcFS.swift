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

    /// Namespaces of PID 1 under `procRoot`: the host's when `procRoot` is the host's `/proc`.
    /// Unreadable entries (no privilege to read another process's `ns/`) stay 0.
    package static func hostNamespaces(procRoot: String = "/proc") -> Namespaces {
        namespaces(dir: "\(procRoot)/1")
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
            // The link reads "net:[4026531840]".
            guard let link = FileIO.readLink("\(dir)/ns/\(name)"),
                let open = link.firstIndex(of: UInt8(ascii: "[")),
                let close = link.lastIndex(of: UInt8(ascii: "]")), open < close,
                let value = parseDecimal(link[(open + 1)..<close])
            else { return 0 }
            return UInt32(truncatingIfNeeded: value)
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
