// SPDX-License-Identifier: Apache-2.0

/// What the agent learnt from DNS answers: per cgroup, per address, the names that resolved to
/// it and until when (`--enable-dns-names`). A connect or flow of a process in cgroup C to
/// address A is named by what C's sockets received, and by nothing another cgroup received.
///
/// Time is CLOCK_MONOTONIC nanoseconds (the records' ktime), so TTLs are not moved by wall-clock
/// changes. Memory is bounded: at most ``capacity`` (cgroup, address) entries of at most
/// ``maxNamesPerEntry`` names each; a new entry beyond the capacity evicts the oldest-learnt
/// one, and every eviction is counted (``Stats/evicted``). Expired names are dropped when looked
/// up and by a sweep at most once a second (``sweep(now:)``).
///
/// **Not thread-safe**: owned by the pipeline's task.
package struct DNSNameCache {
    package struct Stats: Sendable, Hashable {
        /// Answers parsed and learnt from (bindings or none, e.g. an answer with no address).
        package var answers: UInt64 = 0
        /// Payloads refused by the parser (malformed, truncated, not an answer, an error rcode).
        package var refused: UInt64 = 0
        /// Answers longer than the kernel's capture (VIGIL_DNS_PAYLOAD): not parsed.
        package var cut: UInt64 = 0
        /// (cgroup, address, name) facts written.
        package var learnt: UInt64 = 0
        /// Entries pushed out by the capacity while their names were still valid.
        package var evicted: UInt64 = 0
        /// Entries whose names all expired and were removed.
        package var expired: UInt64 = 0
        package init() {}
    }

    private struct Key: Hashable {
        var cgroup: UInt64
        /// IPv4 addresses as IPv4-mapped IPv6, so a v4 answer names a v4-mapped connect too.
        var high: UInt64
        var low: UInt64
    }

    private struct Entry {
        /// Names with their expiry (ktime ns), oldest-learnt first.
        var names: [(name: String, expires: UInt64)]
        /// Bumped at every learning; the eviction queue's entries of older generations are stale.
        var generation: UInt64
        var latestExpiry: UInt64 { names.reduce(0) { max($0, $1.expires) } }
    }

    package let capacity: Int
    package static let maxNamesPerEntry = 8
    package private(set) var stats = Stats()
    private var entries: [Key: Entry] = [:]
    /// Keys in the order they were (re)learnt, for eviction; entries older than their key's
    /// current generation are skipped. Compacted when it outgrows the map.
    private var order: [(key: Key, generation: UInt64)] = []
    private var orderHead = 0
    private var generation: UInt64 = 0
    private var lastSweep: UInt64 = 0

    package init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Entries held now (expired ones not swept yet included).
    package var count: Int { entries.count }

    /// The counters by the names `tracectl status` shows them; `dns_answers_*` are also
    /// `vigil_dns_answers_total{result}`, `dns_cache_evictions` `vigil_dns_cache_evictions_total`.
    package var counters: [String: UInt64] {
        [
            "dns_answers_learnt": stats.answers, "dns_answers_refused": stats.refused, "dns_answers_cut": stats.cut,
            "dns_names_learnt": stats.learnt, "dns_cache_evictions": stats.evicted, "dns_cache_expired": stats.expired,
            "dns_cache_entries": UInt64(entries.count),
        ]
    }

    /// Parses `payload` (a DNS answer a socket in `cgroup` received at `now`) and learns its
    /// bindings. Returns the answer, nil when it was refused (counted).
    @discardableResult
    package mutating func learn(payload: some Collection<UInt8>, cgroup: UInt64, now: UInt64) -> DNSAnswer? {
        let answer: DNSAnswer
        do throws(DNSParseError) {
            answer = try DNSAnswer(parsing: payload)
        } catch {
            stats.refused += 1
            return nil
        }
        stats.answers += 1
        for binding in answer.bindings {
            learn(binding, cgroup: cgroup, now: now)
        }
        sweep(now: now)
        return answer
    }

    /// An answer longer than the capture, not parsed.
    package mutating func countCut() { stats.cut += 1 }

    package mutating func learn(_ binding: DNSAnswer.Binding, cgroup: UInt64, now: UInt64) {
        guard let key = Self.key(cgroup: cgroup, address: binding.address), binding.ttl > 0 else { return }
        let expires = now &+ UInt64(binding.ttl) &* 1_000_000_000
        generation &+= 1
        var entry = entries[key] ?? Entry(names: [], generation: 0)
        entry.names.removeAll { $0.expires <= now || binding.names.contains($0.name) }
        for name in binding.names {
            entry.names.append((name, expires))
            stats.learnt += 1
        }
        if entry.names.count > Self.maxNamesPerEntry { entry.names.removeFirst(entry.names.count - Self.maxNamesPerEntry) }
        entry.generation = generation
        let isNew = entries[key] == nil
        entries[key] = entry
        order.append((key, generation))
        if isNew && entries.count > capacity { evictOldest(now: now) }
        compactOrder()
    }

    /// The names `cgroup` learnt for `address` (4 or 16 bytes) that are valid at `now`, oldest
    /// learnt first; empty when none.
    package mutating func names(cgroup: UInt64, address: [UInt8], now: UInt64) -> [String] {
        guard let key = Self.key(cgroup: cgroup, address: address), var entry = entries[key] else { return [] }
        let before = entry.names.count
        entry.names.removeAll { $0.expires <= now }
        if entry.names.isEmpty {
            entries[key] = nil
            stats.expired += 1
            return []
        }
        if entry.names.count != before { entries[key] = entry }
        return entry.names.map(\.name)
    }

    /// Removes every expired name (and entries left empty), at most once a second of `now`.
    package mutating func sweep(now: UInt64, force: Bool = false) {
        guard force || now &- lastSweep >= 1_000_000_000 else { return }
        lastSweep = now
        for (key, var entry) in entries {
            let before = entry.names.count
            entry.names.removeAll { $0.expires <= now }
            if entry.names.isEmpty {
                entries[key] = nil
                stats.expired += 1
            } else if entry.names.count != before {
                entries[key] = entry
            }
        }
        compactOrder()
    }

    private mutating func evictOldest(now: UInt64) {
        while orderHead < order.count {
            let (key, generation) = order[orderHead]
            orderHead += 1
            guard let entry = entries[key], entry.generation == generation else { continue }
            entries[key] = nil
            if entry.latestExpiry > now { stats.evicted += 1 } else { stats.expired += 1 }
            return
        }
    }

    /// Drops the queue's consumed and stale positions once it is twice the map's size, so the
    /// queue stays O(capacity).
    private mutating func compactOrder() {
        guard order.count - orderHead > 2 * max(entries.count, 16) || orderHead > 4096 else { return }
        order = order[orderHead...].filter { entries[$0.key]?.generation == $0.generation }
        orderHead = 0
    }

    private static func key(cgroup: UInt64, address: [UInt8]) -> Key? {
        func word(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
        switch address.count {
        case 4: return Key(cgroup: cgroup, high: 0, low: 0xFFFF_0000_0000 | word(address[0..<4]))
        case 16: return Key(cgroup: cgroup, high: word(address[0..<8]), low: word(address[8..<16]))
        default: return nil
        }
    }
}
