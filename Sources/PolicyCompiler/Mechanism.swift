// SPDX-License-Identifier: Apache-2.0

/// The kernel mechanism a policy hook runs on.
///
/// The compiler picks one for each hook (``CompiledHook/mechanism``); the hook backend that
/// attaches it may run it on another (a syscall tracepoint on the raw dispatcher, a refused
/// trampoline on a kprobe) and reports the one it used. Status, events, logs and metrics print
/// from this value; nothing parses a mechanism back out of a display string.
package enum Mechanism: Sendable, Hashable, CaseIterable {
    /// The generic program on the tracepoint `category/name`.
    case tracepoint
    /// The generic raw tracepoint program on `name` (`raw: true`: the tracepoint's own arguments).
    case rawTracepoint
    /// A syscall tracepoint hook run by the raw sys_enter (tp_btf) dispatcher.
    case syscallEntryDispatcher
    /// A syscall tracepoint hook run by the raw sys_exit (tp_btf) dispatcher.
    case syscallExitDispatcher
    /// A hook at sched_process_exec that reads no record (the exec check hooks), run by the exec
    /// dispatcher (tp_btf), after the process sensor's exec tracking.
    case execDispatcher
    /// The cgroup connect4/6 and sendmsg4/6 programs (one list of hooks for all of them).
    case cgroupConnect
    /// The BPF-LSM program named by the hook (file_open, bprm_check_security, socket_connect).
    case bpfLSM
    /// The generic program on a kprobe of the kernel function.
    case kprobe
    /// A kprobe and a kretprobe (`return: true`: the event goes out at the return).
    case kretprobe
    /// BPF trampolines, where the kernel has them and its BTF describes the function: fentry
    /// (a direct call from the function's ftrace site; its cost against a kprobe is in
    /// docs/kernel-matrix.md), fexit (`return: true`: arguments and return value in one
    /// program), fmod_ret (hooks with Override: a denial makes the function return the errno).
    case fentry
    case fexit
    case fmodRet
    /// fanotify permission events, decided in user space from the compiled deny rules.
    case fanotify
    /// The generic program on a uprobe of a function in a user-space binary (spec.uprobes).
    case uprobe
    /// A uprobe and a uretprobe (`return: true`: the event goes out at the return).
    case uretprobe

    /// The mechanism's name as status (`tracectl policy list`, the control API's HookInfo), logs
    /// and metrics print it. The dispatchers run tracepoint hooks and a kretprobe is a kprobe
    /// pair, so they print as the family they belong to.
    package var name: String {
        switch self {
        case .tracepoint, .syscallEntryDispatcher, .syscallExitDispatcher, .execDispatcher: "tracepoint"
        case .rawTracepoint: "raw_tracepoint"
        case .cgroupConnect: "cgroup"
        case .bpfLSM: "bpf_lsm"
        case .kprobe, .kretprobe: "kprobe"
        case .fentry: "fentry"
        case .fexit: "fexit"
        case .fmodRet: "fmod_ret"
        case .fanotify: "fanotify"
        case .uprobe, .uretprobe: "uprobe"
        }
    }

    /// Vigil's `mechanism` key of an event posted by the hook `category/name` (written with
    /// `--enable-vigil-fields`): tracepoint and BPF-LSM hooks name what they ran on.
    package func eventValue(category: String, name hook: String) -> String {
        switch self {
        case .tracepoint, .syscallEntryDispatcher, .syscallExitDispatcher, .execDispatcher: "tracepoint \(category)/\(hook)"
        case .rawTracepoint: "raw_tracepoint \(category)/\(hook)"
        case .cgroupConnect: "cgroup_sock_addr"
        case .bpfLSM: "bpf_lsm \(hook)"
        case .kretprobe: "kretprobe"
        case .uretprobe: "uretprobe"
        default: name
        }
    }

    /// A loaded hook as `tracectl policy list` and the install log show it: what is hooked, and
    /// how where that is not plain from the name (`do_exit (kprobe + kretprobe)`).
    package func hookDescription(category: String, name hook: String) -> String {
        switch self {
        case .tracepoint: "\(category)/\(hook)"
        case .rawTracepoint: "\(category)/\(hook) (raw tracepoint)"
        case .syscallEntryDispatcher: "\(category)/\(hook) (raw sys_enter dispatcher)"
        case .syscallExitDispatcher: "\(category)/\(hook) (raw sys_exit dispatcher)"
        case .execDispatcher: "\(category)/\(hook) (exec dispatcher)"
        case .cgroupConnect: "\(hook) (cgroup connect/sendmsg)"
        // The LSM hook runs in connect(2) and io_uring's connect only: unconnected sends and
        // TCP fast open (a connect inside sendmsg) are decided by the cgroup programs beside it.
        case .bpfLSM where hook == "socket_connect": "\(hook) (BPF-LSM; sends and TCP fast open: cgroup connect/sendmsg)"
        case .bpfLSM: "\(hook) (BPF-LSM)"
        case .kretprobe: "\(hook) (kprobe + kretprobe)"
        // A uprobe hook's category is its binary: `/usr/bin/bash:readline (uprobe)`.
        case .uprobe: "\(category):\(hook) (uprobe)"
        case .uretprobe: "\(category):\(hook) (uprobe + uretprobe)"
        default: "\(hook) (\(name))"
        }
    }

    /// Whether the mechanism runs the generic program on a kernel function (kprobe or trampoline).
    package var isKernelFunction: Bool {
        switch self {
        case .kprobe, .kretprobe, .fentry, .fexit, .fmodRet: true
        default: false
        }
    }
}
