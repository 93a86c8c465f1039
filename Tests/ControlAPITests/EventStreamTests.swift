// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Foundation
import NIOHTTP1
import Synchronization
import Testing
@testable import tracectl

/// Lines received by one streaming client.
final class Received: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var count: Int { lines.withLock { $0.count } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

/// Starts `ControlClient.streamEvents` in a task; the caller cancels it.
func startStream(_ socket: String, query: [(String, String)], into received: Received) -> Task<Void, any Error> {
    Task {
        try await ControlClient(socketPath: socket).streamEvents(query: query) { received.append($0) }
    }
}

@Suite("GET /v1/events")
struct EventStreamTests {
    @Test("each client gets the lines its filters let through, in order")
    func filters() async throws {
        let agent = FakeAgent()
        try await withControlServer(agent: agent) { _, socket in
            let clients: [(query: [(String, String)], received: Received)] = [
                ([], Received()),
                ([("types", "exec")], Received()),
                ([("binary", "/cat$")], Received()),
                ([("namespace", "ns1"), ("pod", "^web-")], Received()),
                ([("policy", "kill-shadow"), ("action", "sigkill")], Received()),
                ([("types", "process_tracepoint,PROCESS_EXIT"), ("policy", "read-shadow,other")], Received()),
            ]
            let tasks = clients.map { startStream(socket, query: $0.query, into: $0.received) }
            defer { tasks.forEach { $0.cancel() } }
            try await eventually("all clients subscribed") { agent.broadcaster.subscriberCount == clients.count }

            let lines = [
                execLine("/usr/bin/ls", n: 1),
                execLine("/usr/bin/cat", arguments: "/etc/hosts", n: 2),
                tracepointLine("/usr/bin/cat", path: "/etc/shadow", policy: "read-shadow"),
                tracepointLine("/usr/bin/cat", path: "/etc/shadow", policy: "kill-shadow", action: "KPROBE_ACTION_SIGKILL"),
                execLine("/usr/sbin/nginx", namespace: "ns1", pod: "web-7d9f", n: 3),
                execLine("/usr/sbin/nginx", namespace: "ns1", pod: "db-0", n: 4),
            ]
            for line in lines { agent.broadcaster.publish(line) }

            let expected: [[Int]] = [[0, 1, 2, 3, 4, 5], [0, 1, 4, 5], [1, 2, 3], [4], [3], [2]]
            for (client, indexes) in zip(clients, expected) {
                try await eventually("\(client.query): \(indexes.count) lines") { client.received.count >= indexes.count }
            }
            try await Task.sleep(for: .milliseconds(100))
            for (client, indexes) in zip(clients, expected) {
                #expect(client.received.all == indexes.map { lines[$0].json }, "\(client.query)")
            }
            tasks.forEach { $0.cancel() }
            // A client that goes away ends its subscription.
            try await eventually("subscriptions ended") { agent.broadcaster.subscriberCount == 0 }
        }
    }

    @Test("bad filters are one 400 listing every problem")
    func badFilters() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let answer = try await rawRequest(socket, .GET, "/v1/events?types=exec,bogus&binary=(unclosed&colour=red")
            #expect(answer.status == 400)
            let error = try errorBody(answer.body)
            #expect(error.message == "invalid event filter")
            #expect(error.details.count == 3)
            #expect(error.details.contains { $0.contains("bogus") })
            #expect(error.details.contains { $0.contains("binary: invalid regular expression") })
            #expect(error.details.contains { $0.contains("colour: unknown parameter") })

            let client = ControlClient(socketPath: socket)
            let thrown = await #expect(throws: ClientError.self) {
                try await client.streamEvents(query: [("types", "nope")]) { _ in }
            }
            guard case .agent(let agentError)? = thrown else { Issue.record("\(String(describing: thrown))"); return }
            #expect(agentError.status == 400)
        }
    }

    @Test("a client that never reads does not block the agent or another client; its drops are counted and announced")
    func stalledClient() async throws {
        let agent = FakeAgent(bufferSize: 64)
        try await withControlServer(agent: agent) { _, socket in
            try await Self.stalledClientScenario(agent: agent, socket: socket)
        }
    }

    static func stalledClientScenario(agent: FakeAgent, socket: String) async throws {
        // Client A asks for events and then does not read.
        let stalled = try RawUnixClient(path: socket)
        stalled.send("GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try await eventually("stalled client subscribed") { agent.broadcaster.subscriberCount == 1 }
        let received = Received()
        let reader = startStream(socket, query: [], into: received)
        defer { reader.cancel() }
        try await eventually("reader subscribed") { agent.broadcaster.subscriberCount == 2 }

        // 4,000 lines of ~2 KiB (8 MiB): far more than the socket buffers hold for A.
        let padding = String(repeating: "x", count: 2000)
        let total = 4000
        let clock = ContinuousClock()
        var publishTime = Duration.zero
        for batch in stride(from: 0, to: total, by: 32) {
            let start = clock.now
            for n in batch..<min(batch + 32, total) {
                agent.broadcaster.publish(execLine("/bin/true", arguments: padding, n: n))
            }
            publishTime += clock.now - start
            // Pace on the reading client only (its own buffer is 64 lines too).
            try await eventually("reader got \(batch + 32) lines", timeout: 10) { received.count >= min(batch + 32, total) }
        }
        #expect(received.count == total)
        #expect(!received.all.contains { $0.contains("vigil_dropped_events") })
        // publish never waited for anyone: 4,000 calls well under a second on this machine.
        #expect(publishTime < .seconds(2), "publish took \(publishTime)")

        let stats = agent.broadcaster.statistics()
        #expect(stats.count == 2)
        let stalledStats = try #require(stats.first { $0.dropped > 0 })
        let readerStats = try #require(stats.first { $0.dropped == 0 })
        #expect(stalledStats.dropped > UInt64(total / 2))
        #expect(readerStats.queued == UInt64(total))
        #expect(agent.broadcaster.droppedTotal == stalledStats.dropped)
        #expect(await agent.status().counters["client_drops"] == stalledStats.dropped)

        // A catches up: it reads everything buffered, then the next line is preceded by
        // the in-band notice.
        // Idle bounds are generous: the whole suite shares two cores with the kernel tests.
        let backlog = stalled.read(idleSeconds: 3) { _ in false }
        #expect(backlog.contains("HTTP/1.1 200 OK"))
        #expect(backlog.lowercased().contains("transfer-encoding: chunked"))
        #expect(!backlog.contains("vigil_dropped_events"))
        agent.broadcaster.publish(execLine("/usr/bin/after", n: 99_999))
        let tail = stalled.read(idleSeconds: 10) { $0.contains("/usr/bin/after") }
        #expect(tail.contains("{\"vigil_dropped_events\":\(stalledStats.dropped)}"))
        let notice = try #require(tail.range(of: "vigil_dropped_events"))
        let after = try #require(tail.range(of: "/usr/bin/after"))
        #expect(notice.lowerBound < after.lowerBound)
    }

    @Test("graceful shutdown ends event streams, even one whose client does not read")
    func shutdownEndsStreams() async throws {
        let agent = FakeAgent(bufferSize: 64)
        let received = Received()
        let clock = ContinuousClock()
        let start = clock.now
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = ControlServerConfiguration(socketPath: directory + "/v.sock")
        configuration.shutdownGracePeriod = .seconds(2)
        let reader = try await withControlServer(agent: agent, configuration: configuration) { _, socket in
            let stalled = try RawUnixClient(path: socket)
            stalled.send("GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let reader = startStream(socket, query: [], into: received)
            try await eventually("both subscribed") { agent.broadcaster.subscriberCount == 2 }
            let padding = String(repeating: "y", count: 4000)
            for n in 0..<2000 { agent.broadcaster.publish(execLine("/bin/true", arguments: padding, n: n)) }
            try await eventually("reader got lines") { received.count > 0 }
            return (reader, stalled)
        }
        // withControlServer returned: the server stopped (its grace period is 2 s; the bound
        // leaves room for a machine busy with the rest of the suite).
        #expect(clock.now - start < .seconds(20))
        // The reading client saw a clean end of stream.
        try await withTimeout(5, "reader finished") { try await reader.0.value }
        _ = reader.1
    }

    @Test("tracectl events -o compact prints one readable line per event")
    func compactStream() async throws {
        let agent = FakeAgent()
        try await withControlServer(agent: agent) { _, socket in
            let received = Received()
            let task = Task {
                try await ControlClient(socketPath: socket).streamEvents(query: [("types", "tracepoint")]) {
                    received.append(CompactFormatter.format($0))
                }
            }
            defer { task.cancel() }
            try await eventually("subscribed") { agent.broadcaster.subscriberCount == 1 }
            agent.broadcaster.publish(execLine("/usr/bin/cat"))
            agent.broadcaster.publish(tracepointLine("/usr/bin/cat", path: "/etc/shadow", policy: "p", action: "KPROBE_ACTION_SIGKILL"))
            try await eventually("one line") { received.count == 1 }
            #expect(received.all == ["📬 open     /usr/bin/cat /etc/shadow 0 💀 SIGKILL"])
        }
    }
}
