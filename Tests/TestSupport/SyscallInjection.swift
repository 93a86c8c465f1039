// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Glibc

/// Makes another process's thread run a syscall itself, through ptrace: proof of what that
/// process may do, with no hook of any kind in it.
package enum SyscallInjection {
    package enum Outcome: Equatable, Sendable {
        /// The syscall ran and returned this (0 or a negative errno).
        case returned(Int)
        /// ptrace could not do it (errno), e.g. not x86_64.
        case notInjected(Int32)
    }

    /// Thread `tid` calls `execve(path, NULL, NULL)`. With `.returned(0)` the process now runs
    /// `path`.
    package static func execve(tid: pid_t, path: String) -> Outcome {
        var result = 0
        let rc = cspawn_inject_execve(tid, path, &result)
        return rc == 0 ? .returned(result) : .notInjected(-rc)
    }
}
