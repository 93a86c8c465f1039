// SPDX-License-Identifier: Apache-2.0

import Events

/// Encodes events once and hands the line to the configured sinks: standard output and/or the
/// export file. **Not thread-safe**: owned by one task, like the sinks it drives.
///
/// Output is buffered; call `flush()` regularly (e.g. after each batch of ring-buffer records or
/// on a short timer) and `close()` at shutdown.
package final class Exporter {
    /// The encoder used for every event.
    package let encoder: JSONLineEncoder
    /// Standard output sink, if enabled.
    package let stdout: FileDescriptorSink?
    /// Export file sink, if enabled.
    package let file: ExportFileWriter?

    /// Events encoded and accepted by every sink.
    package private(set) var eventsExported: UInt64 = 0
    /// `export`/`flush` calls where at least one sink failed.
    package private(set) var exportErrors: UInt64 = 0

    /// The line being exported, reused for every event. No run-time exclusivity check: only
    /// `export` touches it, never re-entrantly, and the checks (two per event) showed in the
    /// pipeline profile.
    @exclusivity(unchecked) private var line = JSONBuffer(capacity: 4096)

    /// Called with every encoded line (newline included) before it is written, e.g. to feed
    /// live event streams; must not block. The bytes are valid during the call only (they are
    /// the exporter's reused line buffer): copy what is kept.
    package var lineObserver: ((ExportEvent, UnsafeRawBufferPointer) -> Void)?

    /// An exporter writing to `stdout` and/or `file` (either may be nil; with both nil events are
    /// only encoded and counted).
    package init(stdout: FileDescriptorSink?, file: ExportFileWriter?, encoder: JSONLineEncoder = .init()) {
        self.stdout = stdout
        self.file = file
        self.encoder = encoder
    }

    /// Encodes `event` and writes the line to every sink. A failing sink does not stop the others.
    ///
    /// - Throws: the first sink error (`ExportFileError`); `exportErrors` counts it.
    package func export(_ event: ExportEvent) throws {
        line.removeAll()
        encoder.encode(event, into: &line)
        var firstError: (any Error)?
        line.withUnsafeBytes { line in
            lineObserver?(event, line)
            if let stdout {
                do { try stdout.write(line) } catch { firstError = firstError ?? error }
            }
            if let file {
                do { try file.write(line) } catch { firstError = firstError ?? error }
            }
        }
        if let firstError {
            exportErrors += 1
            throw firstError
        }
        eventsExported += 1
    }

    /// Writes out what the sinks buffered.
    ///
    /// - Throws: the first sink error.
    package func flush() throws {
        var firstError: (any Error)?
        do { try stdout?.flush() } catch { firstError = error }
        do { try file?.flush() } catch { firstError = firstError ?? error }
        if let firstError {
            exportErrors += 1
            throw firstError
        }
    }

    /// Flushes both sinks and closes the export file (standard output stays open).
    ///
    /// - Throws: the first sink error.
    package func close() throws {
        var firstError: (any Error)?
        do { try stdout?.flush() } catch { firstError = error }
        do { try file?.close() } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }
}
