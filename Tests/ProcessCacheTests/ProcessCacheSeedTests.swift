// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache
import Testing

private typealias F = Fixtures

@Suite struct ProcessCacheSeedTests {
    @Test func seedExportsParentsBeforeChildren() throws {
        var cache = F.cache()
        // Scan order is start time; 400 was reparented to 500, a subreaper that started later.
        let events = cache.seed([
            F.proc(pid: 1, ppid: 0, start: 10),
            F.proc(pid: 400, ppid: 500, start: 20, argv: ["/usr/bin/orphan", "-d"], cwd: "/var"),
            F.proc(pid: 300, ppid: 1, start: 30, argv: ["/usr/sbin/sshd"]),
            F.proc(pid: 500, ppid: 1, start: 40, argv: ["/lib/systemd/systemd", "--user"]),
            F.proc(pid: 310, ppid: 300, start: 50, argv: ["/bin/bash"], cwd: "/root"),
        ])
        #expect(events.map(\.process.pid) == [1, 500, 400, 300, 310])
        #expect(events.allSatisfy { $0.kind == .exec })
        let orphan = events[2]
        #expect(orphan.process.execID == F.id(400, 20))
        #expect(orphan.process.flags == [.procFS])
        #expect(orphan.process.arguments == [F.bytes("-d")])
        #expect(orphan.process.startTime.nanosecondsSinceEpoch == F.boot + 20)
        #expect(orphan.time == orphan.process.startTime)
        #expect(orphan.parent?.execID == F.id(500, 40))
        #expect(events[0].process.flags == [.procFS, .rootcwd])
        #expect(events[0].parent == nil)
        #expect(cache.stats.parentMisses == 0)
        #expect(cache.count == 5)
    }

    @Test func seededEntriesAreParentsOfLaterRecords() throws {
        var cache = F.cache()
        _ = cache.seed([F.proc(pid: 1, ppid: 0, start: 10), F.proc(pid: 300, ppid: 1, start: 30, argv: ["/bin/bash"])])

        // The kernel side never saw bash: parentKtime 0.
        _ = cache.handle(F.clone(pid: 700, ktime: 1_000, ppid: 300, parentKtime: 0))
        let exec = try cache.mustHandle(F.exec(pid: 700, ktime: 1_100, ppid: 300, parentKtime: 0, argv: ["/bin/cat"]))
        #expect(exec.parent?.execID == F.id(300, 30))
        #expect(exec.parent?.flags == [.procFS, .rootcwd])
        #expect(exec.process.flags == [.execve, .clone])

        // bash replaces itself: the seeded image is the parent (Tetragon's cleanup-key rule).
        let replaced = try cache.mustHandle(F.exec(pid: 300, ktime: 2_000, ppid: 1, argv: ["/usr/bin/zsh"]))
        #expect(replaced.parent?.execID == F.id(300, 30))
        #expect(replaced.process.flags == [.execve])

        // An exit whose identity is unknown to the kernel side finds the seeded process.
        _ = cache.seed([F.proc(pid: 800, ppid: 1, start: 80, argv: ["/usr/bin/sleep"])])
        let exit = try cache.mustHandle(F.exit(pid: 800, ktime: 3_000, processKtime: 0))
        #expect(exit.process.execID == F.id(800, 80))
        #expect(exit.process.flags == [.procFS, .rootcwd])
        #expect(exit.parent?.execID == F.id(1, 10))
    }

    @Test func anExecOlderThanTheScanIsTheSeededImageItself() throws {
        var cache = F.cache()
        // Attach, exec happens (ktime 500), scan reads the new image (at 600), records are handled.
        _ = cache.seed([
            F.proc(pid: 1, ppid: 0, start: 10),
            F.proc(pid: 900, ppid: 1, start: 400, argv: ["/bin/new"], scanKtime: 600),
        ])
        let exec = try cache.mustHandle(F.exec(pid: 900, ktime: 500, ppid: 1, parentKtime: 0, argv: ["/bin/new"]))
        #expect(exec.parent?.execID == F.id(1, 10))
        #expect(cache.process(pid: 900, ktime: 400) == nil)  // the seeded duplicate is retired
    }

    @Test func seedSkipsPidsAlreadyKnownFromRecords() {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 42, ktime: 5_000, ppid: 0))
        let events = cache.seed([F.proc(pid: 42, ppid: 0, start: 4_000), F.proc(pid: 43, ppid: 42, start: 4_500)])
        #expect(events.map(\.process.pid) == [43])
        #expect(events.first?.parent?.execID == F.id(42, 5_000))
    }

    @Test func ancestorsRunFromTheGrandparentUpToPidOne() throws {
        var cache = F.cache(ancestors: true)
        let seeded = cache.seed([F.proc(pid: 1, ppid: 0, start: 10)])
        #expect(seeded.first?.ancestors == [])
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 1))
        _ = cache.handle(F.exec(pid: 20, ktime: 200, ppid: 10, parentKtime: 100))
        let exec = try cache.mustHandle(F.exec(pid: 30, ktime: 300, ppid: 20, parentKtime: 200))
        #expect(exec.parent?.execID == F.id(20, 200))
        #expect(exec.ancestors.map(\.execID) == [F.id(10, 100), F.id(1, 10)])
        #expect(exec.ancestors.map(\.refcnt) == [2, 2])

        // A parent at pid <= 2 ends the chain before it starts.
        let direct = try cache.mustHandle(F.exec(pid: 11, ktime: 110, ppid: 1))
        #expect(direct.ancestors.isEmpty)

        // Exit events carry them too.
        let exit = try cache.mustHandle(F.exit(pid: 30, ktime: 400, processKtime: 300))
        #expect(exit.ancestors.map(\.pid) == [10, 1])

        // A missing link ends the chain.
        _ = cache.handle(F.exec(pid: 60, ktime: 600, ppid: 50, parentKtime: 500))
        let lost = try cache.mustHandle(F.exec(pid: 70, ktime: 700, ppid: 60, parentKtime: 600))
        #expect(lost.parent?.pid == 60)
        #expect(lost.ancestors.isEmpty)
    }

    @Test func ancestorsAreOffByDefault() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0))
        _ = cache.handle(F.exec(pid: 20, ktime: 200, ppid: 10, parentKtime: 100))
        let exec = try cache.mustHandle(F.exec(pid: 30, ktime: 300, ppid: 20, parentKtime: 200))
        #expect(exec.ancestors.isEmpty)
        #expect(cache.context(pid: 30, ktime: 0)?.ancestors == [])
    }

    @Test func namespacesCredentialsAndDockerAreExportedWhenAsked() throws {
        let host = Namespaces(uts: 1, ipc: 2, mnt: 3, pid: 4, pidForChildren: 4, net: 5, cgroup: 6, user: 7)
        var cache = F.cache(
            namespaces: true, credentials: true, host: host,
            dockerID: { $0 == 99 ? "abcdef0123456789abcdef0123456789abcdef0123456789" : nil }
        )
        let inContainer = Namespaces(
            uts: 11, ipc: 12, mnt: 13, pid: 14, pidForChildren: 14, net: 5, cgroup: 16, user: 7
        )
        let exec = try cache.mustHandle(
            F.exec(pid: 10, ktime: 100, ppid: 0, uid: 33, cgroupID: 99, namespaces: inContainer)
        )
        let ns = try #require(exec.process.namespaces)
        #expect(ns.uts == ExportedNamespace(inum: 11, isHost: false))
        #expect(ns.net == ExportedNamespace(inum: 5, isHost: true))
        #expect(ns.user == ExportedNamespace(inum: 7, isHost: true))
        #expect(ns.pidForChildren == ExportedNamespace(inum: 14, isHost: false))
        #expect(exec.process.credentials?.uid == 33)
        #expect(exec.process.credentials?.euid == 33)
        #expect(exec.process.docker == "abcdef0123456789abcdef012345678")
        #expect(exec.process.docker?.count == 31)
        #expect(exec.process.cgroupID == 99)

        // A clone inherits them.
        _ = cache.handle(F.clone(pid: 11, ktime: 110, ppid: 10, parentKtime: 100))
        let clone = try #require(cache.process(pid: 11, ktime: 110))
        #expect(clone.namespaces == exec.process.namespaces)
        #expect(clone.docker == exec.process.docker)
        #expect(clone.credentials?.uid == 33)
    }
}
