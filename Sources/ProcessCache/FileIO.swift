// SPDX-License-Identifier: Apache-2.0
import Glibc

/// The few raw file calls the `/proc` scanner needs; bytes in, bytes out, no Foundation.
enum FileIO {
    /// Whole content of a (pseudo) file, read to EOF: `/proc` files report size 0.
    /// Returns nil when the file cannot be opened or read.
    static func read(_ path: String) -> [UInt8]? {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                out.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return out
            } else if errno != EINTR {
                return nil
            }
        }
    }

    /// Target of a symbolic link as raw bytes, or nil.
    static func readLink(_ path: String) -> [UInt8]? {
        var size = 4096
        while size <= 1 << 20 {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = path.withCString { cPath in
                buffer.withUnsafeMutableBytes { raw in
                    readlink(cPath, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                }
            }
            guard n >= 0 else { return nil }
            if n < size { return Array(buffer[0..<n]) }
            size *= 2  // possibly truncated: retry larger
        }
        return nil
    }

    /// Names in a directory (without `.` and `..`), or nil with `errno` set.
    static func list(_ path: String) -> [String]? {
        guard let dir = path.withCString({ opendir($0) }) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
