// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `raw: true` tracepoints through the real agent: Tetragon's rawtp.yaml hook
/// (sched/sched_process_exec, its TP_PROTO arguments: the old pid and the linux_binprm), on two
/// copies of /bin/true the test owns. One copy is reported with its arguments, the other killed
/// at its exec, inside the agent's fence.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct RawTracepointKernelTests {
    static func policy(name: String, binary: String, action: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          tracepoints:
          - subsystem: sched
            event: sched_process_exec
            raw: true
            args:
            - index: 1
              type: int
            - index: 2
              type: linux_binprm
            selectors:
            - matchArgs:
              - index: 2
                operator: Equal
                values: ["\(binary)"]
              matchActions:
              - action: \(action)
        """
    }

    @Test func theTracepointsOwnArgumentsAreReportedAndSigkillStopsTheExec() throws {
        let dir = try TempDir("vigil-rawtp")
        defer { dir.remove() }
        let unique = UUID().uuidString.prefix(8)
        let reported = try dir.copy("/bin/true", as: "rawtp-reported-\(unique)")
        let killed = try dir.copy("/bin/true", as: "rawtp-killed-\(unique)")
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try Self.policy(name: "rawtp-post", binary: reported, action: "Post")
            .write(toFile: "\(policies)/post.yaml", atomically: true, encoding: .utf8)
        try Self.policy(name: "rawtp-kill", binary: killed, action: "Sigkill")
            .write(toFile: "\(policies)/kill.yaml", atomically: true, encoding: .utf8)

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["rawtp-post", "rawtp-kill"] { try agent.waitForLog("policy=\(name)") }
        #expect(agent.log.contains("sched/sched_process_exec (raw tracepoint)"), "\(agent.log)")

        #expect(try agent.run(reported, argv: [Array("rawtp".utf8)]) == 0)
        let status = try agent.run(killed, argv: [Array("rawtp".utf8)])
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")

        let event = try agent.waitFor("the raw tracepoint event") { $0.policyName == "rawtp-post" }
        #expect(event.type == "process_tracepoint", "\(event.line)")
        #expect(event.body["subsys"] as? String == "sched")
        #expect(event.body["event"] as? String == "sched_process_exec")
        #expect(event.binary == reported)
        // The old pid is the process's own: exec keeps the pid of a single-threaded process.
        #expect(event.args.first?["int_arg"] as? Int == event.pid, "\(event.line)")
        #expect((event.args.last?["linux_binprm_arg"] as? [String: Any])?["path"] as? String == reported, "\(event.line)")
        #expect(event.vigil["mechanism"] as? String == "raw_tracepoint sched/sched_process_exec", "\(event.line)")

        let kill = try agent.waitFor("the Sigkill event") { $0.policyName == "rawtp-kill" }
        #expect(kill.action == "KPROBE_ACTION_SIGKILL", "\(kill.line)")
        #expect(kill.binary == killed)
        agent.poll()
        #expect(agent.events.filter { $0.policyName == "rawtp-post" }.count == 1, "matchArgs let another exec through")
    }

    /// Kernel objects as Tetragon renders them, read from raw tracepoint arguments on this
    /// kernel: a dentry (ext4_unlink_exit: path_arg, the path within its filesystem), a kiocb
    /// (iomap_dio_rw_begin, an O_DIRECT write: file_arg) and a net_device (net_dev_xmit: its
    /// name). Post only, each matched to what the test did (unique names, a copy of bash).
    @Test(
        .enabled(
            if: ["ext4/ext4_unlink_exit", "iomap/iomap_dio_rw_begin", "net/net_dev_xmit"].allSatisfy {
                FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/\($0)/format")
            }, "needs the ext4, iomap and net tracepoints"))
    func dentryKiocbAndNetDeviceArguments() throws {
        let dir = try TempDir("vigil-rawtp-objects")
        defer { dir.remove() }
        // The mount the directory is on (the longest mount point above it) must be ext4.
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: " ").map(String.init) }.filter { $0.count > 2 }
        let mount = mounts.filter { dir.path.hasPrefix($0[1] == "/" ? "/" : $0[1] + "/") }.max { $0[1].count < $1[1].count }
        try #require(mount?[2] == "ext4", "the temp directory is on \(mount?[2] ?? "?"), not ext4")
        let unique = UUID().uuidString.prefix(8)
        let bash = try dir.copy("/bin/bash", as: "rawtp-bash-\(unique)")
        let unlinked = "\(dir.path)/unlinked-\(unique)"
        let direct = "\(dir.path)/direct-\(unique)"
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        func tracepoint(_ name: String, _ subsystem: String, _ event: String, _ index: Int, _ type: String, _ selector: String) throws {
            try """
                apiVersion: cilium.io/v1alpha1
                kind: TracingPolicy
                metadata:
                  name: \(name)
                spec:
                  tracepoints:
                  - subsystem: \(subsystem)
                    event: \(event)
                    raw: true
                    args:
                    - index: \(index)
                      type: \(type)
                    selectors:
                    - \(selector)
                """.write(toFile: "\(policies)/\(name).yaml", atomically: true, encoding: .utf8)
        }
        try tracepoint(
            "rawtp-dentry", "ext4", "ext4_unlink_exit", 0, "dentry",
            "matchArgs:\n      - index: 0\n        operator: Postfix\n        values: [\"/unlinked-\(unique)\"]")
        try tracepoint(
            "rawtp-kiocb", "iomap", "iomap_dio_rw_begin", 0, "kiocb",
            "matchArgs:\n      - index: 0\n        operator: Postfix\n        values: [\"/direct-\(unique)\"]")
        try tracepoint(
            "rawtp-netdev", "net", "net_dev_xmit", 2, "net_device",
            "matchBinaries:\n      - operator: In\n        values: [\"\(bash)\"]")
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["rawtp-dentry", "rawtp-kiocb", "rawtp-netdev"] { try agent.waitForLog("policy=\(name)") }

        try Data("x".utf8).write(to: URL(fileURLWithPath: unlinked))
        #expect(unlink(unlinked) == 0)
        // An O_DIRECT write of one aligned block: ext4 sends it through iomap's direct I/O.
        let fd = open(direct, O_WRONLY | O_CREAT | 0o40000 /* O_DIRECT */, 0o600)
        try #require(fd >= 0, "open O_DIRECT: \(String(cString: strerror(errno)))")
        var block: UnsafeMutableRawPointer?
        try #require(posix_memalign(&block, 4096, 4096) == 0)
        defer { free(block) }
        let aligned = try #require(block)
        memset(aligned, 0x61, 4096)
        #expect(write(fd, aligned, 4096) == 4096, "\(String(cString: strerror(errno)))")
        close(fd)
        #expect(try agent.run(bash, argv: ["bash", "-c", "echo vigil > /dev/udp/127.0.0.1/9"].map { Array($0.utf8) }) == 0)

        let dentry = try agent.waitFor("the dentry event") { $0.policyName == "rawtp-dentry" }
        #expect((dentry.args.first?["path_arg"] as? [String: Any])?["path"] as? String == unlinked, "\(dentry.line)")
        let kiocb = try agent.waitFor("the kiocb event") { $0.policyName == "rawtp-kiocb" }
        #expect((kiocb.args.first?["file_arg"] as? [String: Any])?["path"] as? String == direct, "\(kiocb.line)")
        let netdev = try agent.waitFor("the net_device event") { $0.policyName == "rawtp-netdev" }
        #expect(netdev.args.first?["string_arg"] as? String == "lo", "\(netdev.line)")
        #expect(netdev.binary == bash)
    }
}
