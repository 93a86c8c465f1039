// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

/// A settable clock for the resolver's rate limit.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Duration = .seconds(1000)

    var now: Duration {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func advance(_ d: Duration) {
        lock.lock()
        value += d
        lock.unlock()
    }
}

/// A temporary directory tree standing in for a cgroup2 mount; removed on deinit.
final class FakeCgroupTree {
    let root: String

    init() throws {
        var template = Array("/tmp/vigil-cgroups-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        root = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Creates `relative` (and its parents) and returns its inode number.
    @discardableResult
    func mkdir(_ relative: String) throws -> UInt64 {
        try FileManager.default.createDirectory(atPath: root + relative, withIntermediateDirectories: true)
        return try ino(relative)
    }

    func ino(_ relative: String) throws -> UInt64 {
        var st = stat()
        guard stat(root + relative, &st) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return UInt64(st.st_ino)
    }

    func rmdir(_ relative: String) {
        _ = Glibc.rmdir(root + relative)
    }
}

@Suite struct CgroupPathResolverTests {
    let podCgroupfs = "/kubepods/besteffort/pod\(Sample.uid)"
    var containerCgroupfs: String { podCgroupfs + "/" + Sample.containerdCgroupfs }
    var crunPayload: String { Sample.burstableSlice + "/crio-\(Sample.crio).scope/container" }

    @Test func mapsInodesToRelativePaths() throws {
        let tree = try FakeCgroupTree()
        let container = try tree.mkdir(containerCgroupfs)
        let pod = try tree.ino(podCgroupfs)
        let payload = try tree.mkdir(crunPayload)
        let service = try tree.mkdir("/system.slice/containerd.service")
        // Files are not cgroups.
        _ = FileManager.default.createFile(atPath: tree.root + "/cgroup.procs", contents: Data())
        let file = try tree.ino("/cgroup.procs")

        let clock = FakeClock()
        let resolver = CgroupPathResolver(root: tree.root, now: { clock.now })
        #expect(resolver.path(for: try tree.ino("")) == "/")
        #expect(resolver.path(for: container) == containerCgroupfs)
        #expect(resolver.path(for: pod) == podCgroupfs)
        #expect(resolver.path(for: payload) == crunPayload)
        #expect(resolver.path(for: service) == "/system.slice/containerd.service")
        #expect(resolver.path(for: file) == nil)

        #expect(resolver.containerID(for: container) == Sample.containerdCgroupfs)
        #expect(resolver.containerRef(for: container)?.podUID == Sample.uid)
        #expect(resolver.containerID(for: payload) == Sample.crio)
        #expect(resolver.containerRef(for: payload)?.runtime == .crio)
        #expect(resolver.containerID(for: pod) == nil)
        #expect(resolver.containerID(for: service) == nil)

        let stats = resolver.stats
        #expect(stats.scans == 1)
        #expect(stats.entries == 1 + 3 + 1 + 5 + 2) // root, kubepods…container, 5 systemd levels, system.slice…service
        #expect(stats.lookups == 12)
    }

    @Test func trailingSlashOnRootIsIgnored() throws {
        let tree = try FakeCgroupTree()
        let a = try tree.mkdir("/a/b")
        let resolver = CgroupPathResolver(root: tree.root + "//")
        #expect(resolver.root == tree.root)
        #expect(resolver.path(for: a) == "/a/b")
    }

    @Test func missesRescanAtMostOncePerInterval() throws {
        let tree = try FakeCgroupTree()
        let first = try tree.mkdir("/first")
        let clock = FakeClock()
        let resolver = CgroupPathResolver(root: tree.root, rescanInterval: .seconds(1), now: { clock.now })

        // The first miss scans.
        #expect(resolver.path(for: first) == "/first")
        #expect(resolver.stats.scans == 1)
        #expect(resolver.stats.misses == 1)

        // An unknown id: the scan is not due yet, however often it is asked for.
        for _ in 0..<100 { #expect(resolver.path(for: .max) == nil) }
        #expect(resolver.stats.scans == 1)
        #expect(resolver.stats.misses == 101)
        #expect(resolver.stats.unresolved == 100)

        // A new cgroup appears: not visible until the interval has passed.
        let second = try tree.mkdir("/second")
        clock.advance(.milliseconds(999))
        #expect(resolver.path(for: second) == nil)
        #expect(resolver.stats.scans == 1)
        clock.advance(.milliseconds(1))
        #expect(resolver.path(for: second) == "/second")
        #expect(resolver.stats.scans == 2)

        // Hits never scan.
        clock.advance(.seconds(5))
        #expect(resolver.path(for: first) == "/first")
        #expect(resolver.stats.scans == 2)

        // After the interval an unknown id costs exactly one more scan.
        #expect(resolver.path(for: .max) == nil)
        #expect(resolver.path(for: .max) == nil)
        #expect(resolver.stats.scans == 3)
        #expect(resolver.stats.lookups == 1 + 100 + 2 + 1 + 2)
    }

    @Test func removedCgroupsSurviveOneGeneration() throws {
        let tree = try FakeCgroupTree()
        let gone = try tree.mkdir("/gone")
        let clock = FakeClock()
        let resolver = CgroupPathResolver(root: tree.root, now: { clock.now })
        #expect(resolver.rescan())
        tree.rmdir("/gone")
        #expect(resolver.rescan())
        #expect(resolver.path(for: gone) == "/gone") // from the previous generation
        #expect(resolver.rescan())
        #expect(resolver.path(for: gone) == nil) // forced scans reset the interval: no scan here
        #expect(resolver.stats.scans == 3)
    }

    @Test func recordedIdsResolveWithoutScanning() {
        let resolver = CgroupPathResolver(root: "/nonexistent/cgroup2")
        let path = "/system.slice/docker-\(Sample.docker).scope"
        resolver.record(id: 4242, path: path)
        #expect(resolver.path(for: 4242) == path)
        #expect(resolver.containerRef(for: 4242) == ContainerRef(runtime: .docker, id: Sample.docker))
        #expect(resolver.stats.scans == 0)
    }

    @Test func unreadableRootKeepsTheCache() {
        let clock = FakeClock()
        let resolver = CgroupPathResolver(root: "/nonexistent/cgroup2", now: { clock.now })
        #expect(!resolver.rescan())
        #expect(resolver.path(for: 1) == nil)
        clock.advance(.seconds(2))
        #expect(resolver.path(for: 1) == nil)
        let stats = resolver.stats
        #expect(stats.scans == 0)
        #expect(stats.scanFailures == 2) // the forced one and the one after the interval
        #expect(stats.unresolved == 2)
    }

    @Test func concurrentLookups() throws {
        let tree = try FakeCgroupTree()
        var ids: [UInt64: String] = [:]
        for i in 0..<20 {
            let path = "/kubepods/burstable/pod\(Sample.uid)/\(String(repeating: String(i % 10), count: 64))\(i >= 10 ? "/container" : "")"
            ids[try tree.mkdir(path)] = path
        }
        let resolver = CgroupPathResolver(root: tree.root)
        let pairs = Array(ids)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<200 {
                let (id, path) = pairs[(worker + round) % pairs.count]
                precondition(resolver.path(for: id) == path)
            }
        }
        #expect(resolver.stats.lookups == 1600)
        #expect(resolver.stats.scans == 1)
    }
}
