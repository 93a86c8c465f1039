// SPDX-License-Identifier: Apache-2.0
import HostFiles
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

/// `/proc/self/mountinfo` of the build machine: hybrid, cgroup2 at /sys/fs/cgroup/unified.
let hybridMountInfo = """
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334524k,nr_inodes=3083631,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

"""

/// A systemd host on pure cgroup v2 (optional `shared:N` fields before the separator).
let pureV2MountInfo = """
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
28 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
29 21 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
30 21 0:26 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:11 master:2 - bpf bpf rw,mode=700
"""

@Suite struct CgroupMountsTests {
    @Test func hybridLayoutOfThisMachine() {
        #expect(CgroupMounts.cgroup2Mount(mountinfo: hybridMountInfo) == "/sys/fs/cgroup/unified")
        let entries = MountInfo.entries(mountinfo: hybridMountInfo)
        #expect(entries.count == 15)
        let memory = entries.first { $0.mountPoint == "/sys/fs/cgroup/memory" }
        #expect(memory?.fsType == "cgroup")
        #expect(memory?.superOptions == "rw,memory")
        #expect(memory?.mountID == 35)
        #expect(memory?.parentID == 31)
        #expect(memory?.device == "0:32")
    }

    @Test func pureV2() {
        #expect(CgroupMounts.cgroup2Mount(mountinfo: pureV2MountInfo) == "/sys/fs/cgroup")
        let cgroup2 = CgroupMounts.cgroup2Mounts(mountinfo: pureV2MountInfo)
        #expect(cgroup2.count == 1)
        #expect(cgroup2.first?.superOptions == "rw,nsdelegate,memory_recursiveprot")
        #expect(cgroup2.first?.source == "cgroup2")
        // Two optional fields before the separator.
        let bpf = MountInfo.entries(mountinfo: pureV2MountInfo).first { $0.mountPoint == "/sys/fs/bpf" }
        #expect(bpf?.fsType == "bpf")
    }

    @Test func octalEscapesInMountPoints() {
        let text = #"""
        50 31 0:40 / /mnt/my\040cgroup\011tab\134back rw,relatime - cgroup2 none rw
        """#
        #expect(CgroupMounts.cgroup2Mount(mountinfo: text) == "/mnt/my cgroup\ttab\\back")
        #expect(MountInfo.unescape("plain") == "plain")
        #expect(MountInfo.unescape(#"a\012b"#) == "a\nb")
        // Not an escape: kept as is.
        #expect(MountInfo.unescape(#"a\09b\"#) == #"a\09b\"#)
    }

    @Test func prefersTheHierarchyRootOverASubtreeBind() {
        let text = """
        60 1 0:38 /kubepods/pod1 /host/cgroup-pod rw,relatime - cgroup2 cgroup2 rw
        61 1 0:38 / /run/vigil/cgroup2 rw,relatime - cgroup2 cgroup2 rw
        """
        #expect(CgroupMounts.cgroup2Mount(mountinfo: text) == "/run/vigil/cgroup2")
        #expect(CgroupMounts.cgroup2Mount(mountinfo: String(text.split(separator: "\n")[0])) == "/host/cgroup-pod")
    }

    @Test func noCgroup2AndMalformedLines() {
        let v1Only = hybridMountInfo.split(separator: "\n").filter { !$0.contains("cgroup2") }.joined(separator: "\n")
        #expect(CgroupMounts.cgroup2Mount(mountinfo: v1Only) == nil)
        #expect(CgroupMounts.cgroup2Mount(mountinfo: "") == nil)
        let malformed = """
        garbage
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime cgroup2 cgroup2 rw
        x 31 0:38 / /a rw - cgroup2 cgroup2 rw
        42 31 0:38 / /b rw - cgroup2
        """
        #expect(MountInfo.entries(mountinfo: malformed).isEmpty)
    }

    @Test func readsTheRealMountTable() throws {
        let mount = try #require(CgroupMounts.cgroup2Mount())
        // The mount point is the root of a cgroup2 hierarchy: only cgroup2 has
        // `cgroup.controllers`, and only its root lacks `cgroup.events`.
        #expect(access(mount + "/cgroup.controllers", F_OK) == 0)
        #expect(access(mount + "/cgroup.events", F_OK) != 0)
        #expect(CgroupMounts.cgroup2Mount(mountinfoPath: "/nonexistent/mountinfo") == nil)
    }
}
