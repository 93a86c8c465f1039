// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation
import Glibc
import ProcessCache
import Testing

@Suite struct ProcFSTests {
    @Test func realProcContainsThisTestProcess() throws {
        let processes = try ProcFS.scan()
        let me = try #require(processes.first { $0.pid == UInt32(getpid()) })
        #expect(me.ppid == UInt32(getppid()))
        #expect(me.argv == CommandLine.arguments.map { Array($0.utf8) })
        #expect(me.binary == readLink("/proc/self/exe"))
        #expect(!me.binaryDeleted && !me.binaryUnreadable)
        #expect(me.cwd == readLink("/proc/self/cwd"))
        #expect(me.credentials.uid == getuid())
        #expect(me.credentials.euid == geteuid())
        #expect(me.credentials.gid == getgid())
        #expect(me.namespaces.pid != 0 && me.namespaces.net != 0 && me.namespaces.mnt != 0)
        #expect(!me.comm.isEmpty)
        #expect(me.startKtime > 0 && me.startKtime <= me.scanKtime)

        // Sorted by start time; no kernel threads.
        #expect(zip(processes, processes.dropFirst()).allSatisfy { $0.startKtime <= $1.startKtime })
        #expect(!processes.contains { $0.pid == 2 || $0.ppid == 2 })
    }

    @Test func scanSeedsACacheThatKnowsThisProcess() throws {
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: .current())
        let events = cache.seed(try ProcFS.scan())
        let me = try #require(events.first { $0.process.pid == UInt32(getpid()) })
        #expect(me.process.flags.contains(.procFS))
        #expect(me.parent?.pid == UInt32(getppid()))
    }

    @Test func fakeProcTreeIsParsedRobustly() throws {
        let root = try FakeProc()
        defer { root.remove() }
        let hz = UInt64(sysconf(Int32(_SC_CLK_TCK)))

        // comm with spaces and parentheses; deleted binary; empty argument kept.
        try root.process(
            pid: 100, comm: "we ir) (d", ppid: 1, startTicks: 250,
            status: "Name:\tx\nTgid:\t100\nUid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\n"
                + "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000000400\nNSpid:\t100\t7\n",
            cmdline: Array("/opt/x\u{0}\u{0}a b\u{0}".utf8), exe: "/opt/x (deleted)", cwd: "/", loginuid: "1000",
            ns: ["net": "net:[4026531840]", "pid": "pid:[4026531836]", "user": "user:[4026531837]"]
        )
        try root.process(pid: 1, comm: "init", ppid: 0, startTicks: 1, cmdline: Array("/sbin/init\u{0}".utf8),
            exe: "/usr/lib/systemd/systemd", cwd: "/",
            ns: ["net": "net:[4026531840]", "uts": "uts:[4026531838]", "pid": "pid:[4026531836]"])
        try root.process(pid: 3, comm: "kworker/0:0", ppid: 2, startTicks: 2)  // kernel thread
        try root.process(pid: 2, comm: "kthreadd", ppid: 0, startTicks: 1)
        try root.process(pid: 200, comm: "zombie", ppid: 1, startTicks: 5, state: "Z")
        try root.process(pid: 201, comm: "kt", ppid: 1, startTicks: 5, flags: 0x0020_0040)  // PF_KTHREAD
        try root.directory("300")  // vanished: no stat
        try root.directory("sys")  // not a pid
        try root.process(pid: 400, comm: "noexe", ppid: 1, startTicks: 9, cmdline: Array("sleep\u{0}60\u{0}".utf8))

        let processes = try ProcFS.scan(procRoot: root.path)
        #expect(processes.map(\.pid) == [1, 400, 100])

        let weird = processes[2]
        #expect(weird.comm == Array("we ir) (d".utf8))
        #expect(weird.ppid == 1)
        #expect(weird.startKtime == 250 * 1_000_000_000 / hz)
        #expect(weird.argv == [Array("/opt/x".utf8), [], Array("a b".utf8)])
        #expect(weird.binary == Array("/opt/x".utf8))
        #expect(weird.binaryDeleted)
        #expect(weird.cwd == Array("/".utf8))
        #expect(weird.auid == 1000)
        #expect(weird.nspid == 7)
        #expect(weird.credentials.uid == 1000 && weird.credentials.euid == 1001)
        #expect(weird.credentials.suid == 1002 && weird.credentials.fsuid == 1003)
        #expect(weird.credentials.gid == 2000 && weird.credentials.egid == 2001)
        #expect(weird.credentials.sgid == 2002 && weird.credentials.fsgid == 2003)
        #expect(weird.credentials.capPermitted == 0x1ff_ffff_ffff)
        #expect(weird.credentials.capEffective == 0x400)
        #expect(weird.namespaces.net == 4_026_531_840)
        #expect(weird.namespaces.pid == 4_026_531_836)
        #expect(weird.namespaces.user == 4_026_531_837)
        #expect(weird.namespaces.mnt == 0)

        let noExe = processes[1]
        #expect(noExe.binaryUnreadable)
        #expect(noExe.binary == Array("sleep".utf8))  // argv[0] stands in
        #expect(noExe.cwdUnreadable)
        #expect(noExe.auid == UInt32.max)

        let host = ProcFS.hostNamespaces(procRoot: root.path)
        #expect(host.inum(.net) == 4_026_531_840 && host.inum(.uts) == 4_026_531_838)
        #expect(host.inum(.pid) == 4_026_531_836 && host.inum(.mnt) == nil)

        // Seeding from it gives the flags Tetragon would show.
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0))
        let events = cache.seed(processes)
        #expect(events.map(\.process.flags) == [
            [.procFS, .rootcwd], [.procFS, .errorFilename, .errorCWD], [.procFS, .rootcwd, .deletedBinary],
        ])
        #expect(events[2].process.arguments == [[], Array("a b".utf8)])
    }

    @Test func missingProcRootThrows() {
        #expect(throws: ProcFSError.self) { try ProcFS.scan(procRoot: "/nonexistent-vigil-proc") }
    }

    private func readLink(_ path: String) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count)
        return count > 0 ? buffer[0..<count].map { UInt8(bitPattern: $0) } : []
    }
}

/// A throw-away directory shaped like `/proc`.
struct FakeProc {
    let path: String
    private let files = FileManager.default

    init() throws {
        path = NSTemporaryDirectory() + "vigil-fakeproc-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try files.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? files.removeItem(atPath: path) }

    func directory(_ name: String) throws {
        try files.createDirectory(atPath: "\(path)/\(name)", withIntermediateDirectories: true)
    }

    func process(
        pid: UInt32, comm: String, ppid: UInt32, startTicks: UInt64, state: String = "S", flags: UInt64 = 0x40_0100,
        status: String = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", cmdline: [UInt8] = [], exe: String? = nil,
        cwd: String? = nil, loginuid: String? = nil, ns: [String: String] = [:]
    ) throws {
        let dir = "\(path)/\(pid)"
        try directory("\(pid)")
        // Fields 3...52 of stat; field N sits at index N - 3.
        var fields = [String](repeating: "0", count: 50)
        fields[0] = state
        fields[1] = "\(ppid)"
        fields[6] = "\(flags)"
        fields[19] = "\(startTicks)"
        let stat = "\(pid) (\(comm)) " + fields.joined(separator: " ") + "\n"
        try Data(stat.utf8).write(to: URL(fileURLWithPath: "\(dir)/stat"))
        try Data(status.utf8).write(to: URL(fileURLWithPath: "\(dir)/status"))
        try Data(cmdline).write(to: URL(fileURLWithPath: "\(dir)/cmdline"))
        if let loginuid { try Data(loginuid.utf8).write(to: URL(fileURLWithPath: "\(dir)/loginuid")) }
        if let exe { try files.createSymbolicLink(atPath: "\(dir)/exe", withDestinationPath: exe) }
        if let cwd { try files.createSymbolicLink(atPath: "\(dir)/cwd", withDestinationPath: cwd) }
        if !ns.isEmpty {
            try directory("\(pid)/ns")
            for (name, target) in ns {
                try files.createSymbolicLink(atPath: "\(dir)/ns/\(name)", withDestinationPath: target)
            }
        }
    }
}
