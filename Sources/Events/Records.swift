// SPDX-License-Identifier: Apache-2.0

/// Namespace inode numbers of a task, as the kernel side reports them.
package struct Namespaces: Sendable, Hashable {
    package var uts: UInt32 = 0
    package var ipc: UInt32 = 0
    package var mnt: UInt32 = 0
    package var pid: UInt32 = 0
    package var pidForChildren: UInt32 = 0
    package var net: UInt32 = 0
    package var cgroup: UInt32 = 0
    package var user: UInt32 = 0

    package init(
        uts: UInt32 = 0, ipc: UInt32 = 0, mnt: UInt32 = 0, pid: UInt32 = 0, pidForChildren: UInt32 = 0,
        net: UInt32 = 0, cgroup: UInt32 = 0, user: UInt32 = 0
    ) {
        self.uts = uts
        self.ipc = ipc
        self.mnt = mnt
        self.pid = pid
        self.pidForChildren = pidForChildren
        self.net = net
        self.cgroup = cgroup
        self.user = user
    }
}

/// Credentials of a task at exec.
package struct Credentials: Sendable, Hashable {
    package var uid: UInt32 = 0
    package var gid: UInt32 = 0
    package var euid: UInt32 = 0
    package var egid: UInt32 = 0
    package var suid: UInt32 = 0
    package var sgid: UInt32 = 0
    package var fsuid: UInt32 = 0
    package var fsgid: UInt32 = 0
    package var capPermitted: UInt64 = 0
    package var capEffective: UInt64 = 0
    package var capInheritable: UInt64 = 0

    package init() {}
}

/// Flags the kernel side sets on an exec record (`enum vigil_exec_flags` in vigil_abi.h).
package struct ExecRecordFlags: OptionSet, Sendable, Hashable {
    package let rawValue: UInt16
    package init(rawValue: UInt16) { self.rawValue = rawValue }

    package static let pathTruncated = ExecRecordFlags(rawValue: 1 << 0)
    package static let cwdTruncated = ExecRecordFlags(rawValue: 1 << 1)
    package static let argsTruncated = ExecRecordFlags(rawValue: 1 << 2)
    package static let pathError = ExecRecordFlags(rawValue: 1 << 3)
    package static let cwdError = ExecRecordFlags(rawValue: 1 << 4)
    package static let argsError = ExecRecordFlags(rawValue: 1 << 5)
    package static let deleted = ExecRecordFlags(rawValue: 1 << 6)
    package static let pathDetached = ExecRecordFlags(rawValue: 1 << 7)
    package static let cwdDetached = ExecRecordFlags(rawValue: 1 << 8)
}

/// One `sched_process_exec`, decoded. Paths and arguments stay bytes: Linux paths need not be
/// UTF-8 and evidence must not be altered before export.
package struct ExecRecord: Sendable, Hashable {
    /// Process identity: `(pid, ktime)`; ktime is CLOCK_MONOTONIC ns of the exec.
    package var ktime: UInt64
    package var cgroupID: UInt64
    package var pid: UInt32
    package var tid: UInt32
    package var flags: ExecRecordFlags
    /// Identity of the parent as the kernel side knew it; 0 when it never saw the parent.
    package var parentKtime: UInt64
    package var ppid: UInt32
    /// Task start time, CLOCK_MONOTONIC ns (what /proc/PID/stat field 22 measures).
    package var processStart: UInt64
    package var credentials: Credentials
    package var namespaces: Namespaces
    package var auid: UInt32
    package var nspid: UInt32
    package var oldTid: UInt32
    package var binaryInode: UInt64
    package var binaryDevice: UInt32
    package var binaryLinks: UInt32
    /// Argument bytes the process really had; more than captured when truncated.
    package var argsSize: UInt32
    /// Absolute path of the executed file, resolved from the kernel's file.
    package var binary: [UInt8]
    /// Absolute working directory.
    package var cwd: [UInt8]
    /// argv, argv[0] first.
    package var argv: [[UInt8]]
    package var comm: [UInt8]

    package init(
        ktime: UInt64, cgroupID: UInt64 = 0, pid: UInt32, tid: UInt32, flags: ExecRecordFlags = [],
        parentKtime: UInt64 = 0, ppid: UInt32, processStart: UInt64 = 0, credentials: Credentials = .init(),
        namespaces: Namespaces = .init(), auid: UInt32 = UInt32.max, nspid: UInt32 = 0, oldTid: UInt32 = 0,
        binaryInode: UInt64 = 0, binaryDevice: UInt32 = 0, binaryLinks: UInt32 = 1, argsSize: UInt32 = 0,
        binary: [UInt8], cwd: [UInt8], argv: [[UInt8]], comm: [UInt8] = []
    ) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.pid = pid
        self.tid = tid
        self.flags = flags
        self.parentKtime = parentKtime
        self.ppid = ppid
        self.processStart = processStart
        self.credentials = credentials
        self.namespaces = namespaces
        self.auid = auid
        self.nspid = nspid
        self.oldTid = oldTid
        self.binaryInode = binaryInode
        self.binaryDevice = binaryDevice
        self.binaryLinks = binaryLinks
        self.argsSize = argsSize
        self.binary = binary
        self.cwd = cwd
        self.argv = argv
        self.comm = comm
    }
}

/// A new thread group (fork/clone without CLONE_THREAD), before any exec.
package struct CloneRecord: Sendable, Hashable {
    /// Identity of the child: `(pid, ktime)`.
    package var ktime: UInt64
    package var cgroupID: UInt64
    package var pid: UInt32
    package var tid: UInt32
    package var parentKtime: UInt64
    package var ppid: UInt32
    package var nspid: UInt32
    package var processStart: UInt64

    package init(
        ktime: UInt64, cgroupID: UInt64 = 0, pid: UInt32, tid: UInt32, parentKtime: UInt64 = 0, ppid: UInt32,
        nspid: UInt32 = 0, processStart: UInt64 = 0
    ) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.pid = pid
        self.tid = tid
        self.parentKtime = parentKtime
        self.ppid = ppid
        self.nspid = nspid
        self.processStart = processStart
    }
}

/// The last thread of a thread group exited.
package struct ExitRecord: Sendable, Hashable {
    /// When it exited (CLOCK_MONOTONIC ns).
    package var ktime: UInt64
    package var cgroupID: UInt64
    package var pid: UInt32
    package var tid: UInt32
    /// Identity of the exiting process; 0 when the kernel side never saw it start.
    package var processKtime: UInt64
    /// `task->exit_code`: `(status << 8) | signal`, `0x80` set for a core dump.
    package var exitCode: UInt32

    package init(ktime: UInt64, cgroupID: UInt64 = 0, pid: UInt32, tid: UInt32, processKtime: UInt64, exitCode: UInt32) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.pid = pid
        self.tid = tid
        self.processKtime = processKtime
        self.exitCode = exitCode
    }

    /// The signal that ended the process, or 0.
    package var signal: UInt32 { exitCode & 0x7f }
    /// The exit status when the process exited on its own.
    package var status: UInt32 { (exitCode >> 8) & 0xff }
}

/// One argument as a policy hook read it (`struct vigil_arg_value` + its tail bytes).
package enum RawArgument: Sendable, Hashable {
    /// An integer field, 64 bits wide after sign extension.
    case integer(UInt64)
    /// A string (user `char *` or `__data_loc`), without NUL; `truncated` when longer than kept.
    case string([UInt8], truncated: Bool)
    /// A user buffer; `size` is what the caller passed, `bytes` what was captured.
    case buffer([UInt8], size: UInt64, truncated: Bool)
    /// Bytes inside the tracepoint record (fixed arrays such as `args[6]`).
    case constBuffer([UInt8])
    /// A user `struct sockaddr`: family, port (host order), address (4 or 16 bytes used).
    case sockaddr(family: UInt16, port: UInt16, address: [UInt8])
    /// A file resolved from a new fd: absolute path, open flags, inode mode, inode number and
    /// device (kernel dev_t encoding). A failed open: the name it was given, mode 0, inode 0.
    case file(path: [UInt8], flags: UInt32, mode: UInt32, truncated: Bool, inode: UInt64 = 0, device: UInt32 = 0)
    /// Connect hooks: the socket, with its destination.
    case sock(family: UInt16, type: UInt16, protocol: UInt16, port: UInt16, address: [UInt8])
    /// A kprobe's `struct sock *` / `struct socket *`: both ends, state and mark.
    case kernelSock(KernelSock)
    /// A kprobe's `struct cred *`.
    case credentials(Credentials)
    /// The hook could not read it.
    case unreadable
}

/// A policy hook matched (`struct vigil_generic_event`).
package struct GenericRecord: Sendable, Hashable {
    package var ktime: UInt64
    package var cgroupID: UInt64
    package var pid: UInt32
    package var tid: UInt32
    /// Identity of the current process; 0 when the kernel side never saw it start.
    package var processKtime: UInt64
    /// vg_hooks slot: which compiled hook (policy, spec, args) this is.
    package var hookSlot: UInt32
    package var policyID: UInt32
    /// Index of the matching selector; nil when the hook has no selectors.
    package var selector: UInt8?
    /// `enum vigil_action_kind` of the last action.
    package var action: UInt8
    /// Signal sent, or that monitor mode held back; 0 for none.
    package var signal: UInt16
    /// The policy is in monitor mode: no signal was sent.
    package var monitor: Bool
    /// The operation was failed (Override on a connect hook).
    package var denied: Bool = false
    /// The task was outside the enforcement fence (`--enforcement-cgroup`): no signal was sent
    /// and nothing was denied.
    package var fenced: Bool = false
    /// An io_uring open seen at its completion (`io_uring_complete`) by a hook of an open
    /// syscall's exit: the mechanism is that tracepoint, not the syscall's.
    package var ioUring: Bool = false
    /// Posted by a cgroup connect/sendmsg program. For a hook on BPF-LSM (socket_connect) it
    /// says the LSM hook never saw the operation (an unconnected send, a TCP fast open) and the
    /// cgroup program beside it decided.
    package var cgroupSockAddr: Bool = false
    /// What the syscall returned (connect hooks: 0, or -errno such as -1 for EPERM when denied);
    /// nil when the hook has no result to report.
    package var result: Int64? = nil
    package var args: [RawArgument]

    package init(
        ktime: UInt64, cgroupID: UInt64 = 0, pid: UInt32, tid: UInt32, processKtime: UInt64, hookSlot: UInt32,
        policyID: UInt32, selector: UInt8?, action: UInt8, signal: UInt16, monitor: Bool, args: [RawArgument]
    ) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.pid = pid
        self.tid = tid
        self.processKtime = processKtime
        self.hookSlot = hookSlot
        self.policyID = policyID
        self.selector = selector
        self.action = action
        self.signal = signal
        self.monitor = monitor
        self.args = args
    }
}

/// One decoded ring-buffer record.
package enum Record: Sendable, Hashable {
    case exec(ExecRecord)
    case clone(CloneRecord)
    case exit(ExitRecord)
    case generic(GenericRecord)
    case flow(FlowRecord)
    case dns(DNSRecord)
}

/// A UDP datagram from port 53 a socket received (`struct vigil_dns_event`,
/// `--enable-dns-names`): a DNS answer for the name cache, not an event of its own.
package struct DNSRecord: Sendable, Hashable {
    /// When the socket got it (CLOCK_MONOTONIC ns).
    package var ktime: UInt64
    /// The receiving socket's cgroup.
    package var cgroupID: UInt64
    /// The datagram's payload length; `payload` holds at most `VIGIL_DNS_PAYLOAD` of it.
    package var payloadLength: UInt32
    /// The answering server: 4 or 16 bytes.
    package var server: [UInt8]
    package var payload: [UInt8]

    package init(ktime: UInt64, cgroupID: UInt64, payloadLength: UInt32, server: [UInt8], payload: [UInt8]) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.payloadLength = payloadLength
        self.server = server
        self.payload = payload
    }

    /// The whole message was captured (a longer one was cut and cannot be parsed whole).
    package var isComplete: Bool { Int(payloadLength) == payload.count }
}

/// A TCP flow at its close (`struct vigil_flow_event`, `--enable-flows`).
package struct FlowRecord: Sendable, Hashable {
    package enum Direction: UInt8, Sendable {
        /// The owner connected.
        case outgoing = 1
        /// The owner accepted.
        case incoming = 2
    }

    /// When the flow closed (CLOCK_MONOTONIC ns).
    package var ktime: UInt64
    /// The owner's cgroup, pid and tid at its connect or accept.
    package var cgroupID: UInt64
    package var pid: UInt32
    package var tid: UInt32
    /// Identity of the owner; 0 when the kernel side never saw it start.
    package var processKtime: UInt64
    /// The connect (SYN_SENT), or the end of the handshake of an accepted flow.
    package var startKtime: UInt64
    /// Payload bytes the peer acknowledged, and payload bytes received in order.
    package var bytesSent: UInt64
    package var bytesReceived: UInt64
    /// The socket's cookie.
    package var cookie: UInt64
    /// Both ends: `daddr`/`dport` the peer, `saddr`/`sport` this end; `state` the state the
    /// socket left for TCP_CLOSE.
    package var sock: KernelSock
    /// nil: a direction this agent does not know (another vigil_abi.h).
    package var direction: Direction?

    package init(
        ktime: UInt64, cgroupID: UInt64 = 0, pid: UInt32, tid: UInt32, processKtime: UInt64, startKtime: UInt64,
        bytesSent: UInt64, bytesReceived: UInt64, cookie: UInt64, sock: KernelSock, direction: Direction?
    ) {
        self.ktime = ktime
        self.cgroupID = cgroupID
        self.pid = pid
        self.tid = tid
        self.processKtime = processKtime
        self.startKtime = startKtime
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.cookie = cookie
        self.sock = sock
        self.direction = direction
    }

    /// How long the flow lived, in nanoseconds.
    package var durationNanoseconds: UInt64 { ktime >= startKtime ? ktime - startKtime : 0 }
}

/// A socket as a kprobe read it (`struct vigil_sock_info`).
package struct KernelSock: Sendable, Hashable {
    package var family: UInt16
    package var type: UInt16
    package var `protocol`: UInt16
    /// `sk_state` (TCP_ESTABLISHED = 1, ...).
    package var state: UInt8
    package var mark: UInt32
    /// Host byte order.
    package var sport: UInt16
    package var dport: UInt16
    /// 4 or 16 bytes used, per family.
    package var saddr: [UInt8]
    package var daddr: [UInt8]

    package init(
        family: UInt16, type: UInt16, protocol: UInt16, state: UInt8, mark: UInt32, sport: UInt16, dport: UInt16,
        saddr: [UInt8], daddr: [UInt8]
    ) {
        self.family = family
        self.type = type
        self.protocol = `protocol`
        self.state = state
        self.mark = mark
        self.sport = sport
        self.dport = dport
        self.saddr = saddr
        self.daddr = daddr
    }
}
