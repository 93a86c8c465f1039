// SPDX-License-Identifier: Apache-2.0

/// Counters of a ``ProcessCache``, for metrics and `tracectl status`.
package struct ProcessCacheStats: Sendable, Hashable {
    /// Entries held now (live processes plus dead ones kept for their children).
    package var entries: Int = 0
    /// Entries whose process has not exited or been replaced by an exec.
    package var liveEntries: Int = 0
    /// Exec, clone or seeded processes whose parent was not in the cache.
    package var parentMisses: UInt64 = 0
    /// Exits of a process the cache did not know (exported with the `miss` flag).
    package var exitMisses: UInt64 = 0
    /// Entries removed because the cache was over capacity.
    package var evictions: UInt64 = 0
    /// Records ignored as repeats: an exec or clone of a known identity, a second exit.
    package var duplicateRecords: UInt64 = 0
    /// Live entries retired because a new process took their pid (their exit was never seen).
    package var staleEntries: UInt64 = 0
    /// Slots of the entry table now; it is rebuilt smaller when mostly empty.
    package var tableCapacity: Int = 0
    /// `malloc_trim` calls after mass exits (at the table rebuild, and once more when idle).
    package var memoryTrims: UInt64 = 0

    /// All zero.
    package init() {}
}
