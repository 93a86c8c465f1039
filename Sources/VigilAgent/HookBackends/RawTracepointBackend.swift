// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler

/// Raw tracepoints (`raw: true`): the generic raw tracepoint program, one instance per hook with
/// its slot in the instance's .rodata, reading the tracepoint's own arguments (its TP_PROTO)
/// instead of the tracefs record. No fallback: a tracefs hook reads other arguments.
struct RawTracepointBackend: HookBackend {
    private let kernel: any PolicyKernel
    private var links: [UInt32: any HookLink] = [:]

    init(kernel: any PolicyKernel) {
        self.kernel = kernel
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism == .rawTracepoint }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        links[slot] = try kernel.attachRawTracepointHook(category: hook.category, name: hook.name, slot: slot)
        return .rawTracepoint
    }

    mutating func release(_ slots: Set<UInt32>) {
        for slot in slots { links.removeValue(forKey: slot)?.detach() }
    }
}
