// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import FileGuard

#if canImport(Glibc)
import Glibc
#endif

/// fanotify permission events against the running kernel. Each test has its own guard, its own
/// temporary paths (filesystem marks only ever on a private tmpfs), and stops the guard in a
/// defer. Serialized: the cost measurement should not share the machine with the other tests.
@Suite(.serialized, .enabled(if: isRoot, "needs root: fanotify permission events need CAP_SYS_ADMIN"))
struct FileGuardKernelTests {
    @Test func exactPathDenyFailsOpenWithEPERMButNotItsSibling() throws {
        let dir = try TempDir("exact")
        let secret = dir.sub("secret")
        let sibling = dir.sub("sibling")
        try writeFile(secret)
        try writeFile(sibling)
        let reports = Reports()
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 11, kind: .open, match: .exact([secret]))]))
        defer { fg.stop() }
        let result = try fg.start(onDecision: reports.sink)
        #expect(result.problems.isEmpty, "\(result)")
        #expect(result.marks.count == 1)
        #expect(result.marks.first?.key.scope == .inode)

        let denied = cat(secret)
        #expect(denied.deniedEPERM, "cat \(secret): \(denied)")
        #expect(cat(sibling).ok)

        let event = reports.wait { $0.ruleID == 11 }
        #expect(event?.denied == true)
        #expect(event?.errno == EPERM)
        #expect(event?.ruleErrno == EPERM)
        #expect(event?.kind == .open)
        #expect(event?.pathString == secret)
        #expect(event?.binaryString == "/usr/bin/cat")
        #expect(event?.monitor == false)

        // The guard's own process is never denied (it would deadlock on itself otherwise).
        let fd = open(secret, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        if fd >= 0 { close(fd) }
        let c = fg.counters
        #expect(c.denied >= 1)
        #expect(c.ownPid >= 1)
        #expect(c.errors == 0)
    }

    @Test func directoryPrefixDeniesTheWholeSubtree() throws {
        let dir = try TempDir("prefix")
        let mnt = try TmpfsMount(at: dir.sub("mnt"))
        let deep = mnt.path + "/protected/sub/deeper/file"
        let top = mnt.path + "/protected/top"
        let outside = mnt.path + "/other/file"
        let lookalike = mnt.path + "/protected-not/file"
        for p in [deep, top, outside, lookalike] { try writeFile(p) }
        let reports = Reports()
        let rules = FileRuleSet([FileRule(id: 21, kind: .open, match: .prefix([mnt.path + "/protected/"]))])
        let fg = try FanotifyGuard(rules: rules)
        defer { fg.stop() }
        let result = try fg.start(onDecision: reports.sink)
        print(result.plan)
        print(result)
        #expect(result.problems.isEmpty)
        #expect(result.marks.contains { $0.key.scope == .filesystem })
        #expect(result.marks.contains { $0.key.scope == .inode && $0.mask & 0x0800_0000 != 0 })  // directory, ON_CHILD

        #expect(cat(deep).deniedEPERM)
        #expect(cat(top).deniedEPERM)
        #expect(cat(outside).ok)
        #expect(cat(lookalike).ok)
        #expect(reports.wait { $0.pathString == deep && $0.denied } != nil)
        #expect(fg.kernelMarks().contains { $0.hasPrefix("fanotify sdev:") })
    }

    @Test func prefixWithoutFilesystemMarksCoversOneLevel() throws {
        // On the root filesystem (ext4 here): only a directory mark, so no filesystem-wide cost.
        let dir = try TempDir("onelevel")
        let child = dir.sub("d/child")
        let grandchild = dir.sub("d/sub/grandchild")
        try writeFile(child)
        try writeFile(grandchild)
        let options = FanotifyGuard.Options(plan: MarkPlan.Options(subtreeFilesystemMarks: false))
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 22, kind: .open, match: .prefix([dir.sub("d/")]))]), options: options)
        defer { fg.stop() }
        let result = try fg.start { _ in }
        #expect(!result.marks.contains { $0.key.scope == .filesystem })
        #expect(cat(child).deniedEPERM)
        #expect(cat(grandchild).ok)  // the documented limit without subtree marks
    }

    @Test func execDenyFailsSpawnOfACopyWhileTheOriginalRuns() throws {
        let dir = try TempDir("exec")
        let copy = dir.sub("mytrue")
        #expect(run(["/bin/cp", "/bin/true", copy]).ok)
        chmod(copy, 0o755)
        #expect(run([copy]).ok)  // runs before the rule

        let reports = Reports()
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 31, kind: .exec, match: .exact([copy]))]))
        defer { fg.stop() }
        try fg.start(onDecision: reports.sink)

        let spawned = run([copy])
        #expect(spawned.spawnErrno == EPERM, "\(spawned)")
        let viaShell = run(["/bin/sh", "-c", "exec \"$0\"", copy])
        #expect(viaShell.status != 0)
        #expect(viaShell.stderr.contains("Operation not permitted") || viaShell.stderr.contains("Permission denied"), "\(viaShell)")
        #expect(run(["/bin/true"]).ok)
        // An exec rule leaves reading the file alone.
        #expect(cat(copy).ok)

        let event = reports.wait { $0.ruleID == 31 }
        #expect(event?.kind == .exec)
        #expect(event?.denied == true)
        #expect(event?.pathString == copy)
    }

    @Test func monitorModeDeniesNothingButReports() throws {
        let dir = try TempDir("monitor")
        let file = dir.sub("watched")
        try writeFile(file)
        let reports = Reports()
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 41, kind: .open, match: .exact([file]), monitor: true)]))
        defer { fg.stop() }
        try fg.start(onDecision: reports.sink)
        #expect(cat(file).ok)
        let event = reports.wait { $0.ruleID == 41 }
        #expect(event?.denied == false)
        #expect(event?.monitor == true)
        #expect(event?.errno == 0)
        #expect(event?.ruleErrno == EPERM)
        #expect(fg.counters.denied == 0)
    }

    @Test func allowRuleReportsAndBinaryRulesUseTheProcessCache() throws {
        let dir = try TempDir("binary")
        let seen = dir.sub("seen")
        let guarded = dir.sub("guarded")
        try writeFile(seen)
        try writeFile(guarded)
        let reports = Reports()
        let rules = FileRuleSet([
            FileRule(id: 51, kind: .open, match: .exact([seen]), action: .allow),
            // Everyone but `head` (as the process cache names it) is denied.
            FileRule(id: 52, kind: .open, match: .exact([guarded]), binaries: .notIn(["/cache/head"])),
        ])
        let fg = try FanotifyGuard(rules: rules)
        defer { fg.stop() }
        // A stand-in process cache: knows `head` processes under another name, nothing else.
        try fg.start(binaryOf: { pid in
            guard let exe = Sys.exeOf(pid: pid), exe == Array("/usr/bin/head".utf8) else { return nil }
            return Array("/cache/head".utf8)
        }, onDecision: reports.sink)

        #expect(cat(seen).ok)
        let allowed = reports.wait { $0.ruleID == 51 }
        #expect(allowed?.denied == false)
        #expect(allowed?.monitor == false)
        #expect(cat(guarded).deniedEPERM)
        #expect(run(["/usr/bin/head", "-c1", guarded]).ok)
        #expect(reports.wait { $0.ruleID == 52 && $0.binaryString == "/usr/bin/cat" && $0.denied } != nil)
    }

    @Test func applyingAnEmptySetLiftsTheDenyWithinASecond() throws {
        let dir = try TempDir("apply")
        let file = dir.sub("f")
        let later = dir.sub("later")
        try writeFile(file)
        try writeFile(later)
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 61, kind: .open, match: .exact([file]))]))
        defer { fg.stop() }
        try fg.start { _ in }
        #expect(cat(file).deniedEPERM)

        // Swap to another rule: the old file opens, the new one is denied.
        let swapped = fg.apply(rules: FileRuleSet([FileRule(id: 62, kind: .open, match: .exact([later]))]))
        #expect(swapped.added == 1)
        #expect(swapped.removed == 1)
        #expect(swapped.marks.count == 1)
        #expect(cat(file).ok)
        #expect(cat(later).deniedEPERM)

        let result = fg.apply(rules: .empty)
        #expect(result.marks.isEmpty)
        let took = eventually(within: 1) { cat(later).ok }
        #expect(took != nil)
        print("deny lifted \(took.map { "\(Int($0 * 1000)) ms" } ?? "never") after apply(.empty)")
        #expect(fg.kernelMarks().isEmpty, "\(fg.kernelMarks())")
        #expect(fg.marks.isEmpty)
    }

    @Test func rulesAppliedBeforeStartAreMarkedAtStart() throws {
        let dir = try TempDir("deferred")
        let file = dir.sub("f")
        try writeFile(file)
        let fg = try FanotifyGuard(rules: .empty)
        defer { fg.stop() }
        let deferred = fg.apply(rules: FileRuleSet([FileRule(id: 65, kind: .open, match: .exact([file]))]))
        #expect(deferred.deferred)
        #expect(fg.kernelMarks().isEmpty)
        #expect(cat(file).ok)  // no reader yet, so no mark yet
        try fg.start { _ in }
        #expect(cat(file).deniedEPERM)
    }

    @Test func missingExactFileIsCoveredThroughItsDirectory() throws {
        let dir = try TempDir("missing")
        let file = dir.sub("not-yet")
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 66, kind: .open, match: .exact([file]))]))
        defer { fg.stop() }
        let result = try fg.start { _ in }
        #expect(result.problems.count == 1)
        #expect(result.marks.first?.flags ?? 0 != 0)  // FAN_MARK_ONLYDIR: the parent
        try writeFile(file)
        try writeFile(dir.sub("other"))
        #expect(cat(file).deniedEPERM)
        #expect(cat(dir.sub("other")).ok)
    }

    @Test func stopLeavesNoMarks() throws {
        let dir = try TempDir("stop")
        let file = dir.sub("f")
        try writeFile(file)
        let mnt = try TmpfsMount(at: dir.sub("mnt"))
        try writeFile(mnt.path + "/d/x")
        let fg = try FanotifyGuard(rules: FileRuleSet([
            FileRule(id: 71, kind: .open, match: .exact([file])),
            FileRule(id: 72, kind: .open, match: .prefix([mnt.path + "/d/"])),
        ]))
        defer { fg.stop() }
        try fg.start { _ in }
        #expect(cat(file).deniedEPERM)
        #expect(cat(mnt.path + "/d/x").deniedEPERM)
        let before = fg.kernelMarks()
        #expect(before.count == 3, "\(before)")  // file inode, directory inode, tmpfs sb
        fg.stop()
        #expect(fg.kernelMarks().isEmpty)
        #expect(fg.marks.isEmpty)
        #expect(cat(file).ok)
        #expect(cat(mnt.path + "/d/x").ok)
        fg.stop()  // idempotent
        #expect(throws: FileGuardError.self) { try fg.start { _ in } }
    }

    @Test func stopFromInsideTheCallbackDoesNotDeadlock() throws {
        let dir = try TempDir("cbstop")
        let file = dir.sub("f")
        try writeFile(file)
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 73, kind: .open, match: .exact([file]))]))
        defer { fg.stop() }
        try fg.start { [fg] _ in fg.stop() }
        #expect(cat(file).deniedEPERM)
        #expect(eventually(within: 3) { fg.kernelMarks().isEmpty && cat(file).ok } != nil)
    }

    @Test func customErrnoWithAPreContentGroup() throws {
        let dir = try TempDir("errno")
        let file = dir.sub("f")
        try writeFile(file)
        let reports = Reports()
        let fg = try FanotifyGuard(
            rules: FileRuleSet([FileRule(id: 81, kind: .open, match: .exact([file]), action: .deny(errno: EIO))]),
            options: FanotifyGuard.Options(customErrno: true))
        defer { fg.stop() }
        try fg.start(onDecision: reports.sink)
        let r = cat(file)
        let event = try #require(reports.wait { $0.ruleID == 81 })
        #expect(event.denied)
        #expect(event.ruleErrno == EIO)
        // Linux 6.14+ returns the rule's errno; older kernels EPERM. Either way the event says which.
        #expect(event.errno == EIO || event.errno == EPERM)
        #expect(r.stderr.contains(String(cString: strerror(event.errno))), "\(r)")
        print("custom errno: the process got \(String(cString: strerror(event.errno)))")
    }

    /// Four processes open files on a filesystem mark while the rules flip 40 times: every event
    /// is answered (no child hangs), nothing errs, and each rule set is honoured at the end.
    @Test func concurrentOpensWhileRulesFlip() throws {
        let dir = try TempDir("flip")
        let mnt = try TmpfsMount(at: dir.sub("mnt"))
        let a = mnt.path + "/a/file"
        let b = mnt.path + "/b/file"
        try writeFile(a)
        try writeFile(b)
        let denyA = FileRuleSet([FileRule(id: 1, kind: .open, match: .prefix([mnt.path + "/a/"]))])
        let denyB = FileRuleSet([
            FileRule(id: 2, kind: .open, match: .exact([b])),
            FileRule(id: 3, kind: .exec, match: .prefix([mnt.path + "/"])),
        ])
        let fg = try FanotifyGuard(rules: denyA)
        defer { fg.stop() }
        try fg.start { _ in }
        // `{ true < f; } 2>/dev/null`: a failed redirection of the special builtin `:` would end
        // the shell, and an error printed before `2>` applies would fill the stderr pipe.
        let loop = "for j in 1 2 3 4; do (i=0; while [ $i -lt 400 ]; do { true < \"$0\"; } 2>/dev/null; { true < \"$1\"; } 2>/dev/null; i=$((i+1)); done) & done; wait"
        let child = spawn(["/bin/sh", "-c", loop, a, b])
        for i in 0..<40 {
            let result = fg.apply(rules: i % 2 == 0 ? denyB : denyA)
            #expect(result.problems.isEmpty, "\(result)")
            usleep(2_000)
        }
        let done = wait(child, timeout: 60)
        #expect(done.status == 0, "\(done)")
        #expect(cat(a).deniedEPERM)  // denyA is last
        #expect(cat(b).ok)
        let c = fg.counters
        print("flip: \(c)")
        #expect(c.errors == 0)
        #expect(c.events > 0)
        #expect(c.events == c.denied + c.allowed)
    }

    /// What a filesystem mark costs: every open on the filesystem is a permission round trip to
    /// the agent, even for files no rule covers. Measured with a shell loop of opens of a file
    /// outside the prefix, with and without the guard.
    @Test func filesystemMarkCost() throws {
        let dir = try TempDir("cost")
        let mnt = try TmpfsMount(at: dir.sub("mnt"))
        let file = mnt.path + "/unrelated"
        try writeFile(file)
        try writeFile(mnt.path + "/protected/x")
        let n = 5000
        let loop = ["/bin/sh", "-c", "i=0; while [ $i -lt \(n) ]; do : < \"$0\"; i=$((i+1)); done", file]
        func timed() -> Double {
            let start = Sys.monotonicNanos()
            #expect(run(loop, timeout: 60).ok)
            return Double(Sys.monotonicNanos() - start) / 1e9
        }
        _ = timed()
        let bare = min(timed(), timed())
        let fg = try FanotifyGuard(rules: FileRuleSet([FileRule(id: 91, kind: .open, match: .prefix([mnt.path + "/protected/"]))]))
        defer { fg.stop() }
        try fg.start { _ in }
        let before = fg.counters.events
        let guarded = min(timed(), timed())
        let events = fg.counters.events - before
        #expect(events >= UInt64(2 * n))
        let perOpen = (guarded - bare) / Double(n) * 1e6
        print("filesystem mark cost: \(n) opens \(Int(bare * 1000)) ms bare, \(Int(guarded * 1000)) ms with a filesystem mark -> +\(String(perOpen)) us per open (\(events) permission events)")
    }
}

/// What a guard says when it cannot be created.
@Suite struct FileGuardErrorTests {
    @Test func initFailureNamesTheCapabilityAndKernelOption() {
        let e = FileGuardError.initFailed(errno: EPERM).description
        #expect(e.contains("CAP_SYS_ADMIN"))
        #expect(FileGuardError.initFailed(errno: EINVAL).description.contains("CONFIG_FANOTIFY_ACCESS_PERMISSIONS"))
        #expect(FileGuardError.initFailed(errno: ENOSYS).description.contains("CONFIG_FANOTIFY_ACCESS_PERMISSIONS"))
    }

    @Test(.enabled(if: !isRoot, "as root fanotify_init succeeds; this checks the unprivileged error"))
    func withoutPrivilegeInitFailsWithEPERM() {
        #expect(throws: FileGuardError.initFailed(errno: EPERM)) { try FanotifyGuard(rules: .empty) }
    }
}
