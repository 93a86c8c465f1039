// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// lsmhooks file_open, bprm_check_security and socket_connect where the kernel runs BPF-LSM:
/// one BPF-LSM program per hook evaluates every selector in the hook and fails the operation
/// there with the policy's argError (any errno), so none of the fallback's split is needed
/// (fanotify rules for Override, observation at the open syscall's exit or sched_process_exec).
/// The kprobe spellings (security_file_open, ...) keep running on the fallback mechanisms.
extension Context {
    /// The BPF-LSM program that serves lsmhooks `hook`, if one does.
    static func bpfLSMProgram(_ hook: String) -> vigil_lsm_hook? {
        switch hook {
        case "file_open": VIGIL_LSM_FILE_OPEN
        case "bprm_check_security": VIGIL_LSM_BPRM_CHECK
        case "socket_connect": VIGIL_LSM_SOCKET_CONNECT
        default: nil
        }
    }

    mutating func compileBPFLSMHook(_ lsm: LsmHookSpec, program: vigil_lsm_hook, spec: PolicySpec) -> CompiledHook? {
        if program == VIGIL_LSM_SOCKET_CONNECT {
            // Same arguments and facts as on the cgroup hooks: only where they run differs.
            guard var hook = compileConnectHook(
                name: lsm.hook, event: .lsm(hook: lsm.hook), node: lsm, args: lsm.args, selectors: lsm.selectors,
                message: lsm.message, tags: lsm.tags, spec: spec)
            else { return nil }
            hook.mechanism = .bpfLSM
            return hook
        }
        // int file_open(struct file *file); int bprm_check_security(struct linux_binprm *bprm)
        let exec = program == VIGIL_LSM_BPRM_CHECK
        let types: [ArgType] = exec ? [.linuxBinprm, .file, .auto] : [.file, .path, .auto]
        for arg in lsm.args where arg.index != 0 || !types.contains(arg.type) {
            fail(
                arg, "\(lsm.hook) has one argument, index 0 of type \(exec ? "linux_binprm" : "file")",
                at: arg.index != 0 ? "index" : "type")
        }
        let resolved = lsm.args.map { arg in
            (CompiledArg(label: arg.label, declaredType: exec ? .linuxBinprm : arg.type, kind: .string),
             ResolvedTracepointArg(fieldIndex: 0, offset: 0, size: 0, kind: .string))
        }
        let slotFor: (UInt32) -> Int? = { value in lsm.args.firstIndex { $0.index == value } }
        guard var hook = buildHook(
            category: "", name: lsm.hook, event: .lsm(hook: lsm.hook), node: lsm, args: resolved,
            selectors: lsm.selectors, slotFor: slotFor, message: lsm.message, tags: lsm.tags, spec: spec,
            allowOverride: true)
        else { return nil }
        for slot in 0..<lsm.args.count {
            var a = vigil_arg_spec()
            a.kind = UInt8((exec ? VIGIL_ARG_EXE : VIGIL_ARG_FILE_FD).rawValue)
            CTuple.set(&hook.hook.args, slot, a)
        }
        hook.hook.ctx_size = 0
        hook.mechanism = .bpfLSM
        if spec.parsedOptions.fileIdentity == .inode { matchFileIdentity(lsm, &hook) }
        return hook
    }

    /// `vigil-file-identity: inode`: each Equal on the file also matches, in the kernel, the files
    /// its paths name when the policy loads, under any other name (a hard link, a bind mount, a
    /// rename). Whatever the selector's action: the selector matches, so Sigkill and Post too.
    mutating func matchFileIdentity(_ lsm: LsmHookSpec, _ hook: inout CompiledHook) {
        for (i, selector) in lsm.selectors.prefix(Int(VIGIL_SELECTORS)).enumerated() {
            var compiled = CTuple.get(hook.hook.selectors, i, as: vigil_selector.self)
            for (j, match) in selector.matchArgs.prefix(Int(VIGIL_MATCH_ARGS)).enumerated() {
                var f = CTuple.get(compiled.args, j, as: vigil_arg_filter.self)
                guard f.op == UInt8(VIGIL_OP_EQUAL.rawValue) else { continue }
                f.flags |= UInt8(VIGIL_ARG_FILTER_F_INODE)
                CTuple.set(&compiled.args, j, f)
                fileIdentityPaths.append(contentsOf: match.values.map { FileIdentityPath(setID: f.set_id, path: $0) })
            }
            CTuple.set(&hook.hook.selectors, i, compiled)
        }
    }
}

extension CompiledHook {
    /// The BPF-LSM program that runs this hook (nil: it attaches elsewhere).
    package var bpfLSMProgram: vigil_lsm_hook? {
        mechanism == .bpfLSM ? Context.bpfLSMProgram(name) : nil
    }
}
