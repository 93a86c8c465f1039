// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging
import Testing
import TestSupport
@testable import Kubernetes

/// The pod watcher against the fixture API server (TLS, bearer token, real list/watch protocol),
/// one fault at a time. Each test has its own server on a loopback port and its own token file.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct PodWatcherTests {
    static let node = "node-a"

    /// A running watcher against a fresh fixture server; `stop()` ends both.
    final class Setup: @unchecked Sendable {
        let server: FixtureAPIServer
        let client: KubeClient
        let watcher: PodWatcher
        let task: Task<Void, Never>

        init(
            chunking: FixtureAPIServer.Chunking = .onePerChunk, pageSize: Int = 500, seed: [[String: Any]] = [],
            listFaults: [FixtureAPIServer.Fault] = []
        ) throws {
            server = try FixtureAPIServer()
            server.chunking = chunking
            server.addPods(seed)
            server.inject(list: listFaults)
            let config = KubeConfig(
                server: server.url, caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: server.caPath))),
                token: TokenSource(file: server.tokenPath))
            client = try KubeClient(config: config)
            var options = ListWatcher<Pod>.Options()
            options.pageSize = pageSize
            options.backoffBase = .milliseconds(50)
            options.backoffMax = .milliseconds(200)
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            watcher = PodWatcher(client: client, nodeName: PodWatcherTests.node, options: options, logger: logger)
            let w = watcher
            task = Task { await w.run() }
        }

        var store: PodStore { watcher.store }

        func names() -> Set<String> { Set(store.pods.values.compactMap(\.metadata.name)) }

        /// Waits until a watch is open (the list is done and the watch request was answered).
        func waitForWatch(count: Int = 1) async throws {
            try await eventually("watch #\(count) open") {
                server.openWatches == 1 && server.requests.filter(\.isWatch).count >= count
            }
        }

        func stop() async {
            task.cancel()
            await task.value
            server.stop()
            await client.shutdown()
        }
    }

    static func pod(_ name: String, uid: String? = nil, node: String = node, id: String? = nil) -> [String: Any] {
        FixturePods.pod(name: name, uid: uid ?? "uid-\(name)", node: node, containerID: id)
    }

    @Test func listsThenWatchesThisNodesPods() async throws {
        try await with(Setup(seed: [Self.pod("a"), Self.pod("other", node: "node-b")])) { s in
            try await s.waitForWatch()
            #expect(s.names() == ["a"])
            let list = try #require(s.server.requests.first)
            #expect(list.query["fieldSelector"] == "spec.nodeName=node-a")
            #expect(list.authorization?.hasPrefix("Bearer token-") == true)
            let watch = try #require(s.server.requests.first { $0.isWatch })
            #expect(watch.query["allowWatchBookmarks"] == "true")
            #expect(watch.query["resourceVersion"] == "1002")  // the list's version: two pods added after 1000
            #expect(watch.query["fieldSelector"] == "spec.nodeName=node-a")

            s.server.addPod(Self.pod("b"))
            try await eventually("b added") { s.names() == ["a", "b"] }
            let id = String(repeating: "c3", count: 32)
            s.server.addPod(Self.pod("b", id: id))
            try await eventually("b modified") { s.store.lookup(containerID: id) != nil }
            s.server.deletePod(uid: "uid-a")
            try await eventually("a deleted") { s.names() == ["b"] }
        }
    }

    @Test(arguments: [FixtureAPIServer.Chunking.coalesced, .split])
    func eventsInOneChunkOrSplitAcrossChunks(chunking: FixtureAPIServer.Chunking) async throws {
        try await with(Setup(chunking: chunking)) { s in
            try await s.waitForWatch()
            s.server.addPods((1...5).map { Self.pod("p\($0)") })
            try await eventually("five pods") { s.names().count == 5 }
            s.server.deletePod(uid: "uid-p3")
            try await eventually("p3 gone") { s.names() == ["p1", "p2", "p4", "p5"] }
            #expect(s.watcher.stats.errors == 0)
        }
    }

    @Test func pagedListFollowsContinueTokens() async throws {
        try await with(Setup(pageSize: 2, seed: (1...5).map { Self.pod("p\($0)") })) { s in
            try await s.waitForWatch()
            #expect(s.names().count == 5)
            #expect(s.server.requests.filter { $0.query["continue"] != nil }.count == 2)
        }
    }

    @Test func watchEndResumesFromTheLastBookmark() async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.sendBookmark()
            let bookmark = s.server.currentResourceVersion
            try await eventually("bookmark seen") { s.watcher.stats.bookmarks == 1 }
            s.server.endWatches()
            try await s.waitForWatch(count: 2)
            let resumed = s.server.requests.filter(\.isWatch)[1]
            #expect(resumed.query["resourceVersion"] == bookmark)
            #expect(s.watcher.stats.lists == 1)  // a clean end needs no relist
            s.server.addPod(Self.pod("b"))
            try await eventually("b after resume") { s.names() == ["a", "b"] }
        }
    }

    @Test func goneAsErrorEventRelists() async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.expireWatches()
            try await s.waitForWatch(count: 2)
            #expect(s.watcher.stats.lists == 2)
            #expect(s.watcher.stats.gone == 1)
            s.server.addPod(Self.pod("b"))
            try await eventually("b after relist") { s.names() == ["a", "b"] }
        }
    }

    @Test func goneAsHTTPStatusRelists() async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.inject(watch: [.status(410, retryAfter: nil)])
            s.server.endWatches()
            try await s.waitForWatch(count: 3)
            #expect(s.watcher.stats.lists == 2)
            #expect(s.watcher.stats.gone == 1)
        }
    }

    @Test func relistDropsAPodDeletedWhileDisconnected() async throws {
        try await with(Setup(seed: [Self.pod("a"), Self.pod("b")])) { s in
            try await s.waitForWatch()
            s.server.endWatches()
            s.server.deletePodDuringOutage(uid: "uid-a")
            try await eventually("a dropped by relist") { s.names() == ["b"] && s.watcher.stats.lists == 2 }
        }
    }

    @Test func unauthorizedUntilTheTokenFileIsRewritten() async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.acceptToken("rotated")
            s.server.endWatches()
            try await eventually("401 seen") { s.watcher.stats.unauthorized >= 2 }
            s.server.addPod(Self.pod("b"))
            try s.server.writeTokenFile("rotated")
            try await eventually("b after the new token") { s.names() == ["a", "b"] }
            #expect(s.server.requests.last?.authorization == "Bearer rotated")
        }
    }

    @Test(arguments: [429, 500])
    func throttlingAndServerErrorsHonourRetryAfter(code: Int) async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.inject(watch: [.status(code, retryAfter: 1)])
            s.server.endWatches()
            let start = ContinuousClock.now
            try await s.waitForWatch(count: 3)
            #expect(ContinuousClock.now - start >= .milliseconds(900))
            #expect(s.watcher.stats.errors == 1)
            #expect(s.watcher.stats.lists == 1)  // no relist for a throttled watch
            s.server.addPod(Self.pod("b"))
            try await eventually("b after the retry") { s.names() == ["a", "b"] }
        }
    }

    @Test func listErrorsBackOffAndRetry() async throws {
        try await with(Setup(seed: [Self.pod("a")], listFaults: [.status(500, retryAfter: nil), .status(503, retryAfter: nil)])) { s in
            try await s.waitForWatch()
            #expect(s.names() == ["a"])
            #expect(s.watcher.stats.errors == 2)
            #expect(s.server.requests.filter { !$0.isWatch }.count == 3)
        }
    }

    @Test func goneOnListRelistsAndARepeatedGoneBacksOff() async throws {
        let gone = FixtureAPIServer.Fault.status(410, retryAfter: nil)
        let start = ContinuousClock.now
        try await with(Setup(seed: [Self.pod("a")], listFaults: [gone, gone, gone, gone])) { s in
            try await s.waitForWatch()
            // The first relist at once, then 50 + 100 + 200 ms (the test's backoff base is 50 ms).
            #expect(ContinuousClock.now - start >= .milliseconds(330))
            #expect(s.names() == ["a"])
            #expect(s.watcher.stats.gone == 4)
            let lists = s.server.requests.filter { !$0.isWatch }.count
            #expect(lists == 5)
        }
    }

    @Test func streamResetMidEventLosesNothing() async throws {
        try await with(Setup(seed: [Self.pod("a")])) { s in
            try await s.waitForWatch()
            s.server.inject(watch: [.resetMidEvent])
            s.server.endWatches()
            try await s.waitForWatch(count: 2)
            // This event is cut in half on the wire and the connection closed.
            s.server.addPod(Self.pod("b"))
            try await s.waitForWatch(count: 3)
            try await eventually("b after the reset") { s.names() == ["a", "b"] }
            #expect(s.watcher.stats.errors >= 1)
            #expect(s.watcher.stats.lists == 1)
        }
    }
}

/// Runs `body`, then stops the watcher and the server whether it threw or not.
func with(_ setup: PodWatcherTests.Setup, _ body: (PodWatcherTests.Setup) async throws -> Void) async throws {
    do {
        try await body(setup)
    } catch {
        await setup.stop()
        throw error
    }
    await setup.stop()
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
