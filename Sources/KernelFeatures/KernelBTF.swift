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
}
