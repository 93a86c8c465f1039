// SPDX-License-Identifier: Apache-2.0

/// One line of `/proc/<pid>/mountinfo` (see proc(5)), with the octal escapes decoded.
package struct MountInfoEntry: Sendable, Hashable {
    /// Unique id of the mount.
    package var mountID: Int
    /// Id of the parent mount.
    package var parentID: Int
    /// `major:minor` of the filesystem's device.
    package var device: String
    /// The directory inside the filesystem that forms the root of this mount
    /// (for cgroupfs: the cgroup this mount shows, `/` for the hierarchy root).
    package var root: String
    /// Where it is mounted, relative to the reading process's root.
    package var mountPoint: String
    /// Per-mount options (`rw,relatime`, ...).
    package var mountOptions: String
    /// Filesystem type after the ` - ` separator (`cgroup2`, `cgroup`, `tmpfs`, ...).
    package var fsType: String
    /// Mount source (`cgroup2`, `/dev/vda`, ...).
    package var source: String
    /// Per-superblock options (for v1 cgroupfs these name the controllers).
    package var superOptions: String

    package init(
        mountID: Int, parentID: Int, device: String, root: String, mountPoint: String,
        mountOptions: String, fsType: String, source: String, superOptions: String
    ) {
        self.mountID = mountID
        self.parentID = parentID
        self.device = device
        self.root = root
        self.mountPoint = mountPoint
        self.mountOptions = mountOptions
        self.fsType = fsType
        self.source = source
        self.superOptions = superOptions
    }
}

/// Finding cgroup filesystems in the mount table.
///
/// Hosts differ: pure cgroup v2 nodes mount cgroup2 at `/sys/fs/cgroup`; hybrid hosts (like the
/// build machines) mount a tmpfs there with v1 controllers beneath it and cgroup2 at
/// `/sys/fs/cgroup/unified`; containers may bind the host's tree elsewhere. So the mount point is
/// read from `mountinfo`, never assumed.
/// `/proc/<pid>/mountinfo` (proc(5)), shared by everything that looks for a mount: cgroup2 for
/// container ids and connect hooks, tracefs for policy hooks.
package enum MountInfo {
    package static let selfPath = "/proc/self/mountinfo"

    /// Parses `mountinfo` text into entries. Malformed lines are skipped.
    ///
    /// Line format: `id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions`.
    /// Optional fields (`shared:N`, `master:N`, ...) vary in number, so the fields after the
    /// lone `-` are located by that separator. Paths have space, tab, newline and backslash
    /// written as `\040`, `\011`, `\012`, `\134`; these are decoded.
    package static func entries(mountinfo: String) -> [MountInfoEntry] {
        var result: [MountInfoEntry] = []
        for line in mountinfo.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // The separator is at index 6 or later (6 mandatory fields precede it).
            guard fields.count >= 10,
                  let sep = fields[6...].firstIndex(of: "-"),
                  fields.count >= sep + 3,
                  let mountID = Int(fields[0]), let parentID = Int(fields[1])
            else { continue }
            result.append(MountInfoEntry(
                mountID: mountID,
                parentID: parentID,
                device: String(fields[2]),
                root: unescape(fields[3]),
                mountPoint: unescape(fields[4]),
                mountOptions: String(fields[5]),
                fsType: String(fields[sep + 1]),
                source: unescape(fields[sep + 2]),
                superOptions: fields.count > sep + 3 ? String(fields[sep + 3]) : ""
            ))
        }
        return result
    }

    /// Decodes mountinfo's `\NNN` octal escapes; other bytes pass through.
    package static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
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
        return value <= 0xFF ? UInt8(value) : nil
    }

    /// Mount points of every `fsType` mount in `mountinfo` text, in file order.
    package static func mountPoints(ofType fsType: String, mountinfo: String) -> [String] {
        entries(mountinfo: mountinfo).filter { $0.fsType == fsType }.map(\.mountPoint)
    }
}
