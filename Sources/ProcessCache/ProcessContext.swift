// SPDX-License-Identifier: Apache-2.0
import Events

/// `process`, `parent` and `ancestors` of one process, for enriching non-process events.
package struct ProcessContext: Sendable, Hashable {
    /// The process itself.
    package var process: ProcessInfo
    /// Its parent, when the cache still holds it.
    package var parent: ProcessInfo?
    /// Grand-parent upwards; empty unless ancestors are enabled.
    package var ancestors: [ProcessInfo]

    /// Memberwise.
    package init(process: ProcessInfo, parent: ProcessInfo?, ancestors: [ProcessInfo]) {
        self.process = process
        self.parent = parent
        self.ancestors = ancestors
    }
}
