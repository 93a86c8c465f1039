// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The real agent with Tetragon's export filters: an allowlist and a redaction filter, real
/// execs of unique binary copies, the exported JSON read back.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct ExportFilterKernelTests {
    /// Only the allowed binary's events (and this test process's, whose /proc seed entry tells
    /// the harness the agent is ready: a second allowlist line) reach the file, the rest of the
    /// /proc seed and the other binary's do not; the secret after `--password` is `*****` in the exported arguments and appears
    /// nowhere in the file.
    @Test func allowlistAndRedaction() throws {
        let dir = try TempDir("vigil-export-filter")
        defer { dir.remove() }
        let suffix = UUID().uuidString.prefix(8)
        let allowed = try dir.copy("/bin/true", as: "allowed-\(suffix)")
        let other = try dir.copy("/bin/true", as: "other-\(suffix)")
        let secret = "s3cret-\(suffix)"
        let agent = try AgentHarness(arguments: [
            "--export-allowlist", "{\"binary_regex\":[\"/allowed-[^/]*$\"]}\n{\"pid\":[\(getpid())]}",
            "--redaction-filters", #"{"redact":["--password(?:\\s+|=)(\\S*)"]}"#,
        ])
        defer { agent.cleanUp() }
        // The control API's stream is not the export: the lists leave it alone (as Tetragon's
        // leave its gRPC streams), the redaction does not.
        let streamed = "\(dir.path)/stream.out"
        let client = try Spawn.start(
            AgentHarness.tracectlPath,
            argv: [AgentHarness.tracectlPath, "--server-address", agent.socketPath, "events", "--binary", "/other-"]
                .map { Array($0.utf8) }, stdoutPath: streamed)
        defer {
            kill(client, SIGINT)
            Spawn.wait(client)
        }
        // Tetragon's filter lines on the stream run the export's filter code: the other
        // binary's events less its exit.
        let tetragonStreamed = "\(dir.path)/stream-tetragon.out"
        let tetragonClient = try Spawn.start(
            AgentHarness.tracectlPath,
            argv: [
                AgentHarness.tracectlPath, "--server-address", agent.socketPath, "events",
                "--allowlist", #"{"binary_regex":["/other-[^/]*$"]}"#, "--denylist", #"{"event_set":["PROCESS_EXIT"]}"#,
            ].map { Array($0.utf8) }, stdoutPath: tetragonStreamed)
        defer {
            kill(tetragonClient, SIGINT)
            Spawn.wait(tetragonClient)
        }
        usleep(500_000)
        try Spawn.run(other, argv: [Array("other".utf8), Array("--password".utf8), Array(secret.utf8)])
        try Spawn.run(allowed, argv: [Array("allowed".utf8), Array("--password".utf8), Array(secret.utf8), Array("-v".utf8)])
        let exec = try agent.waitFor("the allowed exec") { $0.type == "process_exec" && $0.binary == allowed }
        _ = try agent.waitFor("the allowed exit") { $0.type == "process_exit" && $0.binary == allowed }
        #expect(exec.process["arguments"] as? String == "--password ***** -v")
        let log = agent.stop()
        let text = try String(contentsOfFile: agent.exportPath, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 3, "only this process's seed entry, the allowed exec and exit, got \(lines.count) lines\n\(log)")
        #expect(
            agent.events.allSatisfy { $0.binary == allowed || $0.pid == Int(getpid()) },
            "\(agent.events.map { $0.binary ?? "?" })")
        #expect(!text.contains(secret), "the secret is in the export")
        #expect(!agent.events.contains { $0.binary == other })
        try checkTetragonStream(tetragonStreamed, other: other, allowed: allowed)
        let stream = (try? String(contentsOfFile: streamed, encoding: .utf8)) ?? ""
        #expect(stream.contains("\"binary\":\"\(other)\""), "the stream lost the filtered exec:\n\(stream)")
        #expect(stream.contains("--password *****") && !stream.contains(secret), "\(stream)")
    }

    /// `tracectl events --allowlist/--denylist`: only the other binary's exec, through the same
    /// filter code as the export (not its exit, not the allowed binary's events).
    private func checkTetragonStream(_ path: String, other: String, allowed: String) throws {
        var lines: [[String: Any]] = []
        for _ in 0..<40 {
            lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            if !lines.isEmpty { break }
            usleep(50_000)
        }
        let kinds = lines.map { line in
            "\(line.keys.first { $0 != "node_name" && $0 != "time" } ?? "?") \(((line.values.compactMap { $0 as? [String: Any] }.first?["process"]) as? [String: Any])?["binary"] as? String ?? "?")"
        }
        #expect(kinds == ["process_exec \(other)"], "\(kinds)")
    }

    /// A bad filter stops the agent before anything loads, naming the flag, line and field.
    @Test func badFilterRefusesToStart() throws {
        let dir = try TempDir("vigil-export-filter-bad")
        defer { dir.remove() }
        let stderr = "\(dir.path)/stderr"
        let fd = open(stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        let argv = [
            AgentHarness.binaryPath, "--export-filename", "\(dir.path)/events.log", "--server-address", "",
            "--export-denylist", "{\"pid\":[1]}\n{\"binary_regex\":[\"ok\",\"(\"]}",
        ]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0)
        close(fd)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status != 0)
        let message = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(message.contains("--export-denylist line 2, binary_regex[1]: invalid regular expression \"(\""), "\(message)")
        #expect(access("\(dir.path)/events.log", F_OK) != 0, "the agent started")
    }
}
