// SPDX-License-Identifier: Apache-2.0
import Events

/// One process found in `/proc` at start-up, before the kernel side saw anything of it.
///
/// Paths and arguments are raw bytes, as the kernel gave them.
package struct ProcFSProcess: Sendable, Hashable {
    /// Thread-group id (host pid namespace when scanning the host's `/proc`).
    package var pid: UInt32
    /// Parent thread-group id (`stat` field 4).
    package var ppid: UInt32
    /// Pid in the innermost pid namespace (last `NSpid` value), or 0.
    package var nspid: UInt32
    /// `comm`, at most 15 bytes, may hold spaces and parentheses.
    package var comm: [UInt8]
    /// Start time in ns since boot (`stat` field 22 converted from clock ticks); the identity ktime.
    package var startKtime: UInt64
    /// Real, effective, saved and fs uid/gid, and the capability sets, from `status`.
    package var credentials: Credentials
    /// Login uid (`loginuid`), `UInt32.max` when unset or unreadable.
    package var auid: UInt32
    /// argv from `cmdline`, argv[0] first.
    package var argv: [[UInt8]]
    /// Target of `exe`, without the `" (deleted)"` suffix; argv[0] when `exe` could not be read.
    package var binary: [UInt8]
    /// `exe` ended in `" (deleted)"`: the binary has no link left.
    package var binaryDeleted: Bool
    /// `exe` could not be read (permissions, or the process is exiting).
    package var binaryUnreadable: Bool
    /// Target of `cwd`.
    package var cwd: [UInt8]
    /// `cwd` could not be read.
    package var cwdUnreadable: Bool
    /// Namespace inode numbers from `ns/*` (0 where unreadable).
    package var namespaces: Namespaces
    /// cgroup v2 id; the scanner leaves it 0.
    package var cgroupID: UInt64
    /// CLOCK_MONOTONIC ns just before the process was read, 0 if unknown. An exec record older
    /// than this describes the image the scan already saw (see ``ProcessCache/seed(_:)``).
    package var scanKtime: UInt64

    /// Memberwise, with defaults for what tests rarely care about.
    package init(
        pid: UInt32, ppid: UInt32, nspid: UInt32 = 0, comm: [UInt8] = [], startKtime: UInt64,
        credentials: Credentials = .init(), auid: UInt32 = UInt32.max, argv: [[UInt8]], binary: [UInt8],
        binaryDeleted: Bool = false, binaryUnreadable: Bool = false, cwd: [UInt8], cwdUnreadable: Bool = false,
        namespaces: Namespaces = .init(), cgroupID: UInt64 = 0, scanKtime: UInt64 = 0
    ) {
        self.pid = pid
        self.ppid = ppid
        self.nspid = nspid
        self.comm = comm
        self.startKtime = startKtime
        self.credentials = credentials
        self.auid = auid
        self.argv = argv
        self.binary = binary
        self.binaryDeleted = binaryDeleted
        self.binaryUnreadable = binaryUnreadable
        self.cwd = cwd
        self.cwdUnreadable = cwdUnreadable
        self.namespaces = namespaces
        self.cgroupID = cgroupID
        self.scanKtime = scanKtime
    }
}
