// SPDX-License-Identifier: Apache-2.0
import CLibbpf

/// The running kernel's BTF (/sys/kernel/btf/vmlinux), for whether a function can carry a
/// trampoline. Loaded per question: questions come only when a policy is compiled.
package enum KernelBTF {
    package static func hasFunction(_ name: String) -> Bool {
        guard let btf = btf__load_vmlinux_btf() else { return false }
        defer { btf__free(btf) }
        // BTF_KIND_FUNC (12): libbpf's btf.h and linux/btf.h both define it, which Swift cannot
        // tell apart.
        return btf__find_by_name_kind(btf, name, 12) > 0
    }

    /// Every function the kernel's BTF describes (BTF_KIND_FUNC), sorted; nil without BTF.
    package static func functionNames() -> [String]? {
        guard let btf = btf__load_vmlinux_btf() else { return nil }
        defer { btf__free(btf) }
        var names = Set<String>()
        for id in 1..<btf__type_cnt(btf) {
            guard let type = btf__type_by_id(btf, id), (type.pointee.info >> 24) & 0x1f == 12,
                let name = btf__name_by_offset(btf, type.pointee.name_off)
            else { continue }
            names.insert(String(cString: name))
        }
        return names.sorted()
    }

    /// The arguments of the raw tracepoint `event` as its BTF declares them (the `btf_trace_<event>`
    /// prototype less its leading `void *`), in C spelling: `struct task_struct *`, `pid_t`,
    /// `struct linux_binprm *`; nil when the kernel has no such tracepoint (or no BTF).
    package static func rawTracepointArguments(_ event: String) -> [String]? {
        guard let btf = btf__load_vmlinux_btf() else { return nil }
        defer { btf__free(btf) }
        // BTF kinds (linux/btf.h): INT 1, PTR 2, STRUCT 4, UNION 5, ENUM 6, TYPEDEF 8, VOLATILE 9,
        // CONST 10, FUNC_PROTO 13, ENUM64 19.
        func kind(_ id: UInt32) -> (UInt32, UnsafePointer<btf_type>)? {
            guard let type = btf__type_by_id(btf, id) else { return nil }
            return ((type.pointee.info >> 24) & 0x1f, type)
        }
        func name(_ type: UnsafePointer<btf_type>) -> String {
            btf__name_by_offset(btf, type.pointee.name_off).map { String(cString: $0) } ?? ""
        }
        func spelling(_ id: UInt32) -> String {
            guard let (k, type) = kind(id) else { return "void" }
            switch k {
            case 2: return spelling(type.pointee.type) + " *"
            case 4: return "struct " + name(type)
            case 5: return "union " + name(type)
            case 6, 19: return "enum " + name(type)
            case 9, 10: return spelling(type.pointee.type)
            default: return name(type).isEmpty ? "?" : name(type)
            }
        }
        let typedef = btf__find_by_name_kind(btf, "btf_trace_\(event)", 8)
        guard typedef > 0, let (_, alias) = kind(UInt32(typedef)), let (pk, pointer) = kind(alias.pointee.type), pk == 2,
            let (fk, proto) = kind(pointer.pointee.type), fk == 13
        else { return nil }
        let count = Int(proto.pointee.info & 0xffff)
        let params = UnsafeRawPointer(proto).advanced(by: MemoryLayout<btf_type>.size).assumingMemoryBound(to: btf_param.self)
        return (1..<max(count, 1)).map { spelling(params[$0].type) }
    }
}
