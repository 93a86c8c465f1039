// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// The JSON of a `process` object's fields that never change for one process-cache entry,
/// rendered once by the encoder and reused for every later event that names the process.
///
/// Why: an exec storm names each process in several events (its exec, its exit, as `parent` of
/// its children, in policy events), and an open storm names the same process in every event;
/// writing its exec id, paths, arguments and start time again each time was most of the
/// agent's user-space cost per event (docs/benchmarks.md, "What the profiles showed").
///
/// The bytes are four runs in proto field order, cut where per-event fields go in between
/// (`pod`, `refcnt`, `tid`): `{...,"auid":N` | `docker`, `parent_exec_id` | `ns` |
/// `process_credentials` and the closing `}`.
package final class RenderedProcess: Sendable {
    /// The four runs, back to back.
    package let bytes: [UInt8]
    /// Ends of the first three runs in `bytes`; the fourth ends at `bytes.count`.
    package let ends: (Int, Int, Int)

    /// A rendered process from its runs, back to back, and where the first three end.
    package init(_ runs: [UInt8], ends: (Int, Int, Int)) {
        precondition(0 <= ends.0 && ends.0 <= ends.1 && ends.1 <= ends.2 && ends.2 <= runs.count)
        self.bytes = runs
        self.ends = ends
    }
}

/// Where the rendered JSON of one process-cache entry is kept: filled by the first encoder that
/// writes the process, shared by every ``ExportedProcess`` made from that entry. Filling is one
/// compare-and-swap, so copies of a process encoded on different threads stay safe (the loser
/// of a race renders the same bytes and drops them). A plain atomic word rather than
/// `AtomicLazyReference`, whose load is an out-of-line call: this is read for every process
/// object of every event.
///
/// Not final: ``ProcessCore`` is the slot of its own rendering (one object per process-cache
/// entry instead of two).
package class RenderedProcessSlot: @unchecked Sendable {
    // @unchecked: `value` is 0 or the address of a RenderedProcess this slot holds one retain
    // on, published once by compare-exchange (release) and read with acquire ordering.
    @usableFromInline let value = Atomic<Int>(0)

    package init() {}

    deinit {
        let bits = value.load(ordering: .acquiring)
        if bits != 0 { Unmanaged<RenderedProcess>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).release() }
    }

    /// The rendered process, if an encoder has rendered it yet.
    @inlinable
    package var rendered: RenderedProcess? {
        let bits = value.load(ordering: .acquiring)
        guard bits != 0 else { return nil }
        return Unmanaged<RenderedProcess>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
    }

    /// Keeps `rendered` unless the slot was filled meanwhile; returns what the slot holds.
    package func fill(_ rendered: RenderedProcess) -> RenderedProcess {
        let retained = Unmanaged.passRetained(rendered)
        let bits = Int(bitPattern: retained.toOpaque())
        let (exchanged, current) = value.compareExchange(
            expected: 0, desired: bits, successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
        if exchanged { return rendered }
        retained.release()
        return Unmanaged<RenderedProcess>.fromOpaque(UnsafeRawPointer(bitPattern: current)!).takeUnretainedValue()
    }
}

/// An ``ExportedProcess``'s link to its ``RenderedProcessSlot``. Not part of the value: two
/// processes with the same fields are equal whether or not either has been rendered.
package struct RenderedProcessLink: Sendable, Hashable {
    package var slot: RenderedProcessSlot?

    package init(_ slot: RenderedProcessSlot?) { self.slot = slot }

    package static func == (a: RenderedProcessLink, b: RenderedProcessLink) -> Bool { true }
    package func hash(into hasher: inout Hasher) {}
}

/// The JSON of a policy event's keys that never change for one hook of one loaded policy,
/// rendered once when the hook's slot is made and copied into every event of that hook.
///
/// Why: an open storm exporting every open writes the same `subsys`, `event`, `policy_name`,
/// `message` and `tags` in every event; escaping them again per event was a measurable part of
/// a policy event's encoding (bench/analysis.md, "Policy events toward 1,000,000 exported
/// events per CPU second").
///
/// The bytes are three runs in proto field order, cut where per-event fields go in between
/// (`args`, and `return` and `action`): what comes before `args` | between `args` and
/// `action` | after `action`, up to `ancestors`. Which keys fall in which run depends on the
/// event's message (`process_tracepoint`, `process_kprobe`, `process_lsm`, `process_uprobe`); the encoder that
/// renders them (`JSONLineEncoder.renderedPolicyKeys(_:)`) is the one that reads them.
package final class RenderedPolicyKeys: Sendable {
    /// The three runs, back to back.
    package let bytes: [UInt8]
    /// Ends of the first two runs in `bytes`; the third ends at `bytes.count`.
    package let ends: (Int, Int)

    /// Rendered keys from their runs, back to back, and where the first two end.
    package init(_ runs: [UInt8], ends: (Int, Int)) {
        precondition(0 <= ends.0 && ends.0 <= ends.1 && ends.1 <= runs.count)
        self.bytes = runs
        self.ends = ends
    }
}

/// A ``PolicyOutcome``'s link to its hook's ``RenderedPolicyKeys``. Not part of the value: two
/// outcomes with the same fields are equal whether or not either carries its rendering.
package struct RenderedPolicyKeysLink: Sendable, Hashable {
    package var keys: RenderedPolicyKeys?

    package init(_ keys: RenderedPolicyKeys? = nil) { self.keys = keys }

    package static func == (a: RenderedPolicyKeysLink, b: RenderedPolicyKeysLink) -> Bool { true }
    package func hash(into hasher: inout Hasher) {}
}
