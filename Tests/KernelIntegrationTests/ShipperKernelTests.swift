// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The export and the metrics read by the real programs a SIEM pipeline runs: Debian's rsyslog
/// follows the export file through size rotations (imfile, mmjsonparse, omfile), Debian's
/// prometheus scrapes `--metrics-server` and answers a query for a Vigil series, and promtool
/// lints `/metrics`. Each daemon runs from its own config, ports and directories under a test
/// directory (never the system service) and is stopped by its pid. `make test` installs them
/// (scripts/install-deps.sh rsyslog prometheus); without them the tests skip and say so.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct ShipperKernelTests {
    static let rsyslogd = "/usr/sbin/rsyslogd"
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    /// A daemon of the test: started in the foreground, stopped with SIGTERM by its pid
    /// (SIGKILL if it is still there after 5 s).
    final class Daemon {
        let pid: pid_t
        let name: String
        private var reaped = false
        init(_ path: String, _ args: [String], output: String) throws {
            name = path
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            // The test process blocks SIGTERM in its threads and a spawned child inherits the
            // mask: the daemon would never hear the stop below. Empty mask, default handlers.
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            var all = sigset_t()
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            var cArgs = ([path] + args).map { strdup($0) } + [nil]
            defer { for p in cArgs { free(p) } }
            var child: pid_t = 0
            let rc = posix_spawn(&child, path, &actions, &attributes, &cArgs, environ)
            guard rc == 0 else { throw Spawn.Failure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))") }
            pid = child
        }
        func stop() {
            guard !reaped else { return }
            reaped = true
            kill(pid, SIGTERM)
            var status: Int32 = 0
            for _ in 0..<50 {
                if waitpid(pid, &status, WNOHANG) == pid { return }
                usleep(100_000)
            }
            kill(pid, SIGKILL)
            Spawn.wait(pid)
        }
        var running: Bool {
            var status: Int32 = 0
            return !reaped && waitpid(pid, &status, WNOHANG) == 0
        }
    }

    /// Polls until `condition` holds.
    static func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        throw Spawn.Failure(description: "timed out: \(what)")
    }

    /// Lines of `path` (complete ones only).
    static func lines(_ path: String) -> [Substring] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: true)
    }

    /// A JSON line, keys sorted: rsyslog re-serialises what it parsed (its own spacing and
    /// escapes), so the two sides are compared as JSON values.
    static func canonical(_ line: Substring) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: rsyslogd), "rsyslog is not installed (make test installs it: scripts/install-deps.sh rsyslog)"))
    func rsyslogFollowsTheExportThroughRotationsWithNoLineLostCutOrDuplicated() throws {
        let dir = try TempDir("vigil-rsyslog")
        defer { dir.remove() }
        let exportDir = "\(dir.path)/export"
        for sub in [exportDir, "\(dir.path)/work"] { try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false) }
        let received = "\(dir.path)/received.json"
        let unparsed = "\(dir.path)/unparsed.log"
        // imfile follows events*.log by inotify: the live file and each backup the agent's
        // rotation renames it to (one inode, read once); mmjsonparse parses each line as JSON
        // (no @cee cookie), and omfile writes the parsed tree back out, one object a line.
        try """
            global(workDirectory="\(dir.path)/work" maxMessageSize="256k")
            module(load="imfile" mode="inotify")
            module(load="mmjsonparse")
            template(name="vigil_json" type="string" string="%$!all-json-plain%\\n")
            ruleset(name="vigil") {
              action(type="mmjsonparse" cookie="" useRawMsg="on")
              if $parsesuccess == "OK" then {
                action(type="omfile" file="\(received)" template="vigil_json")
              } else {
                action(type="omfile" file="\(unparsed)")
              }
            }
            input(type="imfile" file="\(exportDir)/events.log" tag="vigil" ruleset="vigil" addMetadata="off")
            """.write(toFile: "\(dir.path)/rsyslog.conf", atomically: true, encoding: .utf8)
        let rsyslog = try Daemon(
            Self.rsyslogd, ["-n", "-f", "\(dir.path)/rsyslog.conf", "-i", "\(dir.path)/rsyslogd.pid"],
            output: "\(dir.path)/rsyslogd.out")
        defer { rsyslog.stop() }
        usleep(300_000)
        #expect(rsyslog.running, "rsyslogd exited: \((try? String(contentsOfFile: "\(dir.path)/rsyslogd.out", encoding: .utf8)) ?? "")")

        // The burst: getppid() of this process, one event each.
        let policy = "\(dir.path)/burst.yaml"
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: shipper-burst
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_getppid
                selectors:
                - matchPIDs:
                  - operator: In
                    values: [\(getpid())]
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(
            arguments: [
                "--tracing-policy", policy, "--tracing-policy-dir", "/nonexistent", "--export-file-max-size-mb", "1",
                "--export-file-max-backups", "50", "--rb-size", "32M", "--event-queue-size", "200000",
            ],
            exportDirectory: exportDir)
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("policy loaded")
        // About one rotation (1 MB, ~900 events) per round, a rotation every ~0.3 s: fast for a
        // node, and paced, because rsyslog 8.2302's imfile itself loses a whole renamed file when
        // renames come tens of milliseconds apart (measured here; docs/shippers.md).
        let burst = 6000
        for _ in 0..<6 {
            for _ in 0..<(burst / 6) { _ = getppid() }
            usleep(300_000)
        }
        try Self.waitUntil("the burst in the export", timeout: 20) {
            agent.poll()
            return agent.events.filter { $0.type == "process_tracepoint" }.count >= burst
        }
        _ = agent.stop()

        // What the agent wrote: the live file and every backup, oldest first.
        let names = try FileManager.default.contentsOfDirectory(atPath: exportDir).filter { $0.hasPrefix("events") }
        let backups = names.filter { $0 != "events.log" }
        #expect(backups.count >= 3, "\(names): the burst was meant to cross several rotations")
        var written: [Substring] = []
        for name in names { written += Self.lines("\(exportDir)/\(name)") }
        try Self.waitUntil("rsyslog caught up (\(written.count) lines)", timeout: 20) {
            Self.lines(received).count >= written.count
        }
        usleep(300_000)  // anything more (a duplicate) shows up now
        rsyslog.stop()
        // rsyslog writes back the JSON it parsed: the same text but for `/` escaped as `\/`.
        // A line that still differs is compared as a JSON value.
        let shipped = Self.lines(received).map { String($0).replacingOccurrences(of: "\\/", with: "/") }
        let writtenSet = Set(written.map(String.init))
        var canonicalWritten: Set<String>?
        var shippedKeys: [String] = []
        for line in shipped {
            if writtenSet.contains(line) {
                shippedKeys.append(line)
                continue
            }
            canonicalWritten = canonicalWritten ?? Set(written.compactMap { Self.canonical($0) })
            guard let value = Self.canonical(Substring(line)) else {
                Issue.record("rsyslog's output is not JSON: \(line.prefix(200))")
                continue
            }
            #expect(canonicalWritten?.contains(value) == true, "shipped but never written: \(line.prefix(200))")
            shippedKeys.append(value)
        }
        #expect(Self.lines(unparsed).isEmpty, "lines rsyslog could not parse (cut?): \(Self.lines(unparsed).prefix(3))")
        #expect(writtenSet.count == written.count, "the export itself has a duplicate line")
        #expect(Set(shippedKeys).count == shippedKeys.count, "rsyslog delivered a line twice")
        #expect(shipped.count == written.count, "shipped \(shipped.count) lines, written \(written.count)")
        if canonicalWritten == nil {
            let missing = writtenSet.subtracting(shippedKeys)
            #expect(missing.isEmpty, "\(missing.count) lines lost, e.g. \(missing.first?.prefix(200) ?? "")")
        }
        #expect(shipped.count >= burst)
    }

    /// A TCP port nobody listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw Spawn.Failure(description: "bind: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The body of a 200 answer to GET `path` on the loopback `port`; nil otherwise.
    static func httpGet(port: Int, _ path: String) -> Data? {
        guard let answer = try? HealthKernelTests.get(port: UInt16(port), path: path), answer.status == 200 else { return nil }
        return Data(answer.body.utf8)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheus) && FileManager.default.isExecutableFile(atPath: promtool), "prometheus is not installed (make test installs it: scripts/install-deps.sh prometheus)"))
    func prometheusScrapesAVigilSeriesAndPromtoolFindsNoProblem() throws {
        let dir = try TempDir("vigil-prometheus")
        defer { dir.remove() }
        let metricsPort = try Self.freePort()
        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", "/nonexistent", "--metrics-server", "127.0.0.1:\(metricsPort)"])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        try agent.waitForLog("metrics listening")

        // promtool's linter on what /metrics serves: no output, exit 0.
        let metrics = try #require(Self.httpGet(port: metricsPort, "/metrics"))
        try metrics.write(to: URL(fileURLWithPath: "\(dir.path)/metrics.txt"))
        let lint = try Spawn.run(
            "/bin/sh", argv: ["sh", "-c", "\(Self.promtool) check metrics < '\(dir.path)/metrics.txt' > '\(dir.path)/lint.txt' 2>&1"].map { Array($0.utf8) })
        let lintOutput = (try? String(contentsOfFile: "\(dir.path)/lint.txt", encoding: .utf8)) ?? ""
        #expect(lint == 0 && lintOutput.isEmpty, "promtool check metrics (wait status \(lint)):\n\(lintOutput)")

        let webPort = try Self.freePort()
        try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
            - job_name: vigil
              static_configs:
              - targets: ['127.0.0.1:\(metricsPort)']
            """.write(toFile: "\(dir.path)/prometheus.yml", atomically: true, encoding: .utf8)
        let server = try Daemon(
            Self.prometheus,
            ["--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
             "--web.listen-address=127.0.0.1:\(webPort)", "--log.level=warn"],
            output: "\(dir.path)/prometheus.out")
        defer { server.stop() }
        for _ in 0..<5 { try Spawn.run("/bin/true", argv: [Array("true".utf8)]) }

        // The exec counter, read back through the query API once a scrape has stored it.
        let query = "/api/v1/query?query=vigil_events_total%7Btype%3D%22process_exec%22%2Cjob%3D%22vigil%22%7D"
        var value = 0.0
        try Self.waitUntil("prometheus has vigil_events_total", timeout: 20) {
            guard server.running, let body = Self.httpGet(port: webPort, query),
                  let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  json["status"] as? String == "success",
                  let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  let sample = result.first?["value"] as? [Any], sample.count == 2,
                  let text = sample[1] as? String, let number = Double(text)
            else { return !server.running }
            value = number
            return true
        }
        #expect(server.running, "prometheus exited: \((try? String(contentsOfFile: "\(dir.path)/prometheus.out", encoding: .utf8)) ?? "")")
        #expect(value >= 5, "vigil_events_total{type=\"process_exec\"} = \(value)")
    }
}
