// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

/// `--enforcement-cgroup` resolution against a mount table that names a temporary directory as
/// the cgroup2 mount (no root needed), and the subtree test file denies use.
@Suite struct EnforcementFenceTests {
    /// A temporary "cgroup2 mount" with `kubepods/pod1` below it, a "cgroup v1" one beside it.
    struct FakeHierarchy {
        let base: String
        var unified: String { "\(base)/unified" }
        var memory: String { "\(base)/memory" }
        var mountinfo: String {
            """
            27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
            35 31 0:32 / \(memory) rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / \(unified) rw,relatime - cgroup2 cgroup2 rw

            """
        }

        init() throws {
            base = NSTemporaryDirectory() + "vigil-fence-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: "\(base)/unified/kubepods/pod1", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(base)/memory/kubepods", withIntermediateDirectories: true)
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }

        func inode(_ path: String) -> UInt64 {
            var st = stat()
            return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
        }
    }

    @Test func aDirectoryOnTheMountAndAHierarchyPathResolveAlike() throws {
        let fake = try FakeHierarchy()
        defer { fake.remove() }
        let byDirectory = try EnforcementFence.resolve("\(fake.unified)/kubepods/", mountinfo: fake.mountinfo)
        #expect(byDirectory.directory == "\(fake.unified)/kubepods")
        #expect(byDirectory.hierarchyPath == "/kubepods")
        #expect(byDirectory.cgroupID == fake.inode("\(fake.unified)/kubepods"))
        let byPath = try EnforcementFence.resolve("/kubepods", mountinfo: fake.mountinfo)
        #expect(byPath == byDirectory)
    }

    @Test(arguments: [
        ("relative/path", "absolute path"),
        ("/nowhere", "not a cgroup2 directory"),
    ])
    func refusalsNameTheReason(argument: String, reason: String) throws {
        let fake = try FakeHierarchy()
        defer { fake.remove() }
        #expect {
            try EnforcementFence.resolve(argument, mountinfo: fake.mountinfo)
        } throws: { error in
            "\(error)".contains("--enforcement-cgroup \(argument)") && "\(error)".contains(reason)
        }
    }

    @Test func aCgroupV1DirectoryIsRefusedAsSuch() throws {
        let fake = try FakeHierarchy()
        defer { fake.remove() }
        #expect {
            try EnforcementFence.resolve("\(fake.memory)/kubepods", mountinfo: fake.mountinfo)
        } throws: { error in
            "\(error)".contains("cgroup v1 directory") && "\(error)".contains("mounted at \(fake.unified)")
        }
    }

    @Test func withoutCgroup2ThereIsNoFence() throws {
        #expect {
            try EnforcementFence.resolve("/kubepods", mountinfo: "27 1 254:0 / / rw - ext4 /dev/vda rw\n")
        } throws: { error in
            "\(error)".contains("no cgroup2 file system is mounted")
        }
    }

    @Test(arguments: [
        ("0::/kubepods\n", true),
        ("0::/kubepods/pod1/abc\n", true),
        ("12:memory:/x\n0::/kubepods/pod1\n", true),
        ("0::/kubepods2\n", false),
        ("0::/\n", false),
        ("12:memory:/kubepods\n", false),
    ])
    func membershipIsByWholePathComponents(procCgroup: String, inside: Bool) throws {
        let fake = try FakeHierarchy()
        defer { fake.remove() }
        let fence = try EnforcementFence.resolve("/kubepods", mountinfo: fake.mountinfo)
        #expect(fence.contains(procCgroup: procCgroup) == inside)
    }
}
