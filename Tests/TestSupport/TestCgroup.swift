// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc

/// A cgroup2 directory of the test's own (`vigil-test-...` under the cgroup2 mount), the
/// `--enforcement-cgroup` of its agent: the processes the test means to kill or deny are born in
/// it (``spawn(_:argv:stdoutPath:cwd:)``, ``connectErrno(port:v6:udp:)``), so a policy that
/// matches more than the test meant still reaches nothing else on the machine.
package final class TestCgroup: @unchecked Sendable {  // immutable after init; remove() is idempotent by rmdir
    /// The directory on the cgroup2 mount.
    package let path: String
    /// The cgroup2 mount it was made under.
    package let mount: String
    /// Open on `path`, for clone3's CLONE_INTO_CGROUP.
    private let fd: Int32

    /// The cgroup2 mount point from /proc/self/mountinfo (`/sys/fs/cgroup/unified` on hybrid hosts).
    package static var cgroup2Mount: String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4, fields[3] == "/" { return String(fields[4]) }
        }
        return nil
    }

    package init(_ label: String = "fence") throws {
        guard let mount = Self.cgroup2Mount else { throw Spawn.Failure(description: "no cgroup2 mount for a test cgroup") }
        self.mount = mount
        path = "\(mount)/vigil-test-\(label)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        guard mkdir(path, 0o755) == 0 else {
            throw Spawn.Failure(description: "mkdir \(path): \(String(cString: strerror(errno)))")
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let error = String(cString: strerror(errno))
            rmdir(path)
            throw Spawn.Failure(description: "open \(path): \(error)")
        }
    }

    /// A child cgroup of `parent` (so inside its fence), made now: tests of what the agent
    /// knows about cgroups made at a given moment.
    package init(under parent: TestCgroup, _ label: String) throws {
        mount = parent.mount
        path = "\(parent.path)/\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        guard mkdir(path, 0o755) == 0 else {
            throw Spawn.Failure(description: "mkdir \(path): \(String(cString: strerror(errno)))")
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let error = String(cString: strerror(errno))
            rmdir(path)
            throw Spawn.Failure(description: "open \(path): \(error)")
        }
    }

    deinit { close(fd) }

    /// A child cgroup (e.g. kubelet-shaped paths below the fence), created with its parents.
    package func subdirectory(_ relative: String) throws -> String {
        let full = "\(path)/\(relative)"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    /// Starts `path` born in this cgroup; argv[0] first. Returns the pid.
    package func spawn(_ executable: String, argv: [[UInt8]], stdoutPath: String? = nil, cwd: String? = nil) throws -> pid_t {
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
        defer { for p in cArgs { p?.deallocate() } }
        let pid = cArgs.withUnsafeBufferPointer { args in
            cspawn_in_cgroup(executable, args.baseAddress, environ, fd, stdoutPath, cwd)
        }
        guard pid > 0 else {
            throw Spawn.Failure(description: "clone3 into \(path) for \(executable): \(String(cString: strerror(-pid)))")
        }
        return pid
    }

    /// Convenience for UTF-8 arguments (argv[0] is `executable`).
    package func spawn(_ executable: String, _ args: [String], stdoutPath: String? = nil) throws -> pid_t {
        try spawn(executable, argv: ([executable] + args).map { Array($0.utf8) }, stdoutPath: stdoutPath)
    }

    /// A connect (or UDP send) to loopback `port` from a child of the test process born in this
    /// cgroup: 0, or the errno it got; -1 when the child was killed.
    package func connectErrno(port: UInt16, v6: Bool = false, udp: Bool = false) -> Int32 {
        let rc = cspawn_connect_in_cgroup(fd, v6 ? 1 : 0, udp ? 1 : 0, port)
        return rc < 0 ? -1 : rc
    }

    /// Runs `body` with the test process itself in this cgroup (every thread: cgroup v2 moves
    /// whole processes), for checks whose subject is the test process (its own connects and
    /// opens, `matchPIDs` on its pid); moves it back to where it was afterwards, whatever
    /// `body` does. Tests run serially, so nothing else of the test run is inside meanwhile.
    package func inside<T>(_ body: () throws -> T) throws -> T {
        let own = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        guard let line = own.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
            throw Spawn.Failure(description: "the test process has no cgroup2 path")
        }
        let home = line.dropFirst(3) == "/" ? mount : mount + line.dropFirst(3)
        try Self.move(getpid(), to: path)
        defer { try? Self.move(getpid(), to: home) }
        return try body()
    }

    private static func move(_ pid: pid_t, to directory: String) throws {
        let fd = open("\(directory)/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Spawn.Failure(description: "open \(directory)/cgroup.procs: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = "\(pid)\n"
        guard write(fd, text, text.utf8.count) == text.utf8.count else {
            throw Spawn.Failure(description: "move \(pid) to \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Pids in this cgroup and below it.
    package func processes() -> [pid_t] {
        var pids: [pid_t] = []
        let enumerator = FileManager.default.enumerator(atPath: path)
        var dirs = [path]
        while let entry = enumerator?.nextObject() as? String {
            var st = stat()
            if stat("\(path)/\(entry)", &st) == 0, st.st_mode & S_IFMT == S_IFDIR { dirs.append("\(path)/\(entry)") }
        }
        for dir in dirs {
            let text = (try? String(contentsOfFile: "\(dir)/cgroup.procs", encoding: .utf8)) ?? ""
            pids += text.split(separator: "\n").compactMap { pid_t($0) }
        }
        return pids
    }

    /// Kills what the test left in it (its own children, by pid), then removes it, deepest first.
    /// The test process itself is never killed: it is moved to the cgroup2 root.
    package func remove() {
        for _ in 0..<50 {
            let left = processes()
            if left.isEmpty { break }
            for pid in left {
                if pid == getpid() { try? Self.move(pid, to: mount) } else { kill(pid, SIGKILL) }
            }
            usleep(20_000)
        }
        var dirs: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let entry = enumerator?.nextObject() as? String {
            var st = stat()
            if stat("\(path)/\(entry)", &st) == 0, st.st_mode & S_IFMT == S_IFDIR { dirs.append("\(path)/\(entry)") }
        }
        for dir in dirs.sorted(by: { $0.count > $1.count }) + [path] {
            for _ in 0..<50 where rmdir(dir) != 0 && errno == EBUSY { usleep(20_000) }
        }
    }
}
