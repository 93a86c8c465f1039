// SPDX-License-Identifier: Apache-2.0

/// One access that a rule matched, as the guard answered it. Accesses that no rule matches are
/// allowed and only counted.
package struct FileDecisionEvent: Sendable, Hashable, CustomStringConvertible {
    /// The matching rule's `FileRule.id`.
    package var ruleID: UInt32
    /// The requesting process (thread-group id).
    package var pid: Int32
    /// The file's resolved absolute path, as the agent sees it (`/proc/self/fd/N`); a deleted file
    /// ends in " (deleted)".
    package var path: [UInt8]
    /// The requesting process's binary (the `binaryOf` closure, else `/proc/PID/exe`), nil if
    /// unknown.
    package var binary: [UInt8]?
    /// Open or exec.
    package var kind: FileAccessKind
    /// Whether the open or exec was failed.
    package var denied: Bool
    /// The rule is in monitor mode (it denied nothing; `ruleErrno` is what it would have returned).
    package var monitor: Bool
    /// The errno the process got: 0 when allowed; `EPERM` when denied, which is all a fanotify
    /// content group can return (a guard with `Options.customErrno` on Linux 6.14+ returns the
    /// rule's errno when it is one the kernel accepts: EPERM, EIO, EBUSY, ETXTBSY, EAGAIN,
    /// ENOSPC, EDQUOT).
    package var errno: Int32
    /// The errno the rule asked for (0 for an allow rule).
    package var ruleErrno: Int32
    /// When the guard answered, CLOCK_MONOTONIC nanoseconds.
    package var monotonicNanos: UInt64
    /// A deny rule matched but the process was outside the enforcement fence
    /// (`--enforcement-cgroup`): allowed, reported as an action not taken.
    package var fenced: Bool

    package init(
        ruleID: UInt32, pid: Int32, path: [UInt8], binary: [UInt8]?, kind: FileAccessKind,
        denied: Bool, monitor: Bool, errno: Int32, ruleErrno: Int32, monotonicNanos: UInt64, fenced: Bool = false
    ) {
        self.fenced = fenced
        self.ruleID = ruleID
        self.pid = pid
        self.path = path
        self.binary = binary
        self.kind = kind
        self.denied = denied
        self.monitor = monitor
        self.errno = errno
        self.ruleErrno = ruleErrno
        self.monotonicNanos = monotonicNanos
    }

    /// `path` as a string (invalid UTF-8 repaired).
    package var pathString: String { ByteString.string(path) }

    /// `binary` as a string.
    package var binaryString: String? { binary.map(ByteString.string) }

    package var description: String {
        let verdict =
            denied
            ? "denied errno \(errno)"
            : monitor && ruleErrno != 0
                ? "allowed (monitor, would deny errno \(ruleErrno))"
                : fenced ? "allowed (outside the enforcement fence, would deny errno \(ruleErrno))" : "allowed"
        return "rule \(ruleID) \(kind) \(pathString) pid \(pid) binary \(binaryString ?? "?"): \(verdict)"
    }
}
