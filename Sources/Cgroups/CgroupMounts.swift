// SPDX-License-Identifier: Apache-2.0

import HostFiles

package enum CgroupMounts {
    package static let selfMountInfoPath = MountInfo.selfPath

    package static func cgroup2Mounts(mountinfo: String) -> [MountInfoEntry] {
        MountInfo.entries(mountinfo: mountinfo).filter { $0.fsType == "cgroup2" }
    }

    /// The mount point of the cgroup2 (unified) hierarchy, or nil if none is mounted.
    ///
    /// When several cgroup2 mounts exist, the first one that shows the hierarchy root
    /// (`root` field `/`) wins, so that a bind mount of a sub-cgroup is not mistaken for the
    /// whole tree; failing that, the first cgroup2 mount.
    ///
    /// - Parameter mountinfo: the text of a `/proc/<pid>/mountinfo` file.
    package static func cgroup2Mount(mountinfo: String) -> String? {
        cgroup2MountEntry(mountinfo: mountinfo)?.mountPoint
    }

    /// The whole entry of that mount (its `root` too: the cgroup it shows).
    package static func cgroup2MountEntry(mountinfo: String) -> MountInfoEntry? {
        let mounts = cgroup2Mounts(mountinfo: mountinfo)
        return mounts.first { $0.root == "/" } ?? mounts.first
    }

    /// Reads `mountinfoPath` (by default `/proc/self/mountinfo`) and returns the cgroup2
    /// mount point, or nil when the file is unreadable or holds no cgroup2 mount.
    ///
    /// Pass `/proc/1/mountinfo` (through a host `/proc` mount when running in a pod) to see the
    /// host's table rather than the caller's mount namespace.
    package static func cgroup2Mount(mountinfoPath: String = selfMountInfoPath) -> String? {
        guard let text = HostFile.readText(atPath: mountinfoPath) else { return nil }
        return cgroup2Mount(mountinfo: text)
    }
}
