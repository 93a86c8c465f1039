// SPDX-License-Identifier: Apache-2.0
import CVigilABI

extension GenericRecord {
    /// The record as the BPF side writes it (`struct vigil_generic_event` and the argument tail,
    /// vigil_abi.h): the inverse of ``Record/init(decoding:)`` for the argument kinds a policy
    /// replay needs (integers, strings, files, buffers, unreadable), so that the pipeline
    /// benchmark and tests can replay policy records without a kernel. Nil for other kinds.
    package func encoded() -> [UInt8]? {
        var raw = vigil_generic_event()
        raw.hdr.kind = UInt16(VIGIL_EVENT_GENERIC.rawValue)
        var flags: UInt32 = 0
        if monitor { flags |= VIGIL_GENERIC_F_MONITOR.rawValue }
        if denied { flags |= VIGIL_GENERIC_F_DENIED.rawValue }
        if fenced { flags |= VIGIL_GENERIC_F_FENCED.rawValue }
        if ioUring { flags |= VIGIL_GENERIC_F_IO_URING.rawValue }
        if cgroupSockAddr { flags |= VIGIL_GENERIC_F_CONNECT.rawValue }
        if result != nil { flags |= VIGIL_GENERIC_F_RESULT.rawValue }
        raw.hdr.flags = UInt16(flags)
        raw.hdr.ktime_ns = ktime
        raw.hdr.cgroup_id = cgroupID
        raw.hdr.pid = pid
        raw.hdr.tid = tid
        raw.process_ktime_ns = processKtime
        raw.hook_slot = hookSlot
        raw.policy_id = policyID
        raw.selector = selector ?? 0xff
        raw.action = action
        raw.signal = signal
        raw.result = result ?? 0
        guard args.count <= Int(VIGIL_HOOK_ARGS) else { return nil }
        raw.nargs = UInt32(args.count)

        var values: [vigil_arg_value] = []
        var tail: [UInt8] = []
        for arg in args {
            var value = vigil_arg_value()
            var bytes: [UInt8] = []
            switch arg {
            case .integer(let v):
                value.kind = UInt16(VIGIL_ARG_INT.rawValue)
                value.value = v
            case .string(let s, let truncated):
                value.kind = UInt16(VIGIL_ARG_STRING.rawValue)
                if truncated { value.flags |= UInt16(VIGIL_ARG_F_TRUNCATED.rawValue) }
                bytes = s
            case .buffer(let b, let size, let truncated):
                value.kind = UInt16(VIGIL_ARG_CHAR_BUF.rawValue)
                if truncated { value.flags |= UInt16(VIGIL_ARG_F_TRUNCATED.rawValue) }
                value.value = size
                bytes = b
            case .file(let path, let fileFlags, let mode, let truncated, let inode, let device):
                value.kind = UInt16(VIGIL_ARG_FILE_FD.rawValue)
                if truncated { value.flags |= UInt16(VIGIL_ARG_F_TRUNCATED.rawValue) }
                value.value = UInt64(fileFlags) << 32 | UInt64(mode & 0xffff)
                var header = vigil_file_header()
                header.ino = inode
                header.dev = device
                bytes = withUnsafeBytes(of: header) { Array($0) } + path
            case .unreadable:
                value.kind = UInt16(VIGIL_ARG_INT.rawValue)
                value.flags = UInt16(VIGIL_ARG_F_ERROR.rawValue)
            default:
                return nil
            }
            value.len = UInt32(bytes.count)
            values.append(value)
            tail += bytes
        }
        withUnsafeMutableBytes(of: &raw.args) { args in
            for (i, value) in values.enumerated() {
                args.storeBytes(of: value, toByteOffset: i * MemoryLayout<vigil_arg_value>.stride, as: vigil_arg_value.self)
            }
        }
        raw.hdr.size = UInt32(MemoryLayout<vigil_generic_event>.size + tail.count)
        return withUnsafeBytes(of: raw) { Array($0) } + tail
    }
}
