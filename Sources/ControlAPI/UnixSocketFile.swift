// SPDX-License-Identifier: Apache-2.0

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the control socket could not be set up.
package struct ControlServerError: Error, Sendable, Hashable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// The file-system side of the control socket: its directory, a stale file left by a previous
/// run, its owner group and mode.
package enum UnixSocketFile {
    /// The group id of `name` (or of a numeric id).
    package static func groupID(named name: String) throws(ControlServerError) -> gid_t {
        if let number = UInt32(name) { return gid_t(number) }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard status == 0, let entry = result else {
            throw ControlServerError("--server-group: no group named \"\(name)\"")
        }
        return entry.pointee.gr_gid
    }

    /// Makes the socket's parent directory (mode 0755, parents included) when it is missing,
    /// and removes a socket file left by a previous run.
    ///
    /// - Throws: when the directory cannot be made, when the path exists and is not a socket
    ///   (nothing is deleted then), or when another process is accepting connections on it.
    package static func prepare(path: String) throws(ControlServerError) {
        guard path.hasPrefix("/") else {
            throw ControlServerError("--server-address: \(path): must be an absolute path")
        }
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw ControlServerError("--server-address: \(path): longer than a UNIX socket path can be")
        }
        let directory = parent(of: path)
        try makeDirectories(directory)
        guard let type = fileType(path) else { return }
        guard type == .typeSocket else {
            throw ControlServerError("--server-address: \(path) exists and is not a socket; not removing it")
        }
        if isAcceptingConnections(path) {
            throw ControlServerError("--server-address: \(path): another process is serving on this socket (is another agent running?)")
        }
        if unlink(path) != 0, errno != ENOENT {
            throw ControlServerError("--server-address: cannot remove stale socket \(path): \(errorText(errno))")
        }
    }

    /// Sets the socket file's mode: 0600 (owner only, the agent runs as root), or 0660 with
    /// group `group` so its members can use `tracectl` without root.
    package static func restrict(path: String, group: gid_t?) throws(ControlServerError) {
        if let group {
            guard chown(path, uid_t.max, group) == 0 else {
                throw ControlServerError("--server-group: cannot chown \(path): \(errorText(errno))")
            }
        }
        let mode: mode_t = group == nil ? 0o600 : 0o660
        guard chmod(path, mode) == 0 else {
            throw ControlServerError("--server-address: cannot chmod \(path): \(errorText(errno))")
        }
    }

    /// Removes the socket file if it is still a socket (at shutdown).
    package static func remove(path: String) {
        if fileType(path) == .typeSocket {
            unlink(path)
        }
    }

    /// Whether a process accepts connections on the socket at `path`.
    package static func isAcceptingConnections(_ path: String) -> Bool {
        connectError(path) == 0
    }

    /// The `errno` of a test `connect()` to the socket at `path`, 0 when it succeeds
    /// (`ENOENT`: no socket, `ECONNREFUSED`: nobody listening, `EACCES`: no permission).
    package static func connectError(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return ENAMETOOLONG }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? 0 : errno
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    private static func makeDirectories(_ directory: String) throws(ControlServerError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ControlServerError("--server-address: \(directory) is not a directory")
            }
            return
        }
        if directory != "/" { try makeDirectories(parent(of: directory)) }
        if mkdir(directory, 0o755) == 0 {
            // 0755 whatever the umask (the agent's is 077): --server-group members must reach
            // the socket; the socket's own mode is what keeps everyone else out.
            chmod(directory, 0o755)
        } else if errno != EEXIST {
            throw ControlServerError("--server-address: cannot create \(directory): \(errorText(errno))")
        }
    }

    /// The type of the file at `path` itself (a symbolic link is not followed); nil when
    /// there is none.
    package static func fileType(_ path: String) -> FileAttributeType? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return attributes[.type] as? FileAttributeType
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
