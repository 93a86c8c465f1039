// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Glibc
import PolicyCompiler

/// `vigil-file-identity: inode` on BPF-LSM file hooks: the (dev, ino) of the files a policy's
/// Equal paths name when it is installed, as the kernel names them, for ``PolicyMapID/fileIdentities``.
/// A path that names nothing (yet) is matched by name only, as on the fanotify path.
package enum FileIdentityEntries {
    /// The map entries for `paths`, and the paths that name no file now.
    package static func resolve(_ paths: [FileIdentityPath]) -> (entries: [MapUpdate], missing: [String]) {
        var entries: [MapUpdate] = []
        var missing: [String] = []
        for item in paths {
            var st = stat()
            guard stat(item.path, &st) == 0 else {
                missing.append(item.path)
                continue
            }
            entries.append(entry(setID: item.setID, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
        }
        return (entries, missing)
    }

    /// One entry; `device` as stat(2) gives it (glibc's encoding), written as the kernel's
    /// super_block s_dev (MKDEV: major << 20 | minor).
    package static func entry(setID: UInt32, device: UInt64, inode: UInt64) -> MapUpdate {
        var key = vigil_file_id_key()
        key.set_id = setID
        key.dev = kernelDevice(device)
        key.ino = inode
        return MapUpdate(map: .fileIdentities, key: withUnsafeBytes(of: key) { Array($0) }, value: [1])
    }

    /// glibc's dev_t (gnu_dev_major/minor) to the kernel's internal one.
    package static func kernelDevice(_ device: UInt64) -> UInt32 {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        return UInt32(truncatingIfNeeded: (major << 20) | (minor & 0xfffff))
    }
}
