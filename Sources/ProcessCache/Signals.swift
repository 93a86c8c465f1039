// SPDX-License-Identifier: Apache-2.0

/// Linux signal names, as Tetragon exports them in `process_exit.signal`.
package enum Signals {
    /// `"SIG<NAME>"` for signals 1...31 (the generic/x86/arm64 numbering), nil otherwise.
    package static func name(_ signal: UInt32) -> String? {
        guard signal >= 1, Int(signal) <= names.count else { return nil }
        return names[Int(signal) - 1]
    }

    private static let names = [
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP",
        "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
        "SIGIO", "SIGPWR", "SIGSYS",
    ]
}
