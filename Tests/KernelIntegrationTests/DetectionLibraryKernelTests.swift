// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The detection library (`policies/library/`, docs/detections.md), loaded as shipped into one
/// agent, against each behaviour of Falco's stable ruleset it covers, performed benignly: the
/// test's own files, binaries and children; the in-container behaviours inside a real runc
/// container (no network but its own loopback, no capabilities beyond runc's defaults), so a
/// connect to the API server's address or a module load fails before it reaches anything. Each
/// case checks that the event names the policy, carries its message and MITRE id, and, for the
/// rules about containers, carries the container and is not reported for the same act on the host.
/// Monitor only: the library ships `Post`, and the agent is fenced to a cgroup of its own besides.
@Suite(
    .requiresRoot,
    .enabled(if: RuncContainer.unavailableReason == nil, "\(RuncContainer.unavailableReason ?? "")"),
    .serialized, .timeLimit(.minutes(2)))
struct DetectionLibraryKernelTests {
    @Test(arguments: LibraryBehaviour.allCases)
    func policyReportsItsBehaviour(_ behaviour: LibraryBehaviour) throws {
        let fixture = try LibraryFixture.acquire()
        defer { LibraryFixture.release(after: LibraryBehaviour.allCases.count) }
        try behaviour.check(fixture)
    }
}

/// One library policy and the behaviour that must trigger it (the raw value is the policy's name).
enum LibraryBehaviour: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case readSensitiveFileUntrusted = "read-sensitive-file-untrusted"
    case readSensitiveFileTrustedAfterStartup = "read-sensitive-file-trusted-after-startup"
    case directoryTraversalMonitoredFileRead = "directory-traversal-monitored-file-read"
    case runShellUntrusted = "run-shell-untrusted"
    case contactK8sAPIServerFromContainer = "contact-k8s-api-server-from-container"
    case netcatRemoteCodeExecutionInContainer = "netcat-remote-code-execution-in-container"
    case clearLogActivities = "clear-log-activities"
    case removeBulkDataFromDisk = "remove-bulk-data-from-disk"
    case createSymlinkOverSensitiveFiles = "create-symlink-over-sensitive-files"
    case createHardlinkOverSensitiveFiles = "create-hardlink-over-sensitive-files"
    case packetSocketCreatedInContainer = "packet-socket-created-in-container"
    case redirectStdoutToNetworkInContainer = "redirect-stdout-stdin-to-network-connection-in-container"
    case linuxKernelModuleInjection = "linux-kernel-module-injection-detected"
    case debugfsLaunchedInPrivilegedContainer = "debugfs-launched-in-privileged-container"
    case releaseAgentContainerEscape = "detect-release-agent-file-container-escapes"
    case ptraceAttachedToProcess = "ptrace-attached-to-process"
    case ptraceAntiDebugAttempt = "ptrace-anti-debug-attempt"
    case executionFromDevShm = "execution-from-dev-shm"
    case sshConnectionNonStandardPort = "disallowed-ssh-connection-non-standard-port"
    case filelessExecutionViaMemfd = "fileless-execution-via-memfd-create"
    case searchPrivateKeysOrPasswords = "search-private-keys-or-passwords"
    case findAWSCredentials = "find-aws-credentials"
    case terminalShellInContainer = "terminal-shell-in-container"
    case systemUserInteractive = "system-user-interactive"
    case dropAndExecuteNewBinaryInContainer = "drop-and-execute-new-binary-in-container"

    var testDescription: String { rawValue }

    /// Performs the behaviour and checks the event(s).
    func check(_ f: LibraryFixture) throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        switch self {
        case .readSensitiveFileUntrusted:
            let reader = try f.dir.copy(f.trigger, as: "reader-\(tag)")
            let event = try f.host(self, reader, ["open", "/etc/shadow"])
            #expect(event.filePath == "/etc/shadow", "\(event.line)")

        case .readSensitiveFileTrustedAfterStartup:
            let nginx = try f.copy(f.trigger, to: "srv-\(tag)/nginx")
            let event = try f.host(self, nginx, ["open", "/etc/shadow"])
            #expect(event.filePath == "/etc/shadow", "\(event.line)")
            // The same open by an untrusted program is the other policy's, not this one's.
            let reader = try f.dir.copy(f.trigger, as: "reader-\(tag)")
            let pid = try f.spawn(reader, ["open", "/etc/shadow"])
            _ = try f.agent.waitFor("read-sensitive-file-untrusted for \(reader)") {
                $0.policyName == LibraryBehaviour.readSensitiveFileUntrusted.rawValue && $0.pid == Int(pid)
            }
            #expect(f.events(self, pid: pid).isEmpty)

        case .directoryTraversalMonitoredFileRead:
            // From the test's directory, ../../../../etc/passwd is /etc/passwd.
            let reader = try f.dir.copy(f.trigger, as: "webapp-\(tag)")
            let event = try f.host(self, reader, ["open", "../../../../../../etc/passwd"], cwd: f.dir.path)
            #expect(event.stringArg == "../../../../../../etc/passwd", "\(event.line)")
            // The same file by its own name is no traversal.
            let pid = try f.spawn(reader, ["open", "/etc/passwd"])
            f.settle()
            #expect(f.events(self, pid: pid).isEmpty)

        case .runShellUntrusted:
            let nginx = try f.copy(f.trigger, to: "srv-\(tag)/nginx")
            let shell = try f.copy(f.trigger, to: "srv-\(tag)/sh")
            let parent = try f.spawn(nginx, ["spawn", shell, "noop"])
            let event = try f.agent.waitFor("\(rawValue) event for \(shell)") {
                $0.policyName == rawValue && $0.binary == shell
            }
            #expect(event.parent["pid"] as? Int == Int(parent), "\(event.line)")
            f.expectDescribed(self, event)
            // The same shell started by a program that is not a server is not reported.
            let other = try f.copy(f.trigger, to: "cli-\(tag)/tool")
            let otherShell = try f.copy(f.trigger, to: "cli-\(tag)/sh")
            _ = try f.spawn(other, ["spawn", otherShell, "noop"])
            f.settle()
            #expect(f.agent.events.filter { $0.policyName == rawValue && $0.binary == otherShell }.isEmpty)

        case .contactK8sAPIServerFromContainer:
            // The container has its own network namespace with no route: the connect fails
            // (ENETUNREACH) after the cgroup connect hook has seen it; nothing leaves the host.
            let event = try f.inContainer(self, "/bin/vigil-trigger", ["connect", "10.96.0.1", "443"])
            let address = event.args.first?["sockaddr_arg"] as? [String: Any]
            #expect(address?["addr"] as? String == "10.96.0.1", "\(event.line)")

        case .netcatRemoteCodeExecutionInContainer:
            let hostNC = try f.copy(f.trigger, to: "host-\(tag)/nc")
            let hostPid = try f.spawn(hostNC, ["noop", "-e", "/bin/sh"])
            // In the container: netcat as a plain client first (not reported), then with -e.
            let before = Set(f.events(self).map(\.line))
            _ = try f.container.exec(["/bin/nc", "noop", "127.0.0.1", "80"])
            let event = try f.inContainer(self, "/bin/nc", ["noop", "-e", "/bin/sh", "127.0.0.1", "4444"])
            #expect(event.filePath == "/bin/nc" || event.binary == "/bin/nc", "\(event.line)")
            #expect(event.argvArg == "noop -e /bin/sh 127.0.0.1 4444", "\(event.line)")
            f.settle()
            #expect(f.events(self, pid: hostPid).isEmpty, "netcat on the host is not in a container")
            let fresh = f.events(self).filter { !before.contains($0.line) }
            #expect(fresh.count == 1, "netcat as a plain client is not reported: \(fresh.map(\.line))")

        case .clearLogActivities:
            // A log of the test's own, by a well-known name: truncated, not a real log.
            let log = "\(f.dir.path)/auth.log"
            let event = try f.host(self, f.trigger, ["open-trunc", log])
            #expect(event.stringArg == log, "\(event.line)")
            // Opened without O_TRUNC (appending, as loggers do): not reported.
            let pid = try f.spawn(f.trigger, ["open-write", log])
            f.settle()
            #expect(f.events(self, pid: pid).isEmpty)

        case .removeBulkDataFromDisk:
            let shred = try f.copy(f.trigger, to: "bulk-\(tag)/shred")
            let event = try f.host(self, shred, ["noop"])
            #expect(event.filePath == shred, "\(event.line)")

        case .createSymlinkOverSensitiveFiles:
            let link = "\(f.dir.path)/shadow-\(tag)"
            let event = try f.host(self, f.trigger, ["symlink", "/etc/shadow", link])
            #expect(event.stringArg == "/etc/shadow", "\(event.line)")
            unlink(link)

        case .createHardlinkOverSensitiveFiles:
            // Into a directory that does not exist: link(2) fails with ENOENT, and the attempt
            // is what the policy reports (no second name of /etc/shadow is ever made).
            let event = try f.host(self, f.trigger, ["link", "/etc/shadow", "\(f.dir.path)/missing-\(tag)/shadow"])
            #expect(event.stringArg == "/etc/shadow", "\(event.line)")

        case .packetSocketCreatedInContainer:
            // runc's default capabilities leave out CAP_NET_RAW: socket(2) fails with EPERM.
            let event = try f.inContainer(self, "/bin/vigil-trigger", ["packet-socket"])
            #expect(event.args.first?["int_arg"] as? Int == 17, "\(event.line)")

        case .redirectStdoutToNetworkInContainer:
            let hostPid = try f.spawn(f.trigger, ["dup-socket"])
            let event = try f.inContainer(self, "/bin/vigil-trigger", ["dup-socket"])
            #expect(event.args.dropFirst().first?["int_arg"] as? Int == 2, "\(event.line)")
            f.settle()
            #expect(f.events(self, pid: hostPid).isEmpty, "the host's redirection is not in a container")

        case .linuxKernelModuleInjection:
            guard LibraryFixture.kernelLoadsModules else {
                // A kernel built without loadable modules (this machine's 6.18) has neither the
                // syscalls nor their tracepoints: nothing to report, and the policy is refused
                // naming the missing tracepoint (docs/detections.md).
                #expect(f.agent.log.contains("\(rawValue).yaml"), "\(f.agent.log)")
                #expect(f.agent.log.contains("sys_enter_init_module does not exist on this kernel"), "\(f.agent.log)")
                return
            }
            // finit_module(-1, "", 0): refused (EPERM in the container, EBADF on the host).
            let hostPid = try f.spawn(f.trigger, ["finit-module"])
            _ = try f.inContainer(self, "/bin/vigil-trigger", ["finit-module"])
            f.settle()
            #expect(f.events(self, pid: hostPid).isEmpty, "the host's module load is not in a container")

        case .debugfsLaunchedInPrivilegedContainer:
            let hostDebugfs = try f.copy(f.trigger, to: "host-\(tag)/debugfs")
            let hostPid = try f.spawn(hostDebugfs, ["noop"])
            let event = try f.inContainer(self, "/bin/debugfs", ["noop"])
            #expect(event.filePath == "/bin/debugfs", "\(event.line)")
            f.settle()
            #expect(f.events(self, pid: hostPid).isEmpty, "debugfs on the host is not in a container")

        case .releaseAgentContainerEscape:
            // A file of that name in the container's own /tmp, not a cgroup's.
            let hostFile = try f.copy(f.trigger, to: "host-\(tag)/release_agent")
            let hostPid = try f.spawn(f.trigger, ["open-write", hostFile])
            let event = try f.inContainer(self, "/bin/vigil-trigger", ["open-write", "/tmp/release_agent"])
            #expect(event.stringArg == "/tmp/release_agent", "\(event.line)")
            f.settle()
            #expect(f.events(self, pid: hostPid).isEmpty, "the host's write is not in a container")

        case .ptraceAttachedToProcess:
            // Attaches to a child of its own, then kills it.
            let event = try f.host(self, f.trigger, ["ptrace-attach"])
            // int64 is written as protojson writes 64-bit integers: a string.
            #expect(event.args.first?["long_arg"] as? String == "16" || event.args.first?["int_arg"] as? Int == 16,
                "\(event.line)")

        case .ptraceAntiDebugAttempt:
            _ = try f.host(self, f.trigger, ["traceme"])

        case .executionFromDevShm:
            let copy = "/dev/shm/vigil-library-\(tag)"
            try FileManager.default.copyItem(atPath: f.trigger, toPath: copy)
            defer { unlink(copy) }
            chmod(copy, 0o755)
            let event = try f.host(self, copy, ["noop"])
            #expect(event.filePath == copy, "\(event.line)")

        case .sshConnectionNonStandardPort:
            // In the container (no route: ENETUNREACH), to a documentation address (TEST-NET-1)
            // on 4444: no packet is sent anywhere.
            let event = try f.inContainer(self, "/bin/ssh", ["connect", "192.0.2.1", "4444"])
            let address = event.args.first?["sockaddr_arg"] as? [String: Any]
            #expect(address?["port"] as? Int == 4444, "\(event.line)")
            // To a private address: left out, as Falco does.
            let before = f.events(self).count
            #expect(try f.container.exec(["/bin/ssh", "connect", "10.1.2.3", "4444"]) == 0)
            f.settle()
            #expect(f.events(self).count == before, "\(f.events(self).map(\.line))")

        case .filelessExecutionViaMemfd:
            let event = try f.host(self, f.trigger, ["memfd-exec"])
            #expect(event.filePath?.hasPrefix("/memfd:vigil-library") == true, "\(event.line)")
            // runc re-executed itself from a memfd when it started the container and at every
            // exec: the first selector leaves those out.
            #expect(f.events(self).allSatisfy { $0.filePath?.hasPrefix("/memfd:runc") != true },
                "\(f.events(self).map(\.line))")

        case .searchPrivateKeysOrPasswords:
            // Copies named grep and find that search nothing (the trigger's noop): the arguments
            // are what the policy matches, in the kernel, at the exec.
            let grep = try f.copy(f.trigger, to: "keys-\(tag)/grep")
            let event = try f.host(self, grep, ["noop", "-r", "BEGIN RSA PRIVATE KEY", f.dir.path])
            #expect(event.argvArg == "noop -r \"BEGIN RSA PRIVATE KEY\" \(f.dir.path)", "\(event.line)")
            let find = try f.copy(f.trigger, to: "keys-\(tag)/find")
            _ = try f.host(self, find, ["noop", f.dir.path, "-name", "id_ed25519*"])
            // grep for a certificate, find for a public key's directory: not reported.
            let quiet = [try f.spawn(grep, ["noop", "-r", "BEGIN CERTIFICATE", f.dir.path]),
                         try f.spawn(find, ["noop", f.dir.path, "-name", "known_hosts"])]
            f.settle()
            #expect(quiet.allSatisfy { f.events(self, pid: $0).isEmpty })

        case .findAWSCredentials:
            let grep = try f.copy(f.trigger, to: "aws-\(tag)/grep")
            let event = try f.host(self, grep, ["noop", "-ri", "aws_secret_access_key", f.dir.path])
            #expect(event.argvArg == "noop -ri aws_secret_access_key \(f.dir.path)", "\(event.line)")
            let find = try f.copy(f.trigger, to: "aws-\(tag)/find")
            _ = try f.host(self, find, ["noop", f.dir.path, "-path", "*.aws/credentials"])
            // find for another file named credentials, grep for another key: not reported.
            let quiet = [try f.spawn(find, ["noop", f.dir.path, "-name", "credentials.txt"]),
                         try f.spawn(grep, ["noop", "-r", "aws_region", f.dir.path])]
            f.settle()
            #expect(quiet.allSatisfy { f.events(self, pid: $0).isEmpty })

        case .terminalShellInContainer:
            // Copies named bash in the container, run by the trigger in a session of their own:
            // one with a new pseudo-terminal as its controlling tty (reported), one without any
            // (not: a script's shell); and on the host, a shell with a terminal (not in a container).
            for dir in ["tty-\(tag)", "notty-\(tag)"] {
                try FileManager.default.createDirectory(atPath: "\(f.container.rootfs)/\(dir)", withIntermediateDirectories: false)
                try FileManager.default.copyItem(atPath: f.trigger, toPath: "\(f.container.rootfs)/\(dir)/bash")
                chmod("\(f.container.rootfs)/\(dir)/bash", 0o755)
            }
            let hostShell = try f.copy(f.trigger, to: "host-\(tag)/bash")
            _ = try f.spawn(f.trigger, ["pty-exec", hostShell, "noop"])
            #expect(try f.container.exec(["/bin/vigil-trigger", "setsid-exec", "/notty-\(tag)/bash", "noop"]) == 0)
            #expect(try f.container.exec(["/bin/vigil-trigger", "pty-exec", "/tty-\(tag)/bash", "noop"]) == 0)
            let docker = String(f.container.id.prefix(31))
            let event = try f.agent.waitFor("\(rawValue) event for the shell with a terminal") {
                $0.policyName == rawValue && $0.binary == "/tty-\(tag)/bash"
            }
            #expect(event.process["docker"] as? String == docker, "\(event.line)")
            f.expectDescribed(self, event)
            // The tty as stat(2) gives a pseudo-terminal's device: major 136 (Unix98 ptys).
            let tty = event.args.dropFirst().first?["uint_arg"] as? Int ?? 0
            #expect(tty >> 8 & 0xfff == 136, "\(event.line)")
            f.settle()
            #expect(f.agent.events.filter { $0.policyName == rawValue && $0.binary == "/notty-\(tag)/bash" }.isEmpty,
                "a shell without a terminal is not reported")
            #expect(f.agent.events.filter { $0.policyName == rawValue && $0.binary == hostShell }.isEmpty,
                "a terminal shell on the host is not in a container")

        case .systemUserInteractive:
            // The trigger as /usr/sbin/sshd (a copy on a tmpfs over /usr/sbin in a private mount
            // namespace of its own) runs a tool as daemon, uid 1: reported. The same tool below
            // it as uid 1000 and as root, and as daemon with no sshd above it: not reported.
            let shared = "/tmp/vigil-library-sys-\(tag)" // readable by uid 1 and 1000, unlike the test's directory
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: shared) }
            chmod(shared, 0o755)
            let tool = "\(shared)/tool"
            try FileManager.default.copyItem(atPath: f.trigger, toPath: tool)
            chmod(tool, 0o755)
            _ = try f.spawn(f.trigger, ["as-sshd", "spawn-as", "1", tool, "noop"])
            let event = try f.agent.waitFor("\(rawValue) event for \(tool) as daemon below sshd") {
                $0.policyName == rawValue && $0.binary == tool
            }
            f.expectDescribed(self, event)
            #expect(event.process["uid"] as? Int == 1, "\(event.line)")
            #expect(event.args.dropFirst().first?["uint_arg"] as? Int == 1, "\(event.line)")
            for args in [["as-sshd", "spawn-as", "1000"], ["as-sshd", "spawn-as", "0"], ["spawn-as", "1"]] {
                _ = try f.spawn(f.trigger, args + [tool, "noop"])
            }
            f.settle()
            #expect(f.agent.events.filter { $0.policyName == rawValue && $0.binary == tool }.count == 1,
                "only daemon below sshd: \(f.events(self).map(\.line))")

        case .dropAndExecuteNewBinaryInContainer:
            // A real overlay mount in the container's own mount namespace (made from the host, as
            // a runtime makes a container's root): one copy in the lower layer (the image), one
            // in the upper (dropped). Only the upper one is reported; the container's plain
            // root (not overlayfs) and the lower copy are not.
            let base = "/ovl-\(tag)"
            for dir in ["lower", "upper", "work", "merged"] {
                try FileManager.default.createDirectory(
                    atPath: "\(f.container.rootfs)\(base)/\(dir)", withIntermediateDirectories: true)
            }
            for (dir, name) in [("lower", "image-tool"), ("upper", "dropped-tool")] {
                let path = "\(f.container.rootfs)\(base)/\(dir)/\(name)"
                try FileManager.default.copyItem(atPath: f.trigger, toPath: path)
                chmod(path, 0o755)
            }
            let mount = try Spawn.run(
                f.trigger, argv: [f.trigger, "ns-mount-overlay", "\(f.container.initPid)", "\(base)/lower", "\(base)/upper",
                                  "\(base)/work", "\(base)/merged"].map { Array($0.utf8) })
            #expect(mount == 0, "overlay mount in the container: wait status \(mount)")
            #expect(try f.container.exec(["\(base)/merged/image-tool", "noop"]) == 0)
            let event = try f.inContainer(self, "\(base)/merged/dropped-tool", ["noop"])
            #expect(event.args.dropFirst().first?["uint_arg"] as? Int == 1, "\(event.line)")
            f.settle()
            #expect(f.events(self).allSatisfy { $0.binary == "\(base)/merged/dropped-tool" },
                "only the file in the upper layer: \(f.events(self).map(\.line))")
        }
    }
}

/// One agent with the whole library, one container and one trigger binary, shared by the
/// suite's cases (starting the agent and the container once keeps the suite to seconds).
final class LibraryFixture: @unchecked Sendable {
    let dir: TempDir
    let trigger: String
    let agent: AgentHarness
    let container: RuncContainer

    /// Whether the kernel has loadable modules (init_module(2) exists): /proc/modules with them.
    static var kernelLoadsModules: Bool { access("/proc/modules", F_OK) == 0 }

    nonisolated(unsafe) private static var shared: LibraryFixture?
    nonisolated(unsafe) private static var finished = 0
    private static let lock = NSLock()

    static func acquire() throws -> LibraryFixture {
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        let made = try LibraryFixture()
        shared = made
        // A case filtered out or a crash must not leave the agent or the container behind.
        atexit { LibraryFixture.tearDown() }
        return made
    }

    /// Counts a finished case; the last one stops the agent and removes the container.
    static func release(after total: Int) {
        lock.lock()
        finished += 1
        let last = finished >= total
        lock.unlock()
        if last { tearDown() }
    }

    static func tearDown() {
        lock.lock()
        let fixture = shared
        shared = nil
        lock.unlock()
        guard let fixture else { return }
        fixture.container.remove()
        fixture.agent.stop()
        fixture.agent.cleanUp()
        fixture.dir.remove()
    }

    private init() throws {
        dir = try TempDir("vigil-library")
        do {
            trigger = try LibraryTrigger.build(in: dir)
            let policies = "\(dir.path)/policies"
            try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: false)
            let library = "\(ShippedPolicyKernelTests.repository)/policies/library"
            let names = try FileManager.default.contentsOfDirectory(atPath: library).filter { $0.hasSuffix(".yaml") }
            #expect(Set(names.map { String($0.dropLast(5)) }) == Set(LibraryBehaviour.allCases.map(\.rawValue)),
                "every library policy has its case here, and every case its policy")
            for name in names {
                // The agent refuses policy files a non-root user owns, which a checkout may be.
                try FileManager.default.copyItem(atPath: "\(library)/\(name)", toPath: "\(policies)/\(name)")
                chmod("\(policies)/\(name)", 0o644)
            }
            agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        } catch {
            dir.remove()
            throw error
        }
        do {
            for behaviour in LibraryBehaviour.allCases
            where behaviour != .linuxKernelModuleInjection || Self.kernelLoadsModules {
                try agent.waitForLog("policy=\(behaviour.rawValue)")
            }
            let refusals = agent.log.split(separator: "\n").filter { $0.contains("policy refused") }
            // Without loadable modules, only the module policy is refused (once per hook).
            #expect(refusals.allSatisfy { $0.contains("/linux-kernel-module-injection-detected.yaml:") } || refusals.isEmpty,
                "\(refusals)")
            #expect(refusals.isEmpty == Self.kernelLoadsModules, "\(refusals)")
            container = try RuncContainer()
            for name in ["vigil-trigger", "nc", "debugfs", "ssh"] {
                let path = "\(container.rootfs)/bin/\(name)"
                try FileManager.default.copyItem(atPath: trigger, toPath: path)
                chmod(path, 0o755)
            }
        } catch {
            agent.stop()
            agent.cleanUp()
            dir.remove()
            throw error
        }
    }

    /// Copies `source` to `relative` under the test directory (its directories made), mode 0755.
    func copy(_ source: String, to relative: String) throws -> String {
        let path = "\(dir.path)/\(relative)"
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: path)
        chmod(path, 0o755)
        return path
    }

    /// Runs `binary` on the host, in the agent's fence cgroup, to its end; returns its pid.
    func spawn(_ binary: String, _ args: [String], cwd: String? = nil) throws -> pid_t {
        let pid = try agent.spawn(binary, argv: ([binary] + args).map { Array($0.utf8) }, cwd: cwd, stdoutPath: "/dev/null")
        _ = Spawn.wait(pid)
        return pid
    }

    /// Performs a behaviour on the host and returns its event, checked for what every library
    /// event carries.
    func host(_ behaviour: LibraryBehaviour, _ binary: String, _ args: [String], cwd: String? = nil) throws -> ExportedEvent {
        let pid = try spawn(binary, args, cwd: cwd)
        let event = try agent.waitFor("\(behaviour.rawValue) event for \(binary) \(args)") {
            $0.policyName == behaviour.rawValue && $0.pid == Int(pid)
        }
        expectDescribed(behaviour, event)
        #expect(event.process["docker"] == nil, "a host process has no container: \(event.line)")
        return event
    }

    /// Performs a behaviour in the container and returns its event, which must carry the
    /// container's id.
    func inContainer(_ behaviour: LibraryBehaviour, _ binary: String, _ args: [String]) throws -> ExportedEvent {
        let before = Set(events(behaviour).map(\.line))
        _ = try container.exec([binary] + args)
        let docker = String(container.id.prefix(31))
        let event = try agent.waitFor("\(behaviour.rawValue) event for \(binary) in the container") {
            $0.policyName == behaviour.rawValue && $0.process["docker"] as? String == docker && !before.contains($0.line)
        }
        #expect(event.binary == binary, "\(event.line)")
        expectDescribed(behaviour, event)
        return event
    }

    /// What a SOC analyst reads: the policy's message, a MITRE ATT&CK id, the action (Post).
    func expectDescribed(_ behaviour: LibraryBehaviour, _ event: ExportedEvent) {
        #expect((event.body["message"] as? String)?.isEmpty == false, "\(event.line)")
        let tags = event.body["tags"] as? [String] ?? []
        #expect(tags.contains { $0.range(of: #"^(T\d{4}(\.\d{3})?|TA\d{4})$"#, options: .regularExpression) != nil },
            "\(behaviour.rawValue): \(tags)")
        #expect(event.action == "KPROBE_ACTION_POST", "\(event.line)")
    }

    /// Lets a late event arrive (one would have been written right after the awaited one).
    func settle() {
        usleep(300_000)
        agent.poll()
    }

    func events(_ behaviour: LibraryBehaviour, pid: pid_t? = nil) -> [ExportedEvent] {
        agent.poll()
        return agent.events.filter { $0.policyName == behaviour.rawValue && (pid == nil || $0.pid == Int(pid!)) }
    }
}

extension ExportedEvent {
    /// The first argument's path (file_arg, or linux_binprm's path), if any.
    var filePath: String? {
        guard let first = args.first else { return nil }
        for key in ["file_arg", "linux_binprm_arg"] {
            if let value = first[key] as? [String: Any], let path = value["path"] as? String { return path }
        }
        return nil
    }

    /// vigil_argv's text (the second argument of the exec policies that read it).
    var argvArg: String? { args.dropFirst().first?["string_arg"] as? String }

    /// The first string argument of a syscall event.
    var stringArg: String? { args.lazy.compactMap { $0["string_arg"] as? String }.first }
}

/// The static trigger (Tests/Tools/library_trigger.c; it runs in the busybox container too):
/// one benign act per command.
enum LibraryTrigger {
    /// Compiles the trigger, statically linked, into `dir`; returns its path.
    static func build(in dir: TempDir) throws -> String {
        let sourcePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Tools/library_trigger.c").standardized.path
        let binary = "\(dir.path)/library-trigger-\(UUID().uuidString.prefix(8))"
        let status = try Spawn.run(
            "/usr/bin/gcc",
            argv: ["gcc", "-O1", "-Wall", "-Werror", "-static", "-o", binary, sourcePath].map { Array($0.utf8) })
        guard status == 0 else { throw Spawn.Failure(description: "gcc \(sourcePath): wait status \(status)") }
        return binary
    }
}
