// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

@Suite struct ExporterTests {
    private func event(_ pid: UInt32) -> ExportEvent {
        var process = curlProcess()
        process.pid = pid
        return ExportEvent(kind: .exec, process: process, parent: shellProcess(), nodeName: "worker-2", time: wall(UInt64(pid)))
    }

    /// Both sinks receive the same lines; nothing reaches them before the buffer fills or a flush.
    @Test func exportsToFileAndDescriptor() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let outPath = dir + "/stdout.txt"
        let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(outFD >= 0)
        defer { _ = close(outFD) }

        let file = try ExportFileWriter(path: dir + "/export/tetragon.log")
        let exporter = Exporter(stdout: FileDescriptorSink(fd: outFD, name: outPath), file: file)
        for pid in 1...3 { try exporter.export(event(UInt32(pid))) }
        #expect(exporter.eventsExported == 3)
        #expect(try readBytes(outPath).isEmpty)
        try exporter.flush()

        let expected = (1...3).flatMap { JSONLineEncoder().encode(event(UInt32($0))) }
        #expect(try readBytes(outPath) == expected)
        #expect(try readBytes(dir + "/export/tetragon.log") == expected)
        #expect(file.linesWritten == 3)
        try exporter.close()
        #expect(exporter.exportErrors == 0)
    }

    /// A failing sink is reported and counted, and does not stop the other sink.
    @Test func failingSinkDoesNotStopTheOther() throws {
        guard access("/dev/full", W_OK) == 0 else { return }
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let full = open("/dev/full", O_WRONLY)
        try #require(full >= 0)
        defer { _ = close(full) }
        let file = try ExportFileWriter(path: dir + "/tetragon.log", maxSizeBytes: 1 << 20, bufferCapacity: 0)
        let exporter = Exporter(stdout: FileDescriptorSink(fd: full, name: "<full>", bufferCapacity: 0), file: file)
        #expect(throws: ExportFileError.self) { try exporter.export(event(1)) }
        #expect(exporter.exportErrors == 1)
        #expect(exporter.eventsExported == 0)
        #expect(file.linesWritten == 1)
    }

    /// Without sinks events are only encoded and counted.
    @Test func noSinks() throws {
        let exporter = Exporter(stdout: nil, file: nil)
        try exporter.export(event(1))
        try exporter.flush()
        #expect(exporter.eventsExported == 1)
    }
}
