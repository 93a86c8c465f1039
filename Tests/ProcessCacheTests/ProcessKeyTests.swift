// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import ProcessCache

/// `ProcessKey` hashes itself for `Dictionary` (`_rawHashValue(seed:)`) instead of through
/// `Hasher`; tables keyed by it must still find every key and only that key.
@Suite struct ProcessKeyTests {
    @Test func aTableFindsEveryKeyAndNoOther() {
        var table: [ProcessKey: Int] = [:]
        var n = 0
        // Reused pids with close start times, and pids far apart: the patterns of a fork storm.
        for pid in UInt32(1)...400 {
            for ktime in [UInt64(1_000), 1_001, 5_000_000_000 + UInt64(pid) * 977, UInt64.max - UInt64(pid)] {
                table[ProcessKey(pid: pid, ktime: ktime)] = n
                n += 1
            }
        }
        #expect(table.count == n)
        n = 0
        for pid in UInt32(1)...400 {
            for ktime in [UInt64(1_000), 1_001, 5_000_000_000 + UInt64(pid) * 977, UInt64.max - UInt64(pid)] {
                #expect(table[ProcessKey(pid: pid, ktime: ktime)] == n)
                n += 1
            }
        }
        #expect(table[ProcessKey(pid: 401, ktime: 1_000)] == nil)
        #expect(table[ProcessKey(pid: 1, ktime: 1_002)] == nil)
        for key in Array(table.keys) where key.pid % 2 == 0 { table[key] = nil }
        #expect(table.count == n / 2)
        #expect(table.keys.allSatisfy { $0.pid % 2 == 1 })
    }

    @Test func equalKeysHashEqually() {
        let a = ProcessKey(pid: 42, ktime: 123_456_789)
        let b = ProcessKey(pid: 42, ktime: 123_456_789)
        #expect(a._rawHashValue(seed: 7) == b._rawHashValue(seed: 7))
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
    }
}
