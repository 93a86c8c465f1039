// SPDX-License-Identifier: Apache-2.0

import CZlib
import Foundation
import Testing

@testable import Exporter

/// Decompresses a gzip file with zlib directly (independent of the writer's own helpers).
func gunzip(_ path: String) throws -> [UInt8] {
    let gz = try #require(gzopen(path, "rb"))
    defer { gzclose(gz) }
    #expect(gzdirect(gz) == 0, "\(path) is not gzip-compressed")
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
        try #require(n >= 0, "gzread failed on \(path)")
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<Int(n)])
    }
}

/// Files of a directory, sorted by name.
func listDirectory(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
}

func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func fileMode(_ path: String) -> mode_t {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
}

/// Line `i`: numbered, with a length that varies so rotations fall at irregular offsets.
func numberedLine(_ i: Int) -> [UInt8] {
    var s = "{\"n\":\(i),\"pad\":\""
    s += String(repeating: "x", count: (i * 37) % 170)
    s += "\"}\n"
    return Array(s.utf8)
}

/// Splits content into lines; fails when the content does not end with a newline (a cut line).
func splitLines(_ bytes: [UInt8], file: String) -> [String] {
    if !bytes.isEmpty { #expect(bytes.last == UInt8(ascii: "\n"), "\(file) ends mid-line") }
    return bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map {
        String(decoding: $0, as: UTF8.self)
    }
}

/// All lines of the export file and its backups, oldest backup first, current file last.
func collectLines(dir: String, name: String = "tetragon.log") throws -> (lines: [String], backups: [String]) {
    let files = try listDirectory(dir)
    let backups = files.filter { $0 != name }
    var lines: [String] = []
    // Backup names sort by time stamp, which is write order.
    for file in backups {
        let path = dir + "/" + file
        let bytes = file.hasSuffix(".gz") ? try gunzip(path) : try readBytes(path)
        lines += splitLines(bytes, file: file)
    }
    if files.contains(name) {
        lines += splitLines(try readBytes(dir + "/" + name), file: name)
    }
    return (lines, backups)
}

func expectedLines(_ range: ClosedRange<Int>) -> [String] {
    range.map { String(decoding: numberedLine($0).dropLast(), as: UTF8.self) }
}

@Suite struct FileWriterTests {
    /// ~2000 lines over many rotations: every line exactly once, whole, in order; each file within
    /// the limit.
    @Test(arguments: [0, 1000, 64 * 1024])
    func rotationKeepsEveryLine(bufferCapacity: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(
            path: dir + "/tetragon.log", maxSizeBytes: 4096, maxBackups: 1000, bufferCapacity: bufferCapacity)
        var total = 0
        for i in 1...2000 {
            let line = numberedLine(i)
            total += line.count
            try writer.write(line)
            if i % 333 == 0 { try writer.flush() }
        }
        try writer.close()

        let (lines, backups) = try collectLines(dir: dir)
        #expect(lines == expectedLines(1...2000))
        #expect(backups.count > 40)
        #expect(writer.rotations == UInt64(backups.count))
        #expect(writer.linesWritten == 2000)
        #expect(writer.bytesWritten == UInt64(total))
        #expect(writer.writeErrors == 0)
        for file in try listDirectory(dir) {
            let size = try readBytes(dir + "/" + file).count
            #expect(size <= 4096 && size > 0, "\(file): \(size) bytes")
            if file != "tetragon.log" {
                #expect(file.hasPrefix("tetragon-") && file.hasSuffix(".log") && file.count == "tetragon-".count + 23 + 4)
            }
        }
    }

    /// With maxBackups 3 only the three newest backups survive: what is left is the tail of the
    /// sequence, without gaps.
    @Test func maxBackupsDeletesOldest() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/tetragon.log", maxSizeBytes: 4096, maxBackups: 3)
        for i in 1...600 { try writer.write(numberedLine(i)) }
        try writer.close()

        #expect(writer.rotations > 10)
        let (lines, backups) = try collectLines(dir: dir)
        #expect(backups.count == 3)
        #expect(writer.backups().count == 3)
        let first = try #require(lines.first.flatMap { Int($0.dropFirst(5).prefix { $0.isNumber }) })
        #expect(first > 1)
        #expect(lines == expectedLines(first...600))
        #expect(writer.maintenanceErrors == 0)
    }

    /// With compress every backup becomes a valid .gz (magic, zlib-readable) and no plain backup
    /// remains; nothing is lost.
    @Test func compressProducesValidGzip() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(
            path: dir + "/tetragon.log", maxSizeBytes: 4096, maxBackups: 100, compress: true, permissions: 0o640)
        for i in 1...1000 { try writer.write(numberedLine(i)) }
        try writer.close()

        let (lines, backups) = try collectLines(dir: dir)
        #expect(lines == expectedLines(1...1000))
        #expect(!backups.isEmpty)
        for backup in backups {
            #expect(backup.hasSuffix(".log.gz"), "\(backup)")
            let raw = try readBytes(dir + "/" + backup)
            #expect(raw.starts(with: [0x1F, 0x8B]), "\(backup) lacks the gzip magic")
            #expect(fileMode(dir + "/" + backup) == 0o640)
        }
        #expect(writer.backups().allSatisfy { $0.compressed })
        #expect(writer.maintenanceErrors == 0)
    }

    /// Backup names follow lumberjack's layout in UTC; rotations in the same millisecond get
    /// increasing stamps instead of overwriting each other.
    @Test func backupNamesAreUniqueAndOrdered() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let now: UInt64 = 1_773_480_067_412_000_000
        let writer = try ExportFileWriter(
            path: dir + "/events.json", maxSizeBytes: 10, maxBackups: 0, bufferCapacity: 0, clock: { now })
        for i in 0..<3 { try writer.write(Array("line \(i)\n".utf8)) }
        try writer.close()
        #expect(
            try listDirectory(dir) == [
                "events-2026-03-14T09-21-07.412.json", "events-2026-03-14T09-21-07.413.json", "events.json",
            ])
        #expect(try readBytes(dir + "/events-2026-03-14T09-21-07.412.json") == Array("line 0\n".utf8))
        #expect(try readBytes(dir + "/events.json") == Array("line 2\n".utf8))
    }

    /// A name without extension gets `<name>-<stamp>`.
    @Test func backupNameWithoutExtension() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(
            path: dir + "/events", maxSizeBytes: 10, bufferCapacity: 0, clock: { 0 })
        try writer.write(Array("0123456789\n".utf8))
        try writer.write(Array("x\n".utf8))
        try writer.close()
        #expect(try listDirectory(dir) == ["events", "events-1970-01-01T00-00-00.000"])
    }

    /// A line longer than the limit goes whole into a file of its own; a line written in pieces is
    /// never split by rotation.
    @Test func oversizedAndPiecewiseLines() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/tetragon.log", maxSizeBytes: 100, maxBackups: 0)
        try writer.write(Array("short\n".utf8))
        try writer.write(Array(String(repeating: "L", count: 300).utf8) + [0x0A])
        try writer.write(Array(String(repeating: "a", count: 90).utf8))
        try writer.write(Array(String(repeating: "b", count: 90).utf8))
        try writer.write(Array("c\n".utf8))
        try writer.write(Array("tail\n".utf8))
        try writer.close()
        let (lines, backups) = try collectLines(dir: dir)
        #expect(
            lines == [
                "short", String(repeating: "L", count: 300),
                String(repeating: "a", count: 90) + String(repeating: "b", count: 90) + "c", "tail",
            ])
        #expect(backups.count == 3)
    }

    /// Appending to an existing file that was cut mid-line starts with a newline; its size counts
    /// toward the limit.
    @Test func existingFileIsContinued() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/tetragon.log"
        try Data("old line\ncut".utf8).write(to: URL(fileURLWithPath: path))
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 1000)
        #expect(writer.currentSize == 12)
        try writer.write(Array("new\n".utf8))
        try writer.close()
        #expect(String(decoding: try readBytes(path), as: UTF8.self) == "old line\ncut\nnew\n")
    }

    /// `rotate()` (rotation interval) moves a non-empty file away and skips an empty one.
    @Test func explicitRotate() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/tetragon.log", maxSizeBytes: 1 << 20)
        try writer.rotate()
        #expect(writer.rotations == 0)
        try writer.write(Array("one\n".utf8))
        try writer.write(Array("tw".utf8))
        try writer.rotate()  // waits for the end of the line
        #expect(writer.rotations == 0)
        try writer.write(Array("o\n".utf8))
        try writer.write(Array("three\n".utf8))
        #expect(writer.rotations == 1)
        try writer.close()
        let (lines, backups) = try collectLines(dir: dir)
        #expect(lines == ["one", "two", "three"])
        #expect(backups.count == 1)
    }

    /// `--export-file-rotation-interval`: a flush once the interval has passed rotates a file
    /// that has lines (each line in exactly one file), and leaves an empty one alone.
    @Test func rotationByInterval() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/tetragon.log", maxSizeBytes: 1 << 20)
        writer.rotationIntervalNanoseconds = 50_000_000
        try writer.write(Array("one\n".utf8))
        try writer.flush()
        #expect(writer.rotations == 0)
        usleep(80_000)
        try writer.write(Array("two\n".utf8))
        try writer.flush()  // the interval has passed: "one" and "two" go to the rotated file
        #expect(writer.rotations == 1)
        usleep(80_000)
        try writer.flush()  // nothing written since: no empty backup
        #expect(writer.rotations == 1)
        try writer.write(Array("three\n".utf8))
        try writer.close()
        let (lines, backups) = try collectLines(dir: dir)
        #expect(lines == ["one", "two", "three"])
        #expect(backups.count == 1)
    }

    /// Created files get exactly the requested mode, whatever the umask; directories are created.
    @Test func permissionsAndDirectoryCreation() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/a/b/tetragon.log"
        let writer = try ExportFileWriter(path: path, maxSizeMB: 10, permissions: 0o666)
        try writer.write(Array("x\n".utf8))
        try writer.close()
        #expect(fileMode(path) == 0o666)
        #expect(writer.maxSizeBytes == 10 * 1024 * 1024)
        let defaults = try ExportFileWriter(path: dir + "/d.log")
        #expect(fileMode(dir + "/d.log") == 0o600)
        #expect(defaults.maxBackups == 5 && defaults.compress == false)
    }

    /// An unwritable path throws an error naming the path and the errno text.
    @Test func unwritablePathThrows() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let regularFile = dir + "/plain"
        try Data("x".utf8).write(to: URL(fileURLWithPath: regularFile))
        for path in [regularFile + "/x", regularFile + "/deeper/x", "/etc/hostname/x"] {
            let error = try #require(throws: ExportFileError.self) { try ExportFileWriter(path: path) }
            #expect(error.description.contains(path), "\(error)")
            #expect(error.description.contains("Not a directory"), "\(error)")
            #expect(error.errno == ENOTDIR)
        }
    }

    /// Writes after close throw; close is idempotent.
    @Test func writeAfterCloseThrows() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/t.log")
        try writer.close()
        try writer.close()
        #expect(throws: ExportFileError.self) { try writer.write(Array("x\n".utf8)) }
    }

    /// Write errors are thrown and counted; the line is kept for a retry, which writes it once
    /// the file takes data again.
    @Test func writeErrorsAreThrownCountedAndRetried() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/t.log", maxSizeBytes: 1 << 30, bufferCapacity: 0)
        writer.retryInterval = 0
        writer.writeFunction = { _, _ in (0, ENOSPC) }
        let error = try #require(throws: ExportFileError.self) { try writer.write(Array("{\"a\":1}\n".utf8)) }
        #expect(error.errno == ENOSPC)
        #expect(error.description.contains("t.log"))
        #expect(writer.writeErrors == 1)
        #expect(writer.currentError == error)
        #expect(writer.droppedBytes == 0)
        #expect(writer.linesWritten == 0)
        writer.writeFunction = writeFully
        try writer.write(Array("{\"b\":2}\n".utf8))
        #expect(writer.currentError == nil)
        try writer.close()
        #expect(try readBytes(dir + "/t.log") == Array("{\"a\":1}\n{\"b\":2}\n".utf8))
        #expect(writer.linesWritten == 2)
    }
}
