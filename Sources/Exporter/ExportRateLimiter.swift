// SPDX-License-Identifier: Apache-2.0
import Events
import Glibc

/// `--export-rate-limit` (Tetragon's flag): at most `eventsPerMinute` events a minute go to the
/// export, as a token bucket that holds a minute's worth and refills evenly (Go's
/// `rate.NewLimiter(rate.Every(time.Minute/n), n)`, as Tetragon builds it); 0 exports nothing.
/// What it drops is counted (`vigil_export_ratelimit_events_dropped_total`) and, once a minute
/// when there were drops, reported in the export as Tetragon's `rate_limit_info` event:
/// `{"rate_limit_info":{"number_of_dropped_process_events":"N"},"node_name":...,"time":...}`.
///
/// **Not thread-safe**: owned by the exporter.
package final class ExportRateLimiter {
    package let eventsPerMinute: Int
    /// Monotonic nanoseconds; a parameter so that tests can move time.
    private let now: () -> UInt64
    private let nodeName: String
    private let reportInterval: UInt64
    /// Tokens in nanoseconds of refill: one event costs `cost`, the bucket holds a minute.
    private var budget: UInt64
    private var last: UInt64
    private var lastReport: UInt64
    /// Dropped since the last report, and in all.
    package private(set) var pendingDrops: UInt64 = 0
    package private(set) var dropped: UInt64 = 0
    private let cost: UInt64
    private let capacity: UInt64

    /// - Parameters:
    ///   - eventsPerMinute: 0 or more (the flag's -1 means no limiter).
    ///   - now: monotonic time in nanoseconds.
    package init(
        eventsPerMinute: Int, nodeName: String, reportInterval: Duration = .seconds(60),
        now: @escaping () -> UInt64 = ExportRateLimiter.monotonicNow
    ) {
        precondition(eventsPerMinute >= 0, "no limiter for an unlimited export")
        self.eventsPerMinute = eventsPerMinute
        self.nodeName = nodeName
        self.now = now
        let minute: UInt64 = 60_000_000_000
        self.cost = eventsPerMinute > 0 ? max(1, minute / UInt64(eventsPerMinute)) : 0
        self.capacity = eventsPerMinute > 0 ? cost * UInt64(eventsPerMinute) : 0
        let start = now()
        self.budget = capacity
        self.last = start
        self.lastReport = start
        let (seconds, attoseconds) = reportInterval.components
        self.reportInterval = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Takes one event's token; false (and counted) when the bucket is empty.
    @inline(__always)
    package func allow() -> Bool {
        if eventsPerMinute > 0 {
            let t = now()
            budget = min(capacity, budget &+ (t &- last))
            last = t
            if budget >= cost {
                budget -= cost
                return true
            }
        }
        pendingDrops += 1
        dropped += 1
        return false
    }

    /// The `rate_limit_info` line due now (a report interval has passed since the last one and
    /// events were dropped meanwhile), or nil; `force` reports pending drops whatever the time
    /// (at shutdown).
    package func report(force: Bool = false) -> [UInt8]? {
        let t = now()
        guard force || t &- lastReport >= reportInterval else { return nil }
        lastReport = t
        guard pendingDrops > 0 else { return nil }
        var line = JSONBuffer(capacity: 256)
        line.append(static: "{\"rate_limit_info\":{\"number_of_dropped_process_events\":\"")
        line.appendDecimal(pendingDrops)
        line.append(static: "\"}")
        pendingDrops = 0
        if !nodeName.isEmpty {
            line.append(static: ",\"node_name\":")
            line.appendJSONString(nodeName)
        }
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        line.append(static: ",\"time\":\"")
        RFC3339.append(
            WallTime(nanosecondsSinceEpoch: UInt64(wall.tv_sec) * 1_000_000_000 + UInt64(wall.tv_nsec)), to: &line)
        line.append(static: "\"}\n")
        return line.withUnsafeBytes { Array($0) }
    }

    package static func monotonicNow() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}
