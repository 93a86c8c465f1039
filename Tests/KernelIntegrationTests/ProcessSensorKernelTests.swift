// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The real agent, the real BPF programs, real execs: each test matches only the events of
/// binaries it copied to a unique path, and of processes it started itself.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ProcessSensorKernelTests {
    @Test func execAndExitCarryPathArgumentsCwdAndParent() throws {
        let agent = try AgentHarness()
        let dir = try TempDir("vigil-exec")
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        let binary = try dir.copy("/bin/true", as: "true-\(UUID().uuidString.prefix(8))")
        let cwd = "\(dir.path)/work dir"
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: false)
        let argv: [[UInt8]] = [
            Array("true".utf8), Array("with space".utf8), Array("quo\"te".utf8), [0x66, 0xff, 0x6f],
            Array("héllo".utf8),
        ]
        let status = try Spawn.run(binary, argv: argv, cwd: cwd)
        #expect(status == 0)

        let exec = try agent.waitFor("process_exec of \(binary)") {
            $0.type == "process_exec" && $0.binary == binary
        }
        #expect(exec.process["cwd"] as? String == cwd)
        #expect(exec.process["arguments"] as? String == #""with space" quo"te f\xffo héllo"#)
        #expect(exec.process["uid"] as? Int == Int(getuid()))
        #expect((exec.process["flags"] as? String)?.split(separator: " ").contains("execve") == true)
        #expect(exec.process["tid"] as? Int == exec.pid)
        #expect(exec.process["start_time"] as? String != nil)
        #expect(exec.json["node_name"] as? String == agent.nodeName)

        // The parent is this test process, known from the agent's /proc scan.
        #expect(exec.parent["pid"] as? Int == Int(getpid()))
        let ktime = try #require(SelfProcess.startKtime())
        let myExecID = SelfProcess.execID(node: agent.nodeName, ktime: ktime, pid: getpid())
        #expect(exec.parent["exec_id"] as? String == myExecID)
        #expect(exec.process["parent_exec_id"] as? String == myExecID)
        #expect((exec.parent["flags"] as? String)?.contains("procFS") == true)

        let exit = try agent.waitFor("process_exit of \(binary)") {
            $0.type == "process_exit" && $0.execID == exec.execID
        }
        #expect(exit.body["status"] == nil)  // 0 is omitted, as protojson does
        #expect(exit.body["signal"] == nil)
        #expect(exit.parent["exec_id"] as? String == myExecID)
    }

    @Test func exitStatusAndKillingSignalAreReported() throws {
        let agent = try AgentHarness()
        let dir = try TempDir("vigil-exit")
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        let failing = try dir.copy("/bin/false", as: "false-\(UUID().uuidString.prefix(8))")
        try Spawn.run(failing, argv: [Array("false".utf8)])
        let sleeper = try dir.copy("/bin/sleep", as: "sleep-\(UUID().uuidString.prefix(8))")
        let pid = try Spawn.start(sleeper, ["30"])
        _ = try agent.waitFor("process_exec of \(sleeper)") { $0.type == "process_exec" && $0.binary == sleeper }
        kill(pid, SIGKILL)
        Spawn.wait(pid)

        let failed = try agent.waitFor("process_exit of \(failing)") {
            $0.type == "process_exit" && $0.binary == failing
        }
        #expect(failed.body["status"] as? Int == 1)
        #expect(failed.body["signal"] == nil)
        let killed = try agent.waitFor("process_exit of \(sleeper)") {
            $0.type == "process_exit" && $0.binary == sleeper
        }
        #expect(killed.body["signal"] as? String == "SIGKILL")
        #expect(killed.pid == Int(pid))
    }

    @Test func relativeAndSymlinkExecsReportTheResolvedPath() throws {
        let agent = try AgentHarness()
        let dir = try TempDir("vigil-rel")
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        let binary = try dir.copy("/bin/true", as: "prog")
        let link = "\(dir.path)/link-to-prog"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "prog")
        try Spawn.run("./prog", argv: [Array("./prog".utf8), Array("relative".utf8)], cwd: dir.path)
        try Spawn.run(link, argv: [Array(link.utf8), Array("symlink".utf8)], cwd: "/")

        let relative = try agent.waitFor("exec of ./prog") {
            $0.type == "process_exec" && $0.process["arguments"] as? String == "relative" && $0.binary == binary
        }
        #expect(relative.process["cwd"] as? String == dir.path)
        let viaLink = try agent.waitFor("exec through the symlink") {
            $0.type == "process_exec" && $0.process["arguments"] as? String == "symlink" && $0.binary == binary
        }
        #expect(viaLink.process["cwd"] as? String == "/")
        #expect((viaLink.process["flags"] as? String)?.contains("rootcwd") == true)
    }

    @Test func forkWithoutExecThenExecInGrandchildKeepsTheParentChain() throws {
        let agent = try AgentHarness()
        let dir = try TempDir("vigil-fork")
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        let shell = try dir.copy("/bin/dash", as: "sh-\(UUID().uuidString.prefix(8))")
        let prog = try dir.copy("/bin/true", as: "grandchild")
        // The subshell forks without exec; `./grandchild` is not its last command, so it forks
        // again and the grandchild execs.
        try Spawn.run(shell, argv: [Array("sh".utf8), Array("-c".utf8), Array("( ./grandchild; true )".utf8)], cwd: dir.path)

        let shellExec = try agent.waitFor("exec of the shell") { $0.type == "process_exec" && $0.binary == shell }
        let grandchild = try agent.waitFor("exec of the grandchild") {
            $0.type == "process_exec" && $0.binary == prog
        }
        let subshell = grandchild.parent
        #expect((subshell["flags"] as? String)?.split(separator: " ").contains("clone") == true)
        #expect(subshell["binary"] as? String == shell)
        #expect(subshell["pid"] as? Int != shellExec.pid)
        #expect(subshell["parent_exec_id"] as? String == shellExec.execID)
        #expect(shellExec.parent["pid"] as? Int == Int(getpid()))
    }

    @Test func fiveHundredConcurrentProcessesLoseNothing() throws {
        let agent = try AgentHarness()
        let dir = try TempDir("vigil-storm")
        defer {
            agent.cleanUp()
            dir.remove()
        }
        let binary = try dir.copy("/bin/true", as: "storm-\(UUID().uuidString.prefix(8))")
        let pids = try (0..<500).map { i in try Spawn.start(binary, ["\(i)"]) }
        for pid in pids { Spawn.wait(pid) }

        let execs = try agent.waitFor(count: 500, "exec events") { $0.type == "process_exec" && $0.binary == binary }
        let exits = try agent.waitFor(count: 500, "exit events") { $0.type == "process_exit" && $0.binary == binary }
        #expect(execs.count == 500)
        #expect(exits.count == 500)
        #expect(Set(execs.compactMap(\.pid)) == Set(pids.map(Int.init)))
        #expect(Set(execs.compactMap { $0.process["arguments"] as? String }) == Set((0..<500).map { "\($0)" }))
        let log = agent.stop()
        #expect(log.contains("kernel_drops=0"), "agent log: \(log)")
        #expect(log.contains("queue_drops=0"), "agent log: \(log)")
    }

    @Test func processStartedBeforeTheAgentIsKnownFromProcFS() throws {
        let dir = try TempDir("vigil-procfs")
        defer { dir.remove() }
        let shell = try dir.copy("/bin/dash", as: "early-\(UUID().uuidString.prefix(8))")
        let child = try dir.copy("/bin/true", as: "late-child")
        let fifo = "\(dir.path)/go"
        mkfifo(fifo, 0o600)
        // Started before the agent: waits on the fifo, then forks+execs a child and exits 3.
        let early = try Spawn.start(
            shell, argv: [Array("sh".utf8), Array("-c".utf8), Array("read x < go; ./late-child; exit 3".utf8)],
            cwd: dir.path)

        let agent = try AgentHarness()
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let scanned = try agent.waitFor("procFS entry of the early process") {
            $0.type == "process_exec" && $0.pid == Int(early)
        }
        #expect((scanned.process["flags"] as? String)?.contains("procFS") == true)
        #expect(scanned.binary == shell)

        let writer = open(fifo, O_WRONLY)
        _ = write(writer, "go\n", 3)
        close(writer)
        Spawn.wait(early)

        let childExec = try agent.waitFor("exec of the late child") {
            $0.type == "process_exec" && $0.binary == child
        }
        #expect(childExec.parent["pid"] as? Int == Int(early))
        #expect(childExec.parent["exec_id"] as? String == scanned.execID)
        #expect((childExec.parent["flags"] as? String)?.contains("procFS") == true)
        let exit = try agent.waitFor("exit of the early process") {
            $0.type == "process_exit" && $0.pid == Int(early)
        }
        #expect(exit.execID == scanned.execID)
        #expect(exit.body["status"] as? Int == 3)
        #expect((exit.process["flags"] as? String)?.contains("procFS") == true)
    }
}

/// The command line as a user meets it: usage errors, unwritable outputs, missing privileges.
@Suite struct AgentCommandLineTests {
    func run(_ args: [String], asNobody: Bool = false) throws -> (status: Int32, stderr: String) {
        let dir = try TempDir("vigil-cli")
        defer { dir.remove() }
        let errPath = "\(dir.path)/stderr"
        chmod(dir.path, 0o777)
        var argv = [AgentHarness.binaryPath] + args
        var path = AgentHarness.binaryPath
        if asNobody {
            argv = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"] + argv
            path = "/usr/bin/setpriv"
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, &cArgs, environ) == 0 else {
            throw Spawn.Failure(description: "cannot start \(path)")
        }
        let status = Spawn.wait(pid)
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return ((status >> 8) & 0xff, stderr)
    }

    @Test func unknownFlagIsAUsageErrorWithExitTwo() throws {
        let result = try run(["--no-such-flag"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--no-such-flag"), "stderr: \(result.stderr)")
    }

    @Test func badValueNamesTheFlag() throws {
        let result = try run(["--rb-size", "3000"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--rb-size"), "stderr: \(result.stderr)")
    }

    @Test func helpExitsZero() throws {
        #expect(try run(["--help"]).status == 0)
    }

    @Test func unwritableExportFileFailsBeforeLoadingAnything() throws {
        let result = try run(["--export-filename", "/proc/version/events.log"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("/proc/version/events.log"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("process sensor attached"))
    }

    @Test(.requiresRoot) func withoutPrivilegesTheMissingCapabilityIsNamed() throws {
        let result = try run([], asNobody: true)
        #expect(result.status != 0)
        #expect(result.stderr.contains("CAP_BPF"), "stderr: \(result.stderr)")
    }
}

@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ProcessSensorFallbackKernelTests {
    /// The raw_tp programs are the fallback where tp_btf cannot attach: they must work as well.
    @Test func rawTracepointModeReportsExecAndExit() throws {
        let agent = try AgentHarness(arguments: ["--attach-mode", "raw_tp"])
        let dir = try TempDir("vigil-rawtp")
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        let binary = try dir.copy("/bin/true", as: "raw-\(UUID().uuidString.prefix(8))")
        try Spawn.run(binary, argv: [Array("raw".utf8), Array("x y".utf8)], cwd: dir.path)
        let exec = try agent.waitFor("exec in raw_tp mode") { $0.type == "process_exec" && $0.binary == binary }
        #expect(exec.process["arguments"] as? String == "\"x y\"")
        #expect(exec.process["cwd"] as? String == dir.path)
        _ = try agent.waitFor("exit in raw_tp mode") { $0.type == "process_exit" && $0.execID == exec.execID }
        #expect(try String(contentsOfFile: agent.stderrPath, encoding: .utf8).contains("attach_mode=raw_tp"))
    }
}
