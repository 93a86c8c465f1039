// SPDX-License-Identifier: Apache-2.0
import Glibc
import HostFiles

/// `--enforcement-cgroup`: the one cgroup2 subtree whose processes kills and denies may reach.
///
/// The kernel programs compare the cgroup ids of the current task's ancestors with ``cgroupID``
/// (see `vg_in_fence` in `bpf/lib/decide.h`); file denies, decided in user space from
/// fanotify events, compare the process's `/proc/PID/cgroup` path with ``hierarchyPath``.
/// Outside the fence the event is still exported, marked as an action not taken.
package struct EnforcementFence: Sendable, Hashable {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// The directory on the cgroup2 mount, as resolved from the flag.
    package let directory: String
    /// The cgroup's path in the hierarchy as `/proc/PID/cgroup` writes it (`0::<path>`).
    package let hierarchyPath: String
    /// The cgroup2 id (the directory's kernfs inode), as `bpf_get_current_cgroup_id()` reports it.
    package let cgroupID: UInt64

    /// Resolves the flag's value: a directory on the cgroup2 mount (`/sys/fs/cgroup/unified/x`
    /// on hybrid hosts, `/sys/fs/cgroup/x` on pure v2), or a path in the hierarchy relative to
    /// that mount (`/kubepods.slice/...`, as `/proc/PID/cgroup` writes it).
    ///
    /// - Parameter mountinfo: the text of `/proc/self/mountinfo`.
    /// - Throws: ``Failure`` naming why `argument` is not a cgroup2 directory.
    package static func resolve(_ argument: String, mountinfo: String) throws(Failure) -> EnforcementFence {
        guard argument.hasPrefix("/") else {
            throw Failure(description: "--enforcement-cgroup \(argument): give an absolute path (a cgroup2 directory)")
        }
        let all = MountInfo.entries(mountinfo: mountinfo)
        guard let mount = CgroupMounts.cgroup2MountEntry(mountinfo: mountinfo) else {
            throw Failure(description: "--enforcement-cgroup \(argument): no cgroup2 file system is mounted (the fence needs cgroup v2)")
        }
        let trimmed = argument.count > 1 && argument.hasSuffix("/") ? String(argument.dropLast()) : argument
        let candidates: [String] =
            isUnder(trimmed, mount.mountPoint) ? [trimmed] : [trimmed, trimmed == "/" ? mount.mountPoint : mount.mountPoint + trimmed]
        var reasons: [String] = []
        for candidate in candidates {
            switch filesystem(of: candidate, mounts: all) {
            case .cgroup2(let inode):
                guard isUnder(candidate, mount.mountPoint) else {
                    reasons.append("\(candidate) is on a cgroup2 mount other than \(mount.mountPoint)")
                    continue
                }
                let relative = String(candidate.dropFirst(mount.mountPoint.count))
                let root = mount.root == "/" ? "" : mount.root
                let path = root + relative
                return EnforcementFence(
                    directory: candidate, hierarchyPath: path.isEmpty ? "/" : path, cgroupID: inode)
            case .cgroup1:
                reasons.append("\(candidate) is a cgroup v1 directory; the fence needs one under the cgroup2 mount \(mount.mountPoint)")
            case .other:
                reasons.append("\(candidate) is not on a cgroup file system")
            case .missing(let error):
                reasons.append("\(candidate): \(error)")
            }
        }
        throw Failure(
            description: "--enforcement-cgroup \(argument) is not a cgroup2 directory (\(reasons.joined(separator: "; "))); "
                + "cgroup2 is mounted at \(mount.mountPoint): create the cgroup there (mkdir) and give its path")
    }

    /// Whether a process whose `/proc/PID/cgroup` reads `procCgroup` is in the fence's subtree.
    package func contains(procCgroup text: String) -> Bool {
        guard let path = ProcessCgroup.unifiedPath(procCgroup: text) else { return false }
        return Self.isUnder(path, hierarchyPath)
    }

    /// Whether process `pid` is in the fence's subtree; false when it cannot be told (gone).
    package func contains(pid: Int32, procRoot: String = "/proc") -> Bool {
        guard let text = HostFile.readText(atPath: "\(procRoot)/\(pid)/cgroup") else { return false }
        return contains(procCgroup: text)
    }

    /// `path` is `ancestor` or below it, by whole components.
    static func isUnder(_ path: String, _ ancestor: String) -> Bool {
        if ancestor == "/" { return path.hasPrefix("/") }
        return path == ancestor || path.hasPrefix(ancestor + "/")
    }

    enum Filesystem: Equatable {
        /// With the directory's inode: its cgroup id.
        case cgroup2(inode: UInt64)
        case cgroup1, other
        case missing(String)
    }

    /// The file system the directory `path` lies on: the longest mount point above it in `mounts`.
    static func filesystem(of path: String, mounts: [MountInfoEntry]) -> Filesystem {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing(String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFDIR else { return .missing("not a directory") }
        let mount = mounts.filter { isUnder(path, $0.mountPoint) }.max { $0.mountPoint.count < $1.mountPoint.count }
        switch mount?.fsType {
        case "cgroup2": return .cgroup2(inode: UInt64(st.st_ino))
        case "cgroup": return .cgroup1
        default: return .other
        }
    }
}
