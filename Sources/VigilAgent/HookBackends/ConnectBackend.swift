// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Logging
import PolicyCompiler

/// Connect hooks (tcp_connect, security_socket_connect, lsmhooks socket_connect without
/// BPF-LSM) on the cgroup connect4/6 and sendmsg4/6 programs: attached to the cgroup2 root on
/// first use and left there, they run the hooks in one list (vg_connect_hooks) in order.
struct ConnectBackend: HookBackend {
    private let kernel: any PolicyKernel
    /// cgroup2 root the programs attach to; nil when no cgroup2 mount exists.
    private let cgroupRoot: String?
    /// bpffs directory the links are pinned in once attached (`--keep-sensors-on-exit`).
    private let pinDirectory: String?
    private let logger: Logger
    /// The listed slots, in the order the programs evaluate them.
    private(set) var slots: [UInt32] = []
    private var attached = false

    init(kernel: any PolicyKernel, cgroupRoot: String?, pinDirectory: String?, logger: Logger) {
        self.kernel = kernel
        self.cgroupRoot = cgroupRoot
        self.pinDirectory = pinDirectory
        self.logger = logger
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism == .cgroupConnect }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        guard slots.count < Int(VIGIL_GENERIC_COPIES) else {
            throw HookRefusal(
                "more than \(VIGIL_GENERIC_COPIES) connect hooks on the node (a policy being replaced counts twice)")
        }
        if !attached {
            try ConnectPrograms.attach(kernel, cgroupRoot: cgroupRoot, pinDirectory: pinDirectory, logger: logger)
            attached = true
        }
        slots.append(slot)
        try HookList.write(kernel, .connectHooks, key: 0, slots)
        return .cgroupConnect
    }

    mutating func release(_ released: Set<UInt32>) {
        guard !released.isDisjoint(with: slots) else { return }
        slots.removeAll { released.contains($0) }
        // The programs stay attached: with an empty list they only look it up.
        try? HookList.write(kernel, .connectHooks, key: 0, slots)
    }
}

/// The cgroup connect4/6 and sendmsg4/6 programs on the cgroup2 root, which the connect hooks
/// and BPF-LSM's socket_connect (for the sends and TCP fast opens its LSM hook never sees) both
/// need: attached (the kernel layer attaches them once, whoever asks first) and, with
/// `--keep-sensors-on-exit`, pinned.
enum ConnectPrograms {
    /// - Throws: `HookRefusal` without a cgroup2 mount, or the kernel's attach error. A failed
    ///   pin is logged, not thrown: the programs work, they only will not outlive the agent.
    static func attach(_ kernel: any PolicyKernel, cgroupRoot: String?, pinDirectory: String?, logger: Logger) throws {
        guard let cgroupRoot else {
            throw HookRefusal("connect hooks need a cgroup2 mount, and none was found in /proc/self/mountinfo")
        }
        try kernel.attachConnectHooks(cgroupRoot: cgroupRoot)
        guard let pinDirectory else { return }
        do {
            try kernel.pinConnectHooks(directory: pinDirectory)
            logger.info("connect enforcement pinned", metadata: ["bpf_dir": "\(pinDirectory)"])
        } catch {
            logger.error("connect enforcement not pinned (it will not outlive the agent): \(error)")
        }
    }
}
