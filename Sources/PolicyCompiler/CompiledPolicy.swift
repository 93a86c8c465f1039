// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Foundation
import Events
import Tracefs
import TracingPolicy

/// A policy problem found while compiling, with the place in the YAML it comes from.
package struct PolicyCompileError: Error, Sendable, Hashable, CustomStringConvertible {
    package var location: SourceLocation
    package var path: String
    package var message: String

    package init(location: SourceLocation, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    package init(_ error: ValidationError) {
        self.init(location: error.location, path: error.path, message: error.message)
    }

    /// `file:line:column: key.path: message`, as the parser writes its errors.
    package var description: String { "\(location): \(path): \(message)" }
}

/// Every problem that refused one policy, in file order.
package struct PolicyCompileFailure: Error, Sendable, Hashable, CustomStringConvertible {
    package var errors: [PolicyCompileError]
    package init(errors: [PolicyCompileError]) { self.errors = errors }
    package var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// What a compiled hook posts when it matches.
package enum HookEvent: Sendable, Hashable {
    /// `process_tracepoint` with these `subsys` and `event`.
    case tracepoint(subsystem: String, event: String)
    /// `process_kprobe` with this `function_name` (a syscall kprobe run on its tracepoint, or
    /// security_socket_connect / tcp_connect run on the connect hooks).
    case kprobe(functionName: String)
    /// `process_lsm` with this hook name as `function_name`.
    case lsm(hook: String)
    /// `process_uprobe` with Tetragon's `path` (the binary), `symbol` (empty for an `offsets`
    /// hook) and `offset` (the policy's file offset; 0, so left out, for a symbol: Tetragon's
    /// proto has them mutually exclusive).
    case uprobe(path: String, symbol: String, offset: UInt64)
}

/// Where a uprobe hook attaches: a function of a user-space binary.
package struct UprobeTarget: Sendable, Hashable {
    /// The binary or library (`path`), as the node's root sees it.
    package var binary: String
    /// The function symbol, nil for an `offsets` hook.
    package var symbol: String?
    /// The file offset the probe goes to; nil where the compiler did not read the binary
    /// (validation away from the node): libbpf resolves ``symbol`` when the agent attaches it.
    package var offset: UInt64?

    package init(binary: String, symbol: String?, offset: UInt64?) {
        self.binary = binary
        self.symbol = symbol
        self.offset = offset
    }
}

/// How one argument of a matching event is rendered.
package struct CompiledArg: Sendable, Hashable {
    package var label: String?
    /// The type the policy declared (`auto` when it left it out).
    package var declaredType: ArgType
    /// How selectors treat it (connect sockets as `.sockaddr`, resolved files as `.string`).
    package var kind: TracepointArgKind

    package init(label: String?, declaredType: ArgType, kind: TracepointArgKind) {
        self.label = label
        self.declaredType = declaredType
        self.kind = kind
    }
}

/// One hook of a policy, ready to write into vg_hooks and attach.
package struct CompiledHook: Sendable {
    /// The tracepoint the generic program attaches to (see ``mechanism``).
    package var category: String
    package var name: String
    /// Where the compiler means the hook to run; the backend that attaches it reports where it
    /// did (see ``Mechanism``).
    package var mechanism: Mechanism = .tracepoint
    package var event: HookEvent
    package var message: String?
    package var tags: [String]
    package var args: [CompiledArg]
    /// The function a uprobe hook (``Mechanism/uprobe``, ``Mechanism/uretprobe``) attaches to.
    package var uprobe: UprobeTarget?
    /// The vg_hooks value without its policy id (the installer sets it).
    package var hook: vigil_hook
    /// A selector filters on the return value (matchReturnArgs): the hook must run where its
    /// selectors see it, so a fexit refused at attach time cannot fall back to a kretprobe.
    package var filtersOnReturnValue: Bool {
        withUnsafeBytes(of: hook.selectors) { raw in
            (0..<Int(min(hook.nselectors, UInt8(VIGIL_SELECTORS)))).contains { i in
                let selector = raw.load(fromByteOffset: i * MemoryLayout<vigil_selector>.stride, as: vigil_selector.self)
                return withUnsafeBytes(of: selector.args) { args in
                    (0..<Int(min(selector.nargs, UInt8(VIGIL_MATCH_ARGS)))).contains { j in
                        args.load(fromByteOffset: j * MemoryLayout<vigil_arg_filter>.stride, as: vigil_arg_filter.self).arg
                            == UInt8(VIGIL_ARG_SLOT_RESULT)
                    }
                }
            }
        }
    }
    /// Where the hook is written in the policy, for errors met while attaching.
    package var location: SourceLocation
    package var path: String

    /// The vg_hooks value for `policyID`.
    package func hookBytes(policyID: UInt32) -> [UInt8] {
        var value = hook
        value.policy_id = policyID
        return withUnsafeBytes(of: value) { Array($0) }
    }
}

/// An `Override` selector of a file_open or bprm_check_security hook: a deny rule for fanotify
/// permission events, answered in user space from memory (no BPF-LSM here).
package struct CompiledFileRule: Sendable, Hashable {
    package enum Kind: Sendable, Hashable { case open, exec }
    package enum PathOperator: Sendable, Hashable { case exact, prefix, postfix, notExact, notPrefix, notPostfix }
    package enum BinaryOperator: Sendable, Hashable { case `in`, notIn, prefix, notPrefix }

    package var kind: Kind
    package var pathOperator: PathOperator
    package var paths: [String]
    package var binaryOperator: BinaryOperator?
    package var binaries: [String]
    /// matchPIDs: In (true) / NotIn (false) and the pids.
    package var pidsIn: Bool?
    package var pids: [UInt32]
    /// Positive errno from `argError`; fanotify answers EPERM whatever it is.
    package var errno: Int32
    /// The hook event it reports as (`process_lsm` file_open / bprm_check_security, or kprobe).
    package var event: HookEvent
    package var label: String?
    package var message: String?
    package var tags: [String]
    /// `vigil-file-identity: inode` on an `exact` rule: the files the paths name when the policy
    /// is loaded are protected under any name (the agent reads their device and inode).
    package var matchInode: Bool = false
}

/// One path of an Equal set on a BPF-LSM file hook under `vigil-file-identity: inode`.
package struct FileIdentityPath: Sendable, Hashable {
    package var setID: UInt32
    package var path: String
}

/// A policy compiled for this kernel: hooks to attach and the set entries their selectors use.
package struct CompiledPolicy: Sendable {
    package var name: String
    package var namespace: String?
    package var mode: PolicyMode
    package var hooks: [CompiledHook]
    /// String, integer and address set entries, keyed by the set ids in ``setIDs``.
    package var setEntries: [MapUpdate]
    /// The set ids this policy owns; freed (and their entries deleted) when it is removed.
    package var setIDs: [UInt32]
    package var source: SourceLocation
    /// Accepted but worth telling the operator (e.g. unknown options).
    package var warnings: [String]
    /// Deny rules for fanotify (file_open / bprm_check_security with Override).
    package var fileRules: [CompiledFileRule] = []
    /// `vigil-file-identity: inode` on BPF-LSM file hooks: the paths of Equal sets whose files
    /// the kernel also matches by (dev, ino). The agent stats them when it installs the policy
    /// and writes what it finds to ``PolicyMapID/fileIdentities`` under the set id.
    package var fileIdentityPaths: [FileIdentityPath] = []
    /// Pods (and containers) the policy is limited to; nil: every process.
    package var scope: PodScope?
}

/// What the compiler needs to know about the running kernel; injectable for tests.
package struct CompileEnvironment: Sendable {
    /// Reads `events/<subsystem>/<event>/format`.
    package var loadFormat: @Sendable (_ subsystem: String, _ event: String) throws -> TracepointFormat
    /// Whether this kernel lets programs attach to kprobes.
    package var kprobesAvailable: Bool
    /// The host's namespaces, for `host_ns` in matchNamespaces; an unknown one refuses it.
    package var hostNamespaces: HostNamespaces
    package var nativeABI: SyscallABI
    /// Whether connect hooks can Sigkill/Signal: the cgroup programs cannot, so the signal is
    /// sent by a tp_btf program at the syscall's exit, which loads where tp_btf does.
    package var connectSignalsAvailable: Bool
    /// Whether syscall hooks can run at the syscall's exit with its arguments (`return: true` on
    /// syscall kprobes): the tp_btf exit dispatcher keeps them; the perf tracepoint has only ret.
    package var syscallExitArgumentsAvailable: Bool
    /// Whether the agent follows the API server (`--enable-k8s-api`): pod-scoped policies can be
    /// kept in step with the pods, and a nodeSelector can be judged by this node's labels.
    package var podScopesAvailable: Bool
    /// Whether the agent's BPF-LSM programs loaded: lsmhooks file_open, bprm_check_security and
    /// socket_connect then run in them instead of on fanotify and the cgroup connect hooks.
    package var bpfLSM: Bool
    /// Whether the agent's generic kprobe programs loaded (kprobes usable, not only present).
    package var kprobeProgramsLoaded: Bool
    /// Whether kprobes can attach to a kernel function here.
    package var kernelSymbol: @Sendable (String) -> KernelSymbolStatus
    /// Why the agent's BPF trampoline programs (fentry, fexit, fmod_ret) cannot run here; nil
    /// when one loaded and attached at start.
    package var trampolineRefusal: String?
    /// Whether the kernel's BTF describes the function (what a trampoline is built from).
    package var kernelFunctionHasBTF: @Sendable (String) -> Bool
    /// Whether the function is on the kernel's error-injection list (fmod_ret may fail it); nil
    /// where the kernel has no such list (CONFIG_FUNCTION_ERROR_INJECTION off).
    package var errorInjectable: @Sendable (String) -> Bool?
    /// Why spec.uprobes cannot run here (no uprobe PMU, the agent's uprobe programs did not
    /// load); nil when they can.
    package var uprobeRefusal: String?
    /// Where a uprobe target is in its binary (the binary is read where the compiler runs).
    package var userFunction: @Sendable (_ binary: String, _ target: UserFunctionTarget) -> UserFunctionLookup
    /// Why no policy program runs on this kernel (no bpf_loop(), before 5.17): every policy is
    /// refused with it, as the agent's engine refuses it; nil where they run.
    package var policyProgramsUnavailable: String? = nil
    /// The arguments of a raw tracepoint (`raw: true`, by event name) as the kernel's BTF
    /// declares them; `.unchecked` where the compiler cannot read that BTF (validation
    /// elsewhere, a kernel without BTF).
    package var rawTracepointArguments: @Sendable (String) -> RawTracepointLookup = { _ in .unchecked }
    /// Why DNSName / NotDNSName cannot run (what they need, said after "needs"): the addresses
    /// are learnt by the agent's DNS answer program, which runs with --enable-dns-names; nil
    /// where it does.
    package var dnsNamesRefusal: String? = "the DNS answer program, which learns the names' addresses in the kernel: start the agent with --enable-dns-names"
    /// Why the kernel side cannot read an overlay inode's upper dentry where it looks for it
    /// (vigil_exe_upper_layer); nil where it can. Asked only of policies that use it.
    package var overlayUpperLayerRefusal: @Sendable () -> String? = { nil }

    package init(
        loadFormat: @escaping @Sendable (String, String) throws -> TracepointFormat, kprobesAvailable: Bool,
        hostNamespaces: HostNamespaces, nativeABI: SyscallABI = .x86_64, connectSignalsAvailable: Bool = true,
        syscallExitArgumentsAvailable: Bool = true, podScopesAvailable: Bool = false, bpfLSM: Bool = false,
        kprobeProgramsLoaded: Bool = false, kernelSymbol: @escaping @Sendable (String) -> KernelSymbolStatus = { _ in .unknown },
        trampolineRefusal: String? = "BPF trampolines were not probed",
        kernelFunctionHasBTF: @escaping @Sendable (String) -> Bool = { _ in false },
        errorInjectable: @escaping @Sendable (String) -> Bool? = { _ in nil },
        uprobeRefusal: String? = "uprobes were not probed",
        userFunction: @escaping @Sendable (String, UserFunctionTarget) -> UserFunctionLookup = { _, _ in .unchecked }
    ) {
        self.uprobeRefusal = uprobeRefusal
        self.userFunction = userFunction
        self.trampolineRefusal = trampolineRefusal
        self.kernelFunctionHasBTF = kernelFunctionHasBTF
        self.errorInjectable = errorInjectable
        self.podScopesAvailable = podScopesAvailable
        self.bpfLSM = bpfLSM
        self.loadFormat = loadFormat
        self.kprobesAvailable = kprobesAvailable
        self.kprobeProgramsLoaded = kprobeProgramsLoaded
        self.kernelSymbol = kernelSymbol
        self.hostNamespaces = hostNamespaces
        self.nativeABI = nativeABI
        self.connectSignalsAvailable = connectSignalsAvailable
        self.syscallExitArgumentsAvailable = syscallExitArgumentsAvailable
    }

    /// The running kernel: formats from tracefs at `tracefsRoot`.
    package static func live(
        tracefsRoot: String, kprobesAvailable: Bool, hostNamespaces: HostNamespaces, connectSignalsAvailable: Bool = true,
        syscallExitArgumentsAvailable: Bool = true, podScopesAvailable: Bool = false, bpfLSM: Bool = false, kprobeProgramsLoaded: Bool = false,
        trampolineRefusal: String? = "BPF trampolines were not probed",
        kernelFunctionHasBTF: @escaping @Sendable (String) -> Bool = { _ in false },
        uprobeRefusal: String? = CompileEnvironment.uprobePMURefusal()
    ) -> CompileEnvironment {
        let symbols = KernelSymbols()
        let injection = ErrorInjectionList()
        return CompileEnvironment(
            loadFormat: { subsystem, event in
                try TracepointFormat.load(tracefsRoot: tracefsRoot, subsystem: subsystem, event: event)
            }, kprobesAvailable: kprobesAvailable, hostNamespaces: hostNamespaces,
            connectSignalsAvailable: connectSignalsAvailable, syscallExitArgumentsAvailable: syscallExitArgumentsAvailable,
            podScopesAvailable: podScopesAvailable, bpfLSM: bpfLSM,
            kprobeProgramsLoaded: kprobeProgramsLoaded, kernelSymbol: { symbols.status(of: $0) },
            trampolineRefusal: trampolineRefusal, kernelFunctionHasBTF: kernelFunctionHasBTF,
            errorInjectable: { injection.contains($0) }, uprobeRefusal: uprobeRefusal,
            userFunction: { ELFFunctions.lookup($1, in: $0) })
    }

    /// Why uprobes cannot attach on the running kernel as far as its PMUs tell (nil: the uprobe
    /// PMU is there); the agent adds whether its uprobe programs loaded.
    package static func uprobePMURefusal() -> String? {
        access("/sys/bus/event_source/devices/uprobe/type", F_OK) == 0
            ? nil : "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe: CONFIG_UPROBES off)"
    }
}

/// Hands out set ids. Ids are never reused while the agent runs, so a replaced policy's
/// entries can stay in the maps until its hooks are detached without clashing with the new ones.
package struct SetIDAllocator: Sendable {
    package private(set) var next: UInt32

    package init(first: UInt32 = 1) { next = first }

    package mutating func allocate() -> UInt32 {
        defer { next &+= 1 }
        return next
    }
}

/// What the kernel's BTF says of a raw tracepoint.
package enum RawTracepointLookup: Sendable, Equatable {
    /// Its TP_PROTO arguments, in C spelling (`struct linux_binprm *`, `pid_t`).
    case arguments([String])
    /// The kernel has no such raw tracepoint.
    case missing
    /// Not known here.
    case unchecked
}

extension RawTracepointLookup {
    /// From the kernel's BTF: nil (no `btf_trace_<event>`, or no BTF, which the agent needs
    /// anyway) is a tracepoint the compiler cannot read arguments of.
    package init(btfArguments: [String]?) {
        self = btfArguments.map { .arguments($0) } ?? .missing
    }
}
