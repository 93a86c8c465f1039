// SPDX-License-Identifier: Apache-2.0
import CFanotify

/// The fanotify marks a rule set needs, computed without I/O so that it can be tested and logged
/// (`description`) before anything is marked.
///
/// - `.exact` paths become inode marks on the file (`FAN_MARK_ADD`, mask `FAN_OPEN_PERM` or
///   `FAN_OPEN_EXEC_PERM`). An inode mark follows the inode: a file replaced by a rename (how
///   `passwd` rewrites `/etc/shadow`) is no longer marked until the next `apply`;
///   `Options.exactParentDirectoryMarks` also marks the parent directory, which covers that case
///   and files created later. A file missing at `apply` time is covered by its parent directory.
/// - `.prefix`es become a directory mark with `FAN_EVENT_ON_CHILD` on the directory (a prefix
///   ending in `/`) or on the parent of the last component (`/etc/pass` -> `/etc`), which covers
///   its children one level down, PLUS, because a prefix covers the whole subtree, a filesystem
///   mark (`FAN_MARK_FILESYSTEM`) on the filesystem holding that directory (and, when the guard
///   resolves the plan, on every filesystem mounted below it).
///
///   Cost of a filesystem mark: every open (or exec, for exec rules) of any file on that
///   filesystem, by any process, becomes a permission event that waits for the agent to read
///   it, resolve the path, decide and answer, and only the in-agent prefix check narrows it to
///   the subtree. `FileGuardKernelTests.filesystemMarkCost` measures it (a few microseconds per
///   open on this machine: see the test's output). Marking `/usr/` for exec rules is cheap;
///   marking `/` or `/home/` for open rules puts the agent on the path of every open on the node.
///   `Options.subtreeFilesystemMarks = false` keeps only the directory mark (one level).
/// - `.postfix` and every negated form cannot be marked (they name no file or directory); they
///   are listed in `unmarked` and still decide events that other rules' marks bring in.
package struct MarkPlan: Sendable, Equatable, CustomStringConvertible {
    /// Planning choices.
    package struct Options: Sendable, Hashable {
        /// Add a filesystem mark for every prefix so that it covers its whole subtree (default).
        /// Without it a prefix covers its directory's children, one level.
        package var subtreeFilesystemMarks: Bool
        /// Also mark the parent directory of every exact path, so that a file replaced by rename
        /// or created later is covered (costs a permission event per open in that directory).
        package var exactParentDirectoryMarks: Bool

        package init(subtreeFilesystemMarks: Bool = true, exactParentDirectoryMarks: Bool = false) {
            self.subtreeFilesystemMarks = subtreeFilesystemMarks
            self.exactParentDirectoryMarks = exactParentDirectoryMarks
        }
    }

    /// What a mark is placed on.
    package enum Target: Sendable, Hashable, CustomStringConvertible {
        /// An inode mark on one file.
        case file([UInt8])
        /// An inode mark on a directory with `FAN_EVENT_ON_CHILD`: opens of its direct children.
        case directory([UInt8])
        /// A `FAN_MARK_FILESYSTEM` mark on the filesystem holding this path.
        case filesystem(containing: [UInt8])

        /// The path given to `fanotify_mark`.
        package var path: [UInt8] {
            switch self {
            case .file(let p), .directory(let p), .filesystem(let p): p
            }
        }

        package var description: String {
            switch self {
            case .file(let p): "file \(ByteString.string(p))"
            case .directory(let p): "directory \(ByteString.string(p))"
            case .filesystem(let p): "filesystem holding \(ByteString.string(p))"
            }
        }
    }

    /// One mark: where, for which events, and the rules that need it.
    package struct Mark: Sendable, Hashable, CustomStringConvertible {
        package var target: Target
        /// Open and/or exec.
        package var events: Set<FileAccessKind>
        /// The rules that asked for it, in rule order.
        package var ruleIDs: [UInt32]

        /// `fanotify_mark` flags besides `FAN_MARK_ADD`/`FAN_MARK_REMOVE`.
        package var flags: UInt32 {
            switch target {
            case .file: UInt32(FAN_MARK_INODE)
            case .directory: UInt32(FAN_MARK_INODE | FAN_MARK_ONLYDIR)
            case .filesystem: UInt32(FAN_MARK_FILESYSTEM)
            }
        }

        /// The event mask.
        package var mask: UInt64 {
            var m = MarkPlan.mask(for: events)
            if case .directory = target { m |= UInt64(FAN_EVENT_ON_CHILD) }
            return m
        }

        package var description: String {
            let ev = [FileAccessKind.open, .exec].filter(events.contains).map(\.description).joined(separator: "+")
            var s = "\(target): \(ev) (mask 0x\(String(mask, radix: 16)))"
            s += ", rule\(ruleIDs.count == 1 ? "" : "s") \(ruleIDs.map(String.init).joined(separator: ","))"
            if case .filesystem = target {
                s += "; every \(ev) on that filesystem is a permission round trip, filtered by prefix in the agent"
            }
            return s
        }
    }

    /// A rule (or one of its patterns) that no mark covers.
    package struct Unmarked: Sendable, Hashable, CustomStringConvertible {
        package var ruleID: UInt32
        package var pattern: String
        package var reason: String

        package var description: String { "rule \(ruleID) \(pattern): \(reason)" }
    }

    /// The marks, in the order of the rules that first asked for them; a target appears once.
    package private(set) var marks: [Mark]
    /// What cannot be marked, with the reason.
    package private(set) var unmarked: [Unmarked]

    /// The plan for `rules`.
    package init(rules: FileRuleSet, options: Options = Options()) {
        var marks: [Mark] = []
        var index: [Target: Int] = [:]
        var unmarked: [Unmarked] = []

        func add(_ target: Target, _ kind: FileAccessKind, _ id: UInt32) {
            if let i = index[target] {
                marks[i].events.insert(kind)
                if !marks[i].ruleIDs.contains(id) { marks[i].ruleIDs.append(id) }
            } else {
                index[target] = marks.count
                marks.append(Mark(target: target, events: [kind], ruleIDs: [id]))
            }
        }
        func skip(_ rule: FileRule, _ pattern: String, _ reason: String) {
            unmarked.append(Unmarked(ruleID: rule.id, pattern: pattern, reason: reason))
        }

        for rule in rules.rules {
            switch rule.match {
            case .exact(let paths):
                for path in paths {
                    let shown = "exact \(ByteString.string(path))"
                    if let problem = MarkPlan.pathProblem(path) {
                        skip(rule, shown, problem)
                    } else if path.last == UInt8(ascii: "/") {
                        skip(rule, shown, "an exact path ending in '/' never equals the path of an opened file")
                    } else {
                        add(.file(path), rule.kind, rule.id)
                        if options.exactParentDirectoryMarks {
                            add(.directory(MarkPlan.parent(of: path)), rule.kind, rule.id)
                        }
                    }
                }
            case .prefix(let prefixes):
                for prefix in prefixes {
                    let shown = "prefix \(ByteString.string(prefix))"
                    if let problem = MarkPlan.pathProblem(prefix) {
                        skip(rule, shown, problem)
                        continue
                    }
                    let dir = prefix.last == UInt8(ascii: "/")
                        ? MarkPlan.trimmingSlash(prefix) : MarkPlan.parent(of: prefix)
                    add(.directory(dir), rule.kind, rule.id)
                    if options.subtreeFilesystemMarks {
                        add(.filesystem(containing: dir), rule.kind, rule.id)
                    } else {
                        skip(rule, shown, "subtree filesystem marks are off: only direct children of \(ByteString.string(dir)) are covered")
                    }
                }
            case .postfix(let s):
                skip(rule, "postfix \(s.map(ByteString.string))",
                     "a postfix names no file or directory to mark; decided only on events that other rules' marks bring in")
            case .notExact(let s):
                skip(rule, "notExact \(s.map(ByteString.string))", MarkPlan.negatedReason)
            case .notPrefix(let s):
                skip(rule, "notPrefix \(s.map(ByteString.string))", MarkPlan.negatedReason)
            case .notPostfix(let s):
                skip(rule, "notPostfix \(s.map(ByteString.string))", MarkPlan.negatedReason)
            }
        }
        self.marks = marks
        self.unmarked = unmarked
    }

    /// The number of filesystem marks (the expensive kind).
    package var filesystemMarkCount: Int {
        marks.count(where: { if case .filesystem = $0.target { true } else { false } })
    }

    /// A multi-line summary for the agent's log.
    package var description: String {
        var lines = ["fanotify mark plan: \(marks.count) mark\(marks.count == 1 ? "" : "s") (\(filesystemMarkCount) filesystem), \(unmarked.count) pattern\(unmarked.count == 1 ? "" : "s") unmarked"]
        lines += marks.map { "  mark \($0)" }
        lines += unmarked.map { "  unmarked \($0)" }
        return lines.joined(separator: "\n")
    }

    /// The permission-event mask for a set of access kinds.
    package static func mask(for events: Set<FileAccessKind>) -> UInt64 {
        var m: UInt64 = 0
        if events.contains(.open) { m |= UInt64(FAN_OPEN_PERM) }
        if events.contains(.exec) { m |= UInt64(FAN_OPEN_EXEC_PERM) }
        return m
    }

    static let negatedReason =
        "a negated match covers every other path, which no mark can select; decided only on events that other rules' marks bring in"

    /// Why a path cannot be marked or matched as written, or nil.
    static func pathProblem(_ path: [UInt8]) -> String? {
        guard path.first == UInt8(ascii: "/") else {
            return "not an absolute path"
        }
        let s = ByteString.string(path)
        if s.contains("//") || s.contains("/./") || s.contains("/../") || s.hasSuffix("/.") || s.hasSuffix("/..") {
            return "not canonical ('//', '.' or '..'): the kernel reports resolved paths, so it would never match"
        }
        return nil
    }

    /// `/a/b/` -> `/a/b`; `/` stays.
    static func trimmingSlash(_ path: [UInt8]) -> [UInt8] {
        var p = path
        while p.count > 1, p.last == UInt8(ascii: "/") { p.removeLast() }
        return p
    }

    /// `/a/b` -> `/a`; `/a` -> `/`.
    static func parent(of path: [UInt8]) -> [UInt8] {
        let p = trimmingSlash(path)
        guard let slash = p.lastIndex(of: UInt8(ascii: "/")), slash > 0 else { return [UInt8(ascii: "/")] }
        return Array(p[..<slash])
    }
}
