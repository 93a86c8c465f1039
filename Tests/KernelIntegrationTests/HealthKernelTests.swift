// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

/// `--health-server-address` on a real agent whose export sink really stalls: a full file
/// system under the export file (readiness goes false with ENOSPC, liveness stays true because
/// the lines are retried), and a standard output pipe nobody reads (the pipeline blocks in
/// write(2): liveness goes false), each then cleared and seen to recover.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct HealthKernelTests {
    /// GET over loopback: the status code and the body.
    static func get(port: UInt16, path: String) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Spawn.Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Spawn.Failure(description: "connect 127.0.0.1:\(port): errno \(errno)") }
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
        guard text.hasPrefix("HTTP/1.1 "), let split = text.range(of: "\r\n\r\n"),
              let status = Int(text.dropFirst(9).prefix(3))
        else { throw Spawn.Failure(description: "not an HTTP response: \(text.prefix(200))") }
        return (status, String(text[split.upperBound...]))
    }

    /// The port the agent's health server bound (started with port 0), from its log.
    static func healthPort(_ agent: AgentHarness) throws -> UInt16 {
        try agent.waitForLog("health server listening")
        let line = agent.log.split(separator: "\n").first { $0.contains("health server listening") } ?? ""
        guard let range = line.range(of: "address=127.0.0.1:"),
              let port = UInt16(line[range.upperBound...].prefix { $0.isNumber })
        else { throw Spawn.Failure(description: "no port in \(line)") }
        return port
    }

    /// Polls `path` until `condition` holds for its answer; returns that answer.
    @discardableResult
    static func poll(
        _ port: UInt16, _ path: String, _ what: String, timeout: Double = 10, while work: () throws -> Void = {},
        until condition: (Int, String) -> Bool
    ) throws -> (status: Int, body: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var last = (status: 0, body: "")
        while Date() < deadline {
            last = try get(port: port, path: path)
            if condition(last.status, last.body) { return last }
            try work()
            usleep(100_000)
        }
        throw Spawn.Failure(description: "\(what): \(path) still answers \(last.status):\n\(last.body)")
    }

    @Test func aFullExportDiskMakesTheAgentUnreadyWithTheReasonThenReadyAgain() throws {
        let dir = try TempDir("vigil-health-full")
        defer { dir.remove() }
        let exportDir = "\(dir.path)/export"
        let policies = "\(dir.path)/policies"
        for path in [exportDir, policies] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false) }
        // A small file system of its own, which this test fills.
        try #require(mount("vigil-test", exportDir, "tmpfs", 0, "size=1m,mode=0700") == 0, "tmpfs: errno \(errno)")
        defer { umount2(exportDir, Int32(MNT_DETACH)) }
        let marker = try dir.copy("/bin/true", as: "health-\(UUID().uuidString.prefix(6))")

        let agent = try AgentHarness(
            arguments: ["--tracing-policy-dir", policies, "--health-server-address", "127.0.0.1:0"], exportDirectory: exportDir)
        defer {
            try? FileManager.default.removeItem(atPath: "\(exportDir)/filler")
            agent.stop()
            agent.cleanUp()
        }
        let port = try Self.healthPort(agent)
        let ready = try Self.poll(port, "/readyz", "ready after start") { status, _ in status == 200 }
        #expect(ready.body.contains("[+] sensor: attached"), "\(ready.body)")
        #expect(ready.body.contains("[+] policies: 0 loaded"), "\(ready.body)")

        // Fill the file system; the next execs' lines fail with ENOSPC.
        let fd = open("\(exportDir)/filler", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let block = [UInt8](repeating: 0x61, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
        let unready = try Self.poll(port, "/readyz", "unready on a full disk", while: {
            try Spawn.run(marker, argv: [Array("marker".utf8)])
        }) { status, _ in status == 503 }
        #expect(unready.body.hasPrefix("not ok\n"))
        #expect(unready.body.contains("[-] export: file not writable, lines kept and retried:"), "\(unready.body)")
        #expect(unready.body.contains("No space left on device"), "\(unready.body)")
        // Alive: the same loop keeps retrying; restarting the agent would not free the disk.
        let live = try Self.get(port: port, path: "/livez")
        #expect(live.status == 200, "\(live.body)")
        #expect(live.body.contains("retried every second"), "\(live.body)")

        try FileManager.default.removeItem(atPath: "\(exportDir)/filler")
        let again = try Self.poll(port, "/readyz", "ready again with space", while: {
            try Spawn.run(marker, argv: [Array("marker".utf8)])
        }) { status, _ in status == 200 }
        #expect(again.body.contains("[+] export: writable"), "\(again.body)")
    }

    @Test func anExportPipeNobodyReadsMakesTheAgentNotLiveThenLiveAgain() throws {
        let dir = try TempDir("vigil-health-pipe")
        defer { dir.remove() }
        let marker = try dir.copy("/bin/true", as: "health-\(UUID().uuidString.prefix(6))")
        // The agent's stdout is a pipe; this test reads it, then stops reading.
        var pipeFDs: [Int32] = [0, 0]
        try #require(pipe(&pipeFDs) == 0)
        let drain = PipeDrain(fd: pipeFDs[0])
        drain.start()
        let agent: AgentHarness
        do {
            agent = try AgentHarness(
                arguments: [
                    "--tracing-policy-dir", "/nonexistent", "--export-stdout", "--health-server-address", "127.0.0.1:0",
                    "--health-drain-timeout", "1",
                ],
                stdout: pipeFDs[1])
        } catch {
            close(pipeFDs[1])
            drain.stop()
            throw error
        }
        close(pipeFDs[1])
        defer {
            drain.reading.store(true, ordering: .relaxed)
            agent.stop()
            agent.cleanUp()
            drain.stop()
        }
        let port = try Self.healthPort(agent)
        try Self.poll(port, "/livez", "live after start") { status, body in status == 200 && body.contains("draining") }

        // Nobody reads: once the pipe's 64 KiB are full the pipeline blocks in write(2).
        drain.reading.store(false, ordering: .relaxed)
        let dead = try Self.poll(port, "/livez", "not live with a blocked sink", timeout: 20, while: {
            for _ in 0..<20 { try Spawn.run(marker, argv: [Array("marker".utf8), Array(String(repeating: "x", count: 500).utf8)]) }
        }) { status, _ in status == 503 }
        #expect(dead.body.contains("[-] pipeline: has not drained the ring buffer for"), "\(dead.body)")
        #expect(dead.body.contains("the export sink blocks it or it hangs"), "\(dead.body)")
        #expect(try Self.get(port: port, path: "/readyz").status == 503)

        drain.reading.store(true, ordering: .relaxed)
        try Self.poll(port, "/livez", "live again once the pipe is read") { status, _ in status == 200 }
        try Self.poll(port, "/readyz", "ready again once the pipe is read") { status, _ in status == 200 }
    }
}

/// Reads a pipe to the end while `reading` is true; holds still (the pipe fills) while it is false.
final class PipeDrain: @unchecked Sendable {
    let reading = Atomic<Bool>(true)
    private let fd: Int32
    private let finished = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)

    init(fd: Int32) { self.fd = fd }

    func start() {
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while !finished.load(ordering: .relaxed) {
                if !reading.load(ordering: .relaxed) {
                    usleep(20_000)
                    continue
                }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard Glibc.poll(&pfd, 1, 100) > 0 else { continue }
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
            }
            close(fd)
            exited.store(true, ordering: .relaxed)
        }
        thread.start()
    }

    /// Ends the reader thread (after the agent is gone, or on a failed start) and waits for it.
    func stop() {
        finished.store(true, ordering: .relaxed)
        while !exited.load(ordering: .relaxed) { usleep(10_000) }
    }
}
