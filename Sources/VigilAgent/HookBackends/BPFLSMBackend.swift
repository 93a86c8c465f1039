// SPDX-License-Identifier: Apache-2.0
import BPFKit
import CVigilABI
import Events
import Logging
import PolicyCompiler

/// lsmhooks file_open, bprm_check_security and socket_connect where the kernel runs BPF-LSM:
/// one program per hook, attached on first use, runs the hooks in its list (vg_lsm_hooks keyed
/// by enum vigil_lsm_hook) and fails the operation with the policy's errno.
///
/// socket_connect also needs the cgroup connect4/6 and sendmsg4/6 programs: the kernel runs the
/// LSM hook from connect(2) and io_uring's connect only, so an unconnected UDP send and a TCP fast
/// open (sendto with MSG_FASTOPEN, which connects inside sendmsg) never reach it. The cgroup
/// programs run the socket_connect list for those (lib/connect.h) and the events say which
/// mechanism decided. Without a cgroup2 mount they are missing, and the agent says so.
struct BPFLSMBackend: HookBackend {
    private let kernel: any PolicyKernel
    /// cgroup2 root the connect programs attach to beside lsm/socket_connect.
    private let cgroupRoot: String?
    /// bpffs directory the links are pinned in once attached (`--keep-sensors-on-exit`).
    private let pinDirectory: String?
    private let logger: Logger
    /// Listed slots per program (enum vigil_lsm_hook).
    private(set) var slots: [UInt32: [UInt32]] = [:]
    /// Whether the cgroup programs beside lsm/socket_connect are attached (and pinned).
    private var sendHooks = false

    init(kernel: any PolicyKernel, cgroupRoot: String?, pinDirectory: String?, logger: Logger) {
        self.kernel = kernel
        self.cgroupRoot = cgroupRoot
        self.pinDirectory = pinDirectory
        self.logger = logger
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism == .bpfLSM }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        guard let program = hook.bpfLSMProgram else { throw HookRefusal("no BPF-LSM program for \(hook.name)") }
        let key = program.rawValue
        var list = slots[key] ?? []
        guard list.count < Int(VIGIL_GENERIC_COPIES) else {
            throw HookRefusal(
                "more than \(VIGIL_GENERIC_COPIES) lsmhooks \(hook.name) hooks on the node (a policy being "
                    + "replaced counts twice); merge selectors into fewer hooks")
        }
        list.append(slot)
        slots[key] = list
        // The list before the attach: the program finds its hooks on its first run.
        try HookList.write(kernel, .lsmHooks, key: key, list)
        // The cgroup programs first: once the LSM program denies connects, sends are denied too.
        if program == VIGIL_LSM_SOCKET_CONNECT { attachSendHooks(policy: policy) }
        try kernel.attachLSM(program)
        if let pinDirectory {
            do {
                if try kernel.pinLSM(program, directory: pinDirectory) {
                    logger.info("BPF-LSM enforcement pinned", metadata: ["hook": "\(hook.name)", "bpf_dir": "\(pinDirectory)"])
                }
            } catch {
                logger.error("BPF-LSM enforcement not pinned (it will not outlive the agent): \(error)")
            }
        }
        return .bpfLSM
    }

    /// The cgroup connect/sendmsg programs beside lsm/socket_connect (idempotent: the connect
    /// backend may have attached them already). A refusal leaves connect(2) denied by the LSM
    /// hook and sends not: logged with the policy, not a reason to refuse what does work.
    private mutating func attachSendHooks(policy: String) {
        guard !sendHooks else { return }
        do {
            try ConnectPrograms.attach(kernel, cgroupRoot: cgroupRoot, pinDirectory: pinDirectory, logger: logger)
        } catch {
            let why = "the cgroup connect/sendmsg programs did not attach (\(error))"
            logger.warning(
                "policy \(policy): socket_connect denies connect(2) on BPF-LSM, but unconnected sends and TCP fast open pass it: \(why)")
            return
        }
        sendHooks = true
    }

    mutating func release(_ released: Set<UInt32>) {
        for (key, list) in slots where !released.isDisjoint(with: list) {
            let remaining = list.filter { !released.contains($0) }
            slots[key] = remaining.isEmpty ? nil : remaining
            try? HookList.write(kernel, .lsmHooks, key: key, remaining)
            // An attached program runs on every open, exec or connect of the node. A pinned
            // link stays attached whatever the process does; detaching here would only let the
            // next policy attach a second one. Its empty list costs one lookup per call.
            if remaining.isEmpty && pinDirectory == nil { kernel.detachLSM(vigil_lsm_hook(key)) }
        }
    }
}
