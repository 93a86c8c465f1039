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

/// How a generic kprobe hook is attached: the entry only, or the entry and the return
/// (`return: true`: the event goes out at the return, with the return value).
package enum KprobeAttachMode: Sendable, Hashable {
    case entry
    case entryAndReturn
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
        "int, int8..int64, uint8..uint64, size_t, long, string, filename, file, path, linux_binprm, sock, socket, sockaddr, fd, cred, nop"

    /// Whether this agent runs kprobes on kernel functions here.
    var genericKprobesAvailable: Bool { environment.kprobesAvailable && environment.kprobeProgramsLoaded }

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

    mutating func compileGenericKprobe(_ kp: KProbeSpec, call: String, spec: PolicySpec) -> CompiledHook? {
        switch environment.kernelSymbol(call) {
        case .missing where kp.ignoreCallNotFound:
            // Tetragon's ignoreCallNotFound: the hook is left out, the rest of the policy loads.
            warnings.append("\(kp.location): kprobe on \(call) left out: no such function on this kernel (ignoreCallNotFound)")
            return nil
        case .missing:
            fail(kp, "kprobe on \(call): no such function in /proc/kallsyms on this kernel (not built in, renamed or inlined)", at: "call")
            return nil
        case .blacklisted:
            fail(kp, "kprobe on \(call): the kernel refuses kprobes on it (listed in /sys/kernel/debug/kprobes/blacklist)", at: "call")
            return nil
        case .attachable, .unknown:
            break
        }
        if !kp.data.isEmpty { fail(kp, "data arguments are not supported by this build", at: "data") }
        if kp.returnArgAction != nil {
            fail(kp, "returnArgAction (socket tracking) is not supported by this build", at: "returnArgAction")
        }
        if let returnArg = kp.returnArg, kp.return, !returnArg.type.isInteger && returnArg.type != .auto {
            fail(returnArg, "returnArg type \(returnArg.type.rawValue): only integer return values are read here", at: "type")
        }
        for selector in kp.selectors {
            for action in selector.matchActions where action.action == .override {
                fail(
                    action,
                    "Override on a kprobe needs bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE, and the function on "
                        + "/sys/kernel/debug/error_injection/list), which this build does not use; deny with an lsmhooks "
                        + "file_open / bprm_check_security / socket_connect hook, or Sigkill here",
                    at: "action")
            }
        }
        var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
        var readings: [KernelArgReading] = []
        for (position, arg) in kp.args.enumerated() {
            // x86-64 passes the first six arguments in registers; the program copies five.
            guard arg.index < UInt32(VIGIL_HOOK_ARGS) else {
                fail(arg, "index \(arg.index): kernel function arguments 0 to \(VIGIL_HOOK_ARGS - 1) can be read", at: "index")
                continue
            }
            guard let reading = Self.kernelArgReading(arg.type) else {
                let hint = arg.type == .auto ? " (give the type: BTF types are not resolved)" : ""
                fail(
                    arg, "type \(arg.type.rawValue) of a kernel function argument is not supported by this build\(hint); "
                        + "supported: \(Self.kernelArgTypes)", at: "type")
                continue
            }
            if arg.sizeArgIndex != nil || arg.returnCopy {
                fail(arg, "sizeArgIndex and returnCopy are not supported on kernel function arguments", at: arg.returnCopy ? "returnCopy" : "sizeArgIndex")
                continue
            }
            readings.append(reading)
            resolved.append(
                (CompiledArg(label: arg.label, declaredType: arg.type, kind: reading.render),
                 ResolvedTracepointArg(fieldIndex: Int(arg.index), offset: 8 * Int(arg.index), size: 8, kind: reading.render)))
            _ = position
        }
        guard resolved.count == kp.args.count else { return nil }
        let slotFor: (UInt32) -> Int? = { value in kp.args.firstIndex { $0.index == value } }
        let errorsBefore = errors.count
        guard var hook = buildHook(
            category: "kprobe", name: call, event: .kprobe(functionName: call), node: kp, args: resolved,
            selectors: kp.selectors, slotFor: slotFor, message: kp.message, tags: kp.tags, spec: spec,
            allowOverride: true)  // refused above with the kprobe-specific reason
        else { return nil }
        guard errors.count == errorsBefore else { return nil }
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
        hook.attachment = .kprobe(kp.return ? .entryAndReturn : .entry)
        return hook
    }
}
