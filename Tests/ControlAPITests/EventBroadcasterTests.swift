// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Events
import Synchronization
import Testing

/// Reads `count` lines from `iterator`, failing after 5 s.
func take(_ count: Int, from subscription: EventSubscription) async throws -> [EventLine] {
    try await withTimeout(5, "\(count) lines") {
        var lines: [EventLine] = []
        for await line in subscription {
            lines.append(line)
            if lines.count == count { break }
        }
        return lines
    }
}

@Suite("EventBroadcaster")
struct EventBroadcasterTests {
    @Test("publish without subscribers does nothing; subscribers get lines in order")
    func order() async throws {
        let broadcaster = EventBroadcaster(bufferSize: 16)
        broadcaster.publish(execLine("/bin/nobody-listens"))
        let subscription = broadcaster.subscribe()
        #expect(broadcaster.subscriberCount == 1)
        for n in 0..<5 { broadcaster.publish(execLine("/bin/\(n)")) }
        let lines = try await take(5, from: subscription)
        #expect(lines.map(\.binary) == (0..<5).map { "/bin/\($0)" })
    }

    @Test("a full buffer drops for that subscriber only, counts, and announces the drops before the next line")
    func dropsAndNotice() async throws {
        let drops = Mutex<UInt64>(0)
        let broadcaster = EventBroadcaster(bufferSize: 4) { count in drops.withLock { $0 += count } }
        let slow = broadcaster.subscribe()
        let fast = broadcaster.subscribe()
        var fastLines: [EventLine] = []
        for n in 0..<10 {
            broadcaster.publish(execLine("/bin/\(n)"))
            fastLines += try await take(1, from: fast)
        }
        #expect(fastLines.count == 10)
        let stats = broadcaster.statistics()
        #expect(stats.map(\.dropped) == [6, 0])
        #expect(stats[0].pendingNotice == 6)
        #expect(broadcaster.droppedTotal == 6)
        #expect(drops.withLock { $0 } == 6)

        // The slow one reads its 4 buffered lines, then gets the notice, then the new line.
        let buffered = try await take(4, from: slow)
        #expect(buffered.map(\.binary) == ["/bin/0", "/bin/1", "/bin/2", "/bin/3"])
        broadcaster.publish(execLine("/bin/after"))
        let next = try await take(2, from: slow)
        #expect(next[0].json == #"{"vigil_dropped_events":6}"#)
        #expect(next[0].droppedCount == 6)
        #expect(next[1].binary == "/bin/after")
        #expect(broadcaster.statistics()[0].pendingNotice == 0)
    }

    @Test("with room for the notice only, the line is dropped and counted in the next notice")
    func noticeTakesLastSlot() async throws {
        let broadcaster = EventBroadcaster(bufferSize: 2)
        let subscription = broadcaster.subscribe()
        for n in 0..<3 { broadcaster.publish(execLine("/bin/\(n)")) }      // 0, 1 queued; 2 dropped
        _ = try await take(1, from: subscription)                            // one slot free
        broadcaster.publish(execLine("/bin/3"))                              // notice(1) queued; 3 dropped
        #expect(broadcaster.statistics()[0].dropped == 2)
        let lines = try await take(2, from: subscription)
        #expect(lines.map(\.json)[1] == #"{"vigil_dropped_events":1}"#)
        broadcaster.publish(execLine("/bin/4"))
        let last = try await take(2, from: subscription)
        #expect(last[0].droppedCount == 1)
        #expect(last[1].binary == "/bin/4")
    }

    @Test("filters run before a line takes buffer space")
    func filtered() async throws {
        let broadcaster = EventBroadcaster(bufferSize: 2)
        let subscription = broadcaster.subscribe(filter: try EventFilter(query: [("binary", "cat$")]))
        for n in 0..<10 { broadcaster.publish(execLine("/bin/ls", n: n)) }
        broadcaster.publish(execLine("/bin/cat"))
        #expect(broadcaster.droppedTotal == 0)
        #expect(try await take(1, from: subscription).map(\.binary) == ["/bin/cat"])
    }

    @Test("subscriptions end on finish(), on the consumer's cancellation, and on the broadcaster's finish()")
    func ending() async throws {
        let broadcaster = EventBroadcaster()
        let first = broadcaster.subscribe()
        first.finish()
        #expect(broadcaster.subscriberCount == 0)
        var iterator = first.makeAsyncIterator()
        #expect(await iterator.next() == nil)

        let second = broadcaster.subscribe()
        let consumer = Task { for await _ in second {} }
        #expect(broadcaster.subscriberCount == 1)
        consumer.cancel()
        await consumer.value
        try await eventually("cancelled consumer removed") { broadcaster.subscriberCount == 0 }

        let third = broadcaster.subscribe()
        broadcaster.publish(execLine("/bin/last"))
        broadcaster.finish()
        #expect(try await take(1, from: third).map(\.binary) == ["/bin/last"])
        var thirdIterator = third.makeAsyncIterator()
        #expect(await thirdIterator.next() == nil)
        let late = broadcaster.subscribe()
        var lateIterator = late.makeAsyncIterator()
        #expect(await lateIterator.next() == nil)
    }

    @Test("concurrent publishers: every line is delivered or counted")
    func concurrentPublishers() async throws {
        let broadcaster = EventBroadcaster(bufferSize: 100)
        let subscription = broadcaster.subscribe()
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask { for n in 0..<250 { broadcaster.publish(execLine("/bin/\(writer)", n: n)) } }
            }
        }
        let stats = try #require(broadcaster.statistics().first)
        #expect(stats.queued + stats.dropped == 1000)
        #expect(stats.queued == 100)
        subscription.finish()
        var count = 0
        for await _ in subscription { count += 1 }
        #expect(count == 100)
    }
}

@Suite("EventLine and EventFilter")
struct EventLineFilterTests {
    @Test("EventLine(parsing:) reads the filter fields from the JSON")
    func parsing() throws {
        let line = try #require(EventLine(parsing: tracepointLine("/usr/bin/cat", path: "/etc/shadow", policy: "p", action: "KPROBE_ACTION_SIGKILL").json + "\n"))
        #expect(line.type == "process_tracepoint")
        #expect(line.binary == "/usr/bin/cat")
        #expect(line.policyName == "p")
        #expect(line.action == "KPROBE_ACTION_SIGKILL")
        #expect(!line.json.hasSuffix("\n"))
        let pod = try #require(EventLine(parsing: execLine("/x", namespace: "ns", pod: "web-1").json))
        #expect(pod.namespace == "ns")
        #expect(pod.pod == "web-1")
        #expect(EventLine(parsing: "not json") == nil)
        #expect(EventLine.droppedNotice(12).droppedCount == 12)
        #expect(execLine("/x").droppedCount == nil)
    }

    @Test("filter values are normalised; lists are ORed, filters ANDed")
    func normalisation() throws {
        let filter = try EventFilter(query: [("types", "exec, PROCESS_KPROBE"), ("action", "sigkill"), ("action", "Post")])
        #expect(filter.types == ["process_exec", "process_kprobe"])
        #expect(filter.actions == ["KPROBE_ACTION_SIGKILL", "KPROBE_ACTION_POST"])
        #expect(EventFilter().isEmpty)
        #expect(EventFilter().matches(execLine("/x")))
        let two = try EventFilter(query: [("binary", "^/bin/"), ("binary", "cat$")])
        #expect(two.matches(execLine("/bin/ls")))
        #expect(two.matches(execLine("/usr/bin/cat")))
        #expect(!two.matches(execLine("/usr/bin/ls")))
        let pod = try EventFilter(query: [("pod", "web")])
        #expect(!pod.matches(execLine("/bin/ls")))  // no pod: no match
        #expect(pod.matches(EventLine.droppedNotice(3)))  // notices always pass
    }

    @Test("Tetragon's filter lines run on the event the line came from; a mistake names its list, line and field")
    func tetragonFilterLines() throws {
        func event(_ binary: String, _ kind: ExportEventKind) -> ExportEvent {
            let process = ExportedProcess(
                execID: "id", pid: 7, tid: 7, uid: 0, auid: 0, cwd: Array("/".utf8), binary: Array(binary.utf8),
                arguments: [], flags: [.execve], startTime: WallTime(nanosecondsSinceEpoch: 0), docker: nil,
                parentExecID: nil)
            return ExportEvent(kind: kind, process: process, parent: nil, nodeName: "n", time: WallTime(nanosecondsSinceEpoch: 0))
        }
        let filter = try EventFilter(query: [
            ("allowlist", #"{"binary_regex":["curl$"]}"#), ("allowlist", #"{"binary_regex":["^/bin/sh$"]}"#),
            ("denylist", #"{"event_set":["PROCESS_EXIT"]}"#),
        ])
        #expect(!filter.isEmpty)
        #expect(filter.matches(execLine("/usr/bin/curl"), event: event("/usr/bin/curl", .exec)))
        #expect(filter.matches(execLine("/bin/sh"), event: event("/bin/sh", .exec)))
        #expect(!filter.matches(execLine("/usr/bin/curl"), event: event("/usr/bin/curl", .exit(signal: nil, status: 0, time: WallTime(nanosecondsSinceEpoch: 0)))))
        #expect(!filter.matches(execLine("/bin/ls"), event: event("/bin/ls", .exec)))
        // A replayed line has no event to read: it does not pass; drop notices always do.
        #expect(!filter.matches(execLine("/usr/bin/curl")))
        #expect(filter.matches(EventLine.droppedNotice(1)))
        #expect(throws: ControlError.badRequest("invalid event filter", details: [
            #"denylist line 2, binary_regex[0]: invalid regular expression "(""#,
        ])) {
            try EventFilter(query: [("denylist", "{\"pid\":[1]}\n{\"binary_regex\":[\"(\"]}")])
        }
    }

    @Test("bad filter values are a 400 with one detail each")
    func errors() {
        #expect(throws: ControlError.badRequest("invalid event filter", details: [
            "types: unknown event type \"nope\" (known: \(EventFilter.knownTypes.joined(separator: ", ")))",
            "pod: invalid regular expression \"[\"",
        ])) {
            try EventFilter(query: [("types", "nope"), ("pod", "[")])
        }
    }
}
