// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostFiles
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

private func inode(_ path: String) -> UInt64? {
    var st = stat()
    return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
}

/// Against the machine's real cgroup2 mount (found through /proc/self/mountinfo). Read-only.
@Suite struct RealCgroup2MountTests {
    @Test func rootMapsToSlash() throws {
        let mount = try #require(CgroupMounts.cgroup2Mount())
        let resolver = CgroupPathResolver(root: mount)
        let rootID = try #require(inode(mount))
        #expect(resolver.path(for: rootID) == "/")
        #expect(resolver.containerID(for: rootID) == nil)
    }

    @Test func ownCgroupMapsBackToItsPath() throws {
        let mount = try #require(CgroupMounts.cgroup2Mount())
        let text = try #require(HostFile.readText(atPath: "/proc/self/cgroup"))
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("0::") })
        let path = String(line.dropFirst(3))
        let id = try #require(inode(path == "/" ? mount : mount + path))
        let resolver = CgroupPathResolver(root: mount)
        #expect(resolver.path(for: id) == path)
        #expect(resolver.containerID(for: id) == ContainerID.parse(cgroupPath: path)?.id)
    }
}

/// Creates real (empty) cgroups in the cgroup2 tree; needs root and a writable mount.
/// Everything it creates is removed again, bottom-up.
@Suite(.enabled(if: getuid() == 0 && CgroupMounts.cgroup2Mount().map { access($0, W_OK) == 0 } == true))
struct CgroupKernelResolverTests {
    @Test func kubeletShapedCgroupResolvesToItsContainer() throws {
        let mount = try #require(CgroupMounts.cgroup2Mount())
        let top = "/vigil-cgtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let levels = [top, "/kubepods", "/besteffort", "/pod\(Sample.uid)", "/\(Sample.containerdCgroupfs)"]
        var created: [String] = []
        defer { for dir in created.reversed() { _ = rmdir(dir) } }
        var relative = ""
        for level in levels {
            relative += level
            guard mkdir(mount + relative, 0o755) == 0 else {
                Issue.record("mkdir \(mount + relative): errno \(errno)")
                return
            }
            created.append(mount + relative)
        }
        let id = try #require(inode(mount + relative))
        let resolver = CgroupPathResolver(root: mount)
        #expect(resolver.path(for: id) == relative)
        #expect(resolver.containerRef(for: id) == ContainerRef(runtime: .unknown, id: Sample.containerdCgroupfs, podUID: Sample.uid))
    }
}

/// A cgroup created after the resolver's scan is answered through `open_by_handle_at`, without
/// waiting for the rate-limited rescan; a removed one is not. Needs root (CAP_DAC_READ_SEARCH).
@Suite(.enabled(if: getuid() == 0 && CgroupMounts.cgroup2Mount().map { access($0, W_OK) == 0 } == true))
struct CgroupHandleResolverTests {
    @Test func cgroupCreatedAfterTheScanResolvesByHandle() throws {
        let mount = try #require(CgroupMounts.cgroup2Mount())
        let resolver = CgroupPathResolver(root: mount, rescanInterval: .seconds(3600))
        resolver.rescan()
        let relative = "/vigil-cghandle-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(mount + relative, 0o755) == 0)
        defer { rmdir(mount + relative) }
        let id = try #require(inode(mount + relative))
        #expect(resolver.path(for: id) == relative)
        #expect(resolver.stats.handleResolved == 1)
        #expect(resolver.stats.scans == 1)

        let gone = "/vigil-cghandle-gone-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(mount + gone, 0o755) == 0)
        let goneID = try #require(inode(mount + gone))
        rmdir(mount + gone)
        #expect(resolver.path(for: goneID) == nil)
    }
}
