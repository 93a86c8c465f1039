// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

@Suite struct TimestampTests {
    static let cases: [(UInt64, UInt64, String)] = [
        (0, 0, "1970-01-01T00:00:00Z"),
        (0, 1, "1970-01-01T00:00:00.000000001Z"),
        (0, 1_000, "1970-01-01T00:00:00.000001Z"),
        (0, 1_000_000, "1970-01-01T00:00:00.001Z"),
        (1, 500_000_000, "1970-01-01T00:00:01.500Z"),
        (59, 120_000, "1970-01-01T00:00:59.000120Z"),
        (86_399, 999_999_999, "1970-01-01T23:59:59.999999999Z"),
        (94_694_399, 123_456_000, "1972-12-31T23:59:59.123456Z"),
        (946_684_799, 0, "1999-12-31T23:59:59Z"),
        (946_684_800, 0, "2000-01-01T00:00:00Z"),
        (951_825_600, 10, "2000-02-29T12:00:00.000000010Z"),
        (1_709_251_199, 999_000_000, "2024-02-29T23:59:59.999Z"),
        (1_709_251_200, 0, "2024-03-01T00:00:00Z"),
        (1_773_480_067, 412_339_871, "2026-03-14T09:21:07.412339871Z"),
        (4_107_456_000, 0, "2100-02-28T00:00:00Z"),
        (4_107_542_400, 0, "2100-03-01T00:00:00Z"),
        (13_574_563_200, 100_000_000, "2400-02-29T00:00:00.100Z"),
        (18_446_744_073, 709_551_615, "2554-07-21T23:34:33.709551615Z"),
    ]

    @Test(arguments: cases.indices)
    func rfc3339(_ index: Int) {
        let (seconds, nanos, expected) = Self.cases[index]
        #expect(RFC3339.string(wall(seconds, nanos)) == expected)
    }

    /// The encoder's buffer keeps the last stamp's date and time of day for its second: one
    /// buffer writing every case, repeated, and the cases in reverse (the second changes, stays,
    /// goes back) writes what the uncached formatting writes.
    @Test func bufferReusesTheSecondsPrefix() {
        var buffer = JSONBuffer(capacity: 64)
        let order = Array(Self.cases.indices) + Array(Self.cases.indices.reversed()) + [0, 0, 5, 5, 4]
        for index in order {
            let (seconds, nanos, _) = Self.cases[index]
            // The same second with another fraction (down, not up: the last case is the largest time).
            for fraction in [nanos, nanos > 0 ? nanos - 1 : 1] {
                let time = wall(seconds, fraction)
                buffer.removeAll()
                RFC3339.append(time, to: &buffer)
                #expect(buffer.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == RFC3339.string(time), "\(index)")
            }
        }
    }

    /// The date part agrees with glibc's `gmtime_r` over many days.
    @Test func civilAgreesWithGmtime() {
        var rng = SystemRandomNumberGenerator()
        var seconds: [Int] = Array(stride(from: 0, to: 200 * 366 * 86_400, by: 86_400 * 7 + 3_601))
        for _ in 0..<5_000 { seconds.append(Int.random(in: 0...16_000_000_000, using: &rng)) }
        for s in seconds {
            var t = time_t(s)
            var tm = tm()
            gmtime_r(&t, &tm)
            let c = CivilTime(nanosecondsSinceEpoch: UInt64(s) * 1_000_000_000)
            let ok =
                c.year == Int(tm.tm_year) + 1900 && c.month == Int(tm.tm_mon) + 1 && c.day == Int(tm.tm_mday)
                && c.hour == Int(tm.tm_hour) && c.minute == Int(tm.tm_min) && c.second == Int(tm.tm_sec)
            #expect(ok, "\(s)")
            if !ok { break }
        }
    }

    @Test func backupTimestamp() {
        #expect(BackupTimestamp.string(millisecondsSinceEpoch: 1_773_480_067_412) == "2026-03-14T09-21-07.412")
        #expect(BackupTimestamp.string(millisecondsSinceEpoch: 0) == "1970-01-01T00-00-00.000")
        #expect(BackupTimestamp.string(millisecondsSinceEpoch: 951_825_600_007) == "2000-02-29T12-00-00.007")
        #expect(BackupTimestamp.isValid(Array("2026-03-14T09-21-07.412".utf8)))
        #expect(!BackupTimestamp.isValid(Array("2026-03-14T09:21:07.412".utf8)))
        #expect(!BackupTimestamp.isValid(Array("2026-03-14T09-21-07.41".utf8)))
    }
}
