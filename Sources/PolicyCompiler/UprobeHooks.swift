// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// spec.uprobes: the generic uprobe program on a function of a user-space binary, in every
/// process that maps the file, reading the argument registers as a kprobe does (x86-64: di, si,
/// dx, cx, r8 at 8 * index), strings and buffers from the process's memory.
extension Context {
    /// Argument types a uprobe reads here, for the refusal message.
    static let uprobeArgTypes = "int, int8..int64, uint8..uint64, size_t, long, string, char_buf (with sizeArgIndex), nop"

    /// How a uprobe argument of `type` is read from its register: the same encodings as a
    /// tracepoint field at offset 8 * index (integers little-endian, so a narrower read is the
    /// register's low bytes; a string or buffer pointer as 8 bytes into user memory).
    static func uprobeArgKind(_ arg: KProbeArg) -> TracepointArgKind? {
        switch arg.type {
        case .string, .filename: return .string
        case .charBuf:
            // Tetragon's sizeArgIndex is 1-based: the register holding the length.
            guard let size = arg.sizeArgIndex, size >= 1, size <= UInt32(VIGIL_HOOK_ARGS) else { return nil }
            return .charBuf(size: TracepointSizeField(fieldIndex: Int(size - 1), offset: 8 * Int(size - 1), size: 8))
        case .nop: return .nop
        default:
            guard arg.type.isInteger && arg.type != .syscall64, let reading = kernelArgReading(arg.type) else { return nil }
            return reading.render
        }
    }

    /// One hook per symbol (or offset) of `up`; nothing, with the reasons recorded, where the
    /// policy asks what this agent cannot do here.
    mutating func compileUprobe(_ up: UProbeSpec, spec: PolicySpec) -> [CompiledHook] {
        let errorsBefore = errors.count
        if let refusal = environment.uprobeRefusal {
            fail(up, "uprobes cannot run here: \(refusal)", at: "path")
            return []
        }
        // Keys whose meaning this agent cannot honour: refused, never ignored.
        if !up.refCtrOffsets.isEmpty {
            fail(up, "refCtrOffsets (USDT semaphores) are not supported by this build", at: "refCtrOffsets")
        }
        if up.btfPath != nil {
            fail(up, "btfPath is not supported by this build: arguments are read by their declared type, without BTF", at: "btfPath")
        }
        if !up.data.isEmpty { fail(up, "data arguments are not supported by this build", at: "data") }
        if !up.binaryDigests.isEmpty {
            fail(
                up, "binaryDigests are not supported by this build: the uprobe would attach whatever the file's digest",
                at: "binaryDigests")
        }
        if up.resolvePathInContainer {
            fail(
                up, "resolvePathInContainer is not supported by this build: path is taken as the node's path",
                at: "resolvePathInContainer")
        }
        if up.binaryPath.hasPrefix("/procRoot/") {
            // Tetragon's DaemonSet mounts the host's /proc at /procRoot; the agent reads the
            // node's files at their own paths.
            let here = "/proc/" + up.binaryPath.dropFirst("/procRoot/".count)
            fail(
                up, "\(up.binaryPath): /procRoot is where Tetragon's pod mounts the host's /proc; this agent reads the "
                    + "node's paths as they are (here: \(here), or the binary's path on the node)", at: "path")
        } else if !up.binaryPath.hasPrefix("/") {
            fail(up, "\(up.binaryPath): the binary's path must be absolute", at: "path")
        }
        if let action = up.selectors.flatMap(\.matchActions).first(where: { $0.action == .override }) {
            fail(
                action, "Override on a uprobe (rewriting the function's registers) is not supported by this build; "
                    + "Sigkill or Signal stop the process in the probe", at: "action")
        }
        if let returnArg = up.returnArg, up.return, !returnArg.type.isInteger && returnArg.type != .auto {
            fail(returnArg, "returnArg type \(returnArg.type.rawValue): only integer return values are read here", at: "type")
        }

        var resolved: [(CompiledArg, ResolvedTracepointArg)] = []
        for arg in up.args {
            guard arg.index < UInt32(VIGIL_HOOK_ARGS) else {
                fail(arg, "index \(arg.index): uprobe arguments 0 to \(VIGIL_HOOK_ARGS - 1) (their registers) can be read", at: "index")
                continue
            }
            if arg.resolve != nil || arg.btfType != nil {
                fail(arg, "resolve and btfType are not supported on uprobe arguments (no BTF of the binary is read)", at: arg.resolve != nil ? "resolve" : "btfType")
                continue
            }
            if arg.returnCopy {
                fail(arg, "returnCopy is not supported on uprobe arguments", at: "returnCopy")
                continue
            }
            guard let kind = Self.uprobeArgKind(arg) else {
                let why =
                    arg.type == .charBuf
                    ? "char_buf needs sizeArgIndex, the 1-based position of the argument holding its length (1 to \(VIGIL_HOOK_ARGS))"
                    : arg.type == .auto
                        ? "give the type: a binary's argument types are not read"
                        : "type \(arg.type.rawValue) is not read from a uprobe by this build; supported: \(Self.uprobeArgTypes)"
                fail(arg, why, at: arg.type == .charBuf ? "sizeArgIndex" : "type")
                continue
            }
            if arg.sizeArgIndex != nil && arg.type != .charBuf {
                fail(arg, "sizeArgIndex applies to char_buf arguments only", at: "sizeArgIndex")
                continue
            }
            resolved.append(
                (CompiledArg(label: arg.label, declaredType: arg.type, kind: kind),
                 ResolvedTracepointArg(fieldIndex: Int(arg.index), offset: 8 * Int(arg.index), size: 8, kind: kind)))
        }
        guard errors.count == errorsBefore, resolved.count == up.args.count else { return [] }

        // One hook per target: the symbols, the file offsets or the addresses (the parser allows one kind).
        let targets: [(symbol: String?, target: UserFunctionTarget, key: String)] =
            !up.symbols.isEmpty
            ? up.symbols.map { ($0, .symbol($0), "symbols") }
            : !up.offsets.isEmpty
                ? up.offsets.map { (nil, .offset($0), "offsets") } : up.addrs.map { (nil, .address($0), "addrs") }
        let slotFor: (UInt32) -> Int? = { value in up.args.firstIndex { $0.index == value } }
        let mechanism: Mechanism = up.return ? .uretprobe : .uprobe
        var hooks: [CompiledHook] = []
        for (symbol, target, key) in targets {
            let offset: UInt64?
            switch environment.userFunction(up.binaryPath, target) {
            case .offset(let found): offset = found
            case .unchecked: offset = nil
            case .refused(let reason):
                fail(up, reason, at: key)
                continue
            case .unusableBinary(let reason):
                // Said once, at the path, whatever the number of symbols.
                fail(up, reason, at: "path")
                return []
            }
            // Named as the policy names it; the event's `offset` is the file offset probed (0 for
            // a symbol: Tetragon's proto has the two exclusive).
            let name: String
            var policyOffset: UInt64 = 0
            switch target {
            case .symbol(let symbol): name = symbol
            case .offset(let given): (name, policyOffset) = ("0x" + String(given, radix: 16), given)
            case .address(let address): (name, policyOffset) = ("0x" + String(address, radix: 16), offset ?? 0)
            }
            guard
                var hook = buildHook(
                    category: up.binaryPath, name: name,
                    event: .uprobe(path: up.binaryPath, symbol: symbol ?? "", offset: policyOffset), node: up,
                    args: resolved, selectors: up.selectors, slotFor: slotFor, message: up.message, tags: up.tags,
                    spec: spec,
                    returnValue: up.return
                        ? .unavailable(
                            "a uretprobe hook's selectors run at the function's entry (the uretprobe only adds the "
                                + "return value to the event), so they cannot filter on it")
                        : .needsReturn)
            else { continue }
            // The program copies the registers; no record is read.
            hook.hook.ctx_size = 0
            hook.mechanism = mechanism
            hook.uprobe = UprobeTarget(binary: up.binaryPath, symbol: symbol, offset: offset)
            hooks.append(hook)
        }
        return errors.count == errorsBefore ? hooks : []
    }
}
