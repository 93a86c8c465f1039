// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Testing

@Suite struct DNSNameCacheTests {
    static let second: UInt64 = 1_000_000_000

    @Test func aCgroupSeesOnlyWhatItsSocketsReceivedUntilTheTTL() {
        var cache = DNSNameCache(capacity: 16)
        let answer = DNSMessage(question: "api.test", answers: [.a("api.test", [127, 0, 0, 2], 5)]).bytes
        #expect(cache.learn(payload: answer, cgroup: 7, now: 100 * Self.second) != nil)
        #expect(cache.names(cgroup: 7, address: [127, 0, 0, 2], now: 101 * Self.second) == ["api.test"])
        // The same address as IPv4-mapped IPv6 (a dual-stack socket's connect).
        let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF, 127, 0, 0, 2]
        #expect(cache.names(cgroup: 7, address: mapped, now: 101 * Self.second) == ["api.test"])
        #expect(cache.names(cgroup: 8, address: [127, 0, 0, 2], now: 101 * Self.second).isEmpty)
        #expect(cache.names(cgroup: 7, address: [127, 0, 0, 3], now: 101 * Self.second).isEmpty)
        // Gone at the TTL, and the entry with it.
        #expect(cache.names(cgroup: 7, address: [127, 0, 0, 2], now: 105 * Self.second).isEmpty)
        #expect(cache.count == 0)
        #expect(cache.stats.expired == 1)
    }

    @Test func namesOfOneAddressAccumulateEachWithItsOwnTTL() {
        var cache = DNSNameCache(capacity: 16)
        cache.learn(.init(address: [10, 0, 0, 1], ttl: 10, names: ["a.test"]), cgroup: 1, now: 0)
        cache.learn(.init(address: [10, 0, 0, 1], ttl: 100, names: ["b.test"]), cgroup: 1, now: Self.second)
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 1], now: 5 * Self.second) == ["a.test", "b.test"])
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 1], now: 50 * Self.second) == ["b.test"])
        // Relearning a name refreshes it (and moves it last).
        cache.learn(.init(address: [10, 0, 0, 1], ttl: 500, names: ["a.test"]), cgroup: 1, now: 60 * Self.second)
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 1], now: 200 * Self.second) == ["a.test"])
        // A TTL of 0 is not to be cached: nothing learnt.
        cache.learn(.init(address: [10, 0, 0, 9], ttl: 0, names: ["z.test"]), cgroup: 1, now: 0)
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 9], now: 0).isEmpty)
    }

    @Test func namesPerEntryAreCapped() {
        var cache = DNSNameCache(capacity: 4)
        for i in 0..<20 {
            cache.learn(.init(address: [10, 0, 0, 1], ttl: 100, names: ["n\(i).test"]), cgroup: 1, now: 0)
        }
        let names = cache.names(cgroup: 1, address: [10, 0, 0, 1], now: 1)
        #expect(names.count == DNSNameCache.maxNamesPerEntry)
        #expect(names.last == "n19.test")
    }

    @Test func theCapacityHoldsAndEvictionsAreCounted() {
        var cache = DNSNameCache(capacity: 100)
        for i in 0..<1000 {
            cache.learn(.init(address: [10, 0, UInt8(i >> 8), UInt8(i & 0xFF)], ttl: 3600, names: ["h\(i).test"]), cgroup: 3, now: UInt64(i))
            #expect(cache.count <= 100)
        }
        #expect(cache.stats.evicted == 900)
        // The newest stay, the oldest went.
        #expect(cache.names(cgroup: 3, address: [10, 0, 3, 0xE7], now: 2000) == ["h999.test"])
        #expect(cache.names(cgroup: 3, address: [10, 0, 0, 0], now: 2000).isEmpty)
    }

    @Test func aRefreshedEntryIsNotTheOldest() {
        var cache = DNSNameCache(capacity: 2)
        cache.learn(.init(address: [10, 0, 0, 1], ttl: 60, names: ["one.test"]), cgroup: 1, now: 0)
        cache.learn(.init(address: [10, 0, 0, 2], ttl: 60, names: ["two.test"]), cgroup: 1, now: 1)
        cache.learn(.init(address: [10, 0, 0, 1], ttl: 60, names: ["one.test"]), cgroup: 1, now: 2)
        cache.learn(.init(address: [10, 0, 0, 3], ttl: 60, names: ["three.test"]), cgroup: 1, now: 3)
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 1], now: 4) == ["one.test"])
        #expect(cache.names(cgroup: 1, address: [10, 0, 0, 2], now: 4).isEmpty)
    }

    @Test func theSweepRemovesExpiredEntries() {
        var cache = DNSNameCache(capacity: 1000)
        for i in 0..<500 {
            cache.learn(.init(address: [10, 1, UInt8(i >> 8), UInt8(i & 0xFF)], ttl: UInt32(1 + i % 2 * 100), names: ["x.test"]), cgroup: 1, now: 0)
        }
        cache.sweep(now: 10 * Self.second)
        #expect(cache.count == 250)
        #expect(cache.stats.expired == 250)
    }

    @Test func refusedPayloadsAreCounted() {
        var cache = DNSNameCache(capacity: 4)
        #expect(cache.learn(payload: [1, 2, 3], cgroup: 1, now: 0) == nil)
        #expect(cache.stats.refused == 1)
        #expect(cache.stats.answers == 0)
    }
}
