// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache
import Testing

private typealias F = Fixtures

@Suite struct ProcessCacheExecExitTests {
    @Test func execThenExitExportsBothAndFreesTheEntry() throws {
        var cache = F.cache()
        let shell = try cache.mustHandle(F.exec(pid: 100, ktime: 1_000, ppid: 1, argv: ["/bin/bash"]))
        #expect(shell.parent == nil)
        #expect(shell.process.parentExecID == nil)
        #expect(cache.stats.parentMisses == 1)  // pid 1 was never seen

        let exec = try cache.mustHandle(
                F.exec(pid: 200, ktime: 2_000, ppid: 100, parentKtime: 1_000, argv: ["/bin/ls", "-l", "a b"], cwd: "/")
            )
        #expect(exec.kind == .exec)
        #expect(exec.nodeName == F.node)
        #expect(exec.time.nanosecondsSinceEpoch == F.boot + 2_000)
        let process = exec.process
        #expect(process.execID == F.id(200, 2_000))
        #expect(process.pid == 200 && process.tid == 200)
        #expect(process.uid == 1000 && process.auid == 1000)
        #expect(process.binary == F.bytes("/bin/ls"))
        #expect(process.arguments == [F.bytes("-l"), F.bytes("a b")])  // argv[0] dropped
        #expect(process.cwd == F.bytes("/"))
        #expect(process.flags == [.execve, .rootcwd])
        #expect(process.startTime.nanosecondsSinceEpoch == F.boot + 2_000)
        #expect(process.parentExecID == F.id(100, 1_000))
        #expect(process.refcnt == 1)
        #expect(process.namespaces == nil && process.credentials == nil)
        #expect(exec.parent?.execID == F.id(100, 1_000))
        #expect(exec.parent?.refcnt == 2)  // alive + one child
        #expect(exec.ancestors.isEmpty)
        #expect(cache.count == 2)

        let exit = try cache.mustHandle(F.exit(pid: 200, ktime: 3_000, processKtime: 2_000, code: 2 << 8, tid: 201))
        #expect(exit.process.execID == F.id(200, 2_000))
        #expect(exit.process.tid == 201)
        #expect(exit.process.refcnt == 0)
        #expect(exit.process.flags == [.execve, .rootcwd])
        #expect(exit.parent?.execID == F.id(100, 1_000))
        #expect(exit.exit?.signal == nil)
        #expect(exit.exit?.status == 2)
        #expect(exit.exit?.time.nanosecondsSinceEpoch == F.boot + 3_000)
        #expect(exit.time.nanosecondsSinceEpoch == F.boot + 3_000)
        #expect(cache.count == 1)

        let killed = try cache.mustHandle(F.exit(pid: 100, ktime: 4_000, processKtime: 1_000, code: 9))
        #expect(killed.exit?.signal == "SIGKILL")
        #expect(killed.exit?.status == 0)
        #expect(cache.count == 0)
        #expect(cache.stats.liveEntries == 0)
    }

    @Test func coreDumpSignalIsNamed() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 7, ktime: 10, ppid: 1))
        let exit = try cache.mustHandle(F.exit(pid: 7, ktime: 20, processKtime: 10, code: 0x80 | 11))
        #expect(exit.exit?.signal == "SIGSEGV")
    }

    @Test func execRecordFlagsMapToProcessFlags() throws {
        var cache = F.cache()
        let all: ExecRecordFlags = [
            .pathTruncated, .cwdTruncated, .argsTruncated, .pathError, .cwdError, .argsError, .deleted,
        ]
        let event = try cache.mustHandle(F.exec(pid: 5, ktime: 5, ppid: 0, flags: all))
        #expect(
            event.process.flags == [
                .execve, .truncFilename, .truncCWD, .truncArgs, .errorFilename, .errorCWD, .errorArgs, .deletedBinary,
            ]
        )
        #expect(cache.stats.parentMisses == 0)  // ppid 0: no parent to miss
    }

    @Test func cloneIsNotExportedAndCopiesTheParent() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/usr/bin/make", "all"], cwd: "/src", uid: 42))
        let cloneEvent = cache.handle(F.clone(pid: 11, ktime: 150, ppid: 10, parentKtime: 100))
        #expect(cloneEvent == nil)
        let clone = try #require(cache.process(pid: 11, ktime: 150))
        #expect(clone.execID == F.id(11, 150))
        #expect(clone.flags == [.clone])
        #expect(clone.binary == F.bytes("/usr/bin/make"))
        #expect(clone.arguments == [F.bytes("all")])
        #expect(clone.cwd == F.bytes("/src"))
        #expect(clone.uid == 42)
        #expect(clone.parentExecID == F.id(10, 100))
        #expect(clone.startTime.nanosecondsSinceEpoch == F.boot + 150)

        // A process that exits without exec is exported with its clone identity.
        let exit = try cache.mustHandle(F.exit(pid: 11, ktime: 160, processKtime: 150))
        #expect(exit.process.execID == F.id(11, 150))
        #expect(exit.process.flags == [.clone])
        #expect(exit.parent?.execID == F.id(10, 100))
        #expect(cache.count == 1)
    }

    @Test func firstExecAfterForkIsExecveCloneWithTheForkerAsParent() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/bin/bash"]))
        _ = cache.handle(F.clone(pid: 11, ktime: 150, ppid: 10, parentKtime: 100))
        let exec = try cache.mustHandle(F.exec(pid: 11, ktime: 200, ppid: 10, parentKtime: 100, argv: ["/bin/ls"]))
        #expect(exec.process.flags == [.execve, .clone])
        #expect(exec.process.execID == F.id(11, 200))
        #expect(exec.parent?.execID == F.id(10, 100))
        #expect(cache.process(pid: 11, ktime: 150) == nil)  // the clone entry was replaced and freed
        #expect(cache.count == 2)
    }

    @Test func execReplacingAnExecHasThePreviousImageAsParent() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/bin/bash"]))
        _ = cache.handle(F.clone(pid: 11, ktime: 150, ppid: 10, parentKtime: 100))
        _ = cache.handle(F.exec(pid: 11, ktime: 200, ppid: 10, parentKtime: 100, argv: ["/bin/sh", "-c", "exec env"]))
        // `exec env` inside sh: same pid, new image (Tetragon's AddExecEvent uses the cleanup key).
        let env = try cache.mustHandle(F.exec(pid: 11, ktime: 300, ppid: 10, parentKtime: 100, argv: ["/usr/bin/env"]))
        #expect(env.process.flags == [.execve])
        #expect(env.parent?.execID == F.id(11, 200))
        #expect(env.parent?.binary == F.bytes("/bin/sh"))
        #expect(env.parent?.refcnt == 1)  // dead, kept for its child
        #expect(cache.count == 3)

        _ = cache.handle(F.exit(pid: 11, ktime: 400, processKtime: 300))
        #expect(cache.count == 1)  // env and the sh image it kept are both gone
    }

    @Test func cloneThenExecInGrandchildLinksThroughTheMiddleCloneEntry() throws {
        var cache = F.cache(ancestors: true)
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/usr/sbin/sshd"]))
        _ = cache.handle(F.clone(pid: 20, ktime: 200, ppid: 10, parentKtime: 100))  // sshd forks, no exec
        _ = cache.handle(F.clone(pid: 30, ktime: 300, ppid: 20, parentKtime: 200))  // and forks again
        let exec = try cache.mustHandle(F.exec(pid: 30, ktime: 400, ppid: 20, parentKtime: 200, argv: ["/bin/bash"]))
        #expect(exec.process.execID == F.id(30, 400))
        #expect(exec.process.parentExecID == F.id(20, 200))
        #expect(exec.process.flags == [.execve, .clone])
        let parent = try #require(exec.parent)
        #expect(parent.execID == F.id(20, 200))
        #expect(parent.flags == [.clone])
        #expect(parent.binary == F.bytes("/usr/sbin/sshd"))
        #expect(parent.parentExecID == F.id(10, 100))
        #expect(exec.ancestors.map(\.execID) == [F.id(10, 100)])

        // The middle process exits; the shell's chain stays whole.
        _ = cache.handle(F.exit(pid: 20, ktime: 500, processKtime: 200))
        let context = try #require(cache.context(pid: 30, ktime: 400))
        #expect(context.parent?.execID == F.id(20, 200))
        #expect(context.parent?.refcnt == 1)
        #expect(context.ancestors.map(\.execID) == [F.id(10, 100)])
    }

    @Test func exitBeforeTheChildExecKeepsTheParentForTheChild() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/usr/bin/daemonize"]))
        _ = cache.handle(F.clone(pid: 11, ktime: 150, ppid: 10, parentKtime: 100))
        let parentExit = try cache.mustHandle(F.exit(pid: 10, ktime: 160, processKtime: 100))
        #expect(parentExit.process.refcnt == 1)  // dead, its forked child still references it
        #expect(cache.count == 2)

        let exec = try cache.mustHandle(F.exec(pid: 11, ktime: 200, ppid: 10, parentKtime: 100, argv: ["/usr/bin/d"]))
        #expect(exec.parent?.execID == F.id(10, 100))
        #expect(exec.parent?.binary == F.bytes("/usr/bin/daemonize"))
        #expect(exec.parent?.refcnt == 1)
        #expect(cache.stats.parentMisses == 0)

        _ = cache.handle(F.exit(pid: 11, ktime: 300, processKtime: 200))
        #expect(cache.count == 0)
    }

    @Test func parentKtimeZeroResolvesToTheCurrentEntryEvenIfItJustExited() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0))
        _ = cache.handle(F.exec(pid: 12, ktime: 120, ppid: 10))  // keeps pid 10 referenced
        _ = cache.handle(F.exit(pid: 10, ktime: 130, processKtime: 0))  // unknown ktime: current entry
        #expect(cache.count == 2)
        let exec = try cache.mustHandle(F.exec(pid: 13, ktime: 140, ppid: 10))
        #expect(exec.parent?.execID == F.id(10, 100))
    }

    @Test func pidReuseDoesNotMixEntries() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 500, ktime: 1_000, ppid: 0, argv: ["/bin/old"]))
        _ = cache.handle(F.exec(pid: 600, ktime: 1_100, ppid: 500, parentKtime: 1_000, argv: ["/bin/child"]))
        _ = cache.handle(F.exit(pid: 500, ktime: 1_200, processKtime: 1_000))
        let new = try cache.mustHandle(F.exec(pid: 500, ktime: 5_000, ppid: 0, argv: ["/bin/new"]))
        #expect(new.process.execID == F.id(500, 5_000))
        #expect(new.parent == nil)
        #expect(new.process.flags == [.execve])  // not a continuation of the old pid 500

        // The old child still points at the old process, the newcomer is separate.
        #expect(cache.context(pid: 600, ktime: 1_100)?.parent?.binary == F.bytes("/bin/old"))
        #expect(cache.context(pid: 500, ktime: 0)?.process.binary == F.bytes("/bin/new"))
        // A late duplicate exit of the old identity changes nothing.
        let lateExit = cache.handle(F.exit(pid: 500, ktime: 5_100, processKtime: 1_000))
        #expect(lateExit == nil)
        #expect(cache.stats.duplicateRecords == 1)
        // Exit with unknown ktime goes to the live holder of the pid.
        let exit = try cache.mustHandle(F.exit(pid: 500, ktime: 6_000, processKtime: 0))
        #expect(exit.process.execID == F.id(500, 5_000))
        #expect(cache.count == 2)  // the child and the old pid 500 it keeps
    }

    @Test func aNewTaskOnALivePidRetiresTheStaleEntry() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 500, ktime: 1_000, ppid: 0, argv: ["/bin/old"], processStart: 900))
        // Its exit was lost; a new task with another start time takes pid 500.
        let new = try cache.mustHandle(F.exec(pid: 500, ktime: 9_000, ppid: 0, argv: ["/bin/new"], processStart: 8_900))
        #expect(new.parent == nil)
        #expect(cache.stats.staleEntries == 1)
        #expect(cache.count == 1)
        // A clone onto a live pid means the same.
        _ = cache.handle(F.clone(pid: 500, ktime: 10_000, ppid: 0))
        #expect(cache.stats.staleEntries == 2)
        #expect(cache.count == 1)
    }

    /// cgroup v1 only hosts: the container comes from the process's v1 paths when its record is
    /// handled; an exec whose process is already gone keeps what its fork inherited.
    @Test func onCgroupV1HostsTheContainerComesFromTheProcessAndIsInherited() throws {
        let container = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        var cache = F.cache(dockerIDOfProcess: { $0 == 500 ? container : nil })
        _ = cache.handle(F.exec(pid: 400, ktime: 50, ppid: 0, cgroupID: 1))
        _ = cache.handle(F.clone(pid: 500, ktime: 100, ppid: 400))
        #expect(cache.process(pid: 500, ktime: 100)?.docker == String(container.prefix(31)))
        let exec = try cache.mustHandle(F.exec(pid: 500, ktime: 110, ppid: 400, cgroupID: 1))
        #expect(exec.process.docker == String(container.prefix(31)))
        // 600 is gone when its records are handled: its fork inherited 500's container.
        _ = cache.handle(F.clone(pid: 600, ktime: 200, ppid: 500, parentKtime: 110))
        let gone = try cache.mustHandle(F.exec(pid: 600, ktime: 210, ppid: 500, parentKtime: 110, cgroupID: 1))
        #expect(gone.process.docker == String(container.prefix(31)))
        // A host process: none.
        let host = try cache.mustHandle(F.exec(pid: 700, ktime: 300, ppid: 400, cgroupID: 1))
        #expect(host.process.docker == nil)
    }

    @Test func exitOfAnUnknownProcessIsExportedWithMiss() throws {
        var cache = F.cache(dockerID: { _ in "0123456789abcdef0123456789abcdef0123456789abcdef" })
        let record = ExitRecord(ktime: 900, cgroupID: 77, pid: 4242, tid: 4243, processKtime: 800, exitCode: 15)
        let exit = try cache.mustHandle(.exit(record))
        #expect(exit.process.flags == [.miss])
        #expect(exit.process.execID == F.id(4242, 800))
        #expect(exit.process.pid == 4242 && exit.process.tid == 4243)
        #expect(exit.process.docker == "0123456789abcdef0123456789abcde")
        #expect(exit.parent == nil)
        #expect(exit.exit?.signal == "SIGTERM")
        #expect(cache.stats.exitMisses == 1)
        #expect(cache.count == 0)

        let unknown = try cache.mustHandle(F.exit(pid: 4244, ktime: 950, processKtime: 0))
        #expect(unknown.process.execID == F.id(4244, 0))
        #expect(cache.stats.exitMisses == 2)
    }

    @Test func anExitWithAnUnknownIdentityRetiresTheLiveEntryOfItsPid() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0))
        _ = cache.handle(F.exec(pid: 11, ktime: 200, ppid: 10, parentKtime: 100))
        // The exec that made identity (11, 300) was dropped; its exit still names pid 11.
        let exit = try cache.mustHandle(F.exit(pid: 11, ktime: 400, processKtime: 300))
        #expect(exit.process.flags == [.miss])
        #expect(exit.process.execID == F.id(11, 300))
        #expect(cache.stats.staleEntries == 1)
        #expect(cache.process(pid: 11, ktime: 200) == nil)
        #expect(cache.count == 1)
    }

    @Test func duplicateRecordsAreIgnored() throws {
        var cache = F.cache()
        let exec = F.exec(pid: 10, ktime: 100, ppid: 0)
        let first = cache.handle(exec)
        let second = cache.handle(exec)
        #expect(first != nil && second == nil)
        _ = cache.handle(F.clone(pid: 11, ktime: 110, ppid: 10, parentKtime: 100))
        _ = cache.handle(F.clone(pid: 11, ktime: 110, ppid: 10, parentKtime: 100))
        _ = try cache.mustHandle(F.exit(pid: 11, ktime: 120, processKtime: 110))
        _ = try cache.mustHandle(F.exit(pid: 10, ktime: 130, processKtime: 100))
        #expect(cache.stats.duplicateRecords == 2)
        #expect(cache.count == 0)
    }

    @Test func cloneWithAMissingParentIsKeptWithMiss() throws {
        var cache = F.cache()
        _ = cache.handle(F.clone(pid: 11, ktime: 110, ppid: 10, parentKtime: 100))
        let clone = try #require(cache.process(pid: 11, ktime: 110))
        #expect(clone.flags == [.clone, .miss])
        #expect(clone.parentExecID == F.id(10, 100))  // the identity the kernel named
        #expect(cache.stats.parentMisses == 1)
        // The exec that follows falls back to nothing but still exports.
        let exec = try cache.mustHandle(F.exec(pid: 11, ktime: 120, ppid: 10, parentKtime: 100))
        #expect(exec.parent == nil)
        #expect(exec.process.parentExecID == F.id(10, 100))
        #expect(exec.process.flags == [.execve, .clone])
    }
}
