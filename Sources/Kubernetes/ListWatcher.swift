// SPDX-License-Identifier: Apache-2.0
import AsyncHTTPClient
import Foundation
import NIOCore
import Logging
import Synchronization

/// An object the list/watch machinery can track: anything with `metadata`.
package protocol KubeObject: Decodable, Sendable {
    var metadata: ObjectMeta { get }
}

extension Pod: KubeObject {}

/// Keeps a local copy of one collection in step with the API server, like client-go's reflector.
///
/// List (paged with `limit`/`continue`), then watch from the list's `resourceVersion` with
/// bookmarks; every event, bookmark or list moves the resume point. A watch that ends (server
/// timeout) or breaks (connection reset, even mid-event: the cut event was never applied and is
/// sent again) resumes from the last resource version. A `410 Gone`/`Expired`, as the HTTP status
/// or as an `ERROR` event, means that version was compacted: list again and replace the set, which
/// drops objects whose deletion was missed. 429 and 5xx answers back off, honouring
/// `Retry-After`; a 401 re-reads the token file before the next try.
package final class ListWatcher<Object: KubeObject>: Sendable {
    /// What the watcher tells its owner.
    package struct Sink: Sendable {
        /// A full list: the new complete set.
        package var replace: @Sendable ([Object]) -> Void
        package var upsert: @Sendable (Object) -> Void
        package var delete: @Sendable (Object) -> Void

        package init(
            replace: @escaping @Sendable ([Object]) -> Void, upsert: @escaping @Sendable (Object) -> Void,
            delete: @escaping @Sendable (Object) -> Void
        ) {
            self.replace = replace
            self.upsert = upsert
            self.delete = delete
        }
    }

    package struct Options: Sendable {
        /// Page size of a list.
        package var pageSize = 500
        /// `timeoutSeconds` asked of each watch; the server closes the stream after it.
        package var watchTimeout: ClosedRange<Int> = 300...600
        /// First and largest pause after a failure (doubled per consecutive failure).
        package var backoffBase: Duration = .milliseconds(500)
        package var backoffMax: Duration = .seconds(30)
        /// Largest `Retry-After` honoured.
        package var retryAfterMax: Duration = .seconds(120)
        package init() {}
    }

    /// Counters, for metrics, status and tests.
    package struct Stats: Sendable, Hashable {
        package var lists: UInt64 = 0
        package var relists: UInt64 = 0
        package var watches: UInt64 = 0
        package var events: UInt64 = 0
        package var bookmarks: UInt64 = 0
        package var gone: UInt64 = 0
        package var errors: UInt64 = 0
        package var unauthorized: UInt64 = 0
        package var throttled: UInt64 = 0
        package var resourceVersion: String?
        /// True once the first list was applied.
        package var synced = false
    }

    package let client: KubeClient
    package let path: String
    package let query: [(String, String)]
    package let options: Options
    private let sink: Sink
    private let logger: Logger
    private let counters = Mutex(Stats())

    /// - Parameters:
    ///   - path: the collection, e.g. `/api/v1/pods`.
    ///   - query: selectors added to every list and watch (`fieldSelector`, `labelSelector`).
    package init(
        client: KubeClient, path: String, query: [(String, String)] = [], options: Options = .init(), sink: Sink,
        logger: Logger
    ) {
        self.client = client
        self.path = path
        self.query = query
        self.options = options
        self.sink = sink
        self.logger = logger
    }

    package var stats: Stats { counters.withLock { $0 } }

    enum Failure: Error {
        case gone(String)
        case status(APIStatus)
        case undecodable(String)
    }

    /// Lists and watches until the task is cancelled.
    package func run() async {
        var resourceVersion: String?
        var failures = 0
        // Consecutive 410s and watches that ended at once: the first is answered at once, a
        // streak backs off, so a misbehaving server or proxy is not hammered in a tight loop.
        var gones = 0
        var quickEnds = 0
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    resourceVersion = try await list()
                }
                let started = ContinuousClock.now
                try await watch(from: resourceVersion!) { resourceVersion = $0 }
                failures = 0
                gones = 0
                if ContinuousClock.now - started < .seconds(1) {
                    quickEnds += 1
                    if quickEnds > 1 { try await Task.sleep(for: backoff(quickEnds - 1)) }
                } else {
                    quickEnds = 0
                }
            } catch is CancellationError {
                return
            } catch Failure.gone(let message) {
                counters.withLock { $0.gone += 1; $0.relists += 1 }
                logger.info("\(path): resource version expired (\(message)); listing again")
                resourceVersion = nil
                gones += 1
                if gones > 1 { do { try await Task.sleep(for: backoff(gones - 1)) } catch { return } }
            } catch let error as KubeClient.HTTPStatusError where error.code == 410 {
                counters.withLock { $0.gone += 1; $0.relists += 1 }
                logger.info("\(path): 410 Gone; listing again")
                resourceVersion = nil
                gones += 1
                if gones > 1 { do { try await Task.sleep(for: backoff(gones - 1)) } catch { return } }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                var delay = backoff(failures)
                if let status = error as? KubeClient.HTTPStatusError {
                    counters.withLock {
                        $0.errors += 1
                        if status.code == 401 { $0.unauthorized += 1 }
                        if status.code == 429 { $0.throttled += 1 }
                    }
                    if let retryAfter = status.retryAfter { delay = min(retryAfter, options.retryAfterMax) }
                } else {
                    counters.withLock { $0.errors += 1 }
                }
                logger.warning("\(path): \(error); retrying in \(delay)")
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    private func backoff(_ failures: Int) -> Duration {
        let exponent = min(failures - 1, 16)
        let raw = options.backoffBase * (1 << exponent)
        let capped = min(raw, options.backoffMax)
        // Up to 20% jitter so that many agents do not retry in lockstep.
        return capped + capped * Double.random(in: 0..<0.2)
    }

    /// Lists every page, hands the set to the sink and returns the list's resource version.
    private func list() async throws -> String {
        var items: [Object] = []
        var continueToken: String?
        var resourceVersion = ""
        repeat {
            var q = query + [("limit", String(options.pageSize))]
            if let continueToken { q.append(("continue", continueToken)) }
            let body = try await client.get(path, query: q)
            let page: ListPage
            do {
                page = try JSONDecoder().decode(ListPage.self, from: Data(body))
            } catch {
                throw Failure.undecodable("list of \(path): \(error)")
            }
            items += page.items
            resourceVersion = page.metadata.resourceVersion ?? ""
            continueToken = page.metadata.continue.flatMap { $0.isEmpty ? nil : $0 }
        } while continueToken != nil
        sink.replace(items)
        counters.withLock {
            $0.lists += 1
            $0.synced = true
            $0.resourceVersion = resourceVersion
        }
        logger.debug("\(path): listed \(items.count) at resource version \(resourceVersion)")
        return resourceVersion
    }

    private struct ListPage: Decodable {
        struct Meta: Decodable {
            var resourceVersion: String?
            var `continue`: String?
        }
        var metadata: Meta
        var items: [Object]
    }

    private struct EventHead: Decodable {
        var type: String
    }

    private struct Event<T: Decodable>: Decodable {
        var object: T
    }

    private struct BookmarkObject: Decodable {
        var metadata: ObjectMeta
    }

    /// Watches from `resourceVersion` until the stream ends; `advance` gets every new resume point.
    private func watch(from resourceVersion: String, advance: (String) -> Void) async throws {
        let timeout = Int.random(in: options.watchTimeout)
        let q =
            query + [
                ("watch", "1"), ("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", String(timeout)),
            ]
        let body = try await client.stream(path, query: q)
        counters.withLock { $0.watches += 1 }
        var pending: [UInt8] = []
        for try await chunk in body {
            pending.append(contentsOf: chunk.readableBytesView)
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[start..<newline]
                start = newline + 1
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                try handle(line: Data(line), advance: advance)
            }
            pending.removeFirst(start)
        }
        // A last event without its newline is still whole when the stream ended cleanly.
        if !pending.isEmpty { try handle(line: Data(pending), advance: advance) }
    }

    private func handle(line: Data, advance: (String) -> Void) throws {
        let decoder = JSONDecoder()
        let type: String
        do {
            type = try decoder.decode(EventHead.self, from: line).type
        } catch {
            throw Failure.undecodable("watch event of \(path): \(error)")
        }
        switch type {
        case "ADDED", "MODIFIED", "DELETED":
            let object: Object
            do {
                object = try decoder.decode(Event<Object>.self, from: line).object
            } catch {
                throw Failure.undecodable("\(type) event of \(path): \(error)")
            }
            if type == "DELETED" { sink.delete(object) } else { sink.upsert(object) }
            let rv = object.metadata.resourceVersion
            counters.withLock {
                $0.events += 1
                if let rv { $0.resourceVersion = rv }
            }
            if let rv { advance(rv) }
        case "BOOKMARK":
            guard let rv = (try? decoder.decode(Event<BookmarkObject>.self, from: line))?.object.metadata.resourceVersion
            else { return }
            counters.withLock {
                $0.bookmarks += 1
                $0.resourceVersion = rv
            }
            advance(rv)
        case "ERROR":
            let status = (try? decoder.decode(Event<APIStatus>.self, from: line))?.object ?? APIStatus()
            if status.isGone { throw Failure.gone(status.message ?? "410") }
            throw Failure.status(status)
        default:
            logger.debug("\(path): ignoring watch event type \(type)")
        }
    }
}
