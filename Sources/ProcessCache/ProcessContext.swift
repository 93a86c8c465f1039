// SPDX-License-Identifier: Apache-2.0
import Events

/// `process`, `parent` and `ancestors` of one process, for enriching non-process events.
package struct ProcessContext: Sendable, Hashable {
    /// The process itself.
    package var process: ExportedProcess
    /// Its parent, when the cache still holds it.
    package var parent: ExportedProcess?
    /// Grand-parent upwards; empty unless ancestors are enabled.
    package var ancestors: [ExportedProcess]

    /// Memberwise.
    package init(process: ExportedProcess, parent: ExportedProcess?, ancestors: [ExportedProcess]) {
        self.process = process
        self.parent = parent
        self.ancestors = ancestors
    }
}
