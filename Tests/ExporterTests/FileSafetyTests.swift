// SPDX-License-Identifier: Apache-2.0

import Foundation
import Glibc
import Testing

@testable import Exporter

/// The export file holds every binary and path seen on the node: it is never followed through
/// a planted link, never a FIFO or device, and never left readable by others.
@Suite struct FileSafetyTests {
    @Test func aSymbolicLinkIsNotFollowed() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let target = dir + "/target"
        _ = FileManager.default.createFile(atPath: target, contents: Data("keep\n".utf8))
        try FileManager.default.createSymbolicLink(atPath: dir + "/events.log", withDestinationPath: target)
        #expect {
            _ = try ExportFileWriter(path: dir + "/events.log", maxSizeBytes: 4096)
        } throws: { error in
            "\(error)" == "export file '\(dir)/events.log' is a symbolic link; refusing to follow it (give the link's target)"
        }
        #expect(try readBytes(target) == Array("keep\n".utf8))
    }

    @Test func aFIFOIsRefused() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        try #require(mkfifo(dir + "/events.log", 0o600) == 0)
        #expect {
            _ = try ExportFileWriter(path: dir + "/events.log", maxSizeBytes: 4096)
        } throws: { error in
            "\(error)".contains("is not a regular file")
        }
    }

    @Test func anExistingFileWithLooserModeIsTightened() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/events.log"
        _ = FileManager.default.createFile(atPath: path, contents: Data("{\"old\":1}\n".utf8))
        chmod(path, 0o644)
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 4096, permissions: 0o600)
        #expect(fileMode(path) == 0o600)
        try writer.write(Array("{\"new\":2}\n".utf8))
        try writer.close()
        #expect(try readBytes(path) == Array("{\"old\":1}\n{\"new\":2}\n".utf8))
    }

    @Test func aStricterExistingModeIsKept() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/events.log"
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        chmod(path, 0o600)
        let writer = try ExportFileWriter(path: path, maxSizeBytes: 4096, permissions: 0o640)
        #expect(fileMode(path) == 0o600)
        try writer.close()
    }
}
