// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFanotify

/// Thin, allocation-light system call helpers used by the guard.
enum Sys {
    /// The largest path `readlink` results are read into (PATH_MAX).
    static let pathMax = 4096

    /// `strerror` with the errno name's number, e.g. "Operation not permitted (errno 1)".
    static func describe(errno e: Int32) -> String {
        "\(String(cString: strerror(e))) (errno \(e))"
    }

    /// `readlink` of a NUL-terminated path into bytes; nil on error or truncation.
    static func readlink(_ path: UnsafePointer<CChar>) -> [UInt8]? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: pathMax + 1) { buf -> [UInt8]? in
            let n = Glibc.readlink(path, buf.baseAddress!, pathMax + 1)
            guard n > 0, n <= pathMax else { return nil }
            return UnsafeRawBufferPointer(start: buf.baseAddress!, count: n).map { $0 }
        }
    }

    /// Calls `body` with "`prefix``number``suffix`" (e.g. "/proc/self/fd/7") as a C string built
    /// on the stack: the reader thread formats two of these per event.
    static func withProcPath<R>(
        _ prefix: StaticString, _ number: Int32, _ suffix: StaticString = "",
        _ body: (UnsafePointer<CChar>) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buf -> R in
            var i = 0
            func put(_ c: UInt8) {
                if i < 63 { buf[i] = CChar(bitPattern: c); i += 1 }
            }
            prefix.withUTF8Buffer { for c in $0 { put(c) } }
            if number < 0 { put(UInt8(ascii: "-")) }
            var v = number.magnitude
            var divisor: UInt32 = 1
            while v / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                put(UInt8(ascii: "0") + UInt8(v / divisor))
                v %= divisor
                divisor /= 10
            }
            suffix.withUTF8Buffer { for c in $0 { put(c) } }
            buf[i] = 0
            return body(UnsafePointer(buf.baseAddress!))
        }
    }

    /// The resolved path of an open fd of this process (`/proc/self/fd/N`, procfs: no disk I/O).
    static func pathOfFd(_ fd: Int32) -> [UInt8]? {
        withProcPath("/proc/self/fd/", fd) { readlink($0) }
    }

    /// The binary of a process (`/proc/PID/exe`); nil when it is gone or a kernel thread.
    static func exeOf(pid: Int32) -> [UInt8]? {
        withProcPath("/proc/", pid, "/exe") { readlink($0) }
    }

    /// Opens `path` with `O_PATH` (no open permission event, no read access).
    static func openPath(_ path: [UInt8], directory: Bool = false) -> (fd: Int32, errno: Int32) {
        let flags = cfan_o_path() | O_CLOEXEC | (directory ? O_DIRECTORY : 0)
        let fd = withCString(path) { open($0, flags) }
        return (fd, fd < 0 ? errno : 0)
    }

    /// `fstat` identity: (st_dev, st_ino, is directory).
    static func identity(fd: Int32) -> (dev: UInt64, ino: UInt64, isDirectory: Bool)? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino), (st.st_mode & S_IFMT) == S_IFDIR)
    }

    /// Calls `body` with `bytes` as a NUL-terminated C string.
    static func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        var z = bytes
        z.append(0)
        return z.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { body($0) }
        }
    }

    /// Reads a whole (small, procfs) file; nil when it cannot be opened.
    static func readFile(_ path: String, limit: Int = 8 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// A monotonic clock in nanoseconds.
    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// `/proc/self/mountinfo`, only as far as the planner needs it: mount points.
package enum MountInfo {
    /// The mount points in a mountinfo text (field 5, octal escapes such as `\040` decoded).
    package static func mountPoints(_ mountinfo: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for line in mountinfo.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard fields.count > 4 else { continue }
            result.append(unescape(Array(fields[4])))
        }
        return result
    }

    /// The mount points strictly below `directory` (e.g. `/var/lib/docker` below `/var`).
    package static func mountPoints(below directory: [UInt8], in mountinfo: [UInt8]) -> [[UInt8]] {
        let dir = MarkPlan.trimmingSlash(directory)
        let prefix = dir == [UInt8(ascii: "/")] ? dir : dir + [UInt8(ascii: "/")]
        var seen = Set<[UInt8]>()
        return mountPoints(mountinfo).filter { mp in
            mp.count > prefix.count && ByteString.hasPrefix(mp, prefix) && seen.insert(mp).inserted
        }
    }

    static func unescape(_ field: [UInt8]) -> [UInt8] {
        guard field.contains(UInt8(ascii: "\\")) else { return field }
        var out: [UInt8] = []
        var i = 0
        while i < field.count {
            if field[i] == UInt8(ascii: "\\"), i + 3 < field.count,
               let a = octal(field[i + 1]), let b = octal(field[i + 2]), let c = octal(field[i + 3]) {
                out.append(UInt8(truncatingIfNeeded: a << 6 | b << 3 | c))
                i += 4
            } else {
                out.append(field[i])
                i += 1
            }
        }
        return out
    }

    private static func octal(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "7") ? Int(c - UInt8(ascii: "0")) : nil
    }
}
