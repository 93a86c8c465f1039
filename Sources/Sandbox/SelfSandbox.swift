// SPDX-License-Identifier: Apache-2.0
import CVigilSandbox

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--seccomp`: what the agent's own seccomp filter does with the syscalls it never needs.
package enum SeccompMode: String, Sendable, CaseIterable {
    /// No filter.
    case off
    /// The syscalls are allowed and the kernel logs each use (audit / kernel log).
    case log
    /// The syscalls fail with EPERM.
    case enforce
}

/// The agent sandboxes itself once start-up is done: a seccomp filter (libseccomp) on every
/// thread that refuses running programs, tracing other processes, mounts, namespaces, module
/// loading, kexec, keyrings, identity and clock changes. The list is in
/// `Sources/CVigilSandbox/sandbox.c`; what the agent does at run time (bpf, perf_event_open,
/// fanotify, inotify, files, sockets) is untouched.
package enum SelfSandbox {
    package struct Failure: Error, CustomStringConvertible, Sendable {
        package var description: String
    }

    /// The syscall names the filter denies (those absent on this architecture are skipped).
    package static var deniedSyscalls: [String] {
        var names: [String] = []
        var i: Int32 = 0
        while let name = vigil_sandbox_denied_name(i) {
            names.append(String(cString: name))
            i += 1
        }
        return names
    }

    /// Installs the filter for the whole process; returns how many syscalls it names. A filter
    /// cannot be removed again: this is for the agent process (or a forked child in tests).
    ///
    /// - Throws: `Failure` naming the missing kernel feature or the step that failed.
    @discardableResult
    /// - Parameter handleMountFD: the cgroup2 mount fd `open_by_handle_at` may use (cgroup id
    ///   resolution); -1 denies that call.
    package static func install(_ mode: SeccompMode, handleMountFD: Int32 = -1) throws(Failure) -> Int {
        let cMode: vigil_sandbox_mode
        switch mode {
        case .off: return 0
        case .log: cMode = VIGIL_SANDBOX_LOG
        case .enforce: cMode = VIGIL_SANDBOX_ENFORCE
        }
        var rules: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = vigil_sandbox_install(cMode, handleMountFD, &rules, &message, message.count)
        guard rc == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure(description: "--seccomp=\(mode.rawValue): \(text); --seccomp=off runs without the filter")
        }
        return Int(rules)
    }

    /// The `Seccomp:` field of /proc/PID/status: 0 none, 1 strict, 2 filter; nil if unreadable.
    package static func seccompStatus(pid: pid_t? = nil, procRoot: String = "/proc") -> Int? {
        let path = "\(procRoot)/\(pid.map(String.init) ?? "self")/status"
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("Seccomp:") {
                return Int(text.dropFirst("Seccomp:".count).trimmingWhitespace())
            }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" || last == "\n" { s = s.dropLast() }
        return s
    }
}
