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

    /// What `Dictionary` calls: a multiply-xorshift finaliser (MurmurHash3's fmix64) of the key,
    /// the table's seed and a per-process random salt, instead of a SipHash round trip.
    /// The process table looks keys up about ten times per record, and SipHash made ~14% of
    /// the pipeline's instructions. Keys come from the kernel (pid, nanosecond start time), so
    /// an attacker can steer a pid but not the ktime next to it; the salt keeps the table's
    /// layout unpredictable all the same.
    package func _rawHashValue(seed: Int) -> Int {
        var x = ktime ^ (UInt64(pid) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(UInt(bitPattern: seed)) ^ processKeySalt
        x ^= x >> 33
        x &*= 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        x &*= 0xC4CE_B9FE_1A85_EC53
        x ^= x >> 33
        return Int(Int64(bitPattern: x))
    }
}

/// Drawn once per process (see ``ProcessKey/_rawHashValue(seed:)``).
private let processKeySalt = UInt64.random(in: .min ... .max)
