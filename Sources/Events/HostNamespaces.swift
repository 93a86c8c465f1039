// SPDX-License-Identifier: Apache-2.0

/// A kind of namespace, named as under `/proc/PID/ns/`.
package enum NamespaceKind: String, Sendable, Hashable, CaseIterable {
    case uts, ipc, mnt, pid
    case pidForChildren = "pid_for_children"
    case net, cgroup, user

    /// The inode number the kernel gives its initial namespace of this kind, fixed since
    /// Linux 3.8 (`PROC_*_INIT_INO` in include/linux/proc_ns.h); nil for mnt and net, whose
    /// initial namespaces get theirs from the allocator at boot like every other one. (The
    /// initial time namespace's is 0xEFFFFFFA, PROC_TIME_INIT_INO; this build matches no time
    /// namespaces.)
    package var initialInum: UInt32? {
        switch self {
        case .ipc: 0xEFFF_FFFF  // PROC_IPC_INIT_INO
        case .uts: 0xEFFF_FFFE  // PROC_UTS_INIT_INO
        case .user: 0xEFFF_FFFD  // PROC_USER_INIT_INO
        case .pid, .pidForChildren: 0xEFFF_FFFC  // PROC_PID_INIT_INO
        case .cgroup: 0xEFFF_FFFB  // PROC_CGROUP_INIT_INO
        case .mnt, .net: nil
        }
    }
}

extension Namespaces {
    /// The inode number of one kind.
    package subscript(kind: NamespaceKind) -> UInt32 {
        get {
            switch kind {
            case .uts: uts
            case .ipc: ipc
            case .mnt: mnt
            case .pid: pid
            case .pidForChildren: pidForChildren
            case .net: net
            case .cgroup: cgroup
            case .user: user
            }
        }
        set {
            switch kind {
            case .uts: uts = newValue
            case .ipc: ipc = newValue
            case .mnt: mnt = newValue
            case .pid: pid = newValue
            case .pidForChildren: pidForChildren = newValue
            case .net: net = newValue
            case .cgroup: cgroup = newValue
            case .user: user = newValue
            }
        }
    }
}

/// The host's namespaces as far as the agent knows them, each with where it came from, for
/// `host_ns` in matchNamespaces and `is_host` in exported namespaces. A namespace that could not
/// be learnt is unknown, never 0: a policy naming it is refused with ``reason(_:)``.
package struct HostNamespaces: Sendable, Hashable {
    /// Where one host namespace's inode number came from.
    package enum Source: Sendable, Hashable {
        /// Read from this `ns/` link (pid 1's, or the kernel thread kthreadd's).
        case read(path: String)
        /// The kernel's fixed number for its initial namespace of the kind.
        case kernelFixed
        /// Not known; the reason names what could not be read.
        case unknown(reason: String)
    }

    package var sources: [NamespaceKind: Source]
    private var inums: Namespaces

    /// Every kind unknown, for `reason`.
    package init(unknown reason: String) {
        sources = Dictionary(uniqueKeysWithValues: NamespaceKind.allCases.map { ($0, .unknown(reason: reason)) })
        inums = Namespaces()
    }

    /// Every kind known: `namespaces`, read from `path` (tests and fixed environments).
    package init(known namespaces: Namespaces, from path: String = "fixture") {
        sources = Dictionary(uniqueKeysWithValues: NamespaceKind.allCases.map { ($0, .read(path: path)) })
        inums = namespaces
    }

    /// Records one kind.
    package mutating func set(_ kind: NamespaceKind, _ inum: UInt32, from source: Source) {
        inums[kind] = inum
        sources[kind] = source
    }

    /// Marks one kind unknown.
    package mutating func setUnknown(_ kind: NamespaceKind, reason: String) {
        inums[kind] = 0
        sources[kind] = .unknown(reason: reason)
    }

    /// The inode number of the host's namespace of `kind`, nil when unknown.
    package func inum(_ kind: NamespaceKind) -> UInt32? {
        if case .unknown = sources[kind] ?? .unknown(reason: "") { return nil }
        return inums[kind]
    }

    /// Why `kind` is unknown; nil when it is known.
    package func reason(_ kind: NamespaceKind) -> String? {
        if case .unknown(let reason) = sources[kind] { return reason }
        return nil
    }

    /// The known inode numbers, unknown kinds as 0 (which no namespace has), for comparing a
    /// process's namespaces with the host's.
    package var knownOrZero: Namespaces { inums }

    /// One line for the start-up log: each kind with its number and source, e.g.
    /// `pid=4026531836 (kernel's fixed number), mnt unknown (...)`.
    package var summary: String {
        NamespaceKind.allCases.map { kind in
            switch sources[kind] ?? .unknown(reason: "") {
            case .read(let path): "\(kind.rawValue)=\(inums[kind]) (read \(path))"
            case .kernelFixed: "\(kind.rawValue)=\(inums[kind]) (kernel's fixed number)"
            case .unknown(let reason): "\(kind.rawValue) unknown (\(reason))"
            }
        }.joined(separator: ", ")
    }
}
