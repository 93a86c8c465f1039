// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// What the compiler knows of a kernel symbol from /proc/kallsyms and the kprobe blacklist.
package enum KernelSymbolStatus: Sendable, Hashable {
    /// A text symbol kprobes can attach to.
    case attachable
    /// Not in /proc/kallsyms (not built in, renamed, or inlined away on this kernel).
    case missing
    /// Listed in /sys/kernel/debug/kprobes/blacklist: the kernel refuses kprobes on it.
    case blacklisted
    /// Could not be checked (kallsyms unreadable); the attach will tell.
    case unknown
}

/// spec.kprobes on kernel functions, where this kernel has kprobes and the agent's kprobe
/// programs loaded: the generic kprobe program on the symbol, reading the argument registers
/// with Tetragon's argument types.
extension Context {
    /// How one Tetragon argument type is read from a kernel function's argument register:
    /// the BPF kind, its variant (vigil_arg_spec.meta_size), the integer width, and how
    /// selectors and the renderer treat it.
    struct KernelArgReading {
        var kind: vigil_arg_kind
        var variant: UInt8 = 0
        var size: UInt8 = 8
        var signed = false
        var render: TracepointArgKind
    }

    static func kernelArgReading(_ type: ArgType) -> KernelArgReading? {
        func int(_ size: UInt8, _ signed: Bool) -> KernelArgReading {
            KernelArgReading(kind: VIGIL_ARG_INT, size: size, signed: signed, render: .int(size: Int(size), signed: signed))
        }
        switch type {
        case .int, .int32, .sint32: return int(4, true)
        case .uint32: return int(4, false)
        case .int8, .sint8: return int(1, true)
        case .uint8: return int(1, false)
        case .int16, .sint16: return int(2, true)
        case .uint16: return int(2, false)
        case .int64, .sint64, .long: return int(8, true)
        case .uint64, .ulong, .sizeT: return int(8, false)
        case .string, .filename: return KernelArgReading(kind: VIGIL_ARG_KSTRING, render: .string)
        case .file: return KernelArgReading(kind: VIGIL_ARG_KFILE, variant: 0, render: .string)
        case .path: return KernelArgReading(kind: VIGIL_ARG_KFILE, variant: 1, render: .string)
        case .linuxBinprm: return KernelArgReading(kind: VIGIL_ARG_KFILE, variant: 2, render: .string)
        // Tetragon: kiocb is its file (file_arg), dentry a path within its filesystem (path_arg),
        // net_device its name (string_arg).
        case .kiocb: return KernelArgReading(kind: VIGIL_ARG_KFILE, variant: 3, render: .string)
        case .dentry: return KernelArgReading(kind: VIGIL_ARG_KFILE, variant: 4, render: .string)
        case .netDevice: return KernelArgReading(kind: VIGIL_ARG_KSTRING, variant: 1, render: .string)
        case .sock: return KernelArgReading(kind: VIGIL_ARG_KSOCK, variant: 0, render: .sockaddr)
        case .socket: return KernelArgReading(kind: VIGIL_ARG_KSOCK, variant: 1, render: .sockaddr)
        case .sockaddr: return KernelArgReading(kind: VIGIL_ARG_KSOCKADDR, render: .sockaddr)
        // An fd argument of a kernel function is resolved through the task's fd table, as at a
        // syscall: rendered as file_arg.
        case .fd: return KernelArgReading(kind: VIGIL_ARG_FILE_FD, render: .string)
        // 56 bytes of struct vigil_creds; not matchable (Tetragon filters credentials with
        // matchCapabilities and friends, not matchArgs).
        case .cred:
            return KernelArgReading(
                kind: VIGIL_ARG_CRED, render: .constBuf(bytes: MemoryLayout<vigil_creds>.size, elementSize: 1, elementCount: 56))
        case .nop: return KernelArgReading(kind: VIGIL_ARG_NONE, size: 0, render: .nop)
        default: return nil
        }
    }

    /// Types a kernel function argument can have here, for the refusal message.
    static let kernelArgTypes =
        "int, int8..int64, uint8..uint64, size_t, long, string, filename, file, path, linux_binprm, kiocb, dentry, net_device, sock, socket, sockaddr, fd, cred, nop"

    /// Whether this agent runs kprobes on kernel functions here.
    var genericKprobesAvailable: Bool { environment.kprobesAvailable && environment.kprobeProgramsLoaded }

    /// Whether this agent runs BPF trampolines (fentry, fexit, fmod_ret) here.
    var trampolinesAvailable: Bool { environment.trampolineRefusal == nil }

    /// Whether hooks on kernel functions run here, on kprobes or trampolines.
    var kernelFunctionHooksAvailable: Bool { genericKprobesAvailable || trampolinesAvailable }

    /// Why no hook on a kernel function can run here (nil when one can).
    var kernelFunctionRefusal: String? {
        guard !kernelFunctionHooksAvailable else { return nil }
        return (genericKprobeRefusal ?? "kprobes are needed") + "; BPF trampolines neither: "
            + (environment.trampolineRefusal ?? "unknown")
    }

    /// Why a kprobe on a kernel function cannot run here (nil when it can).
    var genericKprobeRefusal: String? {
        if !environment.kprobesAvailable {
            return "kprobes are needed, and this kernel has none (kprobes blocked or CONFIG_KPROBES off)"
        }
        if !environment.kprobeProgramsLoaded {
            return "this kernel has kprobes, but the agent's kprobe programs did not load here (see the agent log)"
        }
        return nil
    }

    /// `fentries`: true for spec.fentries, which run on trampolines only.
    mutating func compileGenericKprobe(_ kp: KProbeSpec, call: String, spec: PolicySpec, fentries: Bool = false) -> CompiledHook? {
        if fentries, let refusal = environment.trampolineRefusal {
            fail(kp, "fentries need BPF trampolines, which this kernel does not allow (\(refusal)); kprobes on the same function may run", at: "call")
            return nil
        }
        switch environment.kernelSymbol(call) {
        case .missing where kp.ignoreCallNotFound:
            // Tetragon's ignoreCallNotFound: the hook is left out, the rest of the policy loads.
            warnings.append("\(kp.location): kprobe on \(call) left out: no such function on this kernel (ignoreCallNotFound)")
            return nil
        case .missing:
            fail(kp, "kprobe on \(call): no such function in /proc/kallsyms on this kernel (not built in, renamed or inlined)", at: "call")
            return nil
        case .blacklisted, .attachable, .unknown:
            break
        }
        guard let mode = kernelFunctionMode(kp, call: call, fentries: fentries) else { return nil }
        if !kp.data.isEmpty { fail(kp, "data arguments are not supported by this build", at: "data") }
        if kp.returnArgAction != nil {
            fail(kp, "returnArgAction (socket tracking) is not supported by this build", at: "returnArgAction")
        }
        if let returnArg = kp.returnArg, kp.return, !returnArg.type.isInteger && returnArg.type != .auto {
            fail(returnArg, "returnArg type \(returnArg.type.rawValue): only integer return values are read here", at: "type")
        }
        guard let (readings, resolved) = resolveKernelArgs(kp.args, of: "kernel function") else { return nil }
        let slotFor: (UInt32) -> Int? = { value in kp.args.firstIndex { $0.index == value } }
        let errorsBefore = errors.count
        guard var hook = buildHook(
            category: "kprobe", name: call, event: .kprobe(functionName: call), node: kp, args: resolved,
            selectors: kp.selectors, slotFor: slotFor, message: kp.message, tags: kp.tags, spec: spec,
            allowOverride: true,  // Override only where kernelFunctionMode chose fmod_ret
            returnValue: mode == .fexit
                ? Self.returnValue(kp)
                : mode == .kretprobe
                    ? .unavailable(
                        "a kretprobe hook's selectors run at the function's entry (the kretprobe only adds the return "
                            + "value to the event), so they cannot filter on it; fexit can, where BPF trampolines run")
                    : .needsReturn)
        else { return nil }
        guard errors.count == errorsBefore else { return nil }
        Self.setKernelArgSpecs(&hook, readings, resolved)
        hook.mechanism = mode
        return hook
    }

    /// Arguments read as a kernel function's (kprobes, trampolines, raw tracepoints): the
    /// program copies the first five as u64s, which each spec reads at 8 * index. `of` names
    /// them in refusals; `check` refuses what the hook's own signature rules out (message, key).
    /// Nil, with the refusals recorded, when one cannot be read.
    mutating func resolveKernelArgs(
        _ args: [KProbeArg], of what: String, check: (KProbeArg) -> (message: String, key: String)? = { _ in nil }
    ) -> (readings: [KernelArgReading], resolved: [(CompiledArg, ResolvedTracepointArg)])? {
        var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
        var readings: [KernelArgReading] = []
        for arg in args {
            // x86-64 passes the first six arguments in registers; the programs copy five.
            guard arg.index < UInt32(VIGIL_HOOK_ARGS) else {
                fail(arg, "index \(arg.index): \(what) arguments 0 to \(VIGIL_HOOK_ARGS - 1) can be read", at: "index")
                continue
            }
            guard let reading = Self.kernelArgReading(arg.type) else {
                let hint = arg.type == .auto ? " (give the type: BTF types are not resolved)" : ""
                fail(
                    arg, "type \(arg.type.rawValue) of a \(what) argument is not supported by this build\(hint); "
                        + "supported: \(Self.kernelArgTypes)", at: "type")
                continue
            }
            if let (message, key) = check(arg) {
                fail(arg, message, at: key)
                continue
            }
            if arg.sizeArgIndex != nil || arg.returnCopy {
                fail(arg, "sizeArgIndex and returnCopy are not supported on \(what) arguments", at: arg.returnCopy ? "returnCopy" : "sizeArgIndex")
                continue
            }
            readings.append(reading)
            resolved.append(
                (CompiledArg(label: arg.label, declaredType: arg.type, kind: reading.render),
                 ResolvedTracepointArg(fieldIndex: Int(arg.index), offset: 8 * Int(arg.index), size: 8, kind: reading.render)))
        }
        return resolved.count == args.count ? (readings, resolved) : nil
    }

    /// The arg specs of kernel-function-style arguments (``resolveKernelArgs(_:of:check:)``);
    /// they read no tracepoint record.
    static func setKernelArgSpecs(
        _ hook: inout CompiledHook, _ readings: [KernelArgReading], _ resolved: [(CompiledArg, ResolvedTracepointArg)]
    ) {
        for (slot, (reading, (_, r))) in zip(readings, resolved).enumerated() {
            var a = vigil_arg_spec()
            a.kind = UInt8(reading.kind.rawValue)
            a.size = reading.size
            a.is_signed = reading.signed ? 1 : 0
            a.meta_size = reading.variant
            a.offset = UInt16(r.offset)
            CTuple.set(&hook.hook.args, slot, a)
        }
        hook.hook.ctx_size = 0
    }

    /// How a hook on kernel function `call` runs here: on a trampoline where the kernel has them
    /// and its BTF has the function (fmod_ret for Override), else on a kprobe; nil, with the
    /// reason recorded, where it cannot run.
    mutating func kernelFunctionMode(_ kp: KProbeSpec, call: String, fentries: Bool) -> Mechanism? {
        let btf = trampolinesAvailable && environment.kernelFunctionHasBTF(call)
        let overrides = kp.selectors.flatMap(\.matchActions).filter { $0.action == .override }
        if let action = overrides.first {
            // Tetragon's rule: only syscalls (bpf_override_return) and security_* functions
            // (fmod_ret) can be overridden; the kernel enforces it when the program loads.
            let injectable = environment.errorInjectable(call)
            if kp.return {
                fail(kp, "return: true cannot go with Override: an overridden function does not run, so it returns nothing to report", at: "return")
            } else if let refusal = environment.trampolineRefusal {
                fail(
                    action,
                    "Override on \(call) runs as an fmod_ret program (a BPF trampoline), which this kernel does not allow "
                        + "(\(refusal)); bpf_override_return is not used. Deny with an lsmhooks file_open / "
                        + "bprm_check_security / socket_connect hook, or Sigkill here", at: "action")
            } else if !call.hasPrefix("security_") && injectable != true {
                let list =
                    injectable == nil
                    ? "this kernel has no error-injection list (CONFIG_FUNCTION_ERROR_INJECTION off), so only security_* functions"
                    : "\(call) is not on /sys/kernel/debug/error_injection/list"
                fail(action, "Override on \(call): the kernel lets BPF fail only security_* functions and those on its error-injection list; \(list)", at: "action")
            } else if !btf {
                fail(kp, "Override on \(call): the kernel's BTF does not describe it, and fmod_ret needs that", at: "call")
            } else {
                return .fmodRet
            }
            return nil
        }
        if btf { return kp.return ? .fexit : .fentry }
        if fentries {
            fail(kp, "fentry on \(call): the kernel's BTF does not describe it (inlined, static or in a module)", at: "call")
            return nil
        }
        if let refusal = genericKprobeRefusal {
            let why = trampolinesAvailable ? "it has no BTF for a trampoline, and \(refusal)" : refusal
            fail(kp, "kprobe on \(call): \(why)", at: "call")
            return nil
        }
        if environment.kernelSymbol(call) == .blacklisted {
            fail(kp, "kprobe on \(call): the kernel refuses kprobes on it (listed in /sys/kernel/debug/kprobes/blacklist)", at: "call")
            return nil
        }
        return kp.return ? .kretprobe : .kprobe
    }
}
