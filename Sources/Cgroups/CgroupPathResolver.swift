// SPDX-License-Identifier: Apache-2.0
import CCgroupHandle
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Maps cgroup2 ids to cgroup paths by scanning the cgroup2 tree.
///
/// A cgroup2 id is the kernfs node id of a cgroup directory. On 64-bit kernels 5.5 and later it
/// equals the `st_ino` of that directory on cgroup2fs and the value of
/// `bpf_get_current_cgroup_id()` for tasks in it (the hierarchy root is 1). On older kernels the
/// id packs inode and generation, so `st_ino` alone does not match and lookups will miss.
///
/// Paths are relative to `root` and start with `/`; the root itself is `/`. Pointed at the host's
/// cgroup2 mount (see ``CgroupMounts``) they read like the `0::` line of `/proc/<pid>/cgroup`
/// seen from the host cgroup namespace, which ``ContainerID/parse(cgroupPath:)`` understands.
///
/// Lookups hit a cache. A miss first asks the kernel for that one cgroup
/// (`open_by_handle_at` with the id as a kernfs handle, then the fd's path), which answers for a
/// cgroup created after the last scan (a container started after the agent) without walking the
/// tree; it needs CAP_DAC_READ_SEARCH. If that fails, the miss rescans the whole tree, but at most once per `rescanInterval`,
/// so a stream of events carrying an id that is not (or no longer) in the tree cannot cause a
/// scan storm. A scan replaces the cache; the entries of the previous scan stay answerable for one
/// more generation, so events for a cgroup removed just before a rescan still resolve. Ids are
/// not reused quickly, so stale entries are harmless; memory stays bounded by two trees.
///
/// Thread safety: all state is guarded by one lock, so any thread may call any method. The
/// agent's pipeline calls it from one task; a rescan runs while holding the lock, so concurrent
/// callers would wait for it rather than start a second scan.
package final class CgroupPathResolver: @unchecked Sendable {
    /// Counters, for metrics and tests.
    package struct Stats: Sendable, Hashable {
        /// Calls that looked an id up (`path(for:)`, `containerID(for:)`, `containerRef(for:)`).
        package var lookups: UInt64 = 0
        /// Lookups not answered by the cache before any rescan.
        package var misses: UInt64 = 0
        /// Misses answered by `open_by_handle_at` (no scan needed).
        package var handleResolved: UInt64 = 0
        /// Misses still unanswered after the rescan they were allowed (or were not allowed).
        package var unresolved: UInt64 = 0
        /// Completed tree scans (misses, `rescan()`).
        package var scans: UInt64 = 0
        /// Scans that could not read the root directory.
        package var scanFailures: UInt64 = 0
        /// Cgroups known to the current generation of the cache.
        package var entries: Int = 0
    }

    private struct Entry {
        var path: String
        var container: ContainerRef?

        init(path: String) {
            self.path = path
            self.container = ContainerID.parse(cgroupPath: path)
        }
    }

    /// The cgroup2 mount point (or a directory standing in for it in tests), without a trailing `/`.
    package let root: String
    /// Minimum time between two scans triggered by misses.
    package let rescanInterval: Duration

    /// `root` opened once: the mount `open_by_handle_at` resolves ids on, and the one fd the
    /// agent's seccomp filter lets that call use. -1 if `root` could not be opened.
    package let mountFD: Int32

    private let now: @Sendable () -> Duration
    private let lock = NSLock()
    private var current: [UInt64: Entry] = [:]
    private var previous: [UInt64: Entry] = [:]
    private var lastScan: Duration?
    private var counters = Stats()

    /// - Parameters:
    ///   - root: the cgroup2 mount point, e.g. `CgroupMounts.cgroup2Mount()` (this machine:
    ///     `/sys/fs/cgroup/unified`; pure v2 nodes: `/sys/fs/cgroup`).
    ///   - rescanInterval: at most one miss-triggered scan per interval (default one second).
    ///   - now: a monotonic clock; injectable for tests. The default reads `CLOCK_MONOTONIC`.
    ///
    /// Nothing is scanned until the first lookup misses or ``rescan()`` is called.
    package init(
        root: String,
        rescanInterval: Duration = .seconds(1),
        now: @escaping @Sendable () -> Duration = CgroupPathResolver.monotonicNow
    ) {
        var trimmed = root
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
        self.rescanInterval = rescanInterval
        self.now = now
        self.mountFD = open(trimmed, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }

    deinit {
        if mountFD >= 0 { close(mountFD) }
    }

    /// `CLOCK_MONOTONIC` as a `Duration` since an arbitrary start.
    @Sendable package static func monotonicNow() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }

    /// The path of cgroup `id` relative to the root (`/` for the root, `/a/b` below it), or nil
    /// if the id is not in the tree (after a rescan, if one was due).
    package func path(for id: UInt64) -> String? {
        lookup(id)?.path
    }

    /// The container id (64 hex) of the container cgroup `id` lies in, or nil if the id is
    /// unknown or its cgroup belongs to no container (host processes, pod-level cgroups, conmon).
    package func containerID(for id: UInt64) -> String? {
        lookup(id)?.container?.id
    }

    /// The container (with runtime and pod UID) cgroup `id` lies in; see ``containerID(for:)``.
    package func containerRef(for id: UInt64) -> ContainerRef? {
        lookup(id)?.container
    }

    /// Records an id learned elsewhere (e.g. a `cgroup_mkdir` hook or `name_to_handle_at`), so
    /// that it resolves without a scan. `path` is relative to the root and starts with `/`.
    package func record(id: UInt64, path: String) {
        lock.lock()
        defer { lock.unlock() }
        current[id] = Entry(path: path)
        counters.entries = current.count
    }

    /// Scans the tree now, regardless of the interval (e.g. at start-up). Returns false if the
    /// root could not be read, in which case the cache is kept as it was.
    @discardableResult
    package func rescan() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return scanLocked(at: now())
    }

    /// Every cgroup below `root` (and `root` itself as `/`): id -> path relative to `root`, read
    /// now; nil when `root` cannot be read. Does not touch any resolver's cache.
    package static func tree(root: String) -> [UInt64: String]? {
        var trimmed = root
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        return scanTree(root: trimmed)?.mapValues(\.path)
    }

    /// A snapshot of the counters.
    package var stats: Stats {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    // MARK: - Internals

    private func lookup(_ id: UInt64) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        counters.lookups += 1
        if let entry = current[id] ?? previous[id] { return entry }
        counters.misses += 1
        if let path = Self.pathByHandle(root: root, mountFD: mountFD, id: id) {
            let entry = Entry(path: path)
            current[id] = entry
            counters.handleResolved += 1
            counters.entries = current.count
            return entry
        }
        let t = now()
        if lastScan.map({ t - $0 >= rescanInterval }) ?? true {
            scanLocked(at: t)
            if let entry = current[id] ?? previous[id] { return entry }
        }
        counters.unresolved += 1
        return nil
    }

    /// The path of cgroup `id` below `root`, asked of the kernel: open the directory by its
    /// kernfs handle and read the fd's link. Nil when the id is gone (ESTALE), the caller lacks
    /// CAP_DAC_READ_SEARCH (EPERM), or the directory is outside `root`'s mount.
    static func pathByHandle(root: String, mountFD: Int32, id: UInt64) -> String? {
        guard mountFD >= 0 else { return nil }
        let fd = ccgroup_open_by_id(mountFD, id)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let absolute = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if absolute == root { return "/" }
        let prefix = root == "/" ? "" : root
        guard absolute.hasPrefix(prefix + "/") else { return nil }
        return String(absolute.dropFirst(prefix.count))
    }

    /// Walks the tree below `root` and swaps the generations. Caller holds the lock.
    @discardableResult
    private func scanLocked(at t: Duration) -> Bool {
        lastScan = t
        guard let fresh = Self.scanTree(root: root) else {
            counters.scanFailures += 1
            return false
        }
        previous = current
        current = fresh
        counters.scans += 1
        counters.entries = current.count
        return true
    }

    /// `st_ino` → relative path for `root` and every directory below it on the same filesystem.
    private static func scanTree(root: String) -> [UInt64: Entry]? {
        var st = stat()
        guard lstat(root, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        let device = st.st_dev
        var found: [UInt64: Entry] = [UInt64(st.st_ino): Entry(path: "/")]
        // (relative path, absolute path); the root's relative path is "" so children get "/name".
        var pending: [(String, String)] = [("", root == "/" ? "" : root)]
        while let (relative, absolute) = pending.popLast() {
            guard let dir = opendir(absolute.isEmpty ? "/" : absolute) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let type = entry.pointee.d_type
                guard type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let childAbsolute = absolute + "/" + name
                var child = stat()
                guard lstat(childAbsolute, &child) == 0,
                      (child.st_mode & S_IFMT) == S_IFDIR,
                      child.st_dev == device
                else { continue }
                let childRelative = relative + "/" + name
                found[UInt64(child.st_ino)] = Entry(path: childRelative)
                pending.append((childRelative, childAbsolute))
            }
        }
        return found
    }
}
