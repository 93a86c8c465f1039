// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The outcome of `FileRuleSet.decide`.
package struct Decision: Sendable, Hashable, CustomStringConvertible {
    /// The rule that matched; nil when none did (the access is allowed and not reported).
    package var ruleID: UInt32?
    /// Whether to answer `FAN_DENY`: the rule denies and is not in monitor mode.
    package var deny: Bool
    /// The errno the matching deny rule asks for (also in monitor mode, where it is what would
    /// have been returned); 0 when the rule allows or nothing matched.
    package var errno: Int32
    /// The matching rule is in monitor mode (it never denies).
    package var monitor: Bool

    /// Nothing matched: allow, report nothing.
    package static let noMatch = Decision(ruleID: nil, deny: false, errno: 0, monitor: false)

    /// Whether a rule matched (and the access should be reported).
    package var matched: Bool { ruleID != nil }

    package init(ruleID: UInt32?, deny: Bool, errno: Int32, monitor: Bool) {
        self.ruleID = ruleID
        self.deny = deny
        self.errno = errno
        self.monitor = monitor
    }

    package var description: String {
        guard let ruleID else { return "no match" }
        let verdict = deny ? "deny errno \(errno)" : (errno != 0 ? "would deny errno \(errno)" : "allow")
        return "rule \(ruleID): \(verdict)\(monitor ? " (monitor)" : "")"
    }
}

/// An ordered list of file rules, compiled for matching. Pure: `decide` does no I/O and does not
/// allocate; a copy is one reference (the compiled form is shared).
package struct FileRuleSet: Sendable, Equatable {
    /// The rules, in evaluation order.
    package var rules: [FileRule] { compiled.rules }
    /// Whether any rule looks at the requesting binary (when none does, the guard skips the lookup).
    package var needsBinary: Bool { compiled.needsBinary }
    /// Whether any rule matches files by identity (when none does, the guard skips the fstat).
    package var needsIdentity: Bool { compiled.needsIdentity }
    /// The access kinds that some rule covers.
    package var kinds: Set<FileAccessKind> { Set(compiled.rules.map(\.kind)) }

    private let compiled: CompiledRules

    /// An empty set: every access is allowed, nothing is marked.
    package static let empty = FileRuleSet([])

    /// Compiles `rules`; order is kept.
    package init(_ rules: [FileRule]) {
        compiled = CompiledRules(rules)
    }

    package static func == (lhs: FileRuleSet, rhs: FileRuleSet) -> Bool {
        lhs.compiled === rhs.compiled || lhs.rules == rhs.rules
    }

    /// Whether the set has no rule.
    package var isEmpty: Bool { compiled.rules.isEmpty }

    /// The first rule, in order, that matches this access decides; none: `Decision.noMatch`.
    ///
    /// - Parameters:
    ///   - path: the resolved absolute path of the file.
    ///   - pid: the requesting process (thread-group id).
    ///   - binary: the requesting process's binary, nil if unknown (see `BinaryMatch`).
    ///   - kind: open or exec.
    ///   - identity: the file's device and inode, for rules that match by identity (nil: unknown).
    package func decide(
        path: [UInt8], pid: Int32, binary: [UInt8]?, kind: FileAccessKind, identity: FileIdentity? = nil
    ) -> Decision {
        compiled.decide(path: path, pid: pid, binary: binary, kind: kind, identity: identity)
    }

    /// `decide` with strings, for tests and tools.
    package func decide(
        path: String, pid: Int32, binary: String?, kind: FileAccessKind, identity: FileIdentity? = nil
    ) -> Decision {
        decide(path: Array(path.utf8), pid: pid, binary: binary.map { Array($0.utf8) }, kind: kind, identity: identity)
    }
}

// MARK: - Compiled form

/// A byte string hashed in one `combine(bytes:)` (an `[UInt8]` hashes byte by byte).
private struct ByteKey: Hashable, Sendable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// The rules flattened into plain values: every pattern's bytes live in one buffer, every set in
/// one array, so that the matching loop touches no reference counts.
private final class CompiledRules: Sendable {
    /// How a list of patterns is compared.
    enum Mode: UInt8 { case none, exact, prefix, postfix }

    struct Rule {
        var id: UInt32
        var exec: Bool
        var pathMode: Mode
        var pathNegated: Bool
        /// `exact`: index into `sets`; otherwise a range of `patterns`.
        var pathSet: Int
        var pathPatterns: Range<Int>
        var binaryMode: Mode
        var binaryNegated: Bool
        var binarySet: Int
        var binaryPatterns: Range<Int>
        /// -1: no identities; else index into `identitySets` (exact matches only).
        var identitySet: Int
        /// -1: any pid; else index into `pidSets`.
        var pidSet: Int
        var pidNegated: Bool
        var deny: Bool
        var errno: Int32
        var monitor: Bool
    }

    let rules: [FileRule]
    let compiled: [Rule]
    let bytes: [UInt8]
    /// (offset, length) into `bytes`.
    let patterns: [(Int, Int)]
    let sets: [Set<ByteKey>]
    let pidSets: [Set<Int32>]
    let identitySets: [Set<FileIdentity>]
    let needsIdentity: Bool
    /// Pod scope per rule (same index as `compiled`); asked only once everything else matched.
    let scopes: [ProcessScope?]
    let needsBinary: Bool

    init(_ rules: [FileRule]) {
        var bytes: [UInt8] = []
        var patterns: [(Int, Int)] = []
        var sets: [Set<ByteKey>] = []
        var pidSets: [Set<Int32>] = []
        var identitySets: [Set<FileIdentity>] = []

        func list(_ items: [[UInt8]]) -> Range<Int> {
            let start = patterns.count
            for item in items {
                patterns.append((bytes.count, item.count))
                bytes += item
            }
            return start..<patterns.count
        }
        func set(_ items: [[UInt8]]) -> Int {
            sets.append(Set(items.map(ByteKey.init)))
            return sets.count - 1
        }

        var compiled: [Rule] = []
        for r in rules {
            var c = Rule(
                id: r.id, exec: r.kind == .exec, pathMode: .none, pathNegated: false, pathSet: -1,
                pathPatterns: 0..<0, binaryMode: .none, binaryNegated: false, binarySet: -1,
                binaryPatterns: 0..<0, identitySet: -1, pidSet: -1, pidNegated: false, deny: false, errno: 0, monitor: r.monitor)
            switch r.match {
            case .exact(let p), .notExact(let p):
                c.pathMode = .exact
                c.pathSet = set(p)
                if case .exact = r.match, !r.identities.isEmpty {
                    identitySets.append(r.identities)
                    c.identitySet = identitySets.count - 1
                }
            case .prefix(let p), .notPrefix(let p):
                c.pathMode = .prefix
                c.pathPatterns = list(p)
            case .postfix(let p), .notPostfix(let p):
                c.pathMode = .postfix
                c.pathPatterns = list(p)
            }
            switch r.match {
            case .notExact, .notPrefix, .notPostfix: c.pathNegated = true
            case .exact, .prefix, .postfix: break
            }
            switch r.binaries {
            case nil: break
            case .in(let p), .notIn(let p):
                c.binaryMode = .exact
                c.binarySet = set(p)
            case .prefix(let p), .notPrefix(let p):
                c.binaryMode = .prefix
                c.binaryPatterns = list(p)
            }
            switch r.binaries {
            case .notIn, .notPrefix: c.binaryNegated = true
            default: break
            }
            switch r.pids {
            case nil: break
            case .in(let s):
                pidSets.append(s)
                c.pidSet = pidSets.count - 1
            case .notIn(let s):
                pidSets.append(s)
                c.pidSet = pidSets.count - 1
                c.pidNegated = true
            }
            switch r.action {
            case .allow: break
            case .deny(let errno):
                c.deny = true
                c.errno = errno
            }
            compiled.append(c)
        }
        self.rules = rules
        self.compiled = compiled
        self.bytes = bytes
        self.patterns = patterns
        self.sets = sets
        self.pidSets = pidSets
        self.identitySets = identitySets
        self.needsIdentity = !identitySets.isEmpty
        self.scopes = rules.map(\.scope)
        self.needsBinary = rules.contains { $0.binaries != nil }
    }

    func decide(path: [UInt8], pid: Int32, binary: [UInt8]?, kind: FileAccessKind, identity: FileIdentity?) -> Decision {
        let exec = kind == .exec
        // Hashed at most once each, on first use by an exact rule.
        var pathKey: ByteKey?
        var binaryKey: ByteKey?
        return path.withUnsafeBufferPointer { p in
            bytes.withUnsafeBufferPointer { storage in
                patterns.withUnsafeBufferPointer { table in
                    compiled.withUnsafeBufferPointer { rules in
                        for i in 0..<rules.count {
                            let r = rules[i]
                            guard r.exec == exec else { continue }
                            // Path.
                            var hit: Bool
                            if r.pathMode == .exact {
                                if pathKey == nil { pathKey = ByteKey(path) }
                                hit = sets[r.pathSet].contains(pathKey!)
                                // Another name of a protected file: the same device and inode.
                                if !hit, r.identitySet >= 0, let identity {
                                    hit = identitySets[r.identitySet].contains(identity)
                                }
                            } else {
                                hit = Self.any(p, r.pathPatterns, table, storage, suffix: r.pathMode == .postfix)
                            }
                            guard hit != r.pathNegated else { continue }
                            // Pid.
                            if r.pidSet >= 0, pidSets[r.pidSet].contains(pid) == r.pidNegated { continue }
                            // Binary: unknown matches only the negated forms.
                            if r.binaryMode != .none {
                                if let binary {
                                    if r.binaryMode == .exact {
                                        if binaryKey == nil { binaryKey = ByteKey(binary) }
                                        hit = sets[r.binarySet].contains(binaryKey!)
                                    } else {
                                        hit = binary.withUnsafeBufferPointer {
                                            Self.any($0, r.binaryPatterns, table, storage, suffix: false)
                                        }
                                    }
                                } else {
                                    hit = false
                                }
                                guard hit != r.binaryNegated else { continue }
                            }
                            if let scope = scopes[i], !scope.contains(pid) { continue }
                            return Decision(ruleID: r.id, deny: r.deny && !r.monitor, errno: r.errno, monitor: r.monitor)
                        }
                        return .noMatch
                    }
                }
            }
        }
    }

    /// Whether `s` starts (or ends) with one of the patterns in `range`.
    @inline(__always)
    private static func any(
        _ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ table: UnsafeBufferPointer<(Int, Int)>,
        _ storage: UnsafeBufferPointer<UInt8>, suffix: Bool
    ) -> Bool {
        for j in range {
            let (offset, length) = table[j]
            guard length <= s.count else { continue }
            if length == 0 { return true }
            let start = suffix ? s.count - length : 0
            // The last byte first: a cheap reject before the memcmp call.
            if s[start + length - 1] != storage[offset + length - 1] { continue }
            if memcmp(s.baseAddress! + start, storage.baseAddress! + offset, length) == 0 { return true }
        }
        return false
    }
}

/// Byte-string helpers for the planner and the mount table.
enum ByteString {
    static func hasPrefix(_ s: [UInt8], _ prefix: [UInt8]) -> Bool {
        prefix.count <= s.count && s[..<prefix.count].elementsEqual(prefix)
    }

    static func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
