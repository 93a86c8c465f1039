// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may have written a policy file the agent loads.
///
/// A policy decides what the agent kills and denies, and the agent runs as root: a file that a
/// user other than root could have written is a way around every permission on the control
/// socket. So a file (and every directory between it and the policy directory) must be owned
/// by root or by the agent's own user, and must not be writable by its group or by others.
/// Symbolic links are followed (a Kubernetes ConfigMap volume is made of them); what counts is
/// the file the agent would read. `tracectl policy validate` does not apply this: it only reads.
package struct PolicyFileTrust: Sendable, Hashable {
    /// Owners whose files are accepted: root and the agent's effective user.
    package var trustedOwners: Set<uid_t>

    package init(trustedOwners: Set<uid_t>) {
        self.trustedOwners = trustedOwners
    }

    /// Root and the running process's effective user.
    package static var agent: PolicyFileTrust {
        PolicyFileTrust(trustedOwners: [0, geteuid()])
    }

    /// Why `file` must not be loaded, or nil when it may be. `root` is the policy directory the
    /// file was found in: the directories from the file's up to `root` are checked as well
    /// (whoever can write one of them can swap the file).
    package func problem(file: String, root: String? = nil) -> String? {
        if let reason = reason(path: file, what: "file") { return reason }
        guard let root else { return nil }
        var directory = Self.parent(of: file)
        let stop = Self.trimmed(root)
        while true {
            if let reason = reason(path: directory, what: "directory \(directory)") { return reason }
            if directory == stop || directory == "/" || !directory.hasPrefix(stop) { return nil }
            directory = Self.parent(of: directory)
        }
    }

    /// The refusal as a policy error at the file.
    package func validationError(file: String, root: String? = nil) -> ValidationError? {
        problem(file: file, root: root).map {
            ValidationError(location: .wholeFile(file), path: "", message: "policy file refused: \($0)")
        }
    }

    private func reason(path: String, what: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return "cannot check the \(what): \(String(cString: strerror(errno)))"
        }
        if !trustedOwners.contains(st.st_uid) {
            return "the \(what) is owned by uid \(st.st_uid), not root; chown root it"
        }
        let mode = st.st_mode & 0o7777
        if mode & 0o022 != 0 {
            let who = mode & 0o002 != 0 ? "others" : "its group"
            return "the \(what) is writable by \(who) (mode \(String(mode, radix: 8))); chmod go-w it"
        }
        return nil
    }

    static func parent(of path: String) -> String {
        let path = trimmed(path)
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    /// `path` without trailing slashes ("/" stays).
    static func trimmed(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }
}
