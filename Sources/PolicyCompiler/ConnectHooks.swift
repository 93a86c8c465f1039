// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// socket_connect and its kprobe spellings run on the cgroup connect4/6 and sendmsg4/6 hooks:
/// they see every connect (and unconnected send) of every process and can deny it with EPERM or
/// another errno (Override). They cannot send signals themselves: a Sigkill/Signal is sent by a
/// tp_btf program at the exit of the syscall that ran the hook, which also adds the result.
extension Context {
    /// The prototype each spelling has in Tetragon: which argument index is what.
    enum ConnectArgument {
        case socket, sockaddr, addrlen
    }

    static let connectPrototypes: [String: [UInt32: ConnectArgument]] = [
        // int security_socket_connect(struct socket *sock, struct sockaddr *address, int addrlen)
        "socket_connect": [0: .socket, 1: .sockaddr, 2: .addrlen],
        "security_socket_connect": [0: .socket, 1: .sockaddr, 2: .addrlen],
        // int tcp_connect(struct sock *sk)
        "tcp_connect": [0: .socket],
    ]

    /// Whether `call` (a kprobe symbol or LSM hook name) runs on the connect hooks.
    static func isConnectHook(_ call: String) -> Bool { connectPrototypes[call] != nil }

    mutating func compileConnectHook(
        name: String, event: HookEvent, node: some PolicyNode, args: [KProbeArg], selectors: [Selector],
        message: String?, tags: [String], spec: PolicySpec
    ) -> CompiledHook? {
        guard let prototype = Self.connectPrototypes[name] else { return nil }
        var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
        var connectKinds: [vigil_arg_kind] = []
        for arg in args {
            guard let role = prototype[arg.index] else {
                fail(arg, "\(name) has no argument \(arg.index) on the connect hook (it has \(prototype.keys.sorted().map(String.init).joined(separator: ", ")))", at: "index")
                continue
            }
            let fits: Bool
            let kind: vigil_arg_kind
            switch role {
            case .socket:
                fits = [.socket, .sock, .auto].contains(arg.type)
                kind = VIGIL_ARG_SOCK
            case .sockaddr:
                fits = [.sockaddr, .auto].contains(arg.type)
                kind = VIGIL_ARG_SOCKADDR
            case .addrlen:
                fits = arg.type.isInteger || arg.type == .auto
                kind = VIGIL_ARG_ADDRLEN
            }
            guard fits else {
                fail(arg, "argument \(arg.index) of \(name) is a \(role); type \(arg.type.rawValue) does not fit it", at: "type")
                continue
            }
            let renderKind: TracepointArgKind = role == .addrlen ? .int(size: 4, signed: true) : .sockaddr
            connectKinds.append(kind)
            resolved.append(
                (CompiledArg(label: arg.label, declaredType: arg.type, kind: renderKind),
                 ResolvedTracepointArg(fieldIndex: 0, offset: 0, size: 0, kind: renderKind)))
        }
        guard resolved.count == args.count else { return nil }
        for selector in selectors where !environment.connectSignalsAvailable {
            for action in selector.matchActions where action.action == .sigkill || action.action == .signal {
                fail(
                    action,
                    "\(action.action.rawValue) is not available on \(name) here: the cgroup connect hooks cannot send "
                        + "signals, and the tp_btf sys_exit program that sends them for connects did not load; use "
                        + "Override to deny the connect", at: "action")
            }
        }
        let slotFor: (UInt32) -> Int? = { value in args.firstIndex { $0.index == value } }
        guard var hook = buildHook(
            category: "", name: name, event: event, node: node, args: resolved, selectors: selectors,
            slotFor: slotFor, message: message, tags: tags, spec: spec, allowOverride: true)
        else { return nil }
        for (slot, kind) in connectKinds.enumerated() {
            var a = vigil_arg_spec()
            a.kind = UInt8(kind.rawValue)
            CTuple.set(&hook.hook.args, slot, a)
        }
        hook.hook.ctx_size = 0
        hook.mechanism = .cgroupConnect
        if name == "tcp_connect" {
            // The connect hooks see UDP and other protocols too; tcp_connect only ever saw TCP.
            guard let sockSlot = connectKinds.firstIndex(of: VIGIL_ARG_SOCK) else {
                fail(node, "tcp_connect needs its sock argument (index 0, type sock) on this kernel", at: "args")
                return nil
            }
            var tcp = vigil_arg_filter()
            tcp.arg = UInt8(sockSlot)
            tcp.op = UInt8(VIGIL_OP_PROTOCOL.rawValue)
            tcp.nvalues = 1
            CTuple.set(&tcp.values, 0, UInt64(6))  // IPPROTO_TCP
            if hook.hook.nselectors == 0 {
                var selector = vigil_selector()
                selector.nargs = 1
                CTuple.set(&selector.args, 0, tcp)
                hook.hook.nselectors = 1
                CTuple.set(&hook.hook.selectors, 0, selector)
            }
            for i in 0..<Int(hook.hook.nselectors) {
                var selector = CTuple.get(hook.hook.selectors, i, as: vigil_selector.self)
                guard selector.nargs < UInt8(VIGIL_MATCH_ARGS) else {
                    fail(node, "tcp_connect selectors can have at most \(VIGIL_MATCH_ARGS - 1) matchArgs here (one is the implicit protocol check)", at: "selectors")
                    return nil
                }
                CTuple.set(&selector.args, Int(selector.nargs), tcp)
                selector.nargs += 1
                CTuple.set(&hook.hook.selectors, i, selector)
            }
        }
        return hook
    }

    mutating func compileLsmHook(_ lsm: LsmHookSpec, spec: PolicySpec) -> [CompiledHook] {
        // A new program's argv exists only once exec has loaded it (sched_process_exec), after
        // the BPF-LSM hook, and so do the credentials exec gives it: a hook that reads one of
        // Vigil's exec types runs there wherever BPF-LSM is (one reader for all of them).
        let readsExecFacts = lsm.args.contains { $0.type.isVigilExecType }
        if environment.bpfLSM, let program = Self.bpfLSMProgram(lsm.hook), !readsExecFacts {
            return compileBPFLSMHook(lsm, program: program, spec: spec).map { [$0] } ?? []
        }
        if Self.isExecCheckHook(lsm.hook) {
            return compileExecCheckHook(
                name: lsm.hook, event: .lsm(hook: lsm.hook), node: lsm, args: lsm.args, selectors: lsm.selectors,
                message: lsm.message, tags: lsm.tags, spec: spec).map { [$0] } ?? []
        }
        if Self.isFileOpenHook(lsm.hook) {
            return compileFileOpenHook(
                name: lsm.hook, event: .lsm(hook: lsm.hook), node: lsm, args: lsm.args, selectors: lsm.selectors,
                message: lsm.message, tags: lsm.tags, spec: spec)
        }
        guard Self.isConnectHook(lsm.hook) else {
            if environment.bpfLSM {
                fail(
                    lsm,
                    "lsmhooks \(lsm.hook) is not served by this build: its BPF-LSM programs run file_open, "
                        + "bprm_check_security and socket_connect", at: "hook")
                return []
            }
            fail(
                lsm,
                "lsmhooks \(lsm.hook) needs BPF-LSM, which this kernel does not allow; of the LSM hooks this build "
                    + "serves socket_connect, file_open and bprm_check_security on other hooks",
                at: "hook")
            return []
        }
        return compileConnectHook(
            name: lsm.hook, event: .lsm(hook: lsm.hook), node: lsm, args: lsm.args, selectors: lsm.selectors,
            message: lsm.message, tags: lsm.tags, spec: spec).map { [$0] } ?? []
    }
}
