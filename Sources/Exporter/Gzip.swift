// SPDX-License-Identifier: Apache-2.0

import CZlib

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// gzip files through zlib's `gz*` API.
package enum Gzip {
    /// Compresses `source` into a new file `destination` (which must not exist) with mode
    /// `permissions`, and syncs it. On failure removes the partial destination and throws; the
    /// source is never touched.
    package static func compressFile(source: String, destination: String, permissions: mode_t) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ExportFileError(.compress, path: source, errno: errno) }
        defer { _ = closeFD(input) }

        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard output >= 0 else { throw ExportFileError(.compress, path: destination, errno: errno) }
        _ = fchmod(output, permissions)
        guard let gz = gzdopen(output, "wb") else {
            _ = closeFD(output)
            unlink(destination)
            throw ExportFileError(.compress, path: destination, errno: ENOMEM)
        }

        var failure: Int32 = 0
        var chunk = [UInt8](repeating: 0, count: 128 * 1024)
        copy: while true {
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            if n == 0 { break }
            var offset = 0
            while offset < n {
                let wrote = chunk.withUnsafeBytes { raw in
                    gzwrite(gz, raw.baseAddress! + offset, UInt32(n - offset))
                }
                if wrote <= 0 {
                    failure = errno != 0 ? errno : EIO
                    break copy
                }
                offset += Int(wrote)
            }
        }
        // gzclose flushes the deflate stream and the trailer, and closes `output`.
        let closed = gzclose(gz)
        if failure == 0 && closed != Z_OK { failure = closed == Z_ERRNO ? errno : EIO }
        if failure == 0 {
            let sync = open(destination, O_RDONLY | O_CLOEXEC)
            if sync >= 0 {
                if fsync(sync) != 0 { failure = errno }
                _ = closeFD(sync)
            } else {
                failure = errno
            }
        }
        if failure != 0 {
            unlink(destination)
            throw ExportFileError(.compress, path: destination, errno: failure)
        }
    }
}
