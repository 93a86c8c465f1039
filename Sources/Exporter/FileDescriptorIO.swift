// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What failed while exporting to a file or descriptor, with the path and the errno.
package struct ExportFileError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The step that failed.
    package enum Operation: String, Sendable, Hashable {
        case open, createDirectory, write, compress, close, notRegularFile
    }

    /// What was being done.
    package var operation: Operation
    /// The file concerned (for stdout: `<stdout>`).
    package var path: String
    /// `errno` of the failed call (0 when not a system call failure, e.g. a closed writer).
    package var errno: Int32

    /// An error for `operation` on `path` that failed with `errno`.
    package init(_ operation: Operation, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// e.g. `cannot open export file '/etc/hostname/x': Not a directory (errno 20)`.
    package var description: String {
        let what: String
        switch operation {
        case .open: what = "cannot open export file"
        case .createDirectory: what = "cannot create the directory of export file"
        case .write: what = "cannot write export file"
        case .compress: what = "cannot compress rotated export file"
        case .close: what = "cannot close export file"
        case .notRegularFile: return "export file '\(path)' is not a regular file (a FIFO, device or directory); refusing to write to it"
        }
        if operation == .open && errno == ELOOP {
            return "export file '\(path)' is a symbolic link; refusing to follow it (give the link's target)"
        }
        if errno == 0 { return "\(what) '\(path)': writer is closed" }
        return "\(what) '\(path)': \(errnoText(errno)) (errno \(errno))"
    }
}

/// `strerror` text for `code`.
package func errnoText(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s)
}

/// Writes all of `bytes` to `fd`: retries on `EINTR`, continues after partial writes, waits with
/// `poll` on `EAGAIN` (a non-blocking pipe). Returns how many bytes were written and 0, or how many
/// were written before the failure and its errno.
package func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, errno: Int32) {
    guard var p = bytes.baseAddress else { return (0, 0) }
    var left = bytes.count
    var written = 0
    while left > 0 {
        let n = write(fd, p, left)
        if n > 0 {
            written += n
            left -= n
            p += n
            continue
        }
        if n == 0 { return (written, EIO) }
        let e = errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&pfd, 1, -1) >= 0 || errno == EINTR { continue }
            return (written, errno)
        }
        return (written, e)
    }
    return (written, 0)
}

/// A buffered writer on a descriptor it does not own (standard output by default). Not
/// thread-safe: owned by one task. Whole writes stay together; the buffer is written out when it
/// passes `bufferCapacity` and on `flush()`.
package final class FileDescriptorSink {
    /// The descriptor written to.
    package let fd: Int32
    /// Name used in errors.
    package let name: String
    private let bufferCapacity: Int
    private var pending: [UInt8] = []
    /// Bytes handed to `write(2)` successfully.
    package private(set) var bytesWritten: UInt64 = 0
    /// Failed flushes.
    package private(set) var writeErrors: UInt64 = 0
    /// Bytes dropped after write errors.
    package private(set) var droppedBytes: UInt64 = 0

    /// A sink on `fd`, which the caller keeps open and closes.
    package init(fd: Int32, name: String, bufferCapacity: Int = 64 * 1024) {
        self.fd = fd
        self.name = name
        self.bufferCapacity = max(0, bufferCapacity)
        pending.reserveCapacity(self.bufferCapacity)
    }

    /// Standard output (fd 1). Writes to a closed pipe raise `SIGPIPE` unless the process ignores it.
    package static func standardOutput(bufferCapacity: Int = 64 * 1024) -> FileDescriptorSink {
        FileDescriptorSink(fd: 1, name: "<stdout>", bufferCapacity: bufferCapacity)
    }

    /// Buffers `bytes`; writes the buffer out once it passes the capacity.
    package func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Buffers `bytes`; writes the buffer out once it passes the capacity.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        pending.append(contentsOf: bytes)
        if pending.count >= bufferCapacity { try flush() }
    }

    /// Writes out everything buffered. On error the buffer is dropped and the error thrown.
    package func flush() throws {
        guard !pending.isEmpty else { return }
        let (written, err) = pending.withUnsafeBytes { writeFully(fd, $0) }
        bytesWritten += UInt64(written)
        let total = pending.count
        pending.removeAll(keepingCapacity: true)
        if err != 0 {
            writeErrors += 1
            droppedBytes += UInt64(total - written)
            throw ExportFileError(.write, path: name, errno: err)
        }
    }

    deinit { try? flush() }
}

/// `close(2)`, reachable from types that have a `close()` method of their own.
@inline(__always)
package func closeFD(_ fd: Int32) -> Int32 {
    close(fd)
}
