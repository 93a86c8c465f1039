// SPDX-License-Identifier: Apache-2.0

/// Process identity: thread-group id and the boot-relative ktime of the exec, clone or start.
package struct ProcessKey: Sendable, Hashable {
    /// Host thread-group id.
    package var pid: UInt32
    /// Boot-relative CLOCK_MONOTONIC ns of the exec, clone or (for seeded processes) start.
    package var ktime: UInt64

    /// The identity `(pid, ktime)`.
    package init(pid: UInt32, ktime: UInt64) {
        self.pid = pid
        self.ktime = ktime
    }

    /// One 64-bit word into the hasher instead of two values: lookups by key are on the
    /// pipeline's hot path, and each word fed to SipHash costs a round. Distinct live keys
    /// rarely collide here (a collision only costs a probe, never a wrong match).
    package func hash(into hasher: inout Hasher) {
        hasher.combine(ktime ^ (UInt64(pid) &* 0x9E37_79B9_7F4A_7C15))
    }
}
