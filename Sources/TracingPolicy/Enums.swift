// SPDX-License-Identifier: Apache-2.0

/// The policy kinds Vigil accepts.
package enum PolicyKind: String, Sendable, Hashable, CaseIterable {
    /// Cluster-wide (or host-wide) policy.
    case tracingPolicy = "TracingPolicy"
    /// A policy that applies only to the pods of one namespace.
    case tracingPolicyNamespaced = "TracingPolicyNamespaced"
}

/// The `apiVersion` values Vigil accepts (same schema).
package enum PolicyAPIVersion {
    /// Tetragon's API group.
    package static let tetragon = "cilium.io/v1alpha1"
    /// Vigil's own API group.
    package static let vigil = "vigil.dev/v1alpha1"
    /// All accepted values.
    package static let all = [tetragon, vigil]
}

/// Argument types (`args[].type`): Tetragon's CRD enum, and `vigil_argv`, Vigil's own (Tetragon
/// refuses it as an unknown type).
package enum ArgType: String, Sendable, Hashable, CaseIterable {
    case auto, int, sint8, int8, uint8, sint16, int16, uint16, uint32, sint32, int32, ulong, uint64
    case sizeT = "size_t"
    case long, sint64, int64
    case charBuf = "char_buf"
    case charIovec = "char_iovec"
    case skb, sock, sockaddr, socket
    case sockaddrUn = "sockaddr_un"
    case string, fd, file, filename, path, nop
    case bpfAttr = "bpf_attr"
    case perfEvent = "perf_event"
    case bpfMap = "bpf_map"
    case userNamespace = "user_namespace"
    case capability, kiocb
    case iovIter = "iov_iter"
    case cred
    case constBuf = "const_buf"
    case loadInfo = "load_info"
    case module, syscall64
    case kernelCapT = "kernel_cap_t"
    case capInheritable = "cap_inheritable"
    case capPermitted = "cap_permitted"
    case capEffective = "cap_effective"
    case linuxBinprm = "linux_binprm"
    case dataLoc = "data_loc"
    case netDevice = "net_device"
    case bpfCmd = "bpf_cmd"
    case dentry
    case bpfProg = "bpf_prog"
    /// Vigil's: the new program's arguments after argv[0], on bprm_check_security (index 1),
    /// matched in the kernel entry by entry (docs/policies.md).
    case vigilArgv = "vigil_argv"
    /// Vigil's: the controlling tty of the process the new program runs in, as a device number
    /// (Falco's `proc.tty`; 0: none), on bprm_check_security.
    case vigilTty = "vigil_tty"
    /// Vigil's: the real, effective and login uid of the process the new program runs in (the
    /// credentials exec gave it), on bprm_check_security.
    case vigilUid = "vigil_uid"
    case vigilEuid = "vigil_euid"
    case vigilAuid = "vigil_auid"
    /// Vigil's: 1 when the new program's file is on overlayfs with an upper-layer copy (a
    /// container's writable layer: created or changed there), 0 otherwise (Falco's
    /// `proc.is_exe_upper_layer`), on bprm_check_security.
    case vigilExeUpperLayer = "vigil_exe_upper_layer"

    /// Vigil's own argument types of bprm_check_security, at index 1 to 4 beside the binary
    /// (index 0): read at sched_process_exec from what exec gave the process (docs/policies.md).
    package var isVigilExecType: Bool {
        switch self {
        case .vigilArgv, .vigilTty, .vigilUid, .vigilEuid, .vigilAuid, .vigilExeUpperLayer: return true
        default: return false
        }
    }

    /// The allowed range of integer filter values, for plain integer types (nil otherwise).
    ///
    /// Signed types also accept the unsigned spelling of the same bits (`0xffffffff`
    /// for an `int`), because masks are commonly written that way.
    package var integerRange: ClosedRange<Int128>? {
        switch self {
        case .int8, .sint8: return -(1 << 7)...((1 << 8) - 1)
        case .uint8: return 0...((1 << 8) - 1)
        case .int16, .sint16: return -(1 << 15)...((1 << 16) - 1)
        case .uint16: return 0...((1 << 16) - 1)
        case .int, .int32, .sint32: return -(1 << 31)...((1 << 32) - 1)
        case .uint32, .vigilTty, .vigilUid, .vigilEuid, .vigilAuid: return 0...((1 << 32) - 1)
        case .vigilExeUpperLayer: return 0...1
        case .int64, .sint64, .long, .sizeT, .syscall64: return -(1 << 63)...((1 << 64) - 1)
        case .uint64, .ulong: return 0...((1 << 64) - 1)
        default: return nil
        }
    }

    /// Plain integer types (values are numbers).
    package var isInteger: Bool { integerRange != nil }

    /// Types whose filter values are strings or paths.
    package var isStringLike: Bool {
        switch self {
        case .string, .charBuf, .charIovec, .dataLoc, .netDevice, .sockaddrUn, .fd, .file, .filename, .path,
             .linuxBinprm, .kiocb, .dentry, .constBuf, .vigilArgv:
            return true
        default:
            return false
        }
    }

    /// Socket-like types that the address/port/protocol operators apply to.
    package var isSocket: Bool {
        switch self {
        case .sock, .skb, .socket, .sockaddr, .sockaddrUn: return true
        default: return false
        }
    }
}

/// `matchArgs`/`matchData`/`matchReturnArgs` operators. Raw values are the CRD spellings.
package enum SelectorOperator: String, Sendable, Hashable, CaseIterable {
    case equal = "Equal"
    case notEqual = "NotEqual"
    case prefix = "Prefix"
    case notPrefix = "NotPrefix"
    case postfix = "Postfix"
    case notPostfix = "NotPostfix"
    case greaterThan = "GreaterThan"
    case lessThan = "LessThan"
    case mask = "Mask"
    case sPort = "SPort"
    case notSPort = "NotSPort"
    case sPortPriv = "SPortPriv"
    case notSPortPriv = "NotSportPriv"
    case dPort = "DPort"
    case notDPort = "NotDPort"
    case dPortPriv = "DPortPriv"
    case notDPortPriv = "NotDPortPriv"
    case sAddr = "SAddr"
    case notSAddr = "NotSAddr"
    case dAddr = "DAddr"
    case notDAddr = "NotDAddr"
    case `protocol` = "Protocol"
    case family = "Family"
    case state = "State"
    case inMap = "InMap"
    case notInMap = "NotInMap"
    case capabilitiesGained = "CapabilitiesGained"
    case inRange = "InRange"
    case notInRange = "NotInRange"
    case subString = "SubString"
    case subStringIgnCase = "SubStringIgnCase"
    case celExpr = "CelExpr"
    case fileType = "FileType"
    case notFileType = "NotFileType"
    /// Vigil's own (Tetragon refuses it as an unknown operator): a connect's destination is an
    /// address a DNS answer to one of the names gave the connecting cgroup, within its TTL.
    case dnsName = "DNSName"
    case notDNSName = "NotDNSName"

    /// Spellings accepted besides the raw values (Tetragon's parser aliases).
    static let aliases: [String: SelectorOperator] = [
        "GT": .greaterThan, "LT": .lessThan, "gt": .greaterThan, "lt": .lessThan,
        "eq": .equal, "neq": .notEqual,
        "prefix": .prefix, "notprefix": .notPrefix, "postfix": .postfix, "notpostfix": .notPostfix,
        "mask": .mask,
        "sport": .sPort, "notsport": .notSPort, "sportpriv": .sPortPriv, "notsportpriv": .notSPortPriv,
        "NotSPortPriv": .notSPortPriv,
        "dport": .dPort, "notdport": .notDPort, "dportpriv": .dPortPriv, "notdportpriv": .notDPortPriv,
        "saddr": .sAddr, "notsaddr": .notSAddr, "daddr": .dAddr, "notdaddr": .notDAddr,
        "protocol": .protocol, "family": .family, "state": .state,
        "capabilitiesgained": .capabilitiesGained,
    ]

    /// Parses a CRD spelling or an alias.
    package static func parse(_ text: String) -> SelectorOperator? {
        SelectorOperator(rawValue: text) ?? aliases[text]
    }

    /// Names offered in suggestions.
    static let suggestionNames = allCases.map(\.rawValue) + ["GT", "LT"]

    /// True for the negated operators (values inside one entry are AND-ed).
    package var isNegated: Bool {
        switch self {
        case .notEqual, .notPrefix, .notPostfix, .notSPort, .notSPortPriv, .notDPort, .notDPortPriv, .notSAddr,
             .notDAddr, .notInMap, .notInRange, .notFileType, .notDNSName:
            return true
        default:
            return false
        }
    }

    /// Port operators taking values (`SPort`, `DPort` and their negations).
    package var isPort: Bool { [.sPort, .notSPort, .dPort, .notDPort].contains(self) }
    /// Privileged-port operators, which take no values.
    package var isPrivilegedPort: Bool { [.sPortPriv, .notSPortPriv, .dPortPriv, .notDPortPriv].contains(self) }
    /// Address operators.
    package var isAddress: Bool { [.sAddr, .notSAddr, .dAddr, .notDAddr].contains(self) }
    /// Operators that only apply to socket-like arguments.
    package var isSocketOperator: Bool { socketArgumentTypes != nil }

    /// The argument types a socket operator accepts (nil for other operators). Tetragon refuses
    /// the destination operators (DAddr, DPort...) on `sockaddr`, its one address; Vigil takes
    /// both spellings there, since the sockaddr of a connect is its destination.
    package var socketArgumentTypes: [ArgType]? {
        if isPort || isPrivilegedPort || isAddress {
            return [.sock, .skb, .socket, .sockaddr]
        }
        switch self {
        case .protocol: return [.sock, .skb, .socket]
        case .family: return [.sock, .socket, .sockaddr, .sockaddrUn]
        case .state: return [.sock, .socket]
        // The destination of a connect: the one address a sockaddr carries.
        case .dnsName, .notDNSName: return [.sockaddr]
        default: return nil
        }
    }
    /// String operators (prefix/postfix/substring).
    package var isStringOperator: Bool {
        [.prefix, .notPrefix, .postfix, .notPostfix, .subString, .subStringIgnCase].contains(self)
    }
    /// Numeric-only operators.
    package var isNumericOperator: Bool {
        [.greaterThan, .lessThan, .mask, .inRange, .notInRange].contains(self)
    }
}

/// Action names (`matchActions[].action`), case-insensitive in policies.
package enum ActionType: String, Sendable, Hashable, CaseIterable {
    case post = "Post"
    case sigkill = "Sigkill"
    case override = "Override"
    case getUrl = "GetUrl"
    case dnsLookup = "DnsLookup"
    case noPost = "NoPost"
    case signal = "Signal"
    case trackSock = "TrackSock"
    case untrackSock = "UntrackSock"
    case notifyEnforcer = "NotifyEnforcer"
    case cleanupEnforcerNotification = "CleanupEnforcerNotification"
    case set = "Set"

    /// Tetragon's kernel action id.
    package var kernelID: UInt32 {
        switch self {
        case .post: return 0
        case .sigkill: return 2
        case .override: return 4
        case .getUrl: return 6
        case .dnsLookup: return 7
        case .noPost: return 8
        case .signal: return 9
        case .trackSock: return 10
        case .untrackSock: return 11
        case .notifyEnforcer: return 12
        case .cleanupEnforcerNotification: return 13
        case .set: return 14
        }
    }

    /// Actions that change what the process does (skipped in monitor mode).
    package var isEnforcement: Bool {
        [.sigkill, .signal, .override, .notifyEnforcer, .set].contains(self)
    }

    /// Parses a name, ignoring case.
    package static func parse(_ text: String) -> ActionType? {
        allCases.first { $0.rawValue.lowercased() == text.lowercased() }
    }

    /// Actions Tetragon removed (still in its enum, refused by its parser).
    static let removed = ["FollowFD", "UnfollowFD", "CopyFD"]
}

/// `In` / `NotIn`, used by matchPIDs, matchNamespaces, matchNamespaceChanges and
/// the capability selectors.
package enum SetOperator: String, Sendable, Hashable, CaseIterable {
    case `in` = "In"
    case notIn = "NotIn"
}

/// matchBinaries / matchParentBinaries operators.
package enum BinaryOperator: String, Sendable, Hashable, CaseIterable {
    case `in` = "In"
    case notIn = "NotIn"
    case prefix = "Prefix"
    case notPrefix = "NotPrefix"
    case postfix = "Postfix"
    case notPostfix = "NotPostfix"

    /// Parses a CRD spelling or a lower-case alias (`prefix`, `notpostfix`, ...).
    package static func parse(_ text: String) -> BinaryOperator? {
        if let op = BinaryOperator(rawValue: text) { return op }
        switch text {
        case "prefix": return .prefix
        case "notprefix": return .notPrefix
        case "postfix": return .postfix
        case "notpostfix": return .notPostfix
        default: return nil
        }
    }
}

/// Linux namespace kinds for matchNamespaces / matchNamespaceChanges (case-insensitive).
package enum NamespaceType: String, Sendable, Hashable, CaseIterable {
    case uts = "Uts"
    case ipc = "Ipc"
    case mnt = "Mnt"
    case pid = "Pid"
    case pidForChildren = "PidForChildren"
    case net = "Net"
    case time = "Time"
    case timeForChildren = "TimeForChildren"
    case cgroup = "Cgroup"
    case user = "User"

    /// Tetragon's kernel id for the namespace kind.
    package var kernelID: UInt32 {
        UInt32(NamespaceType.allCases.firstIndex(of: self)!)
    }

    /// Parses a name, ignoring case.
    package static func parse(_ text: String) -> NamespaceType? {
        allCases.first { $0.rawValue.lowercased() == text.lowercased() }
    }
}

/// Which capability set a capability selector looks at (case-insensitive).
package enum CapabilitySetType: String, Sendable, Hashable, CaseIterable {
    case effective = "Effective"
    case inheritable = "Inheritable"
    case permitted = "Permitted"

    /// Parses a name, ignoring case.
    package static func parse(_ text: String) -> CapabilitySetType? {
        allCases.first { $0.rawValue.lowercased() == text.lowercased() }
    }
}

/// A Linux capability (`CAP_SYS_ADMIN` = 21, ...).
package struct LinuxCapability: Sendable, Hashable, CustomStringConvertible {
    /// The name, e.g. `CAP_SYS_ADMIN`.
    package var name: String
    /// The capability number.
    package var number: Int

    /// Creates a capability.
    package init(name: String, number: Int) {
        self.name = name
        self.number = number
    }

    /// `CAP_...`
    package var description: String { name }

    /// All capabilities Linux defines, by number.
    package static let all: [LinuxCapability] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ].enumerated().map { LinuxCapability(name: $0.element, number: $0.offset) }

    /// Looks a capability up by name, ignoring case (Tetragon upper-cases names).
    package static func named(_ name: String) -> LinuxCapability? {
        let upper = name.uppercased()
        return all.first { $0.name == upper }
    }
}

/// `rateLimitScope` of a Post action.
package enum RateLimitScope: String, Sendable, Hashable, CaseIterable {
    case thread, process, global

    /// Parses a name, ignoring case.
    package static func parse(_ text: String) -> RateLimitScope? {
        RateLimitScope(rawValue: text.lowercased())
    }
}

/// `lists[].type`.
package enum ListType: String, Sendable, Hashable, CaseIterable {
    /// Syscall names (`sys_dup`, `i386/sys_dup`).
    case syscalls
    /// All syscalls of the running kernel (no values).
    case generatedSyscalls = "generated_syscalls"
    /// Kernel functions matching `pattern` in `available_filter_functions` (no values).
    case generatedFtrace = "generated_ftrace"
}

/// Label selector requirement operators.
package enum LabelSelectorOperator: String, Sendable, Hashable, CaseIterable {
    case `in` = "In"
    case notIn = "NotIn"
    case exists = "Exists"
    case doesNotExist = "DoesNotExist"
}

/// The `policy-mode` option.
package enum PolicyMode: String, Sendable, Hashable, CaseIterable {
    /// Enforcement actions run.
    case enforce
    /// Enforcement actions are skipped and only counted.
    case monitor
}

/// The `override-method` option.
package enum OverrideMethod: String, Sendable, Hashable, CaseIterable {
    case overrideReturn = "override-return"
    case fmodRet = "fmod-ret"
}

/// Vigil's `vigil-file-identity` option: what an `Equal` path of a file rule (lsmhooks
/// `file_open` / `bprm_check_security` with `Override`) protects.
package enum FileIdentityMode: String, Sendable, Hashable, CaseIterable {
    /// The name (Tetragon's semantics): another name of the same file is another path.
    case path
    /// The name, and the file it names when the policy is loaded (device and inode): hard links,
    /// bind mounts and renames of that file are the same file.
    case inode
}

/// Vigil's `vigil-while-agent-down` option and the agent's `--while-agent-down`: with
/// `--keep-sensors-on-exit`, what a policy's enforcement does where it cannot stay exact while no
/// agent runs (docs/hardening.md).
package enum AgentDownMode: String, Sendable, Hashable, CaseIterable {
    /// Today's behaviour, said at load: pods started meanwhile are outside a pod-scoped policy,
    /// and hooks that stop with the agent deny and kill nothing.
    case failOpen = "fail-open"
    /// A pod-scoped policy covers every cgroup the agent has not classified (made after its last
    /// scan), and a policy whose enforcement would stop with the agent is refused at load.
    case failClosed = "fail-closed"
}

/// `data[].source`.
package enum DataSource: String, Sendable, Hashable, CaseIterable {
    case currentTask = "current_task"
    case ptRegs = "pt_regs"
}
