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

    /// Where struct ovl_inode keeps the inode it embeds and the upper dentry, in bytes, and the
    /// size of struct inode, as the kernel's BTF (vmlinux, or the overlay module's once loaded)
    /// says; nil when none describes ovl_inode (overlayfs a module not loaded yet), or lacks a
    /// member (upperDentry -1 then).
    package static func overlayInodeLayout() -> (vfsInode: Int, upperDentry: Int, inodeSize: Int)? {
        guard let vmlinux = btf__load_vmlinux_btf() else { return nil }
        defer { btf__free(vmlinux) }
        // BTF_KIND_STRUCT (4).
        var btf = vmlinux
        var module: OpaquePointer?
        if btf__find_by_name_kind(vmlinux, "ovl_inode", 4) <= 0 {
            guard let split = btf__parse_split("/sys/kernel/btf/overlay", vmlinux) else { return nil }
            module = split
            btf = split
        }
        defer { if let module { btf__free(module) } }
        let inode = btf__find_by_name_kind(vmlinux, "inode", 4)
        let ovl = btf__find_by_name_kind(btf, "ovl_inode", 4)
        guard inode > 0, ovl > 0, let type = btf__type_by_id(btf, UInt32(ovl)) else { return nil }
        var offsets: [String: Int] = [:]
        let count = Int(type.pointee.info & 0xffff)
        let bitfields = type.pointee.info >> 31 != 0
        let members = UnsafeRawPointer(type).advanced(by: MemoryLayout<btf_type>.size).assumingMemoryBound(to: btf_member.self)
        for i in 0..<count {
            let member = members[i]
            guard let name = btf__name_by_offset(btf, member.name_off) else { continue }
            let bits = bitfields ? member.offset & 0xffffff : member.offset
            offsets[String(cString: name)] = Int(bits / 8)
        }
        return (offsets["vfs_inode"] ?? -1, offsets["__upperdentry"] ?? -1, Int(btf__resolve_size(vmlinux, UInt32(inode))))
    }

    /// Why the kernel side's read of an overlay inode's upper dentry (vigil_exe_upper_layer: the
    /// pointer right after struct ovl_inode's vfs_inode, bpf/lib/args.h) would not be exact here:
    /// the kernel's BTF places __upperdentry elsewhere. nil when it is right there, and when no
    /// BTF here describes struct ovl_inode: then the layout is the one every kernel since 4.13 has.
    package static func overlayUpperLayerRefusal() -> String? {
        guard let layout = overlayInodeLayout() else { return nil }
        guard layout.vfsInode >= 0, layout.upperDentry >= 0 else {
            return "struct ovl_inode has no vfs_inode or __upperdentry in this kernel's BTF"
        }
        if layout.upperDentry != layout.vfsInode + layout.inodeSize {
            return "struct ovl_inode's __upperdentry is at byte \(layout.upperDentry), not right after vfs_inode (byte "
                + "\(layout.vfsInode), \(layout.inodeSize) bytes), where the kernel side reads it"
        }
        return nil
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
