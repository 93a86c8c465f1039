// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `tracectl` against a running agent: policies changed without a restart, live events,
/// the socket's permissions and the metrics endpoint.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct TracectlKernelTests {
    func tracectl(_ agent: AgentHarness, _ args: [String], asNobody: Bool = false) throws -> (status: Int32, output: String) {
        try agent.tracectl(args, asNobody: asNobody)
    }

    func killPolicy(name: String, binary: String) -> String { TestPolicies.killAtExec(name: name, binary: binary) }

    /// Runs `binary` in `agent`'s fence; true when SIGKILL ended it.
    func killed(_ binary: String, by agent: AgentHarness) throws -> Bool {
        try agent.run(binary, argv: [Array("true".utf8)]) & 0x7f == SIGKILL
    }

    @Test func addTakesEffectModeMonitorStopsKillingDeleteLiftsIt() throws {
        let dir = try TempDir("vigil-tracectl")
        defer { dir.remove() }
        let binary = try dir.copy("/bin/true", as: "victim-\(UUID().uuidString.prefix(6))")
        let file = "\(dir.path)/kill.yaml"
        try killPolicy(name: "kill-victim", binary: binary).write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        #expect(try !killed(binary, by: agent))

        let added = try tracectl(agent, ["policy", "add", file])
        #expect(added.status == 0, "\(added.output)")
        let deadline = Date().addingTimeInterval(1)
        var dead = try killed(binary, by: agent)
        while !dead && Date() < deadline { dead = try killed(binary, by: agent) }
        #expect(dead, "the policy did not act within a second")

        #expect(try tracectl(agent, ["policy", "mode", "kill-victim", "monitor"]).status == 0)
        #expect(try !killed(binary, by: agent))
        let monitored = try agent.waitFor("monitor-mode event") {
            $0.type == "process_lsm" && $0.binary == binary && $0.vigil["policy_mode"] as? String == "monitor"
        }
        #expect(monitored.action == "KPROBE_ACTION_SIGKILL")

        #expect(try tracectl(agent, ["policy", "mode", "kill-victim", "enforce"]).status == 0)
        #expect(try killed(binary, by: agent))
        // The list counts what the policy did.
        _ = try agent.waitFor(count: 2, "two Sigkill events") { $0.type == "process_lsm" && $0.binary == binary }
        usleep(200_000)
        let listed = try tracectl(agent, ["policy", "list", "-o", "json"]).output
        #expect(listed.contains("KPROBE_ACTION_SIGKILL"), "\(listed)")
        #expect(try tracectl(agent, ["policy", "delete", "kill-victim"]).status == 0)
        #expect(try !killed(binary, by: agent))
        #expect(try tracectl(agent, ["policy", "list"]).output.contains("no policies"))
    }

    @Test func aBrokenAddChangesNothingAndNamesThePosition() throws {
        let dir = try TempDir("vigil-tracectl-bad")
        defer { dir.remove() }
        let binary = try dir.copy("/bin/true", as: "victim-\(UUID().uuidString.prefix(6))")
        let good = "\(dir.path)/good.yaml"
        try killPolicy(name: "still-acting", binary: binary).write(toFile: good, atomically: true, encoding: .utf8)
        let bad = "\(dir.path)/bad.yaml"
        try killPolicy(name: "broken", binary: binary).replacingOccurrences(of: "Equal", with: "Equl")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        #expect(try tracectl(agent, ["policy", "add", good]).status == 0)
        let before = try tracectl(agent, ["policy", "list"]).output

        let refused = try tracectl(agent, ["policy", "add", bad])
        #expect(refused.status != 0)
        #expect(refused.output.contains("bad.yaml:14:19"), "\(refused.output)")
        #expect(refused.output.contains("unknown operator \"Equl\""), "\(refused.output)")
        #expect(try tracectl(agent, ["policy", "list"]).output == before)
        #expect(try killed(binary, by: agent), "the earlier policy must still act")
    }

    @Test func editingTheWatchedDirectoryReloadsAndABrokenEditKeepsTheOldVersion() throws {
        let dir = try TempDir("vigil-tracectl-watch")
        defer { dir.remove() }
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: false)
        let first = try dir.copy("/bin/true", as: "first-\(UUID().uuidString.prefix(6))")
        let second = try dir.copy("/bin/true", as: "second-\(UUID().uuidString.prefix(6))")
        let file = "\(policies)/kill.yaml"
        try killPolicy(name: "watched", binary: first).write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy=watched")
        #expect(try killed(first, by: agent))

        // An edit: the directory watch reloads it, now aimed at the second binary.
        try killPolicy(name: "watched", binary: second).write(toFile: file, atomically: true, encoding: .utf8)
        var deadline = Date().addingTimeInterval(3)
        while try killed(first, by: agent) && Date() < deadline { usleep(100_000) }
        #expect(try !killed(first, by: agent))
        #expect(try killed(second, by: agent))

        // A broken edit: the running version stays and the list shows the error.
        try killPolicy(name: "watched", binary: first).replacingOccurrences(of: "Equal", with: "Equl")
            .write(toFile: file, atomically: true, encoding: .utf8)
        deadline = Date().addingTimeInterval(3)
        var list = ""
        repeat {
            usleep(100_000)
            list = try tracectl(agent, ["policy", "list", "-o", "json"]).output
        } while !list.contains("Equl") && Date() < deadline
        #expect(list.contains("\"state\":\"error\"") || list.contains("\"state\" : \"error\""), "\(list)")
        #expect(list.contains("Equl"), "\(list)")
        #expect(try killed(second, by: agent), "the previous version must keep acting")
    }

    @Test func eventsStreamFiltersByBinaryInCompactForm() throws {
        let dir = try TempDir("vigil-tracectl-events")
        defer { dir.remove() }
        let wanted = try dir.copy("/bin/true", as: "wanted-\(UUID().uuidString.prefix(6))")
        let other = try dir.copy("/bin/true", as: "other-\(UUID().uuidString.prefix(6))")
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        // A client that never reads: it must not hold anyone up.
        let stalled = try Spawn.start(
            "/bin/sh", argv: ["sh", "-c", "exec \(AgentHarness.tracectlPath) --server-address \(agent.socketPath) events | sleep 30"].map { Array($0.utf8) })
        defer {
            kill(stalled, SIGKILL)
            Spawn.wait(stalled)
        }
        let out = "\(dir.path)/events.out"
        let client = try Spawn.start(
            AgentHarness.tracectlPath,
            argv: [AgentHarness.tracectlPath, "--server-address", agent.socketPath, "events", "-o", "compact", "--binary", "wanted-"]
                .map { Array($0.utf8) }, stdoutPath: out)
        usleep(500_000)
        for _ in 0..<20 {
            try Spawn.run(wanted, argv: [Array("w".utf8)])
            try Spawn.run(other, argv: [Array("o".utf8)])
        }
        let deadline = Date().addingTimeInterval(5)
        var text = ""
        while Date() < deadline {
            text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if text.components(separatedBy: wanted).count > 20 { break }
            usleep(100_000)
        }
        kill(client, SIGINT)
        Spawn.wait(client)
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 20, "compact output:\n\(text)")
        #expect(lines.allSatisfy { $0.contains("wanted-") }, "compact output:\n\(text)")
        #expect(!text.contains("other-"))
        #expect(lines.contains { $0.contains("process") } || lines.contains { $0.contains("exit") })
    }

    @Test func policiesAddedThroughTracectlSurviveARestart() throws {
        let dir = try TempDir("vigil-persist")
        defer { dir.remove() }
        let binary = try dir.copy("/bin/true", as: "victim-\(UUID().uuidString.prefix(6))")
        let file = "\(dir.path)/kill.yaml"
        try killPolicy(name: "persisted", binary: binary).write(toFile: file, atomically: true, encoding: .utf8)
        let store = "\(dir.path)/store"
        let first = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--persist-policies", store])
        #expect(try tracectl(first, ["policy", "add", file]).status == 0)
        first.stop()
        first.cleanUp()

        let second = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--persist-policies", store])
        defer {
            second.stop()
            second.cleanUp()
        }
        try second.waitForLog("policy=persisted")
        #expect(try killed(binary, by: second))
        #expect(try tracectl(second, ["policy", "list"]).output.contains("persisted"))
    }

    @Test func probeNeedsNoAgentAndSaysWhatEachHookCanDo() throws {
        let out = try TempDir("vigil-probe")
        defer { out.remove() }
        let path = "\(out.path)/probe.out"
        let status = Spawn.wait(try Spawn.start(AgentHarness.tracectlPath, argv: [Array("tracectl".utf8), Array("probe".utf8)], stdoutPath: path))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(status == 0, "\(text)")
        let connect = text.split(separator: "\n").first { $0.contains("socket_connect") } ?? ""
        #expect(connect.hasSuffix("yes"), "socket_connect should be deny-capable here: \(connect)")
        #expect(text.contains("kprobes"))
        #expect(text.contains("ring buffer") && text.contains("bpf_loop"))
        // BPF-LSM: "yes" only where bpf is an active LSM (an LSM program attaches and never runs
        // otherwise), and a "no" gives its reason. The guests of `make test-kernels` check the
        // "yes" side; here the answer must agree with securityfs.
        let lsm = text.split(separator: "\n").first { $0.hasPrefix("  BPF-LSM ") }.map(String.init) ?? ""
        let active = (try? String(contentsOfFile: "/sys/kernel/security/lsm", encoding: .utf8)) ?? ""
        let bpfActive = active.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "bpf" }
        let fields = lsm.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count > 2, "no BPF-LSM line with a reason: \(text)")
        if !bpfActive { #expect(fields.dropFirst().first == "no", "\(lsm)") }
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("  fentry ") }, "\(text)")
    }

    @Test func aNonRootUserIsRefusedByTheSocket() throws {
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        chmod(agent.directory.path, 0o755)  // the socket's own mode must be what stops them
        let result = try tracectl(agent, ["status"], asNobody: true)
        #expect(result.status != 0)
        #expect(result.output.lowercased().contains("permission denied"), "\(result.output)")
        #expect(try tracectl(agent, ["status"]).status == 0)
    }

    /// A plain HTTP/1.0 GET on loopback; returns the body.
    static func httpGet(port: UInt16, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Spawn.Failure(description: "connect 127.0.0.1:\(port): errno \(errno)") }
        // Bounded: never wait more than 5 s for a byte, and ask the server to close when done.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Spawn.Failure(description: "no HTTP body: \(text)") }
        #expect(text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200"), "\(text.prefix(80))")
        return String(text[split.upperBound...])
    }

    @Test func metricsParseAsPrometheusTextAndMoveWithEvents() throws {
        let port = 20000 + Int(getpid() % 20000)
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--metrics-server", "127.0.0.1:\(port)"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        func scrape() throws -> [String: Double] {
            let body = try Self.httpGet(port: UInt16(port), path: "/metrics")
            var values: [String: Double] = [:]
            for line in body.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 2, "not a Prometheus sample line: \(line)")
                if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
            }
            return values
        }
        usleep(300_000)
        let before = try scrape()
        let key = #"vigil_events_total{type="process_exec"}"#
        for _ in 0..<5 { try Spawn.run("/bin/true", argv: [Array("true".utf8)]) }
        usleep(300_000)
        let after = try scrape()
        #expect((after[key] ?? 0) >= (before[key] ?? 0) + 5, "before \(before[key] ?? -1), after \(after[key] ?? -1)")
        #expect((after["vigil_export_bytes_total"] ?? 0) > (before["vigil_export_bytes_total"] ?? 0))
    }
}
