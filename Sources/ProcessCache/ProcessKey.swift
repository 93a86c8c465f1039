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
}
