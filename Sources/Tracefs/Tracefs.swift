// SPDX-License-Identifier: Apache-2.0
import HostFiles
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
    package static let selfMountInfoPath = MountInfo.selfPath

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
        root(mountinfo: HostFile.readText(atPath: selfMountInfoPath) ?? "")
    }

    /// Mount points of every tracefs mount in `mountinfo` text, in file order, with mountinfo's
    /// octal escapes (`\040` for a space, ...) decoded.
    ///
    /// Line format (proc(5)): `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`.
    package static func tracefsMountPoints(mountinfo: String) -> [String] {
        MountInfo.mountPoints(ofType: "tracefs", mountinfo: mountinfo)
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
}
