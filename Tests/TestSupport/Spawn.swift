// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc

/// Starts processes with raw byte arguments (Foundation's Process takes only Strings, and the
/// tests need arguments that are not UTF-8) and a working directory of their own.
package enum Spawn {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        package init(description: String) { self.description = description }
    }

    /// Starts `path` with `argv` (argv[0] first) in `cwd`; returns the child's pid.
    package static func start(
        _ path: String, argv: [[UInt8]], cwd: String? = nil, stdoutPath: String? = nil
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let cwd { _ = cspawn_addchdir(&actions, cwd) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
        defer { for p in cArgs { p?.deallocate() } }
        var pid: pid_t = 0
        let rc = cArgs.withUnsafeBufferPointer { args in
            posix_spawn(&pid, path, &actions, nil, UnsafeMutablePointer(mutating: args.baseAddress!), environ)
        }
        guard rc == 0 else { throw Failure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Convenience for UTF-8 arguments.
    package static func start(_ path: String, _ args: [String], cwd: String? = nil) throws -> pid_t {
        try start(path, argv: ([path] + args).map { Array($0.utf8) }, cwd: cwd)
    }

    /// Waits for `pid` and returns its raw wait status.
    @discardableResult
    package static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// Runs to completion; returns the raw wait status.
    @discardableResult
    package static func run(_ path: String, argv: [[UInt8]], cwd: String? = nil) throws -> Int32 {
        wait(try start(path, argv: argv, cwd: cwd))
    }
}

/// A unique directory under /tmp, removed by ``remove()``.
package struct TempDir: Sendable {
    package let path: String

    package init(_ label: String = "vigil-test") throws {
        var template = Array("/tmp/\(label)-\(getpid())-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else {
            throw Spawn.Failure(description: "mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: result)
    }

    /// An existing directory; ``remove()`` deletes it.
    package init(existing path: String) throws {
        self.path = path
    }

    /// Copies `source` into the directory under `name` (mode 0755) and returns the new path.
    package func copy(_ source: String, as name: String) throws -> String {
        let destination = "\(path)/\(name)"
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        chmod(destination, 0o755)
        return destination
    }

    package func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Facts about the test process itself.
package enum SelfProcess {
    /// Start time of `pid` in ns since boot, as the agent's /proc scan computes it.
    package static func startKtime(pid: pid_t = getpid()) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is state (field 3); starttime is field 22.
        guard fields.count > 19, let ticks = UInt64(fields[19]) else { return nil }
        let hz = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        return ticks * (1_000_000_000 / hz)
    }

    /// Tetragon's exec_id: base64 of "node:ktime:pid".
    package static func execID(node: String, ktime: UInt64, pid: pid_t) -> String {
        Data("\(node):\(ktime):\(pid)".utf8).base64EncodedString()
    }
}
