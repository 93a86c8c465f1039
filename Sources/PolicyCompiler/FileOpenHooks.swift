// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// file_open and its kprobe spelling run on the exit of every open syscall: the new fd is
/// resolved in the kernel to its file, so the path is absolute and final (symlinks, `..` and
/// the dirfd already applied), which the name passed to openat(2) is not.
extension Context {
    /// The open syscalls whose exit yields a new fd, with the syscall argument indexes of the
    /// file name (nil: it is given none) and the dirfd (nil: relative to the cwd), for reporting
    /// failed opens.
    static let openExits: [(event: String, name: Int?, dirfd: Int?)] = [
        ("sys_exit_openat", 1, 0), ("sys_exit_openat2", 1, 0), ("sys_exit_open", 0, nil), ("sys_exit_creat", 0, nil),
        ("sys_exit_open_by_handle_at", nil, nil),
    ]

    static func isFileOpenHook(_ call: String) -> Bool {
        call == "file_open" || call == "security_file_open"
    }

    mutating func compileFileOpenHook(
        name: String, event: HookEvent, node: some PolicyNode, args: [KProbeArg], selectors: [Selector],
        message: String?, tags: [String], spec: PolicySpec
    ) -> [CompiledHook] {
        // int security_file_open(struct file *file): argument 0 is the file, the only one.
        for arg in args where arg.index != 0 || ![.file, .path, .auto].contains(arg.type) {
            fail(arg, "\(name) has one argument, index 0 of type file", at: arg.index != 0 ? "index" : "type")
        }
        let denyOnly = !selectors.isEmpty && selectors.allSatisfy { $0.matchActions.contains { $0.action == .override } }
        let selectors = extractFileRules(
            selectors, kind: .open, event: event, args: args, message: message, tags: tags,
            matchInode: spec.parsedOptions.fileIdentity == .inode)
        // Every selector denies through fanotify, whose decision is the event: the observing
        // hooks would only resolve the path of every open on the node to post nothing.
        if denyOnly { return [] }
        var hooks: [CompiledHook] = []
        for (exit, nameIndex, dirfdIndex) in Self.openExits {
            let format: TracepointFormat
            do {
                format = try environment.loadFormat(SyscallTracepoint.subsystem, exit)
            } catch {
                continue  // an architecture without open(2) or creat(2): the others cover it
            }
            guard let ret = format.fields.first(where: { $0.name == "ret" }) else {
                fail(node, "tracepoint syscalls/\(exit) has no ret field", at: nil)
                return []
            }
            let resolved = args.map { arg in
                (CompiledArg(label: arg.label, declaredType: arg.type, kind: .string),
                 ResolvedTracepointArg(fieldIndex: ret.index, offset: ret.offset, size: ret.size, kind: .string))
            }
            let slotFor: (UInt32) -> Int? = { value in args.firstIndex { $0.index == value } }
            guard var hook = buildHook(
                category: SyscallTracepoint.subsystem, name: exit, event: event, node: node, args: resolved,
                selectors: selectors, slotFor: slotFor, message: message, tags: tags, spec: spec)
            else { return [] }
            for slot in 0..<args.count {
                var a = CTuple.get(hook.hook.args, slot, as: vigil_arg_spec.self)
                a.kind = UInt8(VIGIL_ARG_FILE_FD.rawValue)
                a.size = UInt8(ret.size)
                // Where a failed open's name and dirfd are (1 + arg index; the exit dispatcher
                // keeps the syscall's args after ret). Non-zero also marks an open's exit (ret is
                // the event's result); a syscall given no name says so in the hook's flags.
                a.meta_offset = UInt16(1 + (nameIndex ?? 0))
                a.meta_size = dirfdIndex.map { UInt8(1 + $0) } ?? 0
                CTuple.set(&hook.hook.args, slot, a)
            }
            hook.hook.ctx_size = UInt16(ret.offset + ret.size)
            // io_uring opens run this hook too, at their completion (bpf/lib/dispatch.h).
            hook.hook.flags |= UInt32(VIGIL_HOOK_F_OPEN_EXIT.rawValue)
            if nameIndex == nil { hook.hook.flags |= UInt32(VIGIL_HOOK_F_OPEN_NO_NAME.rawValue) }
            hooks.append(hook)
        }
        if hooks.isEmpty && errors.isEmpty {
            fail(node, "no open syscall exit tracepoint exists on this kernel (syscalls/sys_exit_openat)", at: nil)
        }
        return hooks
    }
}

/// bprm_check_security and its kprobe spelling run on sched_process_exec: the binary is the new
/// image's file (mm->exe_file, symlinks resolved), and Sigkill there stops the process before
/// the new image runs a single instruction.
extension Context {
    static func isExecCheckHook(_ call: String) -> Bool {
        call == "bprm_check_security" || call == "security_bprm_check"
    }

    mutating func compileExecCheckHook(
        name: String, event: HookEvent, node: some PolicyNode, args: [KProbeArg], selectors: [Selector],
        message: String?, tags: [String], spec: PolicySpec
    ) -> CompiledHook? {
        // int security_bprm_check(struct linux_binprm *bprm): argument 0, the only one; index 1
        // to 4 hold Vigil's exec types (vigil_argv, vigil_tty, vigil_uid, vigil_euid, vigil_auid,
        // vigil_exe_upper_layer), each read from the process the new program runs in.
        var declared: Set<ArgType> = []
        var indexes: Set<UInt32> = []
        for arg in args {
            if arg.type.isVigilExecType {
                if arg.index < 1 || arg.index >= VIGIL_HOOK_ARGS {
                    fail(arg, "\(arg.type.rawValue) is index 1 to \(VIGIL_HOOK_ARGS - 1) of \(name) (index 0 is the binary)", at: "index")
                } else if !indexes.insert(arg.index).inserted {
                    fail(arg, "index \(arg.index) is declared twice (matchArgs could name only the first)", at: "index")
                } else if !declared.insert(arg.type).inserted {
                    fail(arg, "\(arg.type.rawValue) is declared twice (one argument of each type reads it)", at: "type")
                } else if arg.type == .vigilExeUpperLayer, let reason = environment.overlayUpperLayerRefusal() {
                    fail(arg, "vigil_exe_upper_layer cannot be read exactly on this kernel: \(reason)", at: "type")
                }
            } else if arg.index != 0 || ![.linuxBinprm, .file, .auto].contains(arg.type) {
                fail(
                    arg, "\(name) has one argument, index 0 of type linux_binprm (and Vigil's vigil_argv, vigil_tty, vigil_uid, vigil_euid, vigil_auid, vigil_exe_upper_layer at index 1 to 4)",
                    at: arg.index != 0 ? "index" : "type")
            }
        }
        if let vigilType = args.first(where: { $0.type.isVigilExecType })?.type {
            // Read at sched_process_exec, once the exec has succeeded: it can no longer fail
            // there, but Sigkill still stops the process before its first instruction.
            let what = vigilType == .vigilArgv ? "its arguments: vigil_argv is" : "\(vigilType.rawValue): Vigil's exec types are"
            for selector in selectors {
                for action in selector.matchActions where action.action == .override {
                    fail(
                        action, "Override cannot deny an exec on \(what) read once the exec has "
                            + "succeeded (sched_process_exec), where it can no longer fail; Sigkill there stops the "
                            + "process before the new program runs an instruction", at: "action")
                }
            }
        }
        let selectors = extractFileRules(
            selectors, kind: .exec, event: event, args: args, message: message, tags: tags,
            matchInode: spec.parsedOptions.fileIdentity == .inode)
        let resolved = args.map { arg in
            let kind: TracepointArgKind = Self.vigilTaskFact(arg.type) != nil ? .int(size: 4, signed: false) : .string
            return (CompiledArg(label: arg.label, declaredType: arg.type.isVigilExecType ? arg.type : .linuxBinprm, kind: kind),
                    ResolvedTracepointArg(fieldIndex: 0, offset: 0, size: 0, kind: kind))
        }
        let slotFor: (UInt32) -> Int? = { value in args.firstIndex { $0.index == value } }
        guard var hook = buildHook(
            category: "sched", name: "sched_process_exec", event: event, node: node, args: resolved,
            selectors: selectors, slotFor: slotFor, message: message, tags: tags, spec: spec)
        else { return nil }
        for (slot, arg) in args.enumerated() {
            var a = vigil_arg_spec()
            if let fact = Self.vigilTaskFact(arg.type) {
                a.kind = UInt8(VIGIL_ARG_TASK.rawValue)
                a.meta_size = UInt8(fact.rawValue)
            } else {
                a.kind = UInt8((arg.type == .vigilArgv ? VIGIL_ARG_ARGV : VIGIL_ARG_EXE).rawValue)
            }
            CTuple.set(&hook.hook.args, slot, a)
        }
        hook.hook.ctx_size = 0
        return hook
    }

    /// The fact of the process a Vigil exec type reads (VIGIL_ARG_TASK), nil for the others.
    static func vigilTaskFact(_ type: ArgType) -> vigil_task_fact? {
        switch type {
        case .vigilTty: return VIGIL_TASK_TTY
        case .vigilUid: return VIGIL_TASK_UID
        case .vigilEuid: return VIGIL_TASK_EUID
        case .vigilAuid: return VIGIL_TASK_AUID
        case .vigilExeUpperLayer: return VIGIL_TASK_EXE_UPPER
        default: return nil
        }
    }
}


extension Context {
    /// Turns each `Override` selector into a fanotify deny rule and returns the selectors the BPF
    /// hook keeps: an Override selector stays there with its actions replaced by NoPost, so it
    /// still stops later selectors from matching the same access (first match wins) without a
    /// second event; the rule's decision is the event.
    mutating func extractFileRules(
        _ selectors: [Selector], kind: CompiledFileRule.Kind, event: HookEvent, args: [KProbeArg], message: String?,
        tags: [String], matchInode: Bool = false
    ) -> [Selector] {
        var kept: [Selector] = []
        for var selector in selectors {
            guard let override = selector.matchActions.first(where: { $0.action == .override }) else {
                kept.append(selector)
                continue
            }
            for action in selector.matchActions where action.action != .override && action.action != .post {
                fail(action, "\(action.action.rawValue) cannot go with Override here: the access is denied before the hook runs", at: "action")
            }
            guard selector.matchArgs.count == 1, let match = selector.matchArgs.first else {
                fail(selector, "Override on \(kind == .open ? "file_open" : "bprm_check_security") needs exactly one matchArgs on the path (which files to deny)", at: "matchArgs")
                continue
            }
            let pathOperator: CompiledFileRule.PathOperator
            switch match.operator {
            case .equal: pathOperator = .exact
            case .prefix: pathOperator = .prefix
            case .postfix: pathOperator = .postfix
            case .notEqual: pathOperator = .notExact
            case .notPrefix: pathOperator = .notPrefix
            case .notPostfix: pathOperator = .notPostfix
            default:
                if let missing = match.operator.notSupportedYet {
                    fail(match, missing, at: "operator")
                    continue
                }
                fail(match, "operator \(match.operator.rawValue) cannot select paths for Override (Equal, Prefix, Postfix and their Not forms can)", at: "operator")
                continue
            }
            for value in match.values where !value.hasPrefix("/") {
                fail(match, "\"\(value)\" is not an absolute path; fanotify marks need absolute paths", at: "values")
            }
            var binaryOperator: CompiledFileRule.BinaryOperator?
            var binaries: [String] = []
            if let b = selector.matchBinaries.first {
                switch b.operator {
                case .in: binaryOperator = .in
                case .notIn: binaryOperator = .notIn
                case .prefix: binaryOperator = .prefix
                case .notPrefix: binaryOperator = .notPrefix
                default:
                    fail(b, "matchBinaries \(b.operator.rawValue) is not supported with Override (In, NotIn, Prefix, NotPrefix are)", at: "operator")
                }
                binaries = b.values
            }
            if !selector.matchNamespaces.isEmpty {
                fail(selector, "matchNamespaces is not supported with Override on this hook", at: "matchNamespaces")
            }
            if !selector.matchParentBinaries.isEmpty {
                fail(selector, "matchParentBinaries is not supported with Override on this hook (its deny is decided by fanotify in user space)", at: "matchParentBinaries")
            }
            if let binaries = selector.matchBinaries.first, binaries.followChildren {
                fail(binaries, "followChildren is not supported with Override on this hook (its deny is decided by fanotify in user space)", at: "followChildren")
            }
            if !selector.matchCapabilities.isEmpty {
                fail(selector, "matchCapabilities is not supported with Override on this hook (its deny is decided by fanotify in user space)", at: "matchCapabilities")
            }
            let pids = selector.matchPIDs.first
            fileRules.append(
                CompiledFileRule(
                    kind: kind, pathOperator: pathOperator, paths: match.values, binaryOperator: binaryOperator,
                    binaries: binaries, pidsIn: pids.map { $0.operator == .in }, pids: pids?.values ?? [],
                    errno: Int32(clamping: abs(Int(override.argError ?? -1))), event: event,
                    label: args.first?.label, message: message, tags: tags, matchInode: matchInode && pathOperator == .exact))
            selector.matchActions = selector.matchActions.filter { $0.action != .override && $0.action != .post }
            var noPost = override
            noPost.action = .noPost
            selector.matchActions.append(noPost)
            kept.append(selector)
        }
        return kept
    }
}
