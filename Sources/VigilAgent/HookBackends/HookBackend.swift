// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler

/// The owner of one family of kernel mechanisms: it attaches the hooks the compiler meant for
/// them, falls back where the kernel refuses the first choice, says which ``Mechanism`` each
/// hook ended up on, and detaches them again.
///
/// ``PolicyEngine`` holds one of each in its state and calls them under its lock, in the order
/// of a transaction: the hook's vg_hooks slot is written before ``attach(_:slot:policy:)``, and
/// ``release(_:)`` undoes attaches of a failed install as well as of a retired version. A new
/// mechanism is one new conforming type (plus its BPF entry file), listed in
/// ``PolicyEngine/backends(kernel:cgroupRoot:pinDirectory:logger:)``.
protocol HookBackend: Sendable {
    /// Whether this backend attaches hooks the compiler meant for `mechanism`.
    func serves(_ mechanism: Mechanism) -> Bool

    /// Attaches `hook`, whose vg_hooks entry is `slot`, for the policy named `policy`.
    ///
    /// - Returns: the mechanism the hook runs on (not the compiler's choice after a fallback).
    /// - Throws: ``HookRefusal`` or the kernel's error; what was attached for `slot` before the
    ///   error is undone by ``release(_:)``.
    mutating func attach(_ hook: CompiledHook, slot: UInt32, policy: String) throws -> Mechanism

    /// Detaches the hooks of `slots` (slots this backend never saw are ignored), and whatever
    /// program no remaining hook needs.
    mutating func release(_ slots: Set<UInt32>)
}

/// A hook a backend cannot attach here, in words for the operator.
struct HookRefusal: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension HookLink {
    /// With `--keep-sensors-on-exit` (`directory` set), pins this hook's own link there as
    /// `name`. A refusal, not a warning: the flag asks for enforcement that outlives the agent,
    /// and a fail-closed policy was accepted on the promise that this one does.
    func pinForKeptSensors(in directory: String?, as name: String, hook: CompiledHook) throws {
        guard let directory else { return }
        do { try pin(at: "\(directory)/\(name)") } catch {
            throw HookRefusal("--keep-sensors-on-exit: the hook on \(hook.category)/\(hook.name) cannot be pinned: \(error)")
        }
    }
}

/// The per-program hook lists (vg_connect_hooks, vg_syscall_hooks, vg_lsm_hooks): the slots a
/// shared program runs, in order.
enum HookList {
    static func write(_ kernel: any PolicyKernel, _ map: PolicyMapID, key: UInt32, _ slots: [UInt32]) throws {
        var list = vigil_hook_list()
        list.count = UInt32(slots.count)
        withUnsafeMutableBytes(of: &list.slots) { raw in
            for (i, slot) in slots.prefix(Int(VIGIL_GENERIC_COPIES)).enumerated() {
                raw.storeBytes(of: slot, toByteOffset: i * 4, as: UInt32.self)
            }
        }
        try kernel.update(map, key: withUnsafeBytes(of: key) { Array($0) }, value: withUnsafeBytes(of: list) { Array($0) })
    }
}
