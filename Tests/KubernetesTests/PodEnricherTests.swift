// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Kubernetes

/// The bounded wait for pods, on a manual clock.
@Suite struct PodEnricherTests {
    static let idA = String(repeating: "a1", count: 32)
    static let idB = String(repeating: "b2", count: 32)

    final class Clock: Sendable {
        private let t = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { t.withLock { $0 } }
        func advance(_ d: Duration) { t.withLock { $0 += d } }
    }

    static func event(_ name: String, container: String?, parentContainer: String? = nil) -> ExportEvent {
        func process(_ binary: String, _ docker: String?) -> ExportedProcess {
            ExportedProcess(
                execID: binary, pid: 1, tid: 1, uid: 0, auid: 0, cwd: [], binary: Array(binary.utf8), arguments: [], flags: [],
                startTime: WallTime(nanosecondsSinceEpoch: 0), docker: docker.map { String($0.prefix(31)) })
        }
        return ExportEvent(kind: .exec, process: process(name, container), parent: process("parent-\(name)", parentContainer), nodeName: "n", time: WallTime(nanosecondsSinceEpoch: 0))
    }

    static func pod(_ name: String, id: String) throws -> Pod {
        try JSONDecoder().decode(Pod.self, from: JSONSerialization.data(withJSONObject: FixturePods.pod(name: name, uid: "uid-\(name)", node: "n", containerID: id)))
    }

    static func names(_ events: [ExportEvent]) -> [String] { events.map { String(decoding: $0.process.binary, as: UTF8.self) } }

    @Test func knownPodIsAddedAtOnceAndHostEventsNeverWait() throws {
        let store = PodStore()
        store.upsert(try Self.pod("p", id: Self.idA))
        let enricher = PodEnricher(store: store)
        let out = enricher.submit(Self.event("x", container: Self.idA, parentContainer: Self.idA))
        #expect(out.count == 1)
        #expect(out[0].process.pod?.name == "p")
        #expect(out[0].process.pod?.container?.id == "containerd://\(Self.idA)")
        #expect(out[0].parent?.pod?.name == "p")
        #expect(Self.names(enricher.submit(Self.event("host", container: nil))) == ["host"])
        #expect(enricher.stats.waited == 0)
    }

    @Test func unknownPodWaitsKeepsOrderAndLeavesWhenThePodComes() throws {
        let clock = Clock()
        let store = PodStore()
        let enricher = PodEnricher(store: store, maxWait: .seconds(3), now: { clock.now })
        #expect(enricher.submit(Self.event("1", container: Self.idA)).isEmpty)
        clock.advance(.seconds(1))
        #expect(enricher.submit(Self.event("2", container: Self.idA)).isEmpty)
        // Another container's and the host's events are not held up.
        store.upsert(try Self.pod("other", id: Self.idB))
        #expect(Self.names(enricher.submit(Self.event("b", container: Self.idB))) == ["b"])
        #expect(enricher.tick().isEmpty)
        store.upsert(try Self.pod("late", id: Self.idA))
        let out = enricher.tick()
        #expect(Self.names(out) == ["1", "2"])
        #expect(out.allSatisfy { $0.process.pod?.name == "late" })
        #expect(enricher.stats.waited == 2)
        #expect(enricher.stats.timedOut == 0)
        #expect(enricher.stats.pending == 0)
    }

    /// An event from before its pod's deletion (an exit seen late) still gets the pod; one
    /// from after does not, and waits like an unknown pod's.
    @Test func deletedPodEnrichesOnlyEarlierEvents() throws {
        let clock = Clock()
        let store = PodStore(wallNow: { 5_000 })
        store.upsert(try Self.pod("gone", id: Self.idA))
        store.delete(uid: "uid-gone")
        let enricher = PodEnricher(store: store, maxWait: .seconds(3), now: { clock.now })
        var early = Self.event("early", container: Self.idA, parentContainer: Self.idA)
        early.time = WallTime(nanosecondsSinceEpoch: 4_000)
        let out = enricher.submit(early)
        #expect(out.first?.process.pod?.name == "gone")
        #expect(out.first?.parent?.pod?.name == "gone")
        var late = Self.event("late", container: Self.idA)
        late.time = WallTime(nanosecondsSinceEpoch: 6_000)
        #expect(enricher.submit(late).isEmpty)
        clock.advance(.seconds(3))
        let released = enricher.tick()
        #expect(Self.names(released) == ["late"])
        #expect(released.first?.process.pod == nil)
    }

    @Test func podThatNeverComesLetsEventsGoAfterTheBoundCounted() throws {
        let clock = Clock()
        let enricher = PodEnricher(store: PodStore(), maxWait: .seconds(3), now: { clock.now })
        #expect(enricher.submit(Self.event("1", container: Self.idA)).isEmpty)
        clock.advance(.seconds(2))
        #expect(enricher.submit(Self.event("2", container: Self.idA)).isEmpty)
        #expect(enricher.tick().isEmpty)
        clock.advance(.seconds(1))
        let first = enricher.tick()
        #expect(Self.names(first) == ["1"])
        #expect(first[0].process.pod == nil)
        clock.advance(.seconds(2))
        #expect(Self.names(enricher.tick()) == ["2"])
        #expect(enricher.stats.timedOut == 2)
        #expect(enricher.stats.pending == 0)
    }

    @Test func memoryBoundReleasesTheOldest() throws {
        let enricher = PodEnricher(store: PodStore(), maxWait: .seconds(3), maxPending: 2)
        #expect(enricher.submit(Self.event("1", container: Self.idA)).isEmpty)
        #expect(enricher.submit(Self.event("2", container: Self.idB)).isEmpty)
        #expect(Self.names(enricher.submit(Self.event("3", container: Self.idB))) == ["1"])
        #expect(enricher.stats.overflow == 1)
        #expect(Self.names(enricher.drain()) == ["2", "3"])
        #expect(enricher.stats.pending == 0)
    }
}
