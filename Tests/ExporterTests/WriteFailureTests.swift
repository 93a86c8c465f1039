// SPDX-License-Identifier: Apache-2.0

import Foundation
import Glibc
import Testing

@testable import Exporter

/// Disk full, read-only file systems and removed files: errors are counted and retried, memory
/// stays bounded, and the file never holds half a line.
@Suite struct WriteFailureTests {
    /// A write(2) that takes `budget` bytes, then fails with `error` until given more.
    final class FaultyDisk: @unchecked Sendable {
        var budget: Int
        var error: Int32
        init(budget: Int, error: Int32 = ENOSPC) {
            self.budget = budget
            self.error = error
        }
        func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, errno: Int32) {
            let n = min(budget, bytes.count)
            if n > 0 {
                let (written, e) = writeFully(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
                budget -= written
                if e != 0 { return (written, e) }
            }
            return n == bytes.count ? (n, 0) : (n, error)
        }
    }

    func lines(_ path: String) throws -> [String] {
        splitLines(try readBytes(path), file: path)
    }

    @Test(arguments: [0, 1000, 64 * 1024])
    func aDiskThatFillsMidLineLeavesOnlyWholeLinesAndLosesNothing(bufferCapacity: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/events.log"
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 1 << 30, bufferCapacity: bufferCapacity)
        writer.retryInterval = 0
        let disk = FaultyDisk(budget: 3001)  // full in the middle of some line
        writer.writeFunction = disk.write
        var errors = 0
        for i in 1...200 {
            do { try writer.write(numberedLine(i)) } catch { errors += 1 }
        }
        do { try writer.flush() } catch { errors += 1 }
        #expect(errors > 0)
        #expect(writer.writeErrors > 0)
        // Only whole lines on disk, in order, a prefix of what was written.
        let partial = try lines(path)
        #expect(partial == expectedLines(1...partial.count))
        #expect(partial.count < 200)
        // Space again: the kept lines go out, in order, after the ones already there.
        disk.budget = 1 << 30
        try writer.flush()
        try writer.close()
        #expect(try lines(path) == expectedLines(1...200))
        #expect(writer.droppedLines == 0)
        #expect(writer.linesWritten == 200)
    }

    @Test func theRetryBufferIsBoundedAndDropsAreCounted() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/events.log"
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 1 << 30, bufferCapacity: 0)
        writer.retryInterval = 0
        writer.retryCapacity = 2048
        let disk = FaultyDisk(budget: 0, error: EROFS)
        writer.writeFunction = disk.write
        for i in 1...1000 { try? writer.write(numberedLine(i)) }
        #expect(writer.currentSize <= 2048)
        #expect(writer.droppedLines > 900)
        #expect(writer.currentError?.errno == EROFS)
        disk.budget = 1 << 30
        try writer.flush()
        try writer.write(numberedLine(1001))
        try writer.close()
        let written = try lines(path)
        // The oldest lines that fit were kept, then everything after recovery.
        let kept = Int(writer.linesWritten) - 1
        #expect(written == expectedLines(1...kept) + expectedLines(1001...1001))
        #expect(UInt64(kept) + writer.droppedLines == 1000)
    }

    @Test func retriesWaitForTheRetryInterval() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let writer = try ExportFileWriter(path: dir + "/events.log", maxSizeBytes: 1 << 30, bufferCapacity: 0)
        writer.retryInterval = 3_600 * 1_000_000_000
        var attempts = 0
        writer.writeFunction = { _, _ in
            attempts += 1
            return (0, ENOSPC)
        }
        #expect(throws: ExportFileError.self) { try writer.write(numberedLine(1)) }
        for i in 2...100 { try writer.write(numberedLine(i)) }  // buffered, no attempt, no throw
        #expect(attempts == 1)
        #expect(writer.writeErrors == 1)
        writer.writeFunction = writeFully
        try writer.close()  // close makes one last attempt regardless
        #expect(try lines(dir + "/events.log") == expectedLines(1...100))
    }

    @Test func aRemovedFileIsOpenedAfresh() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/events.log"
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 1 << 30, bufferCapacity: 0)
        writer.replacedCheckInterval = 0
        try writer.write(numberedLine(1))
        try FileManager.default.removeItem(atPath: path)
        try writer.flush()  // notices
        #expect(writer.reopens == 1)
        try writer.write(numberedLine(2))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        try writer.flush()
        #expect(writer.reopens == 2)
        try writer.write(numberedLine(3))
        try writer.close()
        #expect(try lines(path) == expectedLines(3...3))
        #expect(try lines(path + ".moved") == expectedLines(2...2))
    }
}
