// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// What matchReturnArgs of a hook's selectors can filter on.
enum HookReturnValue {
    /// The selectors run where the hook has the return value (a syscall's exit, fexit), as
    /// `returnArg` declares it.
    case integer(CompiledArg)
    /// Why this hook's selectors cannot see a return value.
    case unavailable(String)

    static let needsReturn = HookReturnValue.unavailable(
        "the hook runs before the call returns; matchReturnArgs needs `return: true` with an integer returnArg")
}

extension Context {
    /// One selector -> `struct vigil_selector`, allocating the sets it needs.
    mutating func compileSelector(
        _ selector: Selector, args: [CompiledArg], slotFor: (UInt32) -> Int?, spec: PolicySpec, allowOverride: Bool,
        returnValue: HookReturnValue = .needsReturn
    ) -> vigil_selector {
        var out = vigil_selector()
        refuseUnsupported(selector)

        // matchArgs
        out.nargs = UInt8(min(selector.matchArgs.count, Int(VIGIL_MATCH_ARGS)))
        for (j, match) in selector.matchArgs.prefix(Int(VIGIL_MATCH_ARGS)).enumerated() {
            if let filter = compileArgFilter(match, args: args, slotFor: slotFor, spec: spec) {
                CTuple.set(&out.args, j, filter)
            }
        }

        // matchReturnArgs: filters on the return value, in the same slots as matchArgs (all of
        // a selector's entries must hold), marked by the result slot.
        if !selector.matchReturnArgs.isEmpty {
            switch returnValue {
            case .unavailable(let reason):
                fail(selector, "matchReturnArgs: \(reason)", at: "matchReturnArgs")
            case .integer(let result):
                let first = Int(out.nargs)
                if first + selector.matchReturnArgs.count > Int(VIGIL_MATCH_ARGS) {
                    fail(selector, "at most \(VIGIL_MATCH_ARGS) matchArgs and matchReturnArgs entries together per selector", at: "matchReturnArgs")
                } else {
                    for (k, match) in selector.matchReturnArgs.enumerated() {
                        var f = vigil_arg_filter()
                        f.arg = UInt8(VIGIL_ARG_SLOT_RESULT)
                        compileIntegerFilter(match, argType: result.declaredType, kind: result.kind, into: &f, spec: spec)
                        CTuple.set(&out.args, first + k, f)
                    }
                    out.nargs = UInt8(first + selector.matchReturnArgs.count)
                }
            }
        }

        // matchPIDs: one entry per selector in the kernel's layout. Entries are AND-ed, so NotIn
        // entries with the same flags are exactly one NotIn of all their pids.
        var matchPIDs = selector.matchPIDs
        if var merged = matchPIDs.first, matchPIDs.count > 1,
            matchPIDs.allSatisfy({
                $0.operator == .notIn && $0.followForks == merged.followForks && $0.isNamespacePID == merged.isNamespacePID
            })
        {
            merged.values = []
            for pid in matchPIDs.flatMap(\.values) where !merged.values.contains(pid) { merged.values.append(pid) }
            matchPIDs = [merged]
        }
        if matchPIDs.count > 1 {
            fail(selector, "one matchPIDs entry per selector is supported (\(matchPIDs.count) given); put the pids in one entry", at: "matchPIDs")
        }
        if let pids = matchPIDs.first {
            out.pid.op = UInt8((pids.operator == .in ? VIGIL_OP_IN : VIGIL_OP_NOT_IN).rawValue)
            out.pid.nvalues = UInt8(min(pids.values.count, Int(VIGIL_MATCH_VALUES)))
            out.pid.follow_forks = pids.followForks ? 1 : 0
            out.pid.ns_pid = pids.isNamespacePID ? 1 : 0
            if pids.values.count > Int(VIGIL_MATCH_VALUES) {
                fail(pids, "at most \(VIGIL_MATCH_VALUES) pids per matchPIDs entry", at: "values")
            }
            for (i, pid) in pids.values.prefix(Int(VIGIL_MATCH_VALUES)).enumerated() { CTuple.set(&out.pid.values, i, pid) }
        }

        // matchNamespaces
        out.nns = UInt8(min(selector.matchNamespaces.count, Int(VIGIL_MATCH_NS)))
        for (j, ns) in selector.matchNamespaces.prefix(Int(VIGIL_MATCH_NS)).enumerated() {
            if let filter = compileNamespaceFilter(ns) { CTuple.set(&out.ns, j, filter) }
        }

        // matchBinaries (Tetragon allows one per selector; the parser enforces it)
        if let binaries = selector.matchBinaries.first {
            out.bin = compileBinaryFilter(binaries)
        }
        // matchParentBinaries: the same filter on the parent process's binary (one per selector).
        if let parents = selector.matchParentBinaries.first {
            if parents.followChildren {
                fail(parents, "followChildren belongs on matchBinaries (the process's lineage includes its parent)", at: "followChildren")
            }
            out.parent_bin = compileBinaryFilter(parents)
        }
        // matchCapabilities: the current task's capability set, in the kernel.
        if selector.matchCapabilities.count > 1 {
            fail(selector, "one matchCapabilities entry per selector is supported (\(selector.matchCapabilities.count) given); "
                    + "Tetragon's kernel side reads only the first, so a second would be ignored there", at: "matchCapabilities")
        } else if let caps = selector.matchCapabilities.first, let filter = compileCapabilityFilter(caps) {
            out.caps = filter
        }

        // matchActions
        out.nactions = UInt8(min(selector.matchActions.count, Int(VIGIL_ACTIONS)))
        for (j, action) in selector.matchActions.prefix(Int(VIGIL_ACTIONS)).enumerated() {
            if let compiled = compileAction(action, allowOverride: allowOverride) { CTuple.set(&out.actions, j, compiled) }
        }
        return out
    }

    mutating func refuseUnsupported(_ selector: Selector) {
        let unsupported: [(String, Bool)] = [
            ("matchData", !selector.matchData.isEmpty),
            ("matchNamespaceChanges", !selector.matchNamespaceChanges.isEmpty),
            ("matchCapabilityChanges", !selector.matchCapabilityChanges.isEmpty),
            ("matchWorkloads", !selector.matchWorkloads.isEmpty),
            ("matchReturnActions", !selector.matchReturnActions.isEmpty),
            ("macros", !selector.macros.isEmpty),
        ]
        for (key, present) in unsupported where present {
            fail(selector, "\(key) is not supported by this build; the policy is refused rather than run without it", at: key)
        }
    }

    // MARK: - matchArgs

    mutating func compileArgFilter(
        _ match: ArgSelector, args: [CompiledArg], slotFor: (UInt32) -> Int?, spec: PolicySpec
    ) -> vigil_arg_filter? {
        let slot: Int?
        if let position = match.argPositions.first {
            slot = position < args.count ? position : nil
        } else if let index = match.index {
            slot = slotFor(index)
        } else {
            slot = nil
        }
        guard let slot else {
            if let missing = match.operator.notSupportedYet {
                fail(match, missing, at: "operator")
                return nil
            }
            fail(match, "does not name one of the hook's args (give `index` of a configured arg, or `args: [position]`)", at: match.index != nil ? "index" : nil)
            return nil
        }
        var f = vigil_arg_filter()
        f.arg = UInt8(slot)
        let arg = args[slot]
        if arg.declaredType == .vigilArgv {
            compileArgvFilter(match, into: &f)
            return f
        }
        if let missing = match.operator.notSupportedYet {
            fail(match, missing, at: "operator")
            return nil
        }
        switch arg.kind {
        case .string, .dataLocString, .charBuf:
            compileStringFilter(match, into: &f)
        case .sockaddr:
            compileSockaddrFilter(match, into: &f)
        case .int, .fd, .syscall64:
            compileIntegerFilter(match, argType: arg.declaredType, kind: arg.kind, into: &f, spec: spec)
        case .constBuf, .nop:
            fail(match, "args of kind \(arg.declaredType.rawValue) (\(arg.kind)) cannot be matched", at: "operator")
            return nil
        }
        return f
    }

    mutating func compileStringFilter(_ match: ArgSelector, into f: inout vigil_arg_filter) {
        let op: vigil_op
        let map: PolicyMapID
        switch match.operator {
        case .equal: (op, map) = (VIGIL_OP_EQUAL, .stringEqual)
        case .notEqual: (op, map) = (VIGIL_OP_NOT_EQUAL, .stringEqual)
        case .prefix: (op, map) = (VIGIL_OP_PREFIX, .stringPrefix)
        case .notPrefix: (op, map) = (VIGIL_OP_NOT_PREFIX, .stringPrefix)
        case .postfix: (op, map) = (VIGIL_OP_POSTFIX, .stringPostfix)
        case .notPostfix: (op, map) = (VIGIL_OP_NOT_POSTFIX, .stringPostfix)
        default:
            fail(match, "operator \(match.operator.rawValue) does not apply to string arguments (Equal, NotEqual, Prefix, NotPrefix, Postfix, NotPostfix do)", at: "operator")
            return
        }
        f.op = UInt8(op.rawValue)
        f.set_id = addStringSet(match.values, map: map, node: match)
    }

    /// matchArgs on vigil_argv: any argument after argv[0] matches (bpf/lib/selectors.h,
    /// vg_match_argv). SubString looks every position of the arguments up in the prefix trie, so
    /// its values go there, and values[0] is the longest one's length (the bytes each lookup needs).
    mutating func compileArgvFilter(_ match: ArgSelector, into f: inout vigil_arg_filter) {
        let op: vigil_op
        let map: PolicyMapID
        switch match.operator {
        case .equal: (op, map) = (VIGIL_OP_EQUAL, .stringEqual)
        case .prefix: (op, map) = (VIGIL_OP_PREFIX, .stringPrefix)
        case .postfix: (op, map) = (VIGIL_OP_POSTFIX, .stringPostfix)
        case .subString: (op, map) = (VIGIL_OP_SUBSTRING, .stringPrefix)
        case .notEqual, .notPrefix, .notPostfix:
            fail(
                match, "operator \(match.operator.rawValue) is not offered on vigil_argv: \"no argument\" and \"some "
                    + "argument not\" are both readings of it; match the arguments with Equal, Prefix, Postfix or "
                    + "SubString and leave the others to a later selector", at: "operator")
            return
        case .subStringIgnCase:
            fail(match, "operator SubStringIgnCase is not supported on vigil_argv: list the spellings with SubString", at: "operator")
            return
        default:
            fail(match, "operator \(match.operator.rawValue) does not apply to vigil_argv (Equal, Prefix, Postfix and SubString do)", at: "operator")
            return
        }
        for value in match.values where value.isEmpty {
            fail(match, "an empty value would match every program's arguments", at: "values")
        }
        f.op = UInt8(op.rawValue)
        f.set_id = addStringSet(match.values, map: map, node: match)
        if op == VIGIL_OP_SUBSTRING {
            f.values.0 = UInt64(match.values.map(\.utf8.count).max() ?? 0)
            f.nvalues = 1
        }
    }

    /// A set of strings in one of the string maps; returns its id.
    mutating func addStringSet(_ values: [String], map: PolicyMapID, node: some PolicyNode) -> UInt32 {
        let id = newSet()
        for value in values {
            let bytes = Array(value.utf8)
            guard bytes.count < Int(VIGIL_MATCH_STRING_MAX) else {
                fail(node, "\"\(value.prefix(40))...\" is \(bytes.count) bytes; strings matched in the kernel are at most \(VIGIL_MATCH_STRING_MAX - 1)", at: "values")
                continue
            }
            setEntries.append(MapEntries.string(bytes, set: id, map: map))
        }
        return id
    }

    mutating func compileIntegerFilter(
        _ match: ArgSelector, argType: ArgType, kind: TracepointArgKind, into f: inout vigil_arg_filter, spec: PolicySpec
    ) {
        func integers(_ values: [String]) -> [UInt64] {
            var out: [UInt64] = []
            for value in values {
                if let v = IntegerLiteral.parse(value) { out.append(IntegerLiteral.widened(v, as: kind)) } else {
                    fail(match, "\"\(value)\" is not an integer (decimal, 0x hex or 0 octal)", at: "values")
                }
            }
            return out
        }
        switch match.operator {
        case .equal, .notEqual, .mask:
            let values = integers(match.values)
            guard values.count <= Int(VIGIL_MATCH_VALUES) else {
                fail(match, "at most \(VIGIL_MATCH_VALUES) values per integer matchArgs entry; use InMap for more", at: "values")
                return
            }
            f.op = UInt8((match.operator == .equal ? VIGIL_OP_EQUAL : match.operator == .notEqual ? VIGIL_OP_NOT_EQUAL : VIGIL_OP_MASK).rawValue)
            f.nvalues = UInt8(values.count)
            for (i, v) in values.enumerated() { CTuple.set(&f.values, i, v) }
        case .greaterThan, .lessThan:
            let values = integers(match.values)
            guard values.count == 1 else {
                fail(match, "\(match.operator.rawValue) takes exactly one value", at: "values")
                return
            }
            f.op = UInt8((match.operator == .greaterThan ? VIGIL_OP_GT : VIGIL_OP_LT).rawValue)
            f.nvalues = 1
            CTuple.set(&f.values, 0, values[0])
        case .inMap, .notInMap:
            f.op = UInt8((match.operator == .inMap ? VIGIL_OP_IN_MAP : VIGIL_OP_NOT_IN_MAP).rawValue)
            let id = newSet()
            f.set_id = id
            for value in match.values {
                for v in expandSetValue(value, node: match, spec: spec) {
                    setEntries.append(MapEntries.integer(IntegerLiteral.widened(v, as: kind), set: id))
                }
            }
        default:
            fail(match, "operator \(match.operator.rawValue) does not apply to \(argType == .auto ? "integer" : argType.rawValue) arguments (Equal, NotEqual, Mask, GreaterThan, LessThan, InMap, NotInMap do)", at: "operator")
        }
    }

    /// InMap values: integers, `min:max` ranges, and `list:NAME` syscall lists.
    mutating func expandSetValue(_ value: String, node: ArgSelector, spec: PolicySpec) -> [UInt64] {
        if value.hasPrefix("list:") {
            let name = String(value.dropFirst(5))
            guard let list = spec.lists.first(where: { $0.name == name }) else {
                fail(node, "list \"\(name)\" is not defined in spec.lists", at: "values")
                return []
            }
            let names: [String] = list.type == .generatedSyscalls ? Syscalls.allNames(abi: environment.nativeABI) : list.values
            var numbers: [UInt64] = []
            for name in names {
                guard let (syscall, abi) = Syscalls.parse(name, defaultABI: environment.nativeABI),
                    let number = Syscalls.number(of: syscall, abi: abi)
                else {
                    fail(list, "\"\(name)\" is not a syscall of this architecture", at: "values")
                    continue
                }
                // raw_syscalls ids of 32-bit tasks carry the compat bit (see syscall64).
                numbers.append(UInt64(number) | (abi == environment.nativeABI ? 0 : Syscalls.compat32Bit))
            }
            return numbers
        }
        if let colon = value.firstIndex(of: ":"),
            let low = IntegerLiteral.parse(String(value[..<colon])),
            let high = IntegerLiteral.parse(String(value[value.index(after: colon)...]))
        {
            guard low <= high, high - low < 65536 else {
                fail(node, "range \(value) must be ascending and span fewer than 65536 values", at: "values")
                return []
            }
            return Array(low...high)
        }
        guard let v = IntegerLiteral.parse(value) else {
            fail(node, "\"\(value)\" is not an integer, a min:max range or list:NAME", at: "values")
            return []
        }
        return [v]
    }

    mutating func compileSockaddrFilter(_ match: ArgSelector, into f: inout vigil_arg_filter) {
        switch match.operator {
        case .protocol:
            var values: [UInt64] = []
            for value in match.values {
                if let number = PolicyValues.protocols[value].map(UInt64.init) ?? IntegerLiteral.parse(value) {
                    values.append(number)
                } else {
                    fail(match, "\"\(value)\" is not a protocol (IPPROTO_TCP, IPPROTO_UDP or a number)", at: "values")
                }
            }
            guard values.count <= Int(VIGIL_MATCH_VALUES) else {
                fail(match, "at most \(VIGIL_MATCH_VALUES) protocols per entry", at: "values")
                return
            }
            f.op = UInt8(VIGIL_OP_PROTOCOL.rawValue)
            f.nvalues = UInt8(values.count)
            for (i, v) in values.enumerated() { CTuple.set(&f.values, i, v) }
        case .family:
            var values: [UInt64] = []
            for value in match.values {
                if let family = AddressFamily.number(value) { values.append(family) } else {
                    fail(match, "\"\(value)\" is not an address family (AF_INET, AF_INET6, AF_UNIX or a number)", at: "values")
                }
            }
            guard values.count <= Int(VIGIL_MATCH_VALUES) else {
                fail(match, "at most \(VIGIL_MATCH_VALUES) families per entry", at: "values")
                return
            }
            f.op = UInt8(VIGIL_OP_FAMILY.rawValue)
            f.nvalues = UInt8(values.count)
            for (i, v) in values.enumerated() { CTuple.set(&f.values, i, v) }
        // A sockaddr carries one address and port: Tetragon matches them with SAddr / SPort
        // (the parser refuses DAddr / DPort on sockaddr args); the kernel ops are the same.
        case .sAddr, .notSAddr, .dAddr, .notDAddr:
            let negated = match.operator == .notSAddr || match.operator == .notDAddr
            f.op = UInt8((negated ? VIGIL_OP_NOT_DADDR : VIGIL_OP_DADDR).rawValue)
            let id = newSet()
            f.set_id = id
            for value in match.values {
                guard let cidr = CIDR(value) else {
                    fail(match, "\"\(value)\" is not an IPv4 or IPv6 address or CIDR", at: "values")
                    continue
                }
                setEntries.append(MapEntries.address(cidr, set: id))
            }
        case .sPort, .notSPort, .dPort, .notDPort, .sPortPriv, .notSPortPriv, .dPortPriv, .notDPortPriv:
            var ranges: [UInt64] = []
            // SPortPriv: the privileged ports 0-1023, no values.
            let values = match.operator.isPrivilegedPort ? ["0:1023"] : match.values
            for value in values {
                guard let (low, high) = PortRange.parse(value) else {
                    fail(match, "\"\(value)\" is not a port or a min:max port range", at: "values")
                    continue
                }
                ranges.append(UInt64(low) << 16 | UInt64(high))
            }
            guard ranges.count <= Int(VIGIL_MATCH_VALUES) else {
                fail(match, "at most \(VIGIL_MATCH_VALUES) ports or ranges per entry", at: "values")
                return
            }
            let negated = [.notSPort, .notDPort, .notSPortPriv, .notDPortPriv].contains(match.operator)
            f.op = UInt8((negated ? VIGIL_OP_NOT_DPORT : VIGIL_OP_DPORT).rawValue)
            f.nvalues = UInt8(ranges.count)
            for (i, v) in ranges.enumerated() { CTuple.set(&f.values, i, v) }
        case .dnsName, .notDNSName:
            compileDNSNameFilter(match, into: &f)
        default:
            fail(match, "operator \(match.operator.rawValue) does not apply to sockaddr arguments (Family, SAddr/DAddr, SPort/DPort and their Not and Priv forms, DNSName and NotDNSName do)", at: "operator")
        }
    }

    /// DNSName / NotDNSName (Vigil's FQDN egress, bpf/lib/fqdn.h): the names go to the postfix
    /// trie reversed, an exact name with a NUL for its start and a `*.suffix` pattern as
    /// `.suffix`, so the DNS answer program's one lookup of a reversed question name finds
    /// either; the set id goes to vg_fqdn_sets, the list that program walks. The addresses it
    /// learns are the kernel's; nothing here waits for them.
    mutating func compileDNSNameFilter(_ match: ArgSelector, into f: inout vigil_arg_filter) {
        if let reason = environment.dnsNamesRefusal {
            fail(match, "operator \(match.operator.rawValue) needs \(reason)", at: "operator")
            return
        }
        let id = newSet()
        f.op = UInt8((match.operator == .dnsName ? VIGIL_OP_DNS_NAME : VIGIL_OP_NOT_DNS_NAME).rawValue)
        f.set_id = id
        for value in match.values {
            guard let (name, pattern) = PolicyValues.dnsName(value) else {
                fail(match, PolicyValues.dnsNameProblem(value) ?? "invalid DNS name \"\(value)\"", at: "values")
                continue
            }
            let bytes = pattern ? Array(("." + name).utf8) : [0] + Array(name.utf8)
            setEntries.append(MapEntries.string(bytes, set: id, map: .stringPostfix))
        }
        var key = vigil_fqdn_set_key()
        key.set_id = id
        setEntries.append(MapUpdate(map: .fqdnSets, key: withUnsafeBytes(of: key) { Array($0) }, value: MapEntries.present))
    }

    // MARK: - matchNamespaces, matchBinaries, matchActions

    mutating func compileNamespaceFilter(_ ns: NamespaceSelector) -> vigil_ns_filter? {
        let kinds: [NamespaceType: (vigil_ns_kind, NamespaceKind)] = [
            .uts: (VIGIL_NS_UTS, .uts), .ipc: (VIGIL_NS_IPC, .ipc), .mnt: (VIGIL_NS_MNT, .mnt),
            .pid: (VIGIL_NS_PID, .pid), .pidForChildren: (VIGIL_NS_PID_FOR_CHILDREN, .pidForChildren),
            .net: (VIGIL_NS_NET, .net), .cgroup: (VIGIL_NS_CGROUP, .cgroup), .user: (VIGIL_NS_USER, .user),
        ]
        guard let (kind, procKind) = kinds[ns.namespace] else {
            fail(ns, "namespace \(ns.namespace.rawValue) is not supported by this build", at: "namespace")
            return nil
        }
        var f = vigil_ns_filter()
        f.ns = UInt8(kind.rawValue)
        f.op = UInt8((ns.operator == .in ? VIGIL_OP_IN : VIGIL_OP_NOT_IN).rawValue)
        var values: [UInt32] = []
        for (number, value) in ns.values.enumerated() {
            if value == "host_ns" {
                // Never 0 for an unknown one: NotIn host_ns would then match the host itself.
                guard let hostInum = environment.hostNamespaces.inum(procKind) else {
                    let reason = environment.hostNamespaces.reason(procKind) ?? "unknown"
                    let message = "host_ns: the host's \(ns.namespace.rawValue) namespace is unknown: \(reason)"
                    if number < ns.valueLocations.count {
                        errors.append(PolicyCompileError(ValidationError(
                            location: ns.valueLocations[number], path: ns.path["values"][number].description,
                            message: message)))
                    } else {
                        fail(ns, message, at: "values")
                    }
                    continue
                }
                values.append(hostInum)
            } else if let v = UInt32(value) {
                values.append(v)
            } else {
                fail(ns, "\"\(value)\" is not a namespace inode number or host_ns", at: "values")
            }
        }
        guard values.count <= Int(VIGIL_MATCH_VALUES) else {
            fail(ns, "at most \(VIGIL_MATCH_VALUES) values per matchNamespaces entry", at: "values")
            return nil
        }
        f.nvalues = UInt8(values.count)
        for (i, v) in values.enumerated() { CTuple.set(&f.values, i, v) }
        return f
    }

    mutating func compileCapabilityFilter(_ caps: CapabilitiesSelector) -> vigil_cap_filter? {
        var f = vigil_cap_filter()
        f.op = UInt8((caps.operator == .in ? VIGIL_OP_IN : VIGIL_OP_NOT_IN).rawValue)
        switch caps.type {
        case .effective: f.set = UInt8(VIGIL_CAPS_EFFECTIVE.rawValue)
        case .permitted: f.set = UInt8(VIGIL_CAPS_PERMITTED.rawValue)
        case .inheritable: f.set = UInt8(VIGIL_CAPS_INHERITABLE.rawValue)
        }
        for capability in caps.values {
            guard (0..<64).contains(capability.number) else {
                fail(caps, "\(capability.name) is beyond the 64 bits of a kernel capability set", at: "values")
                return nil
            }
            f.mask |= 1 << UInt64(capability.number)
        }
        if caps.values.isEmpty {
            fail(caps, "matchCapabilities needs at least one capability in values", at: "values")
            return nil
        }
        if caps.isNamespaceCapability {
            // Tasks in the host's user namespace never match; an unknown host namespace would
            // make every task match, so it is refused.
            guard let host = environment.hostNamespaces.inum(.user) else {
                let reason = environment.hostNamespaces.reason(.user) ?? "unknown"
                fail(caps, "isNamespaceCapability: the host's user namespace is unknown: \(reason)", at: "isNamespaceCapability")
                return nil
            }
            f.host_user_ns = host
        }
        return f
    }

    mutating func compileBinaryFilter(_ binaries: BinarySelector) -> vigil_bin_filter {
        var f = vigil_bin_filter()
        // followChildren: the parser admits it with In and NotIn only (Tetragon's rule).
        if binaries.followChildren { f.flags = UInt8(VIGIL_BIN_F_FOLLOW_CHILDREN) }
        let (op, map): (vigil_op, PolicyMapID) =
            switch binaries.operator {
            case .in: (VIGIL_OP_IN, .stringEqual)
            case .notIn: (VIGIL_OP_NOT_IN, .stringEqual)
            case .prefix: (VIGIL_OP_PREFIX, .stringPrefix)
            case .notPrefix: (VIGIL_OP_NOT_PREFIX, .stringPrefix)
            case .postfix: (VIGIL_OP_POSTFIX, .stringPostfix)
            case .notPostfix: (VIGIL_OP_NOT_POSTFIX, .stringPostfix)
            }
        f.op = UInt8(op.rawValue)
        f.set_id = addStringSet(binaries.values, map: map, node: binaries)
        return f
    }

    mutating func compileAction(_ action: ActionSelector, allowOverride: Bool) -> vigil_action? {
        var a = vigil_action()
        switch action.action {
        case .post:
            a.kind = UInt8(VIGIL_ACTION_POST.rawValue)
            a.rate_ns = (action.rateLimitSeconds ?? 0) * 1_000_000_000
            a.rate_scope = UInt8(
                (action.rateLimitScope == .process
                    ? VIGIL_RATE_PROCESS : action.rateLimitScope == .global ? VIGIL_RATE_GLOBAL : VIGIL_RATE_THREAD).rawValue)
            if action.kernelStackTrace || action.userStackTrace {
                fail(action, "stack traces are not supported by this build", at: action.kernelStackTrace ? "kernelStackTrace" : "userStackTrace")
            }
        case .noPost:
            a.kind = UInt8(VIGIL_ACTION_NOPOST.rawValue)
        case .sigkill:
            a.kind = UInt8(VIGIL_ACTION_SIGKILL.rawValue)
            a.signal = 9
        case .signal:
            guard let sig = action.argSig, (1...64).contains(sig) else {
                fail(action, "Signal needs argSig between 1 and 64", at: "argSig")
                return nil
            }
            a.kind = UInt8(VIGIL_ACTION_SIGNAL.rawValue)
            a.signal = UInt16(sig)
        case .override where allowOverride:
            // Tetragon's argError is the hook's return value (-1 = -EPERM); the errno is its size.
            a.kind = UInt8(VIGIL_ACTION_OVERRIDE.rawValue)
            a.error = Int32(clamping: abs(Int(action.argError ?? -1)))
        case .override:
            fail(
                action,
                "Override (deny) needs a hook that can fail the operation; tracepoints can only observe or signal. "
                    + "Use Sigkill here, or an lsmhooks file_open / bprm_check_security / socket_connect hook to deny",
                at: "action")
            return nil
        default:
            fail(action, "action \(action.action.rawValue) is not supported by this build (Post, NoPost, Sigkill and Signal are)", at: "action")
            return nil
        }
        return a
    }
}

extension SelectorOperator {
    /// Why this build refuses a Tetragon operator it has no kernel side for; nil for the ones it
    /// compiles. Said before any argument-type message: the operator is right, the build lacks it.
    var notSupportedYet: String? {
        switch self {
        case .subString, .subStringIgnCase, .celExpr, .fileType, .notFileType, .capabilitiesGained, .state:
            "operator \(rawValue) is not supported yet"
        case .inRange, .notInRange:
            "operator \(rawValue) is not supported yet (\(self == .inRange ? "InMap" : "NotInMap") takes min:max ranges)"
        default:
            nil
        }
    }
}
