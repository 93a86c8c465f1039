// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
// `struct stat` reaches this module through CFanotify's header, and Swift 6 wants the module
// that declares a member imported where the member is used.
import CFanotify

/// What a process asks for: opening a file, or opening it to execute it (`execve`).
///
/// The kernel reports an exec as an exec event (`FAN_OPEN_EXEC_PERM`) followed by an open event
/// (`FAN_OPEN_PERM`) for the same file, so an `.open` rule that denies a binary also stops it
/// from being executed when the open marks are in place; an `.exec` rule leaves plain reads alone.
package enum FileAccessKind: Sendable, Hashable, CustomStringConvertible {
    case open
    case exec

    package var description: String {
        switch self {
        case .open: "open"
        case .exec: "exec"
        }
    }
}

/// Which paths a rule covers. Paths are the kernel's resolved absolute paths (what
/// `readlink("/proc/self/fd/N")` shows the agent), compared byte for byte.
///
/// Only the positive `.exact` and `.prefix` forms can be turned into fanotify marks (see
/// `MarkPlan`); the others are decided on events that other rules' marks bring in, and the plan
/// lists them as unmarked.
package enum PathMatch: Sendable, Hashable {
    /// The path equals one of these.
    case exact([[UInt8]])
    /// The path starts with one of these (string semantics: `/etc` also matches `/etcd/x`;
    /// end a directory with `/` to cover exactly its subtree).
    case prefix([[UInt8]])
    /// The path ends with one of these.
    case postfix([[UInt8]])
    /// The path equals none of these.
    case notExact([[UInt8]])
    /// The path starts with none of these.
    case notPrefix([[UInt8]])
    /// The path ends with none of these.
    case notPostfix([[UInt8]])

    /// `.exact` from strings.
    package static func exact(_ paths: [String]) -> PathMatch { .exact(paths.map { Array($0.utf8) }) }
    /// `.prefix` from strings.
    package static func prefix(_ prefixes: [String]) -> PathMatch { .prefix(prefixes.map { Array($0.utf8) }) }
    /// `.postfix` from strings.
    package static func postfix(_ suffixes: [String]) -> PathMatch { .postfix(suffixes.map { Array($0.utf8) }) }
    /// `.notExact` from strings.
    package static func notExact(_ paths: [String]) -> PathMatch { .notExact(paths.map { Array($0.utf8) }) }
    /// `.notPrefix` from strings.
    package static func notPrefix(_ prefixes: [String]) -> PathMatch { .notPrefix(prefixes.map { Array($0.utf8) }) }
    /// `.notPostfix` from strings.
    package static func notPostfix(_ suffixes: [String]) -> PathMatch { .notPostfix(suffixes.map { Array($0.utf8) }) }
}

/// Which requesting processes a rule covers, by the absolute path of their binary (the process
/// cache's `binary`, or `/proc/PID/exe`). For an exec event this is the binary that calls
/// `execve`, not the one being executed.
///
/// When the binary is unknown, `.in` and `.prefix` do not match and `.notIn` and `.notPrefix`
/// do: an "everyone but these binaries" deny rule keeps denying a process it cannot identify.
package enum BinaryMatch: Sendable, Hashable {
    /// The binary is one of these.
    case `in`([[UInt8]])
    /// The binary is none of these.
    case notIn([[UInt8]])
    /// The binary starts with one of these.
    case prefix([[UInt8]])
    /// The binary starts with none of these.
    case notPrefix([[UInt8]])

    /// `.in` from strings.
    package static func `in`(_ paths: [String]) -> BinaryMatch { .in(paths.map { Array($0.utf8) }) }
    /// `.notIn` from strings.
    package static func notIn(_ paths: [String]) -> BinaryMatch { .notIn(paths.map { Array($0.utf8) }) }
    /// `.prefix` from strings.
    package static func prefix(_ prefixes: [String]) -> BinaryMatch { .prefix(prefixes.map { Array($0.utf8) }) }
    /// `.notPrefix` from strings.
    package static func notPrefix(_ prefixes: [String]) -> BinaryMatch { .notPrefix(prefixes.map { Array($0.utf8) }) }
}

/// Which requesting processes a rule covers, by thread-group id (the `pid` of the event).
package enum PidMatch: Sendable, Hashable {
    /// The pid is one of these.
    case `in`(Set<Int32>)
    /// The pid is none of these.
    case notIn(Set<Int32>)
}

/// Which requesting processes a rule covers beyond pids and binaries: a policy's pod scope,
/// answered by the agent (pid -> cgroup -> in the policy's set). Compared by `id` only.
package struct ProcessScope: Sendable, Hashable {
    /// Identifies the scope (the agent uses the policy id).
    package var id: UInt32
    /// Whether the process `pid` is in scope. Called on the fanotify reader thread for rules
    /// that matched on everything else, while the process waits: it must be quick.
    package var contains: @Sendable (Int32) -> Bool

    package init(id: UInt32, contains: @escaping @Sendable (Int32) -> Bool) {
        self.id = id
        self.contains = contains
    }

    package static func == (lhs: ProcessScope, rhs: ProcessScope) -> Bool { lhs.id == rhs.id }
    package func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// What a matching rule does.
package enum FileAction: Sendable, Hashable {
    /// Fail the open or exec. fanotify content groups can only answer `EPERM`; `errno` is what the
    /// rule asks for and is used only by a guard started with `customErrno` on a kernel that
    /// allows it (see `FanotifyGuard.Options`).
    case deny(errno: Int32 = EPERM)
    /// Let it through, and report it (observe only).
    case allow
}

/// One file rule. Rules are evaluated in order; the first one that matches decides.
/// A file as the kernel knows it, whatever its names: device and inode.
package struct FileIdentity: Sendable, Hashable {
    package var device: UInt64
    package var inode: UInt64

    package init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// The file `st` describes (from stat(2) or fstat(2)).
    package init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}

package struct FileRule: Sendable, Hashable {
    /// Opaque, copied into every `Decision` and `FileDecisionEvent` it produces (the agent maps it
    /// back to its policy).
    package var id: UInt32
    /// Open or exec.
    package var kind: FileAccessKind
    /// The paths covered.
    package var match: PathMatch
    /// The requesting binaries covered; nil for every binary.
    package var binaries: BinaryMatch?
    /// The requesting pids covered; nil for every pid.
    package var pids: PidMatch?
    /// The processes covered by pod scope; nil for every process.
    package var scope: ProcessScope?
    /// What a match does.
    package var action: FileAction
    /// Monitor mode: report what the rule would do, never deny.
    package var monitor: Bool
    /// With an `exact` match: files that match under any name (hard links, bind mounts, renames),
    /// by device and inode. Empty: the path alone decides.
    package var identities: Set<FileIdentity> = []

    /// A rule; `action` defaults to deny with `EPERM`.
    package init(
        id: UInt32, kind: FileAccessKind, match: PathMatch, binaries: BinaryMatch? = nil,
        pids: PidMatch? = nil, scope: ProcessScope? = nil, action: FileAction = .deny(), monitor: Bool = false
    ) {
        self.scope = scope
        self.id = id
        self.kind = kind
        self.match = match
        self.binaries = binaries
        self.pids = pids
        self.action = action
        self.monitor = monitor
    }
}
