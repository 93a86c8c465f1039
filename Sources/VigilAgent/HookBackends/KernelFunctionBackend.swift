// SPDX-License-Identifier: Apache-2.0
import BPFKit
import Logging
import PolicyCompiler

/// Hooks on kernel functions: BPF trampolines (fentry, fexit, fmod_ret) where the compiler
/// found BTF for the function, else a kprobe (and a kretprobe for `return: true`). A trampoline
/// the kernel refuses at attach time falls back to the kprobe, except fmod_ret, whose Override
/// a kprobe cannot do.
struct KernelFunctionBackend: HookBackend {
    private let kernel: any PolicyKernel
    private let logger: Logger
    private var links: [UInt32: [any HookLink]] = [:]

    init(kernel: any PolicyKernel, logger: Logger) {
        self.kernel = kernel
        self.logger = logger
    }

    func serves(_ mechanism: Mechanism) -> Bool { mechanism.isKernelFunction }

    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism {
        let kind: TrampolineKind
        switch hook.mechanism {
        case .fentry: kind = .fentry
        case .fexit: kind = .fexit
        case .fmodRet: kind = .fmodRet
        case let mechanism:
            links[slot] = try kernel.attachKprobeHook(symbol: hook.name, slot: slot, returnProbe: mechanism == .kretprobe)
            return mechanism
        }
        do {
            links[slot] = [try kernel.attachTrampolineHook(symbol: hook.name, slot: slot, kind: kind)]
            return hook.mechanism
        } catch where kind != .fmodRet && kernel.kprobesAvailable {
            // BTF describes the function but the kernel refuses a trampoline on it (struct
            // arguments by value, a noreturn function for fexit, ...): the same hook on a
            // kprobe, and the event and policy list say so.
            let fallback: Mechanism = kind == .fexit ? .kretprobe : .kprobe
            if fallback == .kretprobe && hook.filtersOnReturnValue {
                throw HookRefusal(
                    "policy \(policy): fexit on \(hook.name) did not attach (\(error)), and its matchReturnArgs cannot run on "
                        + "the kretprobe it would fall back to (a kretprobe hook's selectors run at the function's entry)")
            }
            logger.warning(
                "policy \(policy): \(hook.mechanism.name) on \(hook.name) did not attach (\(error)); it runs on a \(fallback.name)")
            links[slot] = try kernel.attachKprobeHook(symbol: hook.name, slot: slot, returnProbe: fallback == .kretprobe)
            return fallback
        }
    }

    mutating func release(_ slots: Set<UInt32>) {
        for slot in slots {
            for link in links.removeValue(forKey: slot) ?? [] { link.detach() }
        }
    }
}
