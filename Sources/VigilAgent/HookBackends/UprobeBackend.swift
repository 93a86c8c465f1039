// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler

/// Hooks on functions of user-space binaries (spec.uprobes): the generic uprobe program on the
/// function's file offset (or its symbol, where the compiler did not read the binary), in every
/// process that maps the file; a `return: true` hook adds a uretprobe that posts the event with
/// the return value. One attachment per hook: a uprobe takes the same program any number of times.
struct UprobeBackend: HookBackend {
    private let kernel: any PolicyKernel
    private var links: [UInt32: [any HookLink]] = [:]

    init(kernel: any PolicyKernel) {
        self.kernel = kernel
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism == .uprobe || mechanism == .uretprobe }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        guard let target = hook.uprobe, target.symbol != nil || target.offset != nil else {
            // Only a compile that could not read the binary (validation elsewhere) leaves both out.
            throw HookRefusal("policy \(policy): uprobe hook \(hook.name) has neither a symbol nor a file offset")
        }
        links[slot] = try kernel.attachUprobeHook(target, slot: slot, returnProbe: hook.mechanism == .uretprobe)
        return hook.mechanism
    }

    mutating func release(_ slots: Set<UInt32>) {
        for slot in slots {
            for link in links.removeValue(forKey: slot) ?? [] { link.detach() }
        }
    }
}
