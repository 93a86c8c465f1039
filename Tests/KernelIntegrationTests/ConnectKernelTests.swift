// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// socket_connect policies on the cgroup connect/sendmsg hooks: real denies on loopback, against
/// listeners the test owns, scoped to the test's own pid so nothing else on the machine is hit.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ConnectKernelTests {
    /// A TCP listener on loopback (IPv4 or IPv6) on a free port; closed by `close()`.
    struct Listener {
        let fd: Int32
        let port: UInt16

        init(v6: Bool = false, udp: Bool = false) throws {
            let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Spawn.Failure(description: "socket: \(errno)") }
            var length = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                if v6 {
                    raw.storeBytes(of: sa_family_t(AF_INET6), toByteOffset: 0, as: sa_family_t.self)
                    raw[8 + 15] = 1  // ::1
                } else {
                    raw.storeBytes(of: sa_family_t(AF_INET), toByteOffset: 0, as: sa_family_t.self)
                    raw.storeBytes(of: UInt32(0x7f00_0001).bigEndian, toByteOffset: 4, as: UInt32.self)
                }
            }
            let rc = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard rc == 0 else { throw Spawn.Failure(description: "bind: \(errno)") }
            if !udp { listen(fd, 16) }
            _ = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            self.port = withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
            self.fd = fd
        }

        func close() { _ = Glibc.close(fd) }
    }

    /// connect() (or, with udp, sendto()) to loopback:port; returns 0 or the errno.
    func connectErrno(port: UInt16, v6: Bool = false, udp: Bool = false) -> Int32 {
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var storage = sockaddr_storage()
        let length = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        withUnsafeMutableBytes(of: &storage) { raw in
            if v6 {
                raw.storeBytes(of: sa_family_t(AF_INET6), toByteOffset: 0, as: sa_family_t.self)
                raw[8 + 15] = 1
            } else {
                raw.storeBytes(of: sa_family_t(AF_INET), toByteOffset: 0, as: sa_family_t.self)
                raw.storeBytes(of: UInt32(0x7f00_0001).bigEndian, toByteOffset: 4, as: UInt32.self)
            }
            raw.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        let rc = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                udp ? Int32(sendto(fd, "x", 1, 0, address, length)) : connect(fd, address, length)
            }
        }
        return rc < 0 ? errno : 0
    }

    func policy(ports: [UInt16], mode: String? = nil) -> String {
        let options = mode.map { "\n  options:\n  - name: policy-mode\n    value: \($0)" } ?? ""
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: deny-test-ports
            spec:\(options)
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                  label: address
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: [\(ports.map { "\"\($0)\"" }.joined(separator: ", "))]
                  matchPIDs:
                  - operator: In
                    values: [\(getpid())]
                  matchActions:
                  - action: Override
                    argError: -1
            """
    }

    func start(_ yaml: String, dir: TempDir, arguments: [String] = []) throws -> AgentHarness {
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try yaml.write(toFile: "\(policies)/deny.yaml", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies] + arguments)
        try agent.waitForLog("policy=deny-test-ports")
        return agent
    }

    @Test func connectToADeniedPortFailsWithEPERMAndOthersStayReachable() throws {
        let dir = try TempDir("vigil-connect")
        defer { dir.remove() }
        let (denied, allowed) = (try Listener(), try Listener())
        let (denied6, udp) = (try Listener(v6: true), try Listener(udp: true))
        defer { [denied, allowed, denied6, udp].forEach { $0.close() } }
        let agent = try start(policy(ports: [denied.port, denied6.port, udp.port]), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }

        // The test process itself connects (matchPIDs names it), from inside the agent's fence.
        try agent.inside {
            #expect(connectErrno(port: denied.port) == EPERM)
            #expect(connectErrno(port: allowed.port) == 0)
            #expect(connectErrno(port: denied6.port, v6: true) == EPERM)
            #expect(connectErrno(port: udp.port, udp: true) == EPERM)
        }

        let event = try agent.waitFor("process_lsm for the denied IPv4 connect") {
            $0.type == "process_lsm" && $0.pid == Int(getpid())
                && ($0.args.first?["sockaddr_arg"] as? [String: Any])?["port"] as? Int == Int(denied.port)
        }
        #expect(event.body["function_name"] as? String == "socket_connect")
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
        #expect(event.policyName == "deny-test-ports")
        #expect((event.args.first?["sockaddr_arg"] as? [String: Any])?["addr"] as? String == "127.0.0.1")
        #expect(event.args.first?["label"] as? String == "address")
        // The connect's own result, from the syscall's exit: it did not happen.
        #expect((event.vigil["return"] as? [String: Any])?["int_arg"] as? Int == -Int(EPERM), "\(event.line)")
        #expect(event.vigil["mechanism"] as? String == "cgroup_sock_addr")
        _ = try agent.waitFor("process_lsm for the denied IPv6 connect") {
            $0.type == "process_lsm" && ($0.args.first?["sockaddr_arg"] as? [String: Any])?["addr"] as? String == "::1"
        }
        #expect(!agent.events.contains {
            $0.type == "process_lsm" && ($0.args.first?["sockaddr_arg"] as? [String: Any])?["port"] as? Int == Int(allowed.port)
        })
    }

    /// The denials of a node in Prometheus: `vigil_network_verdicts_total` by policy and verdict
    /// (the test process is a host process: empty namespace and workload).
    @Test func deniedConnectsAreCountedByPolicyAndVerdict() throws {
        let dir = try TempDir("vigil-connect")
        defer { dir.remove() }
        let denied = try Listener()
        defer { denied.close() }
        let port = 20000 + Int((getpid() + 7) % 20000)
        let agent = try start(policy(ports: [denied.port]), dir: dir, arguments: ["--metrics-server", "127.0.0.1:\(port)"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.inside {
            for _ in 0..<3 { #expect(connectErrno(port: denied.port) == EPERM) }
        }
        _ = try agent.waitFor("the third denied connect") { _ in
            agent.events.filter { $0.type == "process_lsm" && $0.policyName == "deny-test-ports" }.count >= 3
        }
        let key = #"vigil_network_verdicts_total{namespace="",workload="",policy="deny-test-ports",verdict="denied"}"#
        let body = try TracectlKernelTests.httpGet(port: UInt16(port), path: "/metrics")
        let sample = body.split(separator: "\n").first { $0.hasPrefix(key + " ") }
        #expect(sample.flatMap { Double($0.split(separator: " ")[1]) } ?? 0 >= 3, "\(body.split(separator: "\n").filter { $0.contains("network") })")
    }

    @Test func monitorModeReportsTheDenyAndBlocksNothing() throws {
        let dir = try TempDir("vigil-connect-monitor")
        defer { dir.remove() }
        let listener = try Listener()
        defer { listener.close() }
        let agent = try start(policy(ports: [listener.port], mode: "monitor"), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        #expect(try agent.inside { connectErrno(port: listener.port) } == 0)
        let event = try agent.waitFor("monitor-mode process_lsm") { $0.type == "process_lsm" && $0.pid == Int(getpid()) }
        #expect(event.action == "KPROBE_ACTION_OVERRIDE")
        #expect(event.vigil["policy_mode"] as? String == "monitor")
        // It was not denied: the connect succeeded, and the event says so.
        #expect((event.vigil["return"] as? [String: Any])?["int_arg"] as? Int == 0, "\(event.line)")
    }

    /// A unique copy of bash connecting with /dev/tcp, then leaving a marker if it lived.
    func bashConnect(_ bash: String, port: UInt16, marker: String, agent: AgentHarness) throws -> Int32 {
        Spawn.wait(try agent.spawn(bash, ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port); echo lived > \(marker)"]))
    }

    @Test func sigkillKillsTheConnectingProcessBeforeItContinues() throws {
        let dir = try TempDir("vigil-connect-kill")
        defer { dir.remove() }
        let listener = try Listener()
        defer { listener.close() }
        let bash = try dir.copy("/bin/bash", as: "bash-\(UUID().uuidString.prefix(8))")
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: deny-test-ports
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args:
                - index: 0
                  type: sock
                selectors:
                - matchArgs:
                  - index: 0
                    operator: DPort
                    values: ["\(listener.port)"]
                  matchBinaries:
                  - operator: In
                    values: ["\(bash)"]
                  matchActions:
                  - action: Sigkill
            """
        let agent = try start(yaml, dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        let killedMarker = "\(dir.path)/killed.marker"
        let status = try bashConnect(bash, port: listener.port, marker: killedMarker, agent: agent)
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")
        #expect(!FileManager.default.fileExists(atPath: killedMarker), "the killed shell ran on after connect")

        // The same port from the system's bash, which the policy does not name: untouched.
        let sparedMarker = "\(dir.path)/spared.marker"
        #expect(try bashConnect("/bin/bash", port: listener.port, marker: sparedMarker, agent: agent) == 0)
        #expect(FileManager.default.fileExists(atPath: sparedMarker))

        let event = try agent.waitFor("Sigkill process_kprobe") { $0.type == "process_kprobe" && $0.binary == bash }
        #expect(event.action == "KPROBE_ACTION_SIGKILL")
        #expect(event.body["function_name"] as? String == "tcp_connect")
        let exit = try agent.waitFor("exit of the killed shell") { $0.type == "process_exit" && $0.binary == bash }
        #expect(exit.body["signal"] as? String == "SIGKILL")
    }

    @Test func removingThePolicyLiftsTheDenyWithoutARestart() throws {
        let dir = try TempDir("vigil-connect-remove")
        defer { dir.remove() }
        let listener = try Listener()
        defer { listener.close() }
        let agent = try start(policy(ports: [listener.port]), dir: dir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        #expect(try agent.inside { connectErrno(port: listener.port) } == EPERM)
        try FileManager.default.removeItem(atPath: "\(dir.path)/policies/deny.yaml")
        agent.send(SIGHUP)
        try agent.waitForLog("policy removed")
        let deadline = Date().addingTimeInterval(1)
        var result = try agent.inside { connectErrno(port: listener.port) }
        while result != 0 && Date() < deadline {
            usleep(50_000)
            result = try agent.inside { connectErrno(port: listener.port) }
        }
        #expect(result == 0, "connect still fails with errno \(result) after removing the policy")
    }
}
