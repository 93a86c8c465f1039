// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Glibc
import Logging
import VigilAgent

@main
enum Main {
    static func main() async {
        let command: VigilCommand
        do {
            command = try VigilCommand.parse()
        } catch {
            // --help and --version exit 0 through the parser; every usage error exits 2.
            if VigilCommand.exitCode(for: error) == .success { VigilCommand.exit(withError: error) }
            let message = VigilCommand.fullMessage(for: error)
            printError("vigil: \(message)")
            exit(2)
        }

        // Nothing the agent creates (export files, rotated backups, persisted policies, the
        // control socket before its chmod, pinned objects) is for other users to read: files
        // that must be shared get their mode set explicitly.
        umask(0o077)
        // A closed stdout pipe must not kill a security agent; the write error is counted instead.
        signal(SIGPIPE, SIG_IGN)
        // SIGHUP means "reload", never "die": until the reload handler is installed (after the
        // first policy load), an early SIGHUP is ignored instead of killing the agent.
        signal(SIGHUP, SIG_IGN)
        let level = Logger.Level(rawValue: command.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vigil")
        do {
            try await Agent.run(configuration: command.agentConfiguration(), logger: logger)
        } catch {
            printError("vigil: \(error)")
            exit(1)
        }
    }
}

/// Writes one line to standard error, unbuffered, without touching C's shared `stderr` FILE.
func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
