// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Locating the tracing filesystem (tracefs) that holds `events/<subsystem>/<event>/format`.
///
/// Tetragon looks at `/sys/kernel/tracing` and falls back to `/sys/kernel/debug/tracing`. Here the
/// mount table decides first, so that an empty `/sys/kernel/tracing` directory (tracefs not
/// mounted there, which is what an unmounted host shows) is not mistaken for tracefs.
package enum Tracefs {
    /// The standard tracefs mount point (Linux 4.1+).
    package static let standardPath = "/sys/kernel/tracing"
    /// The legacy location, inside debugfs (auto-mounted tracefs on older kernels).
    package static let debugfsPath = "/sys/kernel/debug/tracing"
    /// The mount table read by ``root()``.
    package static let selfMountInfoPath = "/proc/self/mountinfo"

    /// Finds the tracefs root in `mountinfo` text, falling back to the well-known paths.
    ///
    /// Order of preference:
    /// 1. a tracefs mount (`fstype` `tracefs` in `mountinfo`) at ``standardPath``;
    /// 2. a tracefs mount at ``debugfsPath``;
    /// 3. any other tracefs mount, first in file order;
    /// 4. ``standardPath`` then ``debugfsPath`` if `<path>/events` is a directory (covers callers
    ///    whose mount namespace hides the mount entry but not the files).
    ///
    /// - Parameters:
    ///   - mountinfo: the text of a `/proc/<pid>/mountinfo` file.
    ///   - isDirectory: directory test used for the fallback; injectable for tests.
    /// - Returns: the tracefs root (no trailing slash), or nil when none is found.
    package static func root(
        mountinfo: String,
        isDirectory: (String) -> Bool = Tracefs.isDirectory
    ) -> String? {
        let mounts = tracefsMountPoints(mountinfo: mountinfo)
        if mounts.contains(standardPath) { return standardPath }
        if mounts.contains(debugfsPath) { return debugfsPath }
        if let other = mounts.first { return other }
        for candidate in [standardPath, debugfsPath] where isDirectory(candidate + "/events") {
            return candidate
        }
        return nil
    }

    /// Reads `/proc/self/mountinfo` and returns the tracefs root (see ``root(mountinfo:isDirectory:)``).
    ///
    /// When the mount table cannot be read, only the path fallback applies.
    package static func root() -> String? {
        root(mountinfo: readText(atPath: selfMountInfoPath) ?? "")
    }

    /// Mount points of every tracefs mount in `mountinfo` text, in file order, with mountinfo's
    /// octal escapes (`\040` for a space, ...) decoded.
    ///
    /// Line format (proc(5)): `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`.
    package static func tracefsMountPoints(mountinfo: String) -> [String] {
        var result: [String] = []
        for line in mountinfo.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 9,
                  let sep = fields[6...].firstIndex(of: "-"),
                  fields.count > sep + 1,
                  fields[sep + 1] == "tracefs"
            else { continue }
            result.append(unescapeMountField(fields[4]))
        }
        return result
    }

    /// Path of the format file of `subsystem/event` under `tracefsRoot`.
    package static func formatPath(tracefsRoot: String, subsystem: String, event: String) -> String {
        "\(tracefsRoot)/events/\(subsystem)/\(event)/format"
    }

    /// Path of the directory of `subsystem/event` under `tracefsRoot`.
    package static func eventDirectory(tracefsRoot: String, subsystem: String, event: String) -> String {
        "\(tracefsRoot)/events/\(subsystem)/\(event)"
    }

    /// Whether the tracepoint `subsystem/event` exists under `tracefsRoot` (its directory exists).
    package static func eventExists(tracefsRoot: String, subsystem: String, event: String) -> Bool {
        isDirectory(eventDirectory(tracefsRoot: tracefsRoot, subsystem: subsystem, event: event))
    }

    /// `stat(2)`-based directory test (follows symlinks).
    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Decodes mountinfo's `\NNN` octal escapes; other bytes pass through.
    static func unescapeMountField(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 4 <= bytes.count,
               let value = octal(bytes[(i + 1)..<(i + 4)]) {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(d - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }

    /// Reads a whole file with `open`/`read` until end of file.
    ///
    /// tracefs and procfs files report `st_size == 0`, so the file is read in chunks rather than by
    /// size. Returns nil when the file cannot be opened or a read fails (`errno` is left set);
    /// invalid UTF-8 is repaired.
    static func readText(atPath path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        let chunk = 16 * 1024
        var buffer = [UInt8](repeating: 0, count: chunk)
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
