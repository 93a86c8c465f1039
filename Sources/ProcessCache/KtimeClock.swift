// SPDX-License-Identifier: Apache-2.0
import Events
import Glibc

/// Converts kernel CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns()`, the `ktime` of records)
/// into wall-clock time.
///
/// The offset is taken once; a later wall-clock step (NTP, `date -s`) is not followed, which
/// keeps timestamps of one run monotonic, as Tetragon's `pkg/ktime` does.
package struct KtimeClock: Sendable, Hashable {
    /// Wall-clock time of CLOCK_MONOTONIC zero, in nanoseconds since the Unix epoch.
    package var bootWallNanoseconds: UInt64

    /// A clock whose monotonic zero was at `bootWallNanoseconds` (tests pass a fixed value).
    package init(bootWallNanoseconds: UInt64) {
        self.bootWallNanoseconds = bootWallNanoseconds
    }

    /// The clock of this machine: CLOCK_REALTIME minus CLOCK_MONOTONIC, read now.
    package static func current() -> KtimeClock {
        // Monotonic is read between two realtime reads and set against their midpoint, so the
        // error is at most half the time between the reads.
        let before = read(CLOCK_REALTIME)
        let monotonic = read(CLOCK_MONOTONIC)
        let after = read(CLOCK_REALTIME)
        let realtime = before / 2 + after / 2 + (before % 2 + after % 2) / 2
        return KtimeClock(bootWallNanoseconds: realtime >= monotonic ? realtime - monotonic : 0)
    }

    /// Wall-clock time of the boot-relative `ktime` (saturating instead of overflowing).
    package func wallTime(ktime: UInt64) -> WallTime {
        let (sum, overflow) = bootWallNanoseconds.addingReportingOverflow(ktime)
        return WallTime(nanosecondsSinceEpoch: overflow ? UInt64.max : sum)
    }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        guard clock_gettime(clock, &spec) == 0 else { return 0 }
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
