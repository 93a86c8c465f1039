// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
@testable import FileGuard

#if canImport(Glibc)
import Glibc
#endif

/// Root is needed for `fanotify_init(FAN_CLASS_CONTENT)` (CAP_SYS_ADMIN) and for `mount`.
let isRoot = geteuid() == 0

/// A fresh directory under /tmp (canonical path), removed with everything in it.
final class TempDir {
    let path: String

    init(_ tag: String) throws {
        var template = Array("/tmp/fileguard-\(tag)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))") }
        let raw = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        path = realpath(raw, nil).map { p in
            defer { free(p) }
            return String(cString: p)
        } ?? raw
    }

    deinit {
        _ = run(["/bin/rm", "-rf", path])
    }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// A private tmpfs, so that a filesystem mark never covers the machine's root filesystem.
final class TmpfsMount {
    let path: String

    init(at path: String) throws {
        self.path = path
        mkdir(path, 0o755)
        guard mount("tmpfs", path, "tmpfs", 0, "size=16m,mode=755") == 0 else {
            throw TestFailure("mount tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        umount2(path, Int32(MNT_DETACH))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Writes a file (in-process: the guard always allows its own pid).
func writeFile(_ path: String, _ text: String = "data\n", mode: mode_t = 0o644) throws {
    let dir = String(path[..<path.lastIndex(of: "/")!])
    _ = run(["/bin/mkdir", "-p", dir])
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw TestFailure("create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    _ = text.withCString { write(fd, $0, strlen($0)) }
}

/// The outcome of a child process.
struct RunResult {
    /// posix_spawn's own result (the errno of a failed execve).
    var spawnErrno: Int32
    /// Exit status, or 128 + signal; -1 when it was not spawned.
    var status: Int32
    var stderr: String

    var ok: Bool { spawnErrno == 0 && status == 0 }
    var deniedEPERM: Bool { status != 0 && stderr.contains("Operation not permitted") }
}

/// A child process started by `spawn`.
struct Child {
    var pid: pid_t
    /// posix_spawn's own result (the errno of a failed execve); 0 when it runs.
    var spawnErrno: Int32
    /// Read end of the child's stderr, or -1.
    var stderrFd: Int32
}

/// Starts `argv` (stdout to /dev/null, stderr to a pipe) without waiting for it.
func spawn(_ argv: [String]) -> Child {
    var pipeFds: [Int32] = [0, 0]
    guard pipe(&pipeFds) == 0 else { return Child(pid: 0, spawnErrno: errno, stderrFd: -1) }
    for fd in pipeFds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], 2)

    // Default dispositions and an empty mask: the test runner may ignore SIGCHLD, which a
    // child shell's `wait` would then never see.
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var all = sigset_t()
    sigfillset(&all)
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, environ)
    close(pipeFds[1])
    guard rc == 0 else {
        close(pipeFds[0])
        return Child(pid: 0, spawnErrno: rc, stderrFd: -1)
    }
    return Child(pid: pid, spawnErrno: 0, stderrFd: pipeFds[0])
}

/// Waits for `child`, killing it after `timeout` seconds so that a guard bug fails the test
/// instead of hanging it.
func wait(_ child: Child, timeout: Double = 15) -> RunResult {
    guard child.spawnErrno == 0 else { return RunResult(spawnErrno: child.spawnErrno, status: -1, stderr: "") }
    defer { close(child.stderrFd) }
    var status: Int32 = 0
    let deadline = Sys.monotonicNanos() + UInt64(timeout * 1e9)
    while true {
        let r = waitpid(child.pid, &status, WNOHANG)
        if r == child.pid { break }
        if Sys.monotonicNanos() > deadline {
            kill(child.pid, SIGKILL)
            waitpid(child.pid, &status, 0)
            break
        }
        usleep(2_000)
    }
    var err: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { read(child.stderrFd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        err += buf[0..<n]
    }
    let exited = (status & 0x7f) == 0
    let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return RunResult(spawnErrno: 0, status: code, stderr: String(decoding: err, as: UTF8.self))
}

/// Runs `argv` to completion (see `spawn` and `wait`).
@discardableResult
func run(_ argv: [String], timeout: Double = 15) -> RunResult {
    wait(spawn(argv), timeout: timeout)
}

/// `cat` the file in a child process (the guard allows its own pid, so opens must come from
/// another process).
func cat(_ path: String) -> RunResult { run(["/bin/cat", path]) }

/// Collects `onDecision` reports.
final class Reports: Sendable {
    private let events = Mutex<[FileDecisionEvent]>([])

    var sink: @Sendable (FileDecisionEvent) -> Void {
        { [self] e in events.withLock { $0.append(e) } }
    }

    var all: [FileDecisionEvent] { events.withLock { $0 } }

    /// Waits up to `timeout` seconds for a report that satisfies `where`.
    func wait(timeout: Double = 3, where predicate: (FileDecisionEvent) -> Bool) -> FileDecisionEvent? {
        let deadline = Sys.monotonicNanos() + UInt64(timeout * 1e9)
        repeat {
            if let e = all.first(where: predicate) { return e }
            usleep(5_000)
        } while Sys.monotonicNanos() < deadline
        return nil
    }
}

/// Polls `condition` every 10 ms for up to `timeout` seconds; returns the seconds it took, or nil.
func eventually(within timeout: Double, _ condition: () -> Bool) -> Double? {
    let start = Sys.monotonicNanos()
    repeat {
        if condition() { return Double(Sys.monotonicNanos() - start) / 1e9 }
        usleep(10_000)
    } while Double(Sys.monotonicNanos() - start) / 1e9 < timeout
    return nil
}
