// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// file_open and its kprobe spelling run on the exit of every open syscall: the new fd is
/// resolved in the kernel to its file, so the path is absolute and final (symlinks, `..` and
/// the dirfd already applied), which the name passed to openat(2) is not.
extension Context {
    /// The open syscalls whose exit yields a new fd.
    static let openExits = ["sys_exit_openat", "sys_exit_openat2", "sys_exit_open", "sys_exit_creat"]

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
        for selector in selectors {
            for action in selector.matchActions where action.action == .override {
                fail(
                    action,
                    "Override on \(name) needs fanotify permission events, which are not in this build yet; "
                        + "Sigkill kills the opener before the open returns to it", at: "action")
            }
        }
        var hooks: [CompiledHook] = []
        for exit in Self.openExits {
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
                CTuple.set(&hook.hook.args, slot, a)
            }
            hook.hook.ctx_size = UInt16(ret.offset + ret.size)
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
        // int security_bprm_check(struct linux_binprm *bprm): argument 0, the only one.
        for arg in args where arg.index != 0 || ![.linuxBinprm, .file, .auto].contains(arg.type) {
            fail(arg, "\(name) has one argument, index 0 of type linux_binprm", at: arg.index != 0 ? "index" : "type")
        }
        for selector in selectors {
            for action in selector.matchActions where action.action == .override {
                fail(
                    action,
                    "Override on \(name) needs fanotify exec permission events, which are not in this build yet; "
                        + "Sigkill kills the process before the new image runs an instruction", at: "action")
            }
        }
        let resolved = args.map { arg in
            (CompiledArg(label: arg.label, declaredType: .linuxBinprm, kind: .string),
             ResolvedTracepointArg(fieldIndex: 0, offset: 0, size: 0, kind: .string))
        }
        let slotFor: (UInt32) -> Int? = { value in args.firstIndex { $0.index == value } }
        guard var hook = buildHook(
            category: "sched", name: "sched_process_exec", event: event, node: node, args: resolved,
            selectors: selectors, slotFor: slotFor, message: message, tags: tags, spec: spec)
        else { return nil }
        for slot in 0..<args.count {
            var a = vigil_arg_spec()
            a.kind = UInt8(VIGIL_ARG_EXE.rawValue)
            CTuple.set(&hook.hook.args, slot, a)
        }
        hook.hook.ctx_size = 0
        return hook
    }
}
