// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc
import Testing

extension Trait where Self == ConditionTrait {
    /// Kernel suites load real BPF programs: root (or CAP_BPF + CAP_PERFMON) is required.
    package static var requiresRoot: Self {
        .enabled(if: geteuid() == 0, "needs root to load BPF programs; run `sudo make test`")
    }
}

/// One exported JSON line, parsed.
package struct ExportedEvent: @unchecked Sendable {
    /// The whole line as JSON.
    package let json: [String: Any]
    package let line: String

    /// "process_exec", "process_exit", ...
    package var type: String? { json.keys.first { $0.hasPrefix("process_") } }
    package var body: [String: Any] { type.flatMap { json[$0] as? [String: Any] } ?? [:] }
    package var process: [String: Any] { body["process"] as? [String: Any] ?? [:] }
    package var parent: [String: Any] { body["parent"] as? [String: Any] ?? [:] }
    package var binary: String? { process["binary"] as? String }
    package var args: [[String: Any]] { body["args"] as? [[String: Any]] ?? [] }
    package var policyName: String? { body["policy_name"] as? String }
    package var action: String? { body["action"] as? String }
    /// Vigil's own fields of a policy event (`--enable-vigil-fields`): mechanism, policy_mode,
    /// fenced, and `return` on process_lsm.
    package var vigil: [String: Any] { body["vigil"] as? [String: Any] ?? [:] }
    package var execID: String? { process["exec_id"] as? String }
    package var pid: Int? { process["pid"] as? Int }
}

/// The real `vigil` binary, started as a user would start it, exporting to a private file.
///
/// Tests match only their own events (unique binaries, their own pids); the harness stops the
/// agent by pid and removes its files.
package final class AgentHarness: @unchecked Sendable {
    package let nodeName: String
    package let directory: TempDir
    package let exportPath: String
    package let stderrPath: String
    /// The agent's control API socket (for tracectl).
    package let socketPath: String
    /// The agent process.
    package let pid: pid_t
    /// The agent's `--enforcement-cgroup`: kills and denies reach only processes born in it
    /// (``TestCgroup/spawn(_:argv:stdoutPath:cwd:)``). With `fenced`, made for the agent unless
    /// the test passed one (shared by the agents of a restart); nil without either.
    package let fence: TestCgroup?
    /// The fence was made here and goes with ``cleanUp()``.
    private let ownsFence: Bool
    /// The process was waited for: its pid must not be signalled again (it may be reused).
    private var reaped = false
    /// The export file as opened by the last poll: kept open, so that after a rotation (the
    /// agent renames the file at `--export-file-max-size-mb`, 10 MB by default, which storm
    /// tests reach) the rest of the old file is still read before the new one.
    private var exportFD: Int32 = -1
    private var exportInode: ino_t = 0
    private var readOffset = 0
    private var pendingBytes: [UInt8] = []
    package private(set) var events: [ExportedEvent] = []

    /// Path of the `vigil` executable next to the test bundle (or $VIGIL_BINARY).
    package static var binaryPath: String {
        if let env = ProcessInfo.processInfo.environment["VIGIL_BINARY"] { return env }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("vigil").path
    }

    /// Starts the agent and waits until it has attached and exported the test process's own
    /// /proc entry (the scan runs after attaching, so from then on nothing is missed).
    ///
    /// - Parameters:
    ///   - exportDirectory: where `events.log` goes instead of the harness's own directory.
    ///   - stdout: a descriptor the agent's standard output goes to (default /dev/null).
    ///   - fence: the `--enforcement-cgroup` to use.
    ///   - fenced: without `fence`, make a fence cgroup for this agent.
    ///   - vigilFields: run with `--enable-vigil-fields`: the suites check Vigil's own fields
    ///     (monitor mode, the fence, mechanisms, inodes); the schema conformance test turns it off
    ///     to see the default, strictly Tetragon, export.
    package init(
        arguments: [String] = [], exportDirectory: String? = nil, stdout: Int32? = nil, readyTimeout: Double = 30,
        fence: TestCgroup? = nil, fenced: Bool = true, vigilFields: Bool = true
    ) throws {
        nodeName = "vigil-test-\(UUID().uuidString.prefix(8))"
        let madeFence = fenced && fence == nil ? try TestCgroup("agent") : nil
        self.fence = fence ?? madeFence
        ownsFence = madeFence != nil
        do {
            directory = try TempDir("vigil-agent")
        } catch {
            madeFence?.remove()
            throw error
        }
        exportPath = "\(exportDirectory ?? directory.path)/events.log"
        stderrPath = "\(directory.path)/agent.stderr"
        socketPath = "\(directory.path)/vigil.sock"
        let argv =
            [Self.binaryPath, "--node-name", nodeName, "--export-filename", exportPath, "--log-level", "info",
             "--server-address", socketPath]
            + (self.fence.map { ["--enforcement-cgroup", $0.path] } ?? [])
            + (vigilFields ? ["--enable-vigil-fields"] : [])
            + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout {
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, Self.binaryPath, &actions, nil, &cArgs, environ)
        guard rc == 0 else {
            directory.remove()
            madeFence?.remove()
            throw Spawn.Failure(description: "cannot start \(Self.binaryPath): \(String(cString: strerror(rc)))")
        }
        pid = child
        let me = Int(getpid())
        do {
            _ = try waitFor(timeout: readyTimeout, "agent ready (own procFS entry)") {
                $0.type == "process_exec" && $0.pid == me
            }
            // The control socket comes up after the sensor: tests that call tracectl at once
            // would otherwise race it.
            try waitForLog("control API listening", timeout: readyTimeout)
        } catch {
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            stop()
            madeFence?.remove()
            throw Spawn.Failure(description: "\(error)\nagent stderr:\n\(log)")
        }
    }

    /// Starts a process the test means to enforce on: born in the fence when the agent has one.
    package func spawn(_ path: String, argv: [[UInt8]], cwd: String? = nil, stdoutPath: String? = nil) throws -> pid_t {
        guard let fence else { return try Spawn.start(path, argv: argv, cwd: cwd, stdoutPath: stdoutPath) }
        return try fence.spawn(path, argv: argv, stdoutPath: stdoutPath, cwd: cwd)
    }

    /// Convenience for UTF-8 arguments (argv[0] is `path`).
    package func spawn(_ path: String, _ args: [String], cwd: String? = nil) throws -> pid_t {
        try spawn(path, argv: ([path] + args).map { Array($0.utf8) }, cwd: cwd)
    }

    /// Runs to completion (see ``spawn(_:argv:cwd:stdoutPath:)``); returns the raw wait status.
    @discardableResult
    package func run(_ path: String, argv: [[UInt8]], cwd: String? = nil) throws -> Int32 {
        Spawn.wait(try spawn(path, argv: argv, cwd: cwd))
    }

    /// Runs `body` with the test process itself in the fence (see ``TestCgroup/inside(_:)``),
    /// or as it is when the agent has none.
    package func inside<T>(_ body: () throws -> T) throws -> T {
        guard let fence else { return try body() }
        return try fence.inside(body)
    }

    /// Sends `signal` to the agent (e.g. SIGHUP to reload policies).
    package func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// The agent's log so far.
    package var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits until the agent's log contains `text`.
    package func waitForLog(_ text: String, timeout: Double = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !log.contains(text) {
            if Date() > deadline { throw Spawn.Failure(description: "timed out waiting for log line \"\(text)\"; log:\n\(log)") }
            usleep(20_000)
        }
    }

    /// Reads new complete lines from the export file, following rotations.
    package func poll() {
        while true {
            if exportFD < 0 {
                exportFD = open(exportPath, O_RDONLY | O_CLOEXEC)
                guard exportFD >= 0 else { return }
                var st = stat()
                fstat(exportFD, &st)
                exportInode = st.st_ino
                readOffset = 0
            }
            readToEnd()
            // Rotated: the path names a new file. The agent finished the old one before
            // creating it, and the read above took the old one's last lines.
            var st = stat()
            guard stat(exportPath, &st) == 0, st.st_ino != exportInode else { break }
            readToEnd()
            close(exportFD)
            exportFD = -1
            readBackups(after: exportInode)
        }
        while let newline = pendingBytes.firstIndex(of: UInt8(ascii: "\n")) {
            let lineBytes = Array(pendingBytes[..<newline])
            pendingBytes.removeSubrange(...newline)
            let line = String(decoding: lineBytes, as: UTF8.self)
            if let json = try? JSONSerialization.jsonObject(with: Data(lineBytes)) as? [String: Any] {
                events.append(ExportedEvent(json: json, line: line))
            } else {
                // What a next look needs: where in the file it was and what came before.
                var st = stat()
                let size: String = stat(exportPath, &st) == 0 ? "\(st.st_size) bytes, inode \(st.st_ino)" : "unreadable"
                let previous: String = events.last.map { String($0.line.suffix(300)) } ?? "none"
                let context: String =
                    "read up to offset \(readOffset) of \(exportPath) (inode \(exportInode)), now \(size); previous line: \(previous)"
                Issue.record("export line is not JSON: \(line)\n(\(context))")
            }
        }
    }

    /// Several rotations can pass between two polls: the backups written after the one just
    /// finished (`inode`), oldest first (their names carry the rotation time), are read whole.
    private func readBackups(after inode: ino_t) {
        let url = URL(fileURLWithPath: exportPath)
        let directory = url.deletingLastPathComponent().path
        let ext = url.pathExtension.isEmpty ? "" : "." + url.pathExtension
        let stem = url.deletingPathExtension().lastPathComponent + "-"
        let backups = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(stem) && $0.hasSuffix(ext) }.sorted().map { "\(directory)/\($0)" }
        var st = stat()
        guard let finished = backups.firstIndex(where: { stat($0, &st) == 0 && st.st_ino == inode }) else { return }
        for backup in backups[(finished + 1)...] {
            exportFD = open(backup, O_RDONLY | O_CLOEXEC)
            guard exportFD >= 0 else { continue }
            readOffset = 0
            readToEnd()
            close(exportFD)
            exportFD = -1
        }
    }

    private func readToEnd() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(exportFD, $0.baseAddress, $0.count, off_t(readOffset)) }
            guard n > 0 else { return }
            readOffset += n
            pendingBytes.append(contentsOf: buffer[..<n])
        }
    }

    /// Waits until an event matching `predicate` was exported; returns the first one.
    @discardableResult
    package func waitFor(
        timeout: Double = 15, _ what: String, _ predicate: (ExportedEvent) -> Bool
    ) throws -> ExportedEvent {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            poll()
            if let event = events.first(where: predicate) { return event }
            if Date() > deadline { throw Spawn.Failure(description: "timed out waiting for \(what)") }
            usleep(20_000)
        }
    }

    /// Waits until `count` events match, then returns all that match.
    package func waitFor(
        count: Int, timeout: Double = 30, _ what: String, _ predicate: (ExportedEvent) -> Bool
    ) throws -> [ExportedEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            poll()
            let matching = events.filter(predicate)
            if matching.count >= count { return matching }
            if Date() > deadline {
                throw Spawn.Failure(description: "timed out waiting for \(count) \(what); got \(matching.count)")
            }
            usleep(50_000)
        }
    }

    /// SIGKILL, as a crash or the OOM killer would; returns the wait status. ``stop()`` then
    /// only reads what is left.
    @discardableResult
    package func kill9() -> Int32 {
        kill(pid, SIGKILL)
        let status = Spawn.wait(pid)
        reaped = true
        poll()
        return status
    }

    /// Sends SIGTERM, waits for a clean exit, reads the last lines; returns the agent's stderr.
    @discardableResult
    package func stop() -> String {
        if reaped {
            poll()
            return log
        }
        reaped = true
        kill(pid, SIGTERM)
        let status = Spawn.wait(pid)
        poll()
        let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        if !(status & 0x7f == 0 && (status >> 8) & 0xff == 0) {
            Issue.record("vigil did not exit cleanly (wait status \(status)):\n\(log)")
        }
        return log
    }

    deinit {
        if exportFD >= 0 { close(exportFD) }
    }

    /// Removes the export file and logs, and the fence cgroup the harness made (what the test
    /// left running in it is killed by pid first).
    package func cleanUp() {
        if exportFD >= 0 {
            close(exportFD)
            exportFD = -1
        }
        directory.remove()
        if ownsFence { fence?.remove() }
    }
}
