// SPDX-License-Identifier: Apache-2.0
import Events
import Glibc
import ProcessCache
import Testing

/// Where the host's namespaces come from: pid 1 when it is the kernel's init, else kthreadd,
/// else the kernel's fixed numbers; mnt and net have none and stay unknown, with the reason.
@Suite struct HostNamespacesTests {
    static let hostLinks = [
        "uts": "uts:[4026531838]", "ipc": "ipc:[4026531839]", "mnt": "mnt:[4026531832]", "pid": "pid:[4026531836]",
        "pid_for_children": "pid:[4026531836]", "net": "net:[4026531833]", "cgroup": "cgroup:[4026531835]",
        "user": "user:[4026531837]",
    ]
    static let pfKthread: UInt64 = 0x0020_0000

    /// The live reader, except that `denied` paths fail with EACCES (root on a machine whose
    /// pid 1 refuses ptrace-read access).
    static func reader(denying denied: @escaping @Sendable (String) -> Bool) -> ProcFS.NamespaceReader {
        ProcFS.NamespaceReader(
            readLink: { path in
                denied(path) ? .failure(.init(errno: EACCES)) : ProcFS.NamespaceReader.live.readLink(path)
            },
            readFile: ProcFS.NamespaceReader.live.readFile)
    }

    @Test func pidOneThatIsTheKernelsInitIsReadFirst() throws {
        let root = try FakeProc()
        defer { root.remove() }
        var links = Self.hostLinks
        links["mnt"] = "mnt:[4026532100]"  // differs from kthreadd's: pid 1 wins
        try root.process(pid: 1, comm: "systemd", ppid: 0, startTicks: 1, ns: links)
        try root.process(pid: 2, comm: "kthreadd", ppid: 0, startTicks: 1, flags: Self.pfKthread, ns: Self.hostLinks)
        let host = ProcFS.hostNamespaces(procRoot: root.path)
        #expect(host.inum(.mnt) == 4_026_532_100 && host.inum(.net) == 4_026_531_833)
        #expect(host.sources[.mnt] == .read(path: root.path + "/1/ns/mnt"))
        #expect(NamespaceKind.allCases.allSatisfy { host.sources[$0] == .read(path: root.path + "/1/ns/\($0.rawValue)") })
    }

    /// This machine: root gets EACCES on /proc/1/ns/*; kthreadd's links are readable.
    @Test func unreadablePidOneFallsBackToKthreadd() throws {
        let root = try FakeProc()
        defer { root.remove() }
        try root.process(pid: 1, comm: "init", ppid: 0, startTicks: 1, ns: Self.hostLinks)
        try root.process(pid: 2, comm: "kthreadd", ppid: 0, startTicks: 1, flags: Self.pfKthread, ns: Self.hostLinks)
        let prefix = root.path + "/1/"
        let host = ProcFS.hostNamespaces(procRoot: root.path, reader: Self.reader { $0.hasPrefix(prefix) })
        #expect(host.inum(.mnt) == 4_026_531_832 && host.inum(.net) == 4_026_531_833)
        #expect(host.inum(.pid) == 4_026_531_836 && host.inum(.user) == 4_026_531_837)
        #expect(host.sources[.net] == .read(path: root.path + "/2/ns/net"))
    }

    /// Neither pid 1 nor a kernel thread: the kernel's fixed numbers, and mnt/net unknown with
    /// what could not be read.
    @Test func noSourceLeavesMntAndNetUnknownAndUsesTheFixedNumbers() throws {
        let root = try FakeProc()
        defer { root.remove() }
        try root.process(pid: 1, comm: "init", ppid: 0, startTicks: 1, ns: Self.hostLinks)
        try root.process(pid: 2, comm: "bash", ppid: 1, startTicks: 2, ns: Self.hostLinks)  // not a kernel thread
        let prefix = root.path + "/1/"
        let host = ProcFS.hostNamespaces(procRoot: root.path, reader: Self.reader { $0.hasPrefix(prefix) })
        let fixed: [NamespaceKind: UInt32] = [
            .ipc: 0xEFFF_FFFF, .uts: 0xEFFF_FFFE, .user: 0xEFFF_FFFD, .pid: 0xEFFF_FFFC, .pidForChildren: 0xEFFF_FFFC,
            .cgroup: 0xEFFF_FFFB,
        ]
        for (kind, inum) in fixed {
            #expect(host.inum(kind) == inum, "\(kind)")
            #expect(host.sources[kind] == .kernelFixed, "\(kind)")
        }
        for kind in [NamespaceKind.mnt, .net] {
            #expect(host.inum(kind) == nil)
            let reason = try #require(host.reason(kind))
            #expect(reason.contains("cannot read \(root.path)/1/ns/pid: Permission denied"), "\(reason)")
            #expect(reason.contains("\(root.path)/2 is not kthreadd"), "\(reason)")
            #expect(reason.hasSuffix("the kernel fixes no number for its initial \(kind.rawValue) namespace"), "\(reason)")
        }
        #expect(host.knownOrZero.mnt == 0 && host.knownOrZero.net == 0)
        #expect(host.summary.contains("pid=4026531836 (kernel's fixed number)"))
        #expect(host.summary.contains("mnt unknown (cannot read"))
    }

    /// A container's /proc (no hostPID): pid 1 is the container's first process, readable, but
    /// its namespaces are the container's, not the host's.
    @Test func pidOneOutsideTheInitialPidNamespaceIsNotTheHost() throws {
        let root = try FakeProc()
        defer { root.remove() }
        try root.process(pid: 1, comm: "sh", ppid: 0, startTicks: 1, ns: [
            "pid": "pid:[4026532500]", "mnt": "mnt:[4026532501]", "net": "net:[4026532502]", "uts": "uts:[4026532503]",
        ])
        let host = ProcFS.hostNamespaces(procRoot: root.path)
        #expect(host.inum(.uts) == 0xEFFF_FFFE && host.inum(.pid) == 0xEFFF_FFFC)
        #expect(host.inum(.mnt) == nil && host.inum(.net) == nil)
        #expect(host.reason(.net)?.contains("\(root.path)/1 is in pid:[4026532500], not the initial pid namespace") == true)
    }

    /// The running machine: every kind is known or says why not, and none is 0.
    @Test func thisMachine() {
        let host = ProcFS.hostNamespaces()
        for kind in NamespaceKind.allCases {
            if let inum = host.inum(kind) {
                #expect(inum != 0)
            } else {
                #expect(host.reason(kind)?.isEmpty == false)
            }
        }
    }
}
