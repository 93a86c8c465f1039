// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `--enable-flows`: TCP flows on loopback, between the test process (the client, connecting)
/// and a python3 server it starts in the agent's fence (accepting), on ports the server picked.
/// Every event counted is scoped to those two pids and ports: the machine's own tooling makes
/// connections too.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct FlowKernelTests {
    /// Serves `count4` connections on 127.0.0.1 then `count6` on ::1, each: an 8-byte header
    /// (bytes to read, bytes to answer, big-endian u32s), that many bytes in, that many out, then
    /// wait for the client's close and close. Writes "port4 port6" to argv[1] once listening.
    static let server = """
        import socket, struct, sys
        def listener(family, host):
            s = socket.socket(family, socket.SOCK_STREAM)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, 0)); s.listen(128); return s
        def exactly(c, n):
            data = b''
            while len(data) < n:
                chunk = c.recv(n - len(data))
                if not chunk: raise SystemExit('short read')
                data += chunk
            return data
        l4, l6 = listener(socket.AF_INET, '127.0.0.1'), listener(socket.AF_INET6, '::1')
        open(sys.argv[1] + '.tmp', 'w').write('%d %d' % (l4.getsockname()[1], l6.getsockname()[1]))
        import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
        for l, count in ((l4, int(sys.argv[2])), (l6, int(sys.argv[3]))):
            for _ in range(count):
                c, _ = l.accept()
                n, m = struct.unpack('!II', exactly(c, 8))
                exactly(c, n)
                c.sendall(b'y' * m)
                while c.recv(65536): pass
                c.close()
        """

    /// Payload sizes of connection i: what the client sends after the header, what it gets back.
    static func sizes(_ i: Int) -> (sent: Int, answer: Int) { (1 + (i * 37) % 6000, 1 + (i * 91) % 9000) }

    /// One client connection to loopback:port; returns its local port and the monotonic times
    /// after the connect returned and before the close: both flows of the connection started
    /// before the first (at SYN_SENT, or the handshake's end) and end after the second (at the
    /// change to TCP_CLOSE).
    static func exchange(port: UInt16, v6: Bool, sent: Int, answer: Int) throws -> (sport: UInt16, connected: UInt64, closing: UInt64) {
        let fd = try connectLoopback(port: port, v6: v6)
        let connected = monotonicNow()
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        let sport = withUnsafeBytes(of: local) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        var message = withUnsafeBytes(of: UInt32(sent).bigEndian) { Array($0) } + withUnsafeBytes(of: UInt32(answer).bigEndian) { Array($0) }
        message += [UInt8](repeating: UInt8(ascii: "x"), count: sent)
        var offset = 0
        while offset < message.count {
            let n = message[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                throw Spawn.Failure(description: "write: \(errno)")
            }
            offset += n
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var received = 0
        while received < answer {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                throw Spawn.Failure(description: "read: \(n) after \(received) of \(answer)")
            }
            received += n
        }
        let closing = monotonicNow()
        close(fd)
        return (sport, connected, closing)
    }

    /// A TCP socket connected to loopback:port (IPv4 or IPv6).
    static func connectLoopback(port: UInt16, v6: Bool) throws -> Int32 {
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Spawn.Failure(description: "socket: \(errno)") }
        var storage = sockaddr_storage()
        let length = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        withUnsafeMutableBytes(of: &storage) { raw in
            if v6 {
                raw.storeBytes(of: sa_family_t(AF_INET6), toByteOffset: 0, as: sa_family_t.self)
                raw[8 + 15] = 1  // ::1
            } else {
                raw.storeBytes(of: sa_family_t(AF_INET), toByteOffset: 0, as: sa_family_t.self)
                raw.storeBytes(of: UInt32(0x7f00_0001).bigEndian, toByteOffset: 4, as: UInt32.self)
            }
            raw.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard rc == 0 else {
            close(fd)
            throw Spawn.Failure(description: "connect to \(port): \(errno)")
        }
        return fd
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func sock(_ event: ExportedEvent) -> [String: Any] { event.args.first?["sock_arg"] as? [String: Any] ?? [:] }

    /// A labelled argument's value (`size_arg` is a uint64: a JSON string).
    static func arg(_ event: ExportedEvent, _ label: String) -> Any? {
        guard let arg = event.args.first(where: { $0["label"] as? String == label }) else { return nil }
        return arg["size_arg"].map { UInt64($0 as? String ?? "") as Any } ?? arg["string_arg"]
    }

    /// Flows need tp_btf helpers: asked for on raw_tp, the agent stops before loading anything,
    /// and says why.
    @Test func flowsOnRawTracepointsAreRefusedWithTheReason() throws {
        let dir = try TempDir("vigil-flows-raw")
        defer { dir.remove() }
        let output = "\(dir.path)/agent.out"
        let agent = try Spawn.start(
            "/bin/sh",
            argv: ["/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", AgentHarness.binaryPath, "--enable-flows", "--attach-mode", "raw_tp",
                   "--export-filename", "\(dir.path)/events.log", "--server-address", "", "--tracing-policy-dir", "/nonexistent"]
                .map { Array($0.utf8) },
            stdoutPath: output)
        let status = Spawn.wait(agent)
        let log = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status != 0, "\(log)")
        #expect(log.contains("--enable-flows needs tp_btf programs"), "\(log)")
    }

    /// A full flow map is counted, never silent: with room for one open flow, twelve connections held
    /// at once leave at least 22 of their 24 ends untracked (each end that found no room counts), and whatever was
    /// tracked still ends in one event.
    @Test func flowsBeyondTheMapAreCountedNotLost() throws {
        let agent = try AgentHarness(arguments: ["--enable-flows", "--flow-map-entries", "1"])
        defer { agent.cleanUp() }
        var stopped = false
        defer { if !stopped { agent.stop() } }
        let listener = try ConnectKernelTests.Listener()
        defer { listener.close() }
        try agent.inside {
            // Connected and left in the backlog (listen(16)), all open at once.
            let clients = try (0..<12).map { _ in try Self.connectLoopback(port: listener.port, v6: false) }
            for fd in clients { close(fd) }
        }
        let log = agent.stop()
        stopped = true
        let untracked = log.matches(of: /flows_untracked=(\d+)/).last.flatMap { Int($0.1) } ?? -1
        // 12 connects and their 12 passive ends, one entry of room (which the node's own
        // traffic may hold too): at least 22 flows found none.
        #expect(untracked >= 22, "flows_untracked=\(untracked): \(log.suffix(1500))")
        let ours = agent.events.filter {
            $0.body["function_name"] as? String == "tcp_close" && Self.sock($0)["dport"] as? Int == Int(listener.port)
        }
        #expect(ours.count <= 1, "\(ours.map(\.line))")
    }

    @Test func loopbackConnectionsGiveOneExactCloseEventPerFlowAndEnd() throws {
        let count4 = 1000, count6 = 200
        let agent = try AgentHarness(arguments: ["--enable-flows"])
        defer { agent.cleanUp() }
        var stopped = false
        defer { if !stopped { agent.stop() } }
        let portFile = "\(agent.directory.path)/ports"
        let server = try agent.spawn("/usr/bin/python3", ["-c", Self.server, portFile, "\(count4)", "\(count6)"])
        defer {
            kill(server, SIGKILL)
            _ = Spawn.wait(server)
        }
        let deadline = Date().addingTimeInterval(10)
        while access(portFile, F_OK) != 0 && Date() < deadline { usleep(10_000) }
        let ports = try String(contentsOfFile: portFile, encoding: .utf8).split(separator: " ").compactMap { UInt16($0) }
        try #require(ports.count == 2)

        // The test process is the client, inside the fence with the server.
        var clients: [Int: (sport: UInt16, connected: UInt64, closing: UInt64, v6: Bool)] = [:]
        let started = Self.monotonicNow()
        try agent.inside {
            for i in 0..<(count4 + count6) {
                let v6 = i >= count4
                let (sent, answer) = Self.sizes(i)
                let r = try Self.exchange(port: ports[v6 ? 1 : 0], v6: v6, sent: sent, answer: answer)
                clients[i] = (r.sport, r.connected, r.closing, v6)
            }
        }
        #expect(Spawn.wait(server) == 0, "the server saw every connection through")
        let me = Int(getpid())
        let serverPorts = Set(ports.map(Int.init))
        func ours(_ e: ExportedEvent) -> Bool {
            guard e.type == "process_kprobe", e.body["function_name"] as? String == "tcp_close" else { return false }
            let s = Self.sock(e)
            return (e.pid == me && serverPorts.contains(s["dport"] as? Int ?? 0))
                || (e.pid == Int(server) && serverPorts.contains(s["sport"] as? Int ?? 0))
        }
        let events = try agent.waitFor(count: 2 * (count4 + count6), timeout: 20, "tcp_close events of the test's flows", ours)
        // Every flow has closed by now: no duration can be longer than this.
        let elapsed = Self.monotonicNow() - started
        // By the client's end: family and port (a v6 client may get a port a v4 one had).
        func key(_ family: Any?, _ port: Any?) -> String { "\(family as? String ?? "")/\(port as? Int ?? 0)" }
        let outgoing = Dictionary(grouping: events.filter { $0.pid == me }) { key(Self.sock($0)["family"], Self.sock($0)["sport"]) }
        let incoming = Dictionary(grouping: events.filter { $0.pid == Int(server) }) { key(Self.sock($0)["family"], Self.sock($0)["dport"]) }
        #expect(outgoing.count == count4 + count6 && incoming.count == count4 + count6, "one event per flow, each side")

        var checked = 0
        for i in 0..<(count4 + count6) {
            let client = clients[i]!
            let (sent, answer) = Self.sizes(i)
            let request = UInt64(8 + sent)
            let family = client.v6 ? "AF_INET6" : "AF_INET"
            guard let out = outgoing[key(family, Int(client.sport))], out.count == 1, let o = out.first,
                let inc = incoming[key(family, Int(client.sport))], inc.count == 1, let n = inc.first
            else {
                Issue.record("connection \(i) (port \(client.sport)): not exactly one event per side")
                continue
            }
            let loopback = client.v6 ? "::1" : "127.0.0.1"
            let so = Self.sock(o), si = Self.sock(n)
            #expect(so["family"] as? String == family && si["family"] as? String == family)
            #expect(so["type"] as? String == "SOCK_STREAM" && so["protocol"] as? String == "IPPROTO_TCP")
            #expect(so["saddr"] as? String == loopback && so["daddr"] as? String == loopback)
            #expect(si["sport"] as? Int == Int(ports[client.v6 ? 1 : 0]))
            #expect(UInt64(so["cookie"] as? String ?? "") ?? 0 != 0 && so["cookie"] as? String != si["cookie"] as? String)
            #expect(Self.arg(o, "direction") as? String == "outgoing" && Self.arg(n, "direction") as? String == "incoming")
            // Exact payload bytes each way, on both ends.
            #expect(Self.arg(o, "bytes_sent") as? UInt64 == request, "\(o.line)")
            #expect(Self.arg(o, "bytes_received") as? UInt64 == UInt64(answer), "\(o.line)")
            #expect(Self.arg(n, "bytes_sent") as? UInt64 == UInt64(answer), "\(n.line)")
            #expect(Self.arg(n, "bytes_received") as? UInt64 == request, "\(n.line)")
            // Both flows were open from before the connect returned until after the close began,
            // and over before the last event came.
            let lower = client.closing - client.connected
            for (event, label) in [(o, "outgoing"), (n, "incoming")] {
                let duration = Self.arg(event, "duration_ns") as? UInt64 ?? 0
                #expect(duration > lower && duration < elapsed, "\(label) \(duration) ns not in (\(lower), \(elapsed)): \(event.line)")
            }
            checked += 1
        }
        #expect(checked == count4 + count6)

        // Strictly Tetragon's schema without --enable-vigil-fields is SchemaKernelTests' job for
        // the kinds it runs; here: these lines' keys are Tetragon's, Vigil's only under `vigil`.
        let schema = try TetragonSchema.load()
        for event in events.prefix(5) {
            let strict = event.line.replacingOccurrences(
                of: ",\"vigil\":{\"mechanism\":\"tp_btf sock/inet_sock_set_state\"}", with: "")
            #expect(schema.problems(line: strict).isEmpty, "\(schema.problems(line: strict)) in \(event.line)")
        }
        #expect(events.first?.vigil["mechanism"] as? String == "tp_btf sock/inet_sock_set_state")

        // None lost on the kernel side either.
        let log = agent.stop()
        stopped = true
        #expect(log.contains("flow_drops=0") && log.contains("flows_untracked=0"), "\(log.suffix(2000))")
    }
}
