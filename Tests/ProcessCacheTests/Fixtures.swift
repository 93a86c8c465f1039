// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache
import Testing

/// Builders for records and caches, so each test reads as a sequence of kernel events.
enum Fixtures {
    static let node = "node1"
    /// Boot at 2001-09-09T01:46:40Z: every wall time is `boot + ktime`.
    static let boot: UInt64 = 1_000_000_000_000_000_000
    static let clock = KtimeClock(bootWallNanoseconds: boot)

    static func cache(
        ancestors: Bool = false, capacity: Int = 65536, namespaces: Bool = false, credentials: Bool = false,
        host: Namespaces = .init(), dockerID: (@Sendable (UInt64) -> String?)? = nil,
        dockerIDOfProcess: (@Sendable (UInt32) -> String?)? = nil
    ) -> ProcessCache {
        ProcessCache(
            config: ProcessCacheConfig(
                nodeName: node, enableAncestors: ancestors, exportNamespaces: namespaces,
                exportCredentials: credentials, hostNamespaces: host, capacity: capacity, dockerID: dockerID,
                dockerIDOfProcess: dockerIDOfProcess
            ),
            clock: clock
        )
    }

    static func id(_ pid: UInt32, _ ktime: UInt64) -> String {
        ExecIDs.make(node: node, ktime: ktime, pid: pid)
    }

    static func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

    static func exec(
        pid: UInt32, ktime: UInt64, ppid: UInt32, parentKtime: UInt64 = 0, argv: [String] = ["/bin/true"],
        cwd: String = "/home/user", uid: UInt32 = 1000, flags: ExecRecordFlags = [], processStart: UInt64 = 0,
        cgroupID: UInt64 = 0, namespaces: Namespaces = .init()
    ) -> Record {
        var credentials = Credentials()
        credentials.uid = uid
        credentials.euid = uid
        return .exec(
            ExecRecord(
                ktime: ktime, cgroupID: cgroupID, pid: pid, tid: pid, flags: flags, parentKtime: parentKtime,
                ppid: ppid, processStart: processStart, credentials: credentials, namespaces: namespaces, auid: uid,
                binary: bytes(argv[0]), cwd: bytes(cwd), argv: argv.map(bytes)
            )
        )
    }

    static func clone(
        pid: UInt32, ktime: UInt64, ppid: UInt32, parentKtime: UInt64 = 0, processStart: UInt64 = 0,
        cgroupID: UInt64 = 0
    ) -> Record {
        .clone(
            CloneRecord(
                ktime: ktime, cgroupID: cgroupID, pid: pid, tid: pid, parentKtime: parentKtime, ppid: ppid,
                processStart: processStart
            )
        )
    }

    static func exit(pid: UInt32, ktime: UInt64, processKtime: UInt64, code: UInt32 = 0, tid: UInt32? = nil) -> Record {
        .exit(ExitRecord(ktime: ktime, pid: pid, tid: tid ?? pid, processKtime: processKtime, exitCode: code))
    }

    static func proc(
        pid: UInt32, ppid: UInt32, start: UInt64, argv: [String] = ["/sbin/init"], cwd: String = "/",
        scanKtime: UInt64 = 0
    ) -> ProcFSProcess {
        ProcFSProcess(
            pid: pid, ppid: ppid, startKtime: start, argv: argv.map(bytes), binary: bytes(argv[0]), cwd: bytes(cwd),
            scanKtime: scanKtime
        )
    }
}

extension ExportEvent {
    /// The exit payload, or nil for an exec.
    var exit: (signal: String?, status: UInt32, time: WallTime)? {
        if case .exit(let signal, let status, let time) = kind { return (signal, status, time) }
        return nil
    }
}

extension ProcessCache {
    /// `handle(_:)` that must export an event (`#require` cannot wrap a mutating call).
    mutating func mustHandle(
        _ record: Record, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ExportEvent {
        let event = handle(record)
        return try #require(event, sourceLocation: sourceLocation)
    }
}
