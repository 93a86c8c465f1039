// SPDX-License-Identifier: Apache-2.0
import Glibc
import HostFiles

/// The cgroup2 id of a running process, as `bpf_get_current_cgroup_id()` would report it.
package enum ProcessCgroup {
    /// The `0::<path>` line of a `/proc/<pid>/cgroup` file: the process's cgroup2 path.
    package static func unifiedPath(procCgroup text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// The kernfs inode of the process's cgroup2 directory under `cgroup2Root`, or nil when the
    /// process is gone or its cgroup cannot be found (another cgroup namespace).
    package static func id(pid: UInt32, procRoot: String = "/proc", cgroup2Root: String) -> UInt64? {
        guard let text = HostFile.readText(atPath: "\(procRoot)/\(pid)/cgroup"),
            let path = unifiedPath(procCgroup: text)
        else { return nil }
        var st = stat()
        guard stat(path == "/" ? cgroup2Root : cgroup2Root + path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }
}
