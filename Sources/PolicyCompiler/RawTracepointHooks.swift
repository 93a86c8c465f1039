// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Tracefs
import TracingPolicy

extension Context {
    /// A raw tracepoint (`raw: true`): arguments by their index in the tracepoint's TP_PROTO (as
    /// the kernel's BTF declares it, e.g. sched_process_exec: task, old pid, linux_binprm), read
    /// as a kernel function's arguments are. The event is a `process_tracepoint`, as Tetragon's.
    mutating func compileRawTracepoint(_ tp: TracepointSpec, spec: PolicySpec) -> CompiledHook? {
        let errorsBefore = errors.count
        // The tracepoint must exist as a tracefs event too: its subsystem is what the event
        // reports, and a misspelt one must not pass.
        do {
            _ = try environment.loadFormat(tp.subsystem, tp.event)
        } catch let error as NotChecked {
            warnings.append("\(tp.location): \(error)")
        } catch {
            fail(tp, "\(error)", at: "event")
            return nil
        }
        let declared: [String]?
        switch environment.rawTracepointArguments(tp.event) {
        case .arguments(let arguments):
            declared = arguments
        case .missing:
            fail(
                tp, "raw tracepoint \(tp.event): the kernel's BTF does not declare it (no btf_trace_\(tp.event)), so its "
                    + "arguments cannot be known; drop `raw` to read the tracefs record", at: "event")
            return nil
        case .unchecked:
            declared = nil
            warnings.append(
                "\(tp.location): raw tracepoint \(tp.subsystem)/\(tp.event): its arguments were not checked against the kernel's BTF here")
        }
        let resolvedArgs = resolveKernelArgs(tp.args, of: "raw tracepoint") { arg in
            guard let declared else { return nil }
            guard Int(arg.index) < declared.count else {
                return ("index \(arg.index): \(tp.event) has \(declared.count) arguments (\(declared.joined(separator: ", ")))", "index")
            }
            // A pointer read as the wrong structure would render garbage: where BTF says which
            // structure the argument points to, the type must name it.
            if let expected = Self.pointedStructure(arg.type), declared[Int(arg.index)] != "struct \(expected) *" {
                return (
                    "argument \(arg.index) of \(tp.event) is \(declared[Int(arg.index)]), not struct \(expected) * "
                        + "(type \(arg.type.rawValue))", "type"
                )
            }
            return nil
        }
        guard let (readings, resolved) = resolvedArgs else { return nil }
        guard errors.count == errorsBefore else { return nil }
        // matchArgs index: a configured argument index names that arg; otherwise a position in args.
        let slotFor: (UInt32) -> Int? = { value in
            if let slot = tp.args.firstIndex(where: { $0.index == value }) { return slot }
            return Int(value) < tp.args.count ? Int(value) : nil
        }
        guard var hook = buildHook(
            category: tp.subsystem, name: tp.event, event: .tracepoint(subsystem: tp.subsystem, event: tp.event),
            node: tp, args: resolved, selectors: tp.selectors, slotFor: slotFor, message: tp.message, tags: tp.tags,
            spec: spec)
        else { return nil }
        guard errors.count == errorsBefore else { return nil }
        Self.setKernelArgSpecs(&hook, readings, resolved)
        hook.mechanism = .rawTracepoint
        return hook
    }

    /// The structure a pointer argument of `type` is read as, where the reader depends on it.
    static func pointedStructure(_ type: ArgType) -> String? {
        switch type {
        case .file: "file"
        case .path: "path"
        case .linuxBinprm: "linux_binprm"
        case .kiocb: "kiocb"
        case .dentry: "dentry"
        case .netDevice: "net_device"
        case .sock: "sock"
        case .socket: "socket"
        case .cred: "cred"
        default: nil
        }
    }
}
