// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache
import Testing

private typealias F = Fixtures

@Suite struct ProcessCacheMemoryTests {
    @Test func churnReturnsToBaseline() {
        var cache = F.cache(ancestors: true)
        _ = cache.seed([F.proc(pid: 1, ppid: 0, start: 1), F.proc(pid: 300, ppid: 1, start: 2, argv: ["/bin/bash"])])
        let baseline = cache.count
        #expect(baseline == 2)

        var ktime: UInt64 = 1_000
        var largest = 0
        for round in 0..<100_000 {
            // bash forks a child (pids wrap, so they are reused) that execs and exits; every
            // fourth child leaves a grandchild that outlives it by one round.
            let pid = UInt32(1_000 + round % 30_000)
            let forked = ktime
            let execed = ktime + 1
            _ = cache.handle(F.clone(pid: pid, ktime: forked, ppid: 300))
            _ = cache.handle(F.exec(pid: pid, ktime: execed, ppid: 300, parentKtime: 0, argv: ["/bin/ls", "\(round)"]))
            if round % 4 == 0 {
                let grandchild = UInt32(40_000 + round % 1_000)
                _ = cache.handle(F.clone(pid: grandchild, ktime: ktime + 2, ppid: pid, parentKtime: execed))
                _ = cache.handle(F.exit(pid: pid, ktime: ktime + 3, processKtime: execed, code: 1 << 8))
                largest = max(largest, cache.count)
                _ = cache.handle(F.exit(pid: grandchild, ktime: ktime + 4, processKtime: ktime + 2))
            } else {
                _ = cache.handle(F.exit(pid: pid, ktime: ktime + 3, processKtime: execed))
            }
            ktime += 10
        }
        #expect(cache.count == baseline)
        #expect(cache.stats.liveEntries == baseline)
        #expect(largest <= baseline + 2)
        #expect(cache.stats.evictions == 0)
        #expect(cache.stats.exitMisses == 0)
        #expect(cache.stats.parentMisses == 0)
    }

    @Test func overCapacityEvictsTheOldestDeadEntryFirst() throws {
        var cache = F.cache(capacity: 4)
        _ = cache.handle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/init"]))  // oldest, alive
        _ = cache.handle(F.exec(pid: 20, ktime: 200, ppid: 10, parentKtime: 100, argv: ["/a"]))
        _ = cache.handle(F.exec(pid: 30, ktime: 300, ppid: 20, parentKtime: 200, argv: ["/b"]))
        _ = cache.handle(F.exit(pid: 20, ktime: 310, processKtime: 200))  // dead, kept by pid 30
        _ = cache.handle(F.exec(pid: 40, ktime: 400, ppid: 10, parentKtime: 100))
        #expect(cache.count == 4)
        #expect(cache.stats.evictions == 0)

        _ = cache.handle(F.exec(pid: 50, ktime: 500, ppid: 10, parentKtime: 100))
        #expect(cache.count == 4)
        #expect(cache.stats.evictions == 1)
        #expect(cache.process(pid: 20, ktime: 200) == nil)  // the dead one went, not the older live one
        #expect(cache.process(pid: 10, ktime: 100) != nil)
        // Its child lost the parent object but keeps the parent's identity.
        let orphan = try #require(cache.context(pid: 30, ktime: 300))
        #expect(orphan.parent == nil)
        #expect(orphan.process.parentExecID == F.id(20, 200))

        // No dead entry left: the oldest live one goes.
        _ = cache.handle(F.exec(pid: 60, ktime: 600, ppid: 10, parentKtime: 100))
        #expect(cache.count == 4)
        #expect(cache.stats.evictions == 2)
        #expect(cache.process(pid: 10, ktime: 100) == nil)
        // Children of the evicted entry still release cleanly.
        for (pid, ktime) in [(30, 300), (40, 400), (50, 500), (60, 600)] as [(UInt32, UInt64)] {
            let exit = try cache.mustHandle(F.exit(pid: pid, ktime: 700, processKtime: ktime))
            #expect(!exit.process.flags.contains(.miss))
        }
        #expect(cache.count == 0)
        #expect(cache.stats.liveEntries == 0)
    }

    @Test func capacityHoldsUnderAFlood() {
        var cache = F.cache(capacity: 100)
        _ = cache.handle(F.exec(pid: 1, ktime: 1, ppid: 0))
        for index in 0..<5_000 {
            _ = cache.handle(F.exec(pid: UInt32(10 + index), ktime: UInt64(10 + index), ppid: 1, parentKtime: 1))
            #expect(cache.count <= 100)
        }
        #expect(cache.stats.evictions == 4_901)
    }

    /// 20,000 long-lived processes come and go (the benchmark's memory workload): the entry
    /// table is rebuilt small once they are gone, instead of keeping its peak capacity.
    @Test func tablesShrinkAfterManyProcessesExit() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 1, ktime: 1, ppid: 0))
        for round in 0..<2 {
            let base = UInt64(round * 100_000 + 10)
            for index in 0..<20_000 {
                _ = cache.handle(F.exec(pid: UInt32(10 + index), ktime: base + UInt64(index), ppid: 1, parentKtime: 1))
            }
            let peak = cache.stats.tableCapacity
            #expect(cache.count == 20_001)
            #expect(peak >= 20_001)
            for index in 0..<20_000 {
                let exit = try cache.mustHandle(F.exit(pid: UInt32(10 + index), ktime: base + 50_000, processKtime: base + UInt64(index)))
                #expect(!exit.process.flags.contains(.miss))
            }
            #expect(cache.count == 1)
            #expect(cache.stats.tableCapacity * 4 < peak, "capacity \(cache.stats.tableCapacity) of peak \(peak)")
            #expect(cache.process(pid: 1, ktime: 1) != nil)
        }
    }

    /// After a mass exit the cache trims the heap at the table rebuild (mid-burst) and owes
    /// one more trim for when the pipeline is idle: `releaseFreedMemory()` does it exactly
    /// once per rebuild, and is a no-op on a cache that never shrank.
    @Test func freedMemoryIsReleasedOnceAfterAMassExit() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 1, ktime: 1, ppid: 0))
        for index in 0..<100 {
            _ = cache.handle(F.exec(pid: UInt32(10 + index), ktime: 10 + UInt64(index), ppid: 1, parentKtime: 1))
            _ = try cache.mustHandle(F.exit(pid: UInt32(10 + index), ktime: 5_000, processKtime: 10 + UInt64(index)))
        }
        let early = cache.releaseFreedMemory()
        #expect(!early, "no rebuild yet: nothing owed")
        #expect(cache.stats.memoryTrims == 0)

        for round in 0..<2 {
            let base = UInt64(round * 100_000 + 10_000)
            for index in 0..<5_000 {
                _ = cache.handle(F.exec(pid: UInt32(10 + index), ktime: base + UInt64(index), ppid: 1, parentKtime: 1))
            }
            let whileHeld = cache.releaseFreedMemory()
            #expect(!whileHeld, "processes alive: nothing owed")
            for index in 0..<5_000 {
                _ = try cache.mustHandle(F.exit(pid: UInt32(10 + index), ktime: base + 9_000, processKtime: base + UInt64(index)))
            }
            #expect(cache.count == 1)
            #expect(cache.stats.memoryTrims == UInt64(2 * round + 1), "the rebuild trims once")
            let owed = cache.releaseFreedMemory()
            #expect(owed, "and owes one trim for when the pipeline is idle")
            #expect(cache.stats.memoryTrims == UInt64(2 * round + 2))
            let again = cache.releaseFreedMemory()
            #expect(!again, "only once")
        }
    }

    /// A copy of the cache is a value: changes to the original do not reach it, although the
    /// entries are objects shared until the first change.
    @Test func copiesStayIndependent() throws {
        var cache = F.cache()
        _ = cache.handle(F.exec(pid: 1, ktime: 1, ppid: 0))
        _ = cache.handle(F.exec(pid: 2, ktime: 2, ppid: 1, parentKtime: 1))
        let snapshot = cache
        _ = try cache.mustHandle(F.exit(pid: 2, ktime: 3, processKtime: 2))
        _ = cache.handle(F.exec(pid: 3, ktime: 4, ppid: 1, parentKtime: 1))
        #expect(cache.process(pid: 2, ktime: 2) == nil)
        #expect(snapshot.process(pid: 2, ktime: 2) != nil)
        #expect(snapshot.process(pid: 1, ktime: 1)?.refcnt == 2)
        #expect(cache.process(pid: 1, ktime: 1)?.refcnt == 2)
        #expect(snapshot.count == 2)
        #expect(snapshot.process(pid: 3, ktime: 4) == nil)
        var other = snapshot
        _ = try other.mustHandle(F.exit(pid: 2, ktime: 5, processKtime: 2))
        #expect(snapshot.process(pid: 2, ktime: 2)?.refcnt == 1)
        #expect(other.process(pid: 2, ktime: 2) == nil)
    }
}
