// SPDX-License-Identifier: Apache-2.0

/// The `/proc` scan could not start (the directory itself could not be listed).
package struct ProcFSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `errno` of the failed call.
    package var errno: Int32
    /// The path the call was made on.
    package var path: String

    /// An error for the call on `path` that failed with `errno`.
    package init(errno: Int32, path: String) {
        self.errno = errno
        self.path = path
    }

    /// A one-line message for logs.
    package var description: String { "cannot list \(path): errno \(errno)" }
}
