// SPDX-License-Identifier: Apache-2.0

import Events

/// A UTC calendar date and time of day, from nanoseconds since the Unix epoch.
///
/// Uses Howard Hinnant's `civil_from_days`; no Foundation, no time zone database.
package struct CivilTime: Sendable, Hashable {
    /// Gregorian year.
    package var year: Int
    /// 1...12
    package var month: Int
    /// 1...31
    package var day: Int
    /// 0...23
    package var hour: Int
    /// 0...59
    package var minute: Int
    /// 0...59
    package var second: Int
    /// 0..<1_000_000_000
    package var nanosecond: Int

    /// Breaks `nanosecondsSinceEpoch` (UTC) into calendar fields.
    package init(nanosecondsSinceEpoch ns: UInt64) {
        let seconds = Int(ns / 1_000_000_000)
        nanosecond = Int(ns % 1_000_000_000)
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        hour = secondOfDay / 3600
        minute = secondOfDay % 3600 / 60
        second = secondOfDay % 60
        (year, month, day) = CivilTime.civil(fromDays: days)
    }

    /// `(year, month, day)` of the day `days` after 1970-01-01 (proleptic Gregorian).
    package static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097  // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365  // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)  // [0, 365]
        let mp = (5 * doy + 2) / 153  // [0, 11], March-based
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Appends `YYYY-MM-DDTHH` + `timeSeparator` + `MM` + `timeSeparator` + `SS`.
    @inline(__always)
    func appendDateTime(to b: inout [UInt8], timeSeparator: UInt8) {
        b.appendDecimal(UInt64(year), minimumDigits: 4)
        b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(month), minimumDigits: 2)
        b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(day), minimumDigits: 2)
        b.append(UInt8(ascii: "T"))
        b.appendDecimal(UInt64(hour), minimumDigits: 2)
        b.append(timeSeparator)
        b.appendDecimal(UInt64(minute), minimumDigits: 2)
        b.append(timeSeparator)
        b.appendDecimal(UInt64(second), minimumDigits: 2)
    }
}

/// RFC 3339 timestamps exactly as Go protojson writes `google.protobuf.Timestamp`.
package enum RFC3339 {
    /// Appends e.g. `2026-03-14T09:21:07.412339871Z` (no quotes). The fraction has 0, 3, 6 or 9
    /// digits: none when nanoseconds are 0, else the fewest of 3/6/9 that are exact.
    ///
    /// Formatted in a stack buffer with fixed-width digit writes and appended once: every
    /// event has a time stamp, and appending field by field showed in the pipeline profile.
    /// The year always has four digits: `WallTime` ends in 2554.
    package static func append(_ time: WallTime, to b: inout [UInt8]) {
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let n = withUnsafeMutableBytes(of: &storage) { format(time, into: $0) }
        withUnsafeBytes(of: &storage) { b.append(contentsOf: $0[..<n]) }
    }

    /// Appends `time` as in ``append(_:to:)-([UInt8])``, to the encoder's buffer. The date and
    /// time of day (`YYYY-MM-DDTHH:MM:SS`, the civil-date arithmetic and 14 digits) are kept in
    /// the buffer for their second and copied while the second does not change, as for the
    /// events of one batch; only the fraction is formatted per stamp.
    @inline(__always)
    static func append(_ time: WallTime, to b: inout JSONBuffer) {
        let ns = time.nanosecondsSinceEpoch
        let seconds = ns / 1_000_000_000
        if seconds != b.stampSecond {
            withUnsafeMutableBytes(of: &b.stampPrefix) { formatSeconds(seconds, into: $0) }
            b.stampSecond = seconds
        }
        var prefix = b.stampPrefix  // a copy: `b` cannot be appended to while its prefix is borrowed
        withUnsafeBytes(of: &prefix) { b.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<19])) }
        var storage: (UInt64, UInt64) = (0, 0)
        let n = withUnsafeMutableBytes(of: &storage) { formatFraction(ns % 1_000_000_000, into: $0) }
        withUnsafeBytes(of: &storage) { b.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
    }

    /// Writes `time` into `out` (at least 30 bytes); returns the length.
    static func format(_ time: WallTime, into out: UnsafeMutableRawBufferPointer) -> Int {
        let ns = time.nanosecondsSinceEpoch
        formatSeconds(ns / 1_000_000_000, into: out)
        return 19 + formatFraction(ns % 1_000_000_000, into: UnsafeMutableRawBufferPointer(rebasing: out[19...]))
    }

    @inline(__always)
    private static func put(_ value: Int, digits: Int, at index: Int, in out: UnsafeMutableRawBufferPointer) {
        var v = value
        var i = index + digits
        while i > index {
            i &-= 1
            out[i] = UInt8(truncatingIfNeeded: v % 10) &+ UInt8(ascii: "0")
            v /= 10
        }
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS` of `seconds` since the epoch into `out[0..<19]`.
    static func formatSeconds(_ seconds: UInt64, into out: UnsafeMutableRawBufferPointer) {
        let secondOfDay = Int(seconds % 86_400)
        let (year, month, day) = CivilTime.civil(fromDays: Int(seconds / 86_400))
        put(year, digits: 4, at: 0, in: out)
        out[4] = UInt8(ascii: "-")
        put(month, digits: 2, at: 5, in: out)
        out[7] = UInt8(ascii: "-")
        put(day, digits: 2, at: 8, in: out)
        out[10] = UInt8(ascii: "T")
        put(secondOfDay / 3600, digits: 2, at: 11, in: out)
        out[13] = UInt8(ascii: ":")
        put(secondOfDay % 3600 / 60, digits: 2, at: 14, in: out)
        out[16] = UInt8(ascii: ":")
        put(secondOfDay % 60, digits: 2, at: 17, in: out)
    }

    /// Writes the fraction of `nanos` (none, or `.` and 3, 6 or 9 digits) and `Z` from `out[0]`
    /// (at least 11 bytes); returns the length.
    static func formatFraction(_ nanos: UInt64, into out: UnsafeMutableRawBufferPointer) -> Int {
        var n = 0
        if nanos != 0 {
            out[n] = UInt8(ascii: ".")
            n += 1
            if nanos % 1_000_000 == 0 {
                put(Int(nanos / 1_000_000), digits: 3, at: n, in: out)
                n += 3
            } else if nanos % 1000 == 0 {
                put(Int(nanos / 1000), digits: 6, at: n, in: out)
                n += 6
            } else {
                put(Int(nanos), digits: 9, at: n, in: out)
                n += 9
            }
        }
        out[n] = UInt8(ascii: "Z")
        return n + 1
    }

    /// `time` as an RFC 3339 string; see `append(_:to:)`.
    package static func string(_ time: WallTime) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(30)
        append(time, to: &b)
        return String(decoding: b, as: UTF8.self)
    }
}

/// The time stamp lumberjack puts in backup names: Go layout `2006-01-02T15-04-05.000`, UTC.
package enum BackupTimestamp {
    /// Formats milliseconds since the epoch, e.g. `2026-03-14T09-21-07.412`.
    package static func string(millisecondsSinceEpoch ms: UInt64) -> String {
        let c = CivilTime(nanosecondsSinceEpoch: ms &* 1_000_000)
        var b: [UInt8] = []
        b.reserveCapacity(23)
        c.appendDateTime(to: &b, timeSeparator: UInt8(ascii: "-"))
        b.append(UInt8(ascii: "."))
        b.appendDecimal(UInt64(c.nanosecond / 1_000_000), minimumDigits: 3)
        return String(decoding: b, as: UTF8.self)
    }

    /// Length of a formatted stamp.
    package static let length = 23

    /// Whether `s` has the shape of a stamp (digits and separators where the layout puts them).
    package static func isValid<S: Collection<UInt8>>(_ s: S) -> Bool {
        guard s.count == length else { return false }
        for (i, c) in s.enumerated() {
            switch i {
            case 4, 7, 13, 16: if c != UInt8(ascii: "-") { return false }
            case 10: if c != UInt8(ascii: "T") { return false }
            case 19: if c != UInt8(ascii: ".") { return false }
            default: if c < UInt8(ascii: "0") || c > UInt8(ascii: "9") { return false }
            }
        }
        return true
    }
}
