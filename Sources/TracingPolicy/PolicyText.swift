// SPDX-License-Identifier: Apache-2.0

import Foundation

/// Reads a policy file's text: a regular file, at most `maxBytes`, valid UTF-8; anything else is
/// refused with the reason (and for bad UTF-8, where).
enum PolicyText {
    enum Outcome {
        case text(String)
        case refused(ValidationError)
    }

    static func read(_ path: String, maxBytes: Int) -> Outcome {
        func refuse(_ message: String) -> Outcome {
            .refused(ValidationError(location: .wholeFile(path), path: "", message: "cannot read policy file: \(message)"))
        }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return refuse(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return refuse(String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            return refuse("not a regular file (\(kind(st.st_mode))); policies are read from regular files")
        }
        guard Int(st.st_size) <= maxBytes else {
            return refuse("\(st.st_size) bytes (limit \(maxBytes) bytes)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return refuse(String(cString: strerror(errno)))
            }
            if n == 0 { break }
            bytes += buffer[..<n]
            // The file grew after the fstat: the limit holds for what is read.
            if bytes.count > maxBytes { return refuse("more than \(maxBytes) bytes (limit \(maxBytes) bytes)") }
        }
        return decode(bytes, file: path)
    }

    /// `bytes` as text, or refused at the line and column (in bytes) of the first byte that is
    /// not UTF-8.
    static func decode(_ bytes: [UInt8], file: String) -> Outcome {
        if let bad = firstInvalidUTF8(bytes) {
            let before = bytes[..<bad]
            let line = before.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            return .refused(ValidationError(
                location: SourceLocation(file: file, line: line, column: bad - lineStart + 1), path: "",
                message: "not valid UTF-8 (byte offset \(bad), byte 0x\(String(bytes[bad], radix: 16)))"))
        }
        return .text(String(decoding: bytes, as: UTF8.self))
    }

    /// Offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
            case .emptyInput:
                return nil
            case .error:
                return offset
            }
        }
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }
}
