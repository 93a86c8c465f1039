// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// TracingPolicy model -> hooks and map entries for this kernel. Pure: the kernel is reached
/// only through ``CompileEnvironment``, so every rule here is unit-tested without root.
///
/// What this kernel cannot do is refused with the reason, never ignored: a policy either runs
/// as written or does not load.
package struct PolicyCompiler {
    package var environment: CompileEnvironment

    package init(environment: CompileEnvironment) {
        self.environment = environment
    }

    /// Compiles one validated document. All problems are collected; any problem refuses the
    /// whole policy.
    package func compile(
        _ document: TracingPolicyDocument, sets: inout SetIDAllocator
    ) -> Result<CompiledPolicy, PolicyCompileFailure> {
        // The agent's engine refuses every policy with this reason before compiling (PolicyEngine
        // .install); validate says the same, at the same place.
        if let reason = environment.policyProgramsUnavailable {
            return .failure(
                PolicyCompileFailure(errors: [PolicyCompileError(location: document.source, path: "metadata.name", message: reason)]))
        }
        // selectorsMacros: each selector gets the filters and actions of the macros it names, as
        // if written there (positions kept); from here on the policy has no macros.
        var document = document
        document.spec = document.spec.expandingSelectorMacros()
        var context = Context(environment: environment, sets: sets)
        let spec = document.spec
        context.refuseUnsupported(spec)
        // Pod scope: which pods exist comes from the API server; without the pod watch the set
        // would stay empty (or, worse, be ignored), so the policy is refused instead.
        let scope = PodScope.of(document)
        if scope != nil && !environment.podScopesAvailable {
            let location = spec.podSelector?.location ?? spec.containerSelector?.location ?? spec.location
            let path = spec.podSelector != nil ? "spec.podSelector" : spec.containerSelector != nil ? "spec.containerSelector" : "spec"
            let what =
                document.kind == .tracingPolicyNamespaced
                ? "a TracingPolicyNamespaced applies only to pods of its namespace"
                : spec.podSelector != nil ? "podSelector selects pods" : "containerSelector selects containers of pods"
            context.errors.append(
                PolicyCompileError(
                    location: location, path: path,
                    message: "\(what), which needs the pod watch: start vigil with --enable-k8s-api "
                        + "(and --k8s-kubeconfig-path outside a cluster)"))
        }

        // nodeSelector: whether the policy runs here depends on this node's labels, which come
        // from the API server. Without it the policy would run on every node, which is what its
        // author ruled out; refused instead (an empty selector matches every node).
        if let selector = spec.restrictingNodeSelector, !environment.podScopesAvailable {
            context.errors.append(
                PolicyCompileError(
                    location: selector.location, path: "spec.nodeSelector",
                    message: "nodeSelector runs the policy only on nodes whose labels match, which needs this node's "
                        + "labels from the API server: start vigil with --enable-k8s-api (and --k8s-kubeconfig-path "
                        + "outside a cluster)"))
        }

        var hooks: [CompiledHook] = []
        for (i, tracepoint) in spec.tracepoints.enumerated() {
            if let hook = context.compileTracepoint(tracepoint, index: i, spec: spec) { hooks.append(hook) }
        }
        for (i, kprobe) in spec.kprobes.enumerated() {
            if Context.isExecCheckHook(kprobe.call) {
                if let hook = context.compileExecCheckHook(
                    name: kprobe.call, event: .kprobe(functionName: kprobe.call), node: kprobe, args: kprobe.args,
                    selectors: kprobe.selectors, message: kprobe.message, tags: kprobe.tags, spec: spec)
                {
                    hooks.append(hook)
                }
                continue
            }
            if Context.isFileOpenHook(kprobe.call) {
                hooks.append(
                    contentsOf: context.compileFileOpenHook(
                        name: kprobe.call, event: .kprobe(functionName: kprobe.call), node: kprobe, args: kprobe.args,
                        selectors: kprobe.selectors, message: kprobe.message, tags: kprobe.tags, spec: spec))
                continue
            }
            // tcp_connect is a real kprobe where kprobes run; the connect hooks emulate it elsewhere.
            if Context.isConnectHook(kprobe.call) && !(kprobe.call == "tcp_connect" && context.kernelFunctionHooksAvailable) {
                if let hook = context.compileConnectHook(
                    name: kprobe.call, event: .kprobe(functionName: kprobe.call), node: kprobe, args: kprobe.args,
                    selectors: kprobe.selectors, message: kprobe.message, tags: kprobe.tags, spec: spec)
                {
                    hooks.append(hook)
                }
                continue
            }
            hooks.append(contentsOf: context.compileKprobe(kprobe, index: i, spec: spec))
        }
        for fentry in spec.fentries {
            if fentry.syscall == true || (fentry.syscall == nil && fentry.call.hasPrefix("sys_")) {
                context.fail(fentry, "fentries on syscalls are not supported by this build; use kprobes with syscall: true (they run on the syscall tracepoints)", at: "syscall")
                continue
            }
            if let hook = context.compileGenericKprobe(fentry, call: fentry.call, spec: spec, fentries: true) { hooks.append(hook) }
        }
        for lsm in spec.lsmhooks {
            hooks.append(contentsOf: context.compileLsmHook(lsm, spec: spec))
        }
        for uprobe in spec.uprobes {
            hooks.append(contentsOf: context.compileUprobe(uprobe, spec: spec))
        }
        if context.errors.isEmpty && hooks.isEmpty && context.fileRules.isEmpty {
            context.errors.append(
                PolicyCompileError(
                    location: document.source, path: "spec",
                    message: "the policy has no hook this agent can run (spec.tracepoints, spec.kprobes, spec.lsmhooks or spec.uprobes)"))
        }
        sets = context.sets
        guard context.errors.isEmpty else {
            return .failure(PolicyCompileFailure(errors: context.errors.sorted { $0.location < $1.location }))
        }
        // Never silently: the option does something only for Equal paths of file_open and
        // bprm_check_security (denied through fanotify, or matched by BPF-LSM).
        if spec.parsedOptions.fileIdentity == .inode && !context.fileRules.contains(where: \.matchInode)
            && context.fileIdentityPaths.isEmpty
        {
            context.warnings.append(
                "vigil-file-identity: inode applies to Equal paths on file_open and bprm_check_security (with Override "
                    + "where fanotify denies them, with any action where BPF-LSM runs them); this policy has none: "
                    + "the option changes nothing")
        }
        let warnings = context.warnings
        var compiled = CompiledPolicy(
            name: document.name, namespace: document.namespace, mode: spec.policyMode, hooks: hooks,
            setEntries: context.setEntries, setIDs: context.ownedSets, source: document.source, warnings: warnings)
        compiled.fileRules = context.fileRules
        compiled.fileIdentityPaths = context.fileIdentityPaths
        compiled.scope = scope
        return .success(compiled)
    }
}

/// State of one compile: errors, allocated sets and their entries.
struct Context {
    let environment: CompileEnvironment
    var sets: SetIDAllocator
    var errors: [PolicyCompileError] = []
    var warnings: [String] = []
    var setEntries: [MapUpdate] = []
    var ownedSets: [UInt32] = []
    var fileRules: [CompiledFileRule] = []
    var fileIdentityPaths: [FileIdentityPath] = []

    init(environment: CompileEnvironment, sets: SetIDAllocator) {
        self.environment = environment
        self.sets = sets
    }

    mutating func fail(_ node: some PolicyNode, _ message: String, at key: String? = nil) {
        errors.append(PolicyCompileError(node.problem(message, at: key)))
    }

    mutating func newSet() -> UInt32 {
        let id = sets.allocate()
        ownedSets.append(id)
        return id
    }

    // MARK: - What this kernel cannot run

    mutating func refuseUnsupported(_ spec: PolicySpec) {
        if !spec.usdts.isEmpty { fail(spec, "usdts are not supported by this build", at: "usdts") }
        if !spec.enforcers.isEmpty {
            fail(spec, "enforcers need kprobes with bpf_override_return, which this kernel does not allow", at: "enforcers")
        }
        if spec.loader { fail(spec, "loader events need a kprobe on perf_event_mmap_output", at: "loader") }
        // Vigil's exec types are read where the new program starts: only the exec check hooks
        // have them.
        var elsewhere: [KProbeArg] = []
        for t in spec.tracepoints { elsewhere += t.args }
        for k in spec.kprobes {
            elsewhere += k.data + (k.returnArg.map { [$0] } ?? [])
            if !Self.isExecCheckHook(k.call) { elsewhere += k.args }
        }
        for f in spec.fentries { elsewhere += f.args + f.data + (f.returnArg.map { [$0] } ?? []) }
        for l in spec.lsmhooks where !Self.isExecCheckHook(l.hook) { elsewhere += l.args }
        for u in spec.uprobes { elsewhere += u.args + u.data + (u.returnArg.map { [$0] } ?? []) }
        for arg in elsewhere where arg.type == .vigilArgv {
            fail(arg, "vigil_argv (Vigil's type: a new program's arguments) is an argument of bprm_check_security only (lsmhooks, or the kprobe security_bprm_check), index 1 to 4", at: "type")
        }
        for arg in elsewhere where arg.type.isVigilExecType && arg.type != .vigilArgv {
            fail(arg, "\(arg.type.rawValue) (Vigil's type: what exec gave the process) is an argument of bprm_check_security only (lsmhooks, or the kprobe security_bprm_check), index 1 to 4", at: "type")
        }
    }

    // MARK: - Tracepoints

    mutating func compileTracepoint(_ tp: TracepointSpec, index: Int, spec: PolicySpec) -> CompiledHook? {
        if tp.raw { return compileRawTracepoint(tp, spec: spec) }
        let format: TracepointFormat
        do {
            format = try environment.loadFormat(tp.subsystem, tp.event)
        } catch {
            fail(tp, "\(error)", at: "event")
            return nil
        }
        var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
        for (position, arg) in tp.args.enumerated() {
            let result = TracepointArgResolver.resolve(
                format: format, index: Int(arg.index), declaredType: arg.type.rawValue,
                sizeArgIndex: arg.sizeArgIndex.map(Int.init), argPosition: position)
            switch result {
            case .success(let r):
                resolved.append((CompiledArg(label: arg.label, declaredType: arg.type, kind: r.kind), r))
            case .failure(let error):
                fail(arg, "\(error)", at: error.policyKey)
            }
        }
        guard resolved.count == tp.args.count else { return nil }
        // matchArgs index: a configured field index names that arg; otherwise a position in args.
        let slotFor: (UInt32) -> Int? = { value in
            if let slot = tp.args.firstIndex(where: { $0.index == value }) { return slot }
            return Int(value) < tp.args.count ? Int(value) : nil
        }
        return buildHook(
            category: tp.subsystem, name: tp.event, event: .tracepoint(subsystem: tp.subsystem, event: tp.event),
            node: tp, args: resolved, selectors: tp.selectors, slotFor: slotFor, message: tp.message, tags: tp.tags,
            spec: spec)
    }

    // MARK: - Syscall kprobes (run on their syscalls:sys_enter_* tracepoint)

    mutating func compileKprobe(_ kp: KProbeSpec, index: Int, spec: PolicySpec) -> [CompiledHook] {
        let errorsBefore = errors.count
        var calls: [String] = [kp.call]
        // generated_syscalls: every syscall of this kernel, i.e. those with a sys_enter tracepoint.
        var generated = false
        if let listName = kp.listName {
            guard let list = spec.lists.first(where: { $0.name == listName }) else {
                fail(kp, "list \"\(listName)\" is not defined in spec.lists", at: "call")
                return []
            }
            switch list.type {
            case .generatedSyscalls:
                calls = Syscalls.allNames(abi: environment.nativeABI).map { "sys_" + $0 }
                generated = true
            case .generatedFtrace:
                fail(
                    kp,
                    kernelFunctionHooksAvailable
                        ? "list \"\(listName)\" (generated_ftrace) is not supported by this build; list the functions "
                            + "in kprobes entries of their own"
                        : "list \"\(listName)\" (generated_ftrace) names kernel functions, which need kprobes or BPF "
                            + "trampolines, and this kernel allows neither", at: "call")
                return []
            case .syscalls, nil:
                calls = list.values
            }
        }
        let nativeABI = environment.nativeABI
        let runsOnTracepoint = { (call: String) in
            SyscallTracepoint.forKprobeCall(call, defaultABI: nativeABI) != nil && (kp.isSyscall || call.contains("sys_"))
        }
        // Kernel functions are refused below for needing kprobes, return or not. A syscall's
        // return runs on the exit dispatcher, which keeps the arguments next to the return value.
        if kp.return && calls.contains(where: runsOnTracepoint) && !environment.syscallExitArgumentsAvailable {
            fail(
                kp,
                "return: true on syscalls needs the tp_btf sys_exit dispatcher (it keeps the arguments with the return "
                    + "value), which did not load here (raw_tp mode); the perf tracepoint sys_exit_* carries only ret",
                at: "return")
            return []
        }
        if kp.return, let returnArg = kp.returnArg, !returnArg.type.isInteger && returnArg.type != .auto {
            fail(returnArg, "returnArg type \(returnArg.type.rawValue): only integer return values are read here", at: "type")
        }
        if !kp.data.isEmpty && !kernelFunctionHooksAvailable {
            fail(kp, "data arguments need kprobes or BPF trampolines, which this kernel does not allow", at: "data")
        }

        var hooks: [CompiledHook] = []
        for call in calls {
            let translated = SyscallTracepoint.forKprobeCall(call, defaultABI: environment.nativeABI)
            guard let (syscall, abi) = translated, runsOnTracepoint(call) else {
                if kernelFunctionHooksAvailable {
                    if let hook = compileGenericKprobe(kp, call: call, spec: spec) { hooks.append(hook) }
                    continue
                }
                // Different reasons, and the message must say which: the kernel has no kprobes,
                // or it has them and the agent's kprobe programs did not load; and trampolines.
                let reason = kernelFunctionRefusal ?? "kprobes are needed"
                fail(
                    kp,
                    "kprobe on \(call): \(reason); syscalls (syscall: true, sys_*) run on their tracepoints",
                    at: "call")
                continue
            }
            guard abi == environment.nativeABI else {
                fail(kp, "\(call): 32-bit syscalls do not fire syscalls/sys_enter_* tracepoints; use raw_syscalls with a lists InMap", at: "call")
                continue
            }
            if let action = kp.selectors.flatMap(\.matchActions).first(where: { $0.action == .override }) {
                // Tetragon fails a syscall with bpf_override_return on its wrapper, which needs the
                // kernel's error injection; syscall kprobes here run on the syscall tracepoints.
                let wrapper = abi.symbolPrefix + "sys_" + syscall
                let why =
                    environment.errorInjectable(wrapper) == nil
                    ? "which this kernel does not have (CONFIG_FUNCTION_ERROR_INJECTION off)"
                    : "which this build does not use"
                fail(
                    action,
                    "Override on syscall \(syscall) needs error injection on \(wrapper) (bpf_override_return or fmod_ret), \(why); "
                        + "syscall kprobes run on the syscall tracepoints, which can observe and signal. Use Sigkill, or Override "
                        + "on a security_* kprobe (fmod_ret) or an lsmhooks hook to deny", at: "action")
                continue
            }
            let event = SyscallTracepoint.enterEvent(forTableName: syscall)
            let format: TracepointFormat
            do {
                format = try environment.loadFormat(SyscallTracepoint.subsystem, event)
            } catch {
                if generated, case .notFound? = error as? TracepointFormatError { continue }
                fail(kp, "syscall \(syscall): \(error)", at: "call")
                continue
            }
            var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
            for (position, arg) in kp.args.enumerated() {
                guard let field = SyscallTracepoint.fieldIndex(forKprobeArg: Int(arg.index), in: format) else {
                    fail(arg, "\(syscall) has no argument \(arg.index) (its tracepoint has \(format.fields.count - SyscallTracepoint.firstArgumentFieldIndex) arguments)", at: "index")
                    continue
                }
                let result = TracepointArgResolver.resolve(
                    format: format, index: field, declaredType: arg.type.rawValue,
                    sizeArgIndex: arg.sizeArgIndex.map { SyscallTracepoint.sizeArgIndex(forKprobeSizeArgIndex: Int($0)) },
                    argPosition: position)
                switch result {
                case .success(let r):
                    resolved.append((CompiledArg(label: arg.label, declaredType: arg.type, kind: r.kind), r))
                case .failure(let error):
                    fail(arg, "\(error)", at: error.policyKey)
                }
            }
            guard resolved.count == kp.args.count else { continue }
            // matchArgs index is the prototype position: the arg declared with that index.
            let slotFor: (UInt32) -> Int? = { value in kp.args.firstIndex { $0.index == value } }
            // return: true: the hook runs at the syscall's exit, where the dispatcher's record
            // has ret at 16 and the arguments 8 bytes further than in sys_enter's.
            let atExit = kp.return
            if var hook = buildHook(
                category: SyscallTracepoint.subsystem,
                name: atExit ? "sys_exit_" + event.dropFirst("sys_enter_".count) : event,
                event: .kprobe(functionName: abi.symbolPrefix + "sys_" + syscall), node: kp,
                args: atExit ? resolved.map { ($0.0, Self.atSyscallExit($0.1)) } : resolved,
                selectors: kp.selectors, slotFor: slotFor, message: kp.message, tags: kp.tags, spec: spec,
                returnValue: atExit ? Self.returnValue(kp) : .needsReturn)
            {
                if atExit {
                    hook.hook.flags |= UInt32(VIGIL_HOOK_F_SYSCALL_RETURN.rawValue)
                    hook.hook.ctx_size = max(hook.hook.ctx_size, 24)
                }
                hooks.append(hook)
            }
        }
        if generated && hooks.isEmpty && errors.count == errorsBefore {
            fail(kp, "no syscall of list \(kp.call) has a syscalls/sys_enter_* tracepoint on this kernel", at: "call")
        }
        return hooks
    }

    /// The return value a `return: true` hook's selectors see, as its returnArg declares it
    /// (`auto`: the whole 64-bit register, signed).
    static func returnValue(_ kp: KProbeSpec) -> HookReturnValue {
        guard kp.return, let returnArg = kp.returnArg else { return .needsReturn }
        let type = returnArg.type == .auto ? ArgType.long : returnArg.type
        // The width and sign an integer has in a register, as kernel function arguments are read
        // (syscall64, a syscall's 64-bit argument, is not one of theirs).
        guard case .int(let size, let signed)? = Self.kernelArgReading(type == .syscall64 ? .int64 : type)?.render else {
            return .unavailable("returnArg type \(returnArg.type.rawValue) is not an integer")
        }
        return .integer(CompiledArg(label: returnArg.label, declaredType: type, kind: .int(size: size, signed: signed)))
    }

    /// An argument resolved against sys_enter's record, where the exit dispatcher's record has it:
    /// 8 bytes further (ret comes before the arguments).
    static func atSyscallExit(_ arg: ResolvedTracepointArg) -> ResolvedTracepointArg {
        var moved = arg
        moved.offset += 8
        if case .charBuf(var size) = arg.kind {
            size.offset += 8
            moved.kind = .charBuf(size: size)
        }
        return moved
    }

    // MARK: - Hook

    mutating func buildHook(
        category: String, name: String, event: HookEvent, node: some PolicyNode,
        args: [(CompiledArg, ResolvedTracepointArg)], selectors: [Selector], slotFor: (UInt32) -> Int?,
        message: String?, tags: [String], spec: PolicySpec, allowOverride: Bool = false,
        returnValue: HookReturnValue = .needsReturn
    ) -> CompiledHook? {
        var hook = vigil_hook()
        hook.nargs = UInt8(args.count)
        var ctxSize = 0
        for (slot, (_, resolved)) in args.enumerated() {
            var a = vigil_arg_spec()
            a.offset = UInt16(resolved.offset)
            ctxSize = max(ctxSize, resolved.offset + resolved.size)
            switch resolved.kind {
            case .int(let size, let signed):
                a.kind = UInt8(VIGIL_ARG_INT.rawValue)
                a.size = UInt8(size)
                a.is_signed = signed ? 1 : 0
            case .fd:
                a.kind = UInt8(VIGIL_ARG_INT.rawValue)
                a.size = UInt8(min(resolved.size, 4))
                a.is_signed = 1
            case .syscall64:
                a.kind = UInt8(VIGIL_ARG_INT.rawValue)
                a.size = 8
            case .string:
                a.kind = UInt8(VIGIL_ARG_STRING.rawValue)
            case .dataLocString:
                a.kind = UInt8(VIGIL_ARG_DATA_LOC.rawValue)
                ctxSize = Int(VIGIL_TP_RAW_MAX)  // the string lives further in the record
            case .charBuf(let size):
                a.kind = UInt8(VIGIL_ARG_CHAR_BUF.rawValue)
                a.meta_offset = UInt16(size.offset)
                a.meta_size = UInt8(size.size)
                ctxSize = max(ctxSize, size.offset + size.size)
            case .sockaddr:
                a.kind = UInt8(VIGIL_ARG_SOCKADDR.rawValue)
            case .constBuf(let bytes, _, _):
                a.kind = UInt8(VIGIL_ARG_CONST_BUF.rawValue)
                a.size = UInt8(min(bytes, 64))
            case .nop:
                a.kind = UInt8(VIGIL_ARG_NONE.rawValue)
            }
            CTuple.set(&hook.args, slot, a)
        }
        hook.ctx_size = UInt16(min(ctxSize, Int(VIGIL_TP_RAW_MAX)))

        let errorsBefore = errors.count
        hook.nselectors = UInt8(selectors.count)
        for (i, selector) in selectors.enumerated() where i < Int(VIGIL_SELECTORS) {
            let compiled = compileSelector(
                selector, args: args.map(\.0), slotFor: slotFor, spec: spec, allowOverride: allowOverride,
                returnValue: returnValue)
            CTuple.set(&hook.selectors, i, compiled)
        }
        if case .integer(let result) = returnValue, case .int(let size, let signed) = result.kind, size < 8 {
            hook.result_size = UInt8(size)
            hook.result_signed = signed ? 1 : 0
        }
        guard errors.count == errorsBefore else { return nil }
        return CompiledHook(
            category: category, name: name, event: event, message: message, tags: tags, args: args.map(\.0),
            hook: hook, location: node.location, path: node.path.description)
    }
}

extension TracepointArgError {
    /// The key of the policy arg the error is about, for its position.
    var policyKey: String {
        switch self {
        case .fieldIndexOutOfRange: "index"
        case .sizeArgIndexOutOfRange, .sizeFieldNotInteger: "sizeArgIndex"
        default: "type"
        }
    }
}

/// Element access for C fixed-size arrays, which Swift imports as tuples.
enum CTuple {
    static func set<Tuple, Element>(_ tuple: inout Tuple, _ index: Int, _ value: Element) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            precondition((index + 1) * MemoryLayout<Element>.stride <= raw.count, "tuple index \(index) out of range")
            raw.storeBytes(of: value, toByteOffset: index * MemoryLayout<Element>.stride, as: Element.self)
        }
    }

    static func get<Tuple, Element>(_ tuple: Tuple, _ index: Int, as: Element.Type) -> Element {
        withUnsafeBytes(of: tuple) { $0.loadUnaligned(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self) }
    }
}
