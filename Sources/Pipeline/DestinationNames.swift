// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Events

/// `destination_names` (`--enable-dns-names`): the names a connect's or a flow's destination
/// address had in DNS answers the process's cgroup received (``DNSNameCache``), added to its
/// event as one more labelled argument, a `string_arg` of the names joined by commas (the
/// question's name first, then the CNAME targets on the way to the address). A labelled argument
/// of Tetragon's own type, so the line stays inside Tetragon's schema without
/// `--enable-vigil-fields` (docs/events.md, DNS names). Absent when no name is known.
package enum DestinationNames {
    package static let label = "destination_names"

    /// The destination address of a policy record's first socket argument: a connect hook's
    /// socket (cgroup connect/sendmsg), a user `sockaddr` (BPF-LSM `socket_connect`, syscall
    /// hooks), a kprobe's `struct sock`. nil when it has none, or not an IP one.
    package static func destination(of args: [RawArgument]) -> [UInt8]? {
        for arg in args {
            switch arg {
            case .sock(let family, _, _, _, let address), .sockaddr(let family, _, let address):
                return ip(family: family, address)
            case .kernelSock(let sock):
                return ip(family: sock.family, sock.daddr)
            default:
                continue
            }
        }
        return nil
    }

    static func ip(family: UInt16, _ address: [UInt8]) -> [UInt8]? {
        switch family {
        case 2 where address.count >= 4: Array(address.prefix(4))
        case 10 where address.count >= 16: Array(address.prefix(16))
        default: nil
        }
    }

    /// The argument, nil for no names.
    package static func argument(_ names: [String]) -> Argument? {
        guard !names.isEmpty else { return nil }
        // Names are in presentation format: a comma inside a label is written \044, so the
        // commas here only separate.
        return Argument(.string(Array(names.joined(separator: ",").utf8)), label: label)
    }

    /// Appends `argument` to the event's arguments (policy events only; others are unchanged).
    package static func append(_ argument: Argument, to event: inout ExportEvent) {
        switch event.kind {
        case .kprobe(let function, var args, let outcome):
            args.append(argument)
            event.kind = .kprobe(functionName: function, args: args, outcome: outcome)
        case .lsm(let function, var args, let outcome):
            args.append(argument)
            event.kind = .lsm(functionName: function, args: args, outcome: outcome)
        case .tracepoint(let subsystem, let name, var args, let outcome):
            args.append(argument)
            event.kind = .tracepoint(subsystem: subsystem, event: name, args: args, outcome: outcome)
        case .uprobe, .exec, .exit:
            break
        }
    }
}
