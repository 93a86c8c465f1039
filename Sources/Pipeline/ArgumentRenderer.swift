// SPDX-License-Identifier: Apache-2.0
import Events
import PolicyCompiler
import Tracefs
import TracingPolicy

/// Turns what a hook read (``RawArgument``) into Tetragon's argument JSON shapes.
package enum ArgumentRenderer {
    /// One raw argument; a fixed array of longs becomes one `size_arg` per element, as in Tetragon.
    package static func render(_ raw: RawArgument, as arg: CompiledArg, nativeABI: SyscallABI = .x86_64) -> [Argument] {
        var out: [Argument] = []
        render(raw, as: arg, nativeABI: nativeABI, into: &out)
        return out
    }

    /// ``render(_:as:nativeABI:)`` appending to `out`: the policy event path builds its argument
    /// list without an array per argument.
    package static func render(
        _ raw: RawArgument, as arg: CompiledArg, nativeABI: SyscallABI = .x86_64, into out: inout [Argument]
    ) {
        func one(_ value: ArgumentValue) { out.append(Argument(value, label: arg.label)) }
        switch raw {
        case .integer(let v):
            switch arg.kind {
            case .int(let size, let signed):
                if size == 8 { return one(signed ? .long(Int64(bitPattern: v)) : .size(v)) }
                return one(signed ? .int(Int32(truncatingIfNeeded: Int64(bitPattern: v))) : .uint(UInt32(truncatingIfNeeded: v)))
            case .fd:
                return one(.int(Int32(truncatingIfNeeded: Int64(bitPattern: v))))
            case .syscall64:
                let (id, abi) = Syscalls.decodeSyscall64(v, nativeABI: nativeABI)
                return one(.syscallID(id: UInt32(truncatingIfNeeded: id), abi: abi.tetragonName))
            default:
                return one(.size(v))
            }
        case .string(let bytes, _):
            return one(.string(bytes))
        case .buffer(let bytes, let size, let truncated):
            if arg.declaredType == .vigilArgv {
                // Tetragon's `arguments` text; what the kernel did not read is said by the type
                // (truncated_bytes_arg, orig_size the whole length), never left implicit.
                let text = bytes.withUnsafeBytes { ArgumentsText.join(ExecRecord.splitArguments($0)) }
                return one(truncated ? .truncatedBytes(text, originalSize: size) : .string(text))
            }
            return one(truncated ? .truncatedBytes(bytes, originalSize: size) : .bytes(bytes))
        case .constBuffer(let bytes):
            if case .constBuf(_, let elementSize, _) = arg.kind, elementSize == 8 {
                for offset in stride(from: 0, to: bytes.count - 7, by: 8) {
                    var v: UInt64 = 0
                    for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
                    out.append(Argument(.size(v), label: arg.label))
                }
                return
            }
            return one(.bytes(bytes))
        case .sockaddr(let family, let port, let address):
            return one(.sockaddr(family: familyName(family), address: addressText(family: family, address), port: UInt32(port)))
        case .file(let path, let flags, let mode, _, let inode, let device):
            // Mode 0: no file (a failed open reports the name it was given): no permission,
            // inode or device.
            let permission = mode == 0 ? "" : permissionString(mode)
            if arg.declaredType == .linuxBinprm {
                let details = mode == 0 ? nil : FileDetails(inode: inode, device: device, openFlags: nil)
                return one(.binprm(path: path, permission: permission, details: details))
            }
            if arg.declaredType == .path || arg.declaredType == .dentry {
                return one(.path(path: path, permission: permission, details: mode == 0 ? nil : FileDetails(inode: inode, device: device, openFlags: nil)))
            }
            let details = mode == 0 ? nil : FileDetails(inode: inode, device: device, openFlags: flags)
            return one(.file(path: path, permission: permission, details: details))
        case .sock(let family, let type, let proto, let port, let address):
            return one(
                .sock(
                    family: familyName(family), type: socketTypeName(type), protocol: protocolName(proto),
                    daddr: addressText(family: family, address), dport: UInt32(port)))
        case .kernelSock(let sock):
            return one(
                .socket(
                    SocketArgument(
                        family: familyName(sock.family), type: socketTypeName(sock.type), protocol: protocolName(sock.protocol),
                        mark: sock.mark, saddr: addressText(family: sock.family, sock.saddr),
                        daddr: addressText(family: sock.family, sock.daddr), sport: UInt32(sock.sport),
                        dport: UInt32(sock.dport), state: tcpStateName(sock.state))))
        case .credentials(let credentials):
            return one(.credentials(credentials))
        case .unreadable:
            return one(.error("could not read the argument"))
        }
    }

    /// `ls -l` mode string: type character, then rwx triplets with setuid/setgid/sticky.
    static func permissionString(_ mode: UInt32) -> String {
        let type: Character =
            switch mode & 0o170000 {
            case 0o040000: "d"
            case 0o120000: "l"
            case 0o020000: "c"
            case 0o060000: "b"
            case 0o010000: "p"
            case 0o140000: "s"
            default: "-"
            }
        var out = [type]
        let bits: [(UInt32, Character)] = [
            (0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"), (0o010, "x"),
            (0o004, "r"), (0o002, "w"), (0o001, "x"),
        ]
        for (bit, char) in bits { out.append(mode & bit != 0 ? char : "-") }
        if mode & 0o4000 != 0 { out[3] = out[3] == "x" ? "s" : "S" }
        if mode & 0o2000 != 0 { out[6] = out[6] == "x" ? "s" : "S" }
        if mode & 0o1000 != 0 { out[9] = out[9] == "x" ? "t" : "T" }
        return String(out)
    }

    /// Tetragon's names for `sk_state` (include/net/tcp_states.h).
    static func tcpStateName(_ state: UInt8) -> String {
        let names = [
            "", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_TIME_WAIT",
            "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV",
        ]
        return Int(state) < names.count ? names[Int(state)] : "\(state)"
    }

    static func socketTypeName(_ type: UInt16) -> String {
        switch type {
        case 1: "SOCK_STREAM"
        case 2: "SOCK_DGRAM"
        case 3: "SOCK_RAW"
        case 5: "SOCK_SEQPACKET"
        default: type == 0 ? "" : "\(type)"
        }
    }

    static func protocolName(_ proto: UInt16) -> String {
        switch proto {
        case 1: "IPPROTO_ICMP"
        case 6: "IPPROTO_TCP"
        case 17: "IPPROTO_UDP"
        case 58: "IPPROTO_ICMPV6"
        default: proto == 0 ? "" : "\(proto)"
        }
    }

    static func familyName(_ family: UInt16) -> String {
        switch family {
        case 1: "AF_UNIX"
        case 2: "AF_INET"
        case 10: "AF_INET6"
        default: "\(family)"
        }
    }

    /// Dotted IPv4 or RFC 5952 IPv6 text.
    static func addressText(family: UInt16, _ address: [UInt8]) -> String {
        if family == 2, address.count >= 4 {
            // By hand: map + joined allocated an array and four strings per address (two per flow
            // event); at most 15 bytes, the result is a small string, stored inline.
            var text = String(address[0])
            for i in 1..<4 {
                text.append(".")
                text.append(String(address[i]))
            }
            return text
        }
        guard family == 10, address.count >= 16 else { return "" }
        let groups = (0..<8).map { UInt16(address[2 * $0]) << 8 | UInt16(address[2 * $0 + 1]) }
        // Longest run of two or more zero groups becomes "::".
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.length && j - i >= 2 { best = (i, j - i) }
            i = j
        }
        func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.start >= 0 else { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }
}
