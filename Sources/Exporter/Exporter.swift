// SPDX-License-Identifier: Apache-2.0

import Events
import ExportFilters

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
    @exclusivity(unchecked) package private(set) var eventsExported: UInt64 = 0
    /// Events `--export-allowlist` / `--export-denylist` kept out of the export.
    @exclusivity(unchecked) package private(set) var eventsFiltered: UInt64 = 0
    /// Events `--export-rate-limit` dropped (``ExportRateLimiter``).
    package var eventsRateLimited: UInt64 { rateLimiter?.dropped ?? 0 }

    /// `--export-allowlist` / `--export-denylist`; nil: every event.
    @exclusivity(unchecked) package var filters: ExportFilters? {
        didSet { if filters?.isEmpty == true { filters = nil } }
    }
    /// `--field-filters`, applied to the line the sinks get; nil: whole lines.
    @exclusivity(unchecked) package var fieldFilters: FieldFilters? {
        didSet { if fieldFilters?.isEmpty == true { fieldFilters = nil } }
    }
    /// `--export-rate-limit`; nil: unlimited. Applied after the allow and deny lists, as Tetragon does.
    @exclusivity(unchecked) package var rateLimiter: ExportRateLimiter?
    /// Called with each event the filters or the rate limit keep out of the export, e.g. for the
    /// control API's event stream, which they do not apply to (as Tetragon's export filters do
    /// not apply to its gRPC streams); must not block.
    package var unexportedObserver: ((ExportEvent) -> Void)?
    /// A field-filtered line, reused.
    private var filteredLine: [UInt8] = []
    /// `export`/`flush` calls where at least one sink failed.
    @exclusivity(unchecked) package private(set) var exportErrors: UInt64 = 0

    /// The line being exported, reused for every event. No run-time exclusivity check: only
    /// `export` touches it, never re-entrantly, and the checks (two per event) showed in the
    /// pipeline profile. The same holds for the configuration and counters marked
    /// `@exclusivity(unchecked)` here: set before the export starts or read and written by the
    /// owning task only, and checked per event they were ~5 checks (~550 instructions) per
    /// policy event, 4% of the replay's profile.
    @exclusivity(unchecked) private var line = JSONBuffer(capacity: 4096)

    /// Called with every encoded line (newline included) before it is written, e.g. to feed
    /// live event streams; must not block. The event and the bytes are valid during the call
    /// only (the bytes are the exporter's reused line buffer): copy what is kept. A policy
    /// record's event is rendered only if the observer reads ``ObservedEvent/event``.
    @exclusivity(unchecked) package var lineObserver: ((ObservedEvent, UnsafeRawBufferPointer) -> Void)?

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
        if let filters, !filters.admits(event) {
            eventsFiltered += 1
            unexportedObserver?(event)
            return
        }
        if let rateLimiter, !rateLimiter.allow() {
            unexportedObserver?(event)
            return
        }
        line.removeAll()
        encoder.encode(event, into: &line)
        var firstError: (any Error)?
        line.withUnsafeBytes { line in
            if let lineObserver { withUnsafePointer(to: event) { lineObserver(ObservedEvent($0), line) } }
            if let fieldFilters, fieldFilters.applies(to: event.kind) {
                filteredLine = fieldFilters.apply(to: Array(line), kind: event.kind)
                filteredLine.withUnsafeBytes { firstError = write($0) }
            } else {
                firstError = write(line)
            }
        }
        if let firstError {
            exportErrors += 1
            throw firstError
        }
        eventsExported += 1
    }

    /// Encodes a policy hook's event from its record (``PolicyRecordEvent``) and writes the line
    /// to every sink: the line ``export(_:)-(ExportEvent)`` writes for `event.rendered()`. The
    /// allow and deny lists, the rate limit (whose observer gets what it drops) and the field
    /// filters read an ``ExportEvent``: with any of them configured the event is rendered and
    /// exported as one; without them it is never rendered.
    ///
    /// - Throws: the first sink error (`ExportFileError`); `exportErrors` counts it.
    package func export(_ event: borrowing PolicyRecordEvent) throws {
        if filters != nil || rateLimiter != nil || fieldFilters != nil { return try export(event.rendered()) }
        line.removeAll()
        encoder.encode(event, into: &line)
        var firstError: (any Error)?
        line.withUnsafeBytes { line in
            if let lineObserver { withUnsafePointer(to: event) { lineObserver(ObservedEvent($0), line) } }
            firstError = write(line)
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
        if let report = rateLimiter?.report() { reportRateLimit(report) }
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
        // Drops since the last report are reported before the file closes.
        if let report = rateLimiter?.report(force: true) { reportRateLimit(report) }
        var firstError: (any Error)?
        do { try stdout?.flush() } catch { firstError = error }
        do { try file?.close() } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }

    /// Writes one line to every sink; the first error.
    private func write(_ line: UnsafeRawBufferPointer) -> (any Error)? {
        var firstError: (any Error)?
        if let stdout {
            do { try stdout.write(line) } catch { firstError = firstError ?? error }
        }
        if let file {
            do { try file.write(line) } catch { firstError = firstError ?? error }
        }
        return firstError
    }

    /// A `rate_limit_info` line, to the sinks only (it passes no filter, as in Tetragon).
    private func reportRateLimit(_ report: [UInt8]) {
        if report.withUnsafeBytes({ write($0) }) != nil { exportErrors += 1 }
    }
}
