// SPDX-License-Identifier: Apache-2.0
import CVigilABI

/// Why a ring-buffer record could not be decoded. Each case is counted, never trapped on.
package enum RecordDecodeError: Error, Sendable, Hashable {
    /// Fewer bytes than the fixed part of the record kind (or the header).
    case truncated(expected: Int, got: Int)
    /// A kind this agent does not know: an object built from another vigil_abi.h.
    case unknownKind(UInt16)
    /// The record's own size or tail lengths point past its end.
    case inconsistentSize
}

extension Record {
    /// Decodes one ring-buffer record. `bytes` is only valid during this call; the result owns
    /// copies of everything it needs.
    package init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let headerSize = MemoryLayout<vigil_event_header>.size
        guard bytes.count >= headerSize else { throw .truncated(expected: headerSize, got: bytes.count) }
        let header = bytes.loadUnaligned(as: vigil_event_header.self)
        guard Int(header.size) <= bytes.count, Int(header.size) >= headerSize else { throw .inconsistentSize }
        let record = UnsafeRawBufferPointer(rebasing: bytes[0..<Int(header.size)])
        switch UInt32(header.kind) {
        case VIGIL_EVENT_EXEC.rawValue:
            self = .exec(try ExecRecord(decoding: record))
        case VIGIL_EVENT_CLONE.rawValue:
            self = .clone(try CloneRecord(decoding: record))
        case VIGIL_EVENT_EXIT.rawValue:
            self = .exit(try ExitRecord(decoding: record))
        case VIGIL_EVENT_GENERIC.rawValue:
            self = .generic(try GenericRecord(decoding: record))
        case VIGIL_EVENT_FLOW.rawValue:
            self = .flow(try FlowRecord(decoding: record))
        case VIGIL_EVENT_DNS.rawValue:
            self = .dns(try DNSRecord(decoding: record))
        default:
            throw .unknownKind(header.kind)
        }
    }
}

extension ExecRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let fixedSize = MemoryLayout<vigil_exec_event>.size
        guard bytes.count >= fixedSize else { throw .truncated(expected: fixedSize, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_exec_event.self)
        let pathEnd = fixedSize + Int(raw.path_len)
        let cwdEnd = pathEnd + Int(raw.cwd_len)
        let argsEnd = cwdEnd + Int(raw.args_len)
        guard argsEnd <= bytes.count else { throw .inconsistentSize }

        let credentials = Credentials(decoding: raw.creds)
        let n = raw.ns
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, pid: raw.hdr.pid, tid: raw.hdr.tid,
            flags: ExecRecordFlags(rawValue: raw.hdr.flags), parentKtime: raw.parent_ktime_ns, ppid: raw.ppid,
            processStart: raw.process_start_ns, credentials: credentials,
            namespaces: Namespaces(
                uts: n.uts, ipc: n.ipc, mnt: n.mnt, pid: n.pid, pidForChildren: n.pid_for_children, net: n.net,
                cgroup: n.cgroup, user: n.user),
            auid: raw.auid, nspid: raw.nspid, oldTid: raw.old_tid, binaryInode: raw.binary_ino,
            binaryDevice: raw.binary_dev, binaryLinks: raw.binary_nlink, argsSize: raw.args_size,
            binary: Array(bytes[fixedSize..<pathEnd]),
            cwd: Array(bytes[pathEnd..<cwdEnd]),
            argv: Self.splitArguments(UnsafeRawBufferPointer(rebasing: bytes[cwdEnd..<argsEnd])),
            comm: withUnsafeBytes(of: raw.comm) { CString.bytes(of: $0) })
    }

    /// argv as the kernel stores it: each argument NUL-terminated. A truncated last argument
    /// has no NUL and is kept as far as it was captured.
    package static func splitArguments(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
        var argv: [[UInt8]] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0 {
            argv.append(Array(bytes[start..<i]))
            start = i + 1
        }
        if start < bytes.count { argv.append(Array(bytes[start..<bytes.count])) }
        return argv
    }
}

extension CloneRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let size = MemoryLayout<vigil_clone_event>.size
        guard bytes.count >= size else { throw .truncated(expected: size, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_clone_event.self)
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, pid: raw.hdr.pid, tid: raw.hdr.tid,
            parentKtime: raw.parent_ktime_ns, ppid: raw.ppid, nspid: raw.nspid, processStart: raw.process_start_ns)
    }
}

extension ExitRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let size = MemoryLayout<vigil_exit_event>.size
        guard bytes.count >= size else { throw .truncated(expected: size, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_exit_event.self)
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, pid: raw.hdr.pid, tid: raw.hdr.tid,
            processKtime: raw.process_ktime_ns, exitCode: raw.exit_code)
    }
}

extension FlowRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let size = MemoryLayout<vigil_flow_event>.size
        guard bytes.count >= size else { throw .truncated(expected: size, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_flow_event.self)
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, pid: raw.hdr.pid, tid: raw.hdr.tid,
            processKtime: raw.process_ktime_ns, startKtime: raw.start_ns, bytesSent: raw.bytes_sent,
            bytesReceived: raw.bytes_received, cookie: raw.cookie, sock: KernelSock(decoding: raw.sock),
            direction: Direction(rawValue: raw.direction))
    }
}

extension DNSRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let size = MemoryLayout<vigil_dns_event>.size
        guard bytes.count >= size else { throw .truncated(expected: size, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_dns_event.self)
        guard raw.captured <= UInt32(VIGIL_DNS_PAYLOAD), raw.captured <= raw.payload_len else { throw .inconsistentSize }
        let payloadOffset = MemoryLayout<vigil_dns_event>.offset(of: \vigil_dns_event.payload)!
        let serverOffset = MemoryLayout<vigil_dns_event>.offset(of: \vigil_dns_event.server)!
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, payloadLength: raw.payload_len,
            server: Array(bytes[serverOffset..<serverOffset + (raw.family == 10 ? 16 : 4)]),
            payload: Array(bytes[payloadOffset..<payloadOffset + Int(raw.captured)]))
    }
}

extension GenericRecord {
    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) {
        let fixedSize = MemoryLayout<vigil_generic_event>.size
        guard bytes.count >= fixedSize else { throw .truncated(expected: fixedSize, got: bytes.count) }
        let raw = bytes.loadUnaligned(as: vigil_generic_event.self)
        // The argument values are read in place: no array of them per record.
        let argsOffset = MemoryLayout<vigil_generic_event>.offset(of: \vigil_generic_event.args)!
        let count = Int(min(raw.nargs, UInt32(VIGIL_HOOK_ARGS)))
        var args: [RawArgument] = []
        args.reserveCapacity(count)
        var offset = fixedSize
        for index in 0..<count {
            let value = bytes.loadUnaligned(
                fromByteOffset: argsOffset + index * MemoryLayout<vigil_arg_value>.stride, as: vigil_arg_value.self)
            let end = offset + Int(value.len)
            guard end <= bytes.count else { throw .inconsistentSize }
            let tail = Array(bytes[offset..<end])
            offset = end
            let error = value.flags & UInt16(VIGIL_ARG_F_ERROR.rawValue) != 0
            let truncated = value.flags & UInt16(VIGIL_ARG_F_TRUNCATED.rawValue) != 0
            if error {
                args.append(.unreadable)
                continue
            }
            switch UInt32(value.kind) {
            case VIGIL_ARG_INT.rawValue, VIGIL_ARG_TASK.rawValue:
                args.append(.integer(value.value))
            case VIGIL_ARG_STRING.rawValue, VIGIL_ARG_DATA_LOC.rawValue, VIGIL_ARG_KSTRING.rawValue:
                args.append(.string(tail, truncated: truncated))
            case VIGIL_ARG_FILE_FD.rawValue, VIGIL_ARG_EXE.rawValue, VIGIL_ARG_KFILE.rawValue:
                // struct vigil_file_header, then the path.
                let header = Int(VIGIL_FILE_HEADER)
                guard tail.count >= header else { throw .inconsistentSize }
                let fileHeader = tail.withUnsafeBytes { $0.loadUnaligned(as: vigil_file_header.self) }
                args.append(
                    .file(path: Array(tail[header...]), flags: UInt32(truncatingIfNeeded: value.value >> 32),
                          mode: UInt32(truncatingIfNeeded: value.value & 0xffff), truncated: truncated,
                          inode: fileHeader.ino, device: fileHeader.dev))
            case VIGIL_ARG_CHAR_BUF.rawValue, VIGIL_ARG_ARGV.rawValue:
                // vigil_argv: the arguments NUL-terminated, size their whole length.
                args.append(.buffer(tail, size: value.value, truncated: truncated))
            case VIGIL_ARG_CONST_BUF.rawValue:
                args.append(.constBuffer(tail))
            case VIGIL_ARG_KSOCK.rawValue:
                guard tail.count >= MemoryLayout<vigil_sock_info>.size else { throw .inconsistentSize }
                let info = tail.withUnsafeBytes { $0.loadUnaligned(as: vigil_sock_info.self) }
                args.append(.kernelSock(KernelSock(decoding: info)))
            case VIGIL_ARG_CRED.rawValue:
                guard tail.count >= MemoryLayout<vigil_creds>.size else { throw .inconsistentSize }
                args.append(.credentials(Credentials(decoding: tail.withUnsafeBytes { $0.loadUnaligned(as: vigil_creds.self) })))
            case VIGIL_ARG_SOCKADDR.rawValue, VIGIL_ARG_SOCK.rawValue, VIGIL_ARG_KSOCKADDR.rawValue:
                guard tail.count >= MemoryLayout<vigil_sockaddr>.size else { throw .inconsistentSize }
                let sa = tail.withUnsafeBytes { $0.loadUnaligned(as: vigil_sockaddr.self) }
                let address = withUnsafeBytes(of: sa.addr) { Array($0) }
                if UInt32(value.kind) == VIGIL_ARG_SOCK.rawValue {
                    args.append(.sock(family: sa.family, type: sa.type, protocol: sa.protocol, port: sa.port, address: address))
                } else {
                    args.append(.sockaddr(family: sa.family, port: sa.port, address: address))
                }
            default:
                args.append(.unreadable)
            }
        }
        self.init(
            ktime: raw.hdr.ktime_ns, cgroupID: raw.hdr.cgroup_id, pid: raw.hdr.pid, tid: raw.hdr.tid,
            processKtime: raw.process_ktime_ns, hookSlot: raw.hook_slot, policyID: raw.policy_id,
            selector: raw.selector == 0xff ? nil : raw.selector, action: raw.action, signal: raw.signal,
            monitor: raw.hdr.flags & UInt16(VIGIL_GENERIC_F_MONITOR.rawValue) != 0, args: args)
        self.denied = raw.hdr.flags & UInt16(VIGIL_GENERIC_F_DENIED.rawValue) != 0
        self.fenced = raw.hdr.flags & UInt16(VIGIL_GENERIC_F_FENCED.rawValue) != 0
        self.ioUring = raw.hdr.flags & UInt16(VIGIL_GENERIC_F_IO_URING.rawValue) != 0
        self.cgroupSockAddr = raw.hdr.flags & UInt16(VIGIL_GENERIC_F_CONNECT.rawValue) != 0
        if raw.hdr.flags & UInt16(VIGIL_GENERIC_F_RESULT.rawValue) != 0 { self.result = raw.result }
    }
}

/// Fixed `char[N]` fields.
package enum CString {
    /// The bytes before the first NUL.
    package static func bytes(of buffer: UnsafeRawBufferPointer) -> [UInt8] {
        if let end = buffer.firstIndex(of: 0) { return Array(buffer[0..<end]) }
        return Array(buffer)
    }
}

extension Credentials {
    init(decoding c: vigil_creds) {
        self.init()
        uid = c.uid
        gid = c.gid
        euid = c.euid
        egid = c.egid
        suid = c.suid
        sgid = c.sgid
        fsuid = c.fsuid
        fsgid = c.fsgid
        capPermitted = c.cap_permitted
        capEffective = c.cap_effective
        capInheritable = c.cap_inheritable
    }
}

extension KernelSock {
    init(decoding info: vigil_sock_info) {
        let width = info.dst.family == 10 ? 16 : 4
        self.init(
            family: info.dst.family, type: info.dst.type, protocol: info.dst.protocol, state: info.state, mark: info.mark,
            sport: info.sport, dport: info.dst.port,
            saddr: Array(withUnsafeBytes(of: info.saddr) { Array($0) }.prefix(width)),
            daddr: Array(withUnsafeBytes(of: info.dst.addr) { Array($0) }.prefix(width)))
    }
}
