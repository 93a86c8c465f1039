// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc

extension Spawn {
    /// Runs `argv` (argv[0] is the path) to completion with stdout and stderr captured in a
    /// unique file under `directory`; with `asNobody`, as uid/gid 65534 without capabilities
    /// (setpriv), so that "an unprivileged user" is checked for real. Returns the exit status
    /// and the output.
    package static func capture(
        _ argv: [String], in directory: String, asNobody: Bool = false
    ) throws -> (status: Int32, output: String) {
        let out = "\(directory)/run-\(UUID().uuidString.prefix(6)).out"
        let full = asNobody
            ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"] + argv : argv
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // 0666: a nobody child must be able to write its own output file.
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs = full.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, full[0], &actions, nil, &cArgs, environ) == 0 else {
            throw Failure(description: "cannot start \(full[0])")
        }
        let status = wait(pid)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }
}

extension AgentHarness {
    /// The `tracectl` built next to the agent binary under test.
    package static var tracectlPath: String {
        URL(fileURLWithPath: binaryPath).deletingLastPathComponent().appendingPathComponent("tracectl").path
    }

    /// Runs tracectl against this agent's socket; returns exit status and combined output.
    @discardableResult
    package func tracectl(_ args: [String], asNobody: Bool = false) throws -> (status: Int32, output: String) {
        try Spawn.capture(
            [Self.tracectlPath, "--server-address", socketPath] + args, in: directory.path, asNobody: asNobody)
    }
}

/// Policies several suites load.
package enum TestPolicies {
    /// A bprm_check_security policy that kills `binary` at exec, before it runs an instruction.
    package static func killAtExec(name: String, binary: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          lsmhooks:
          - hook: bprm_check_security
            args:
            - index: 0
              type: linux_binprm
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["\(binary)"]
              matchActions:
              - action: Sigkill
        """
    }

    /// A file_open Override (EPERM) on `path`, for any process: scope it with a path only the
    /// test uses.
    package static func denyOpen(name: String, path: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          lsmhooks:
          - hook: file_open
            args:
            - index: 0
              type: file
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["\(path)"]
              matchActions:
              - action: Override
                argError: -1
        """
    }
}

/// Pins an agent with `--keep-sensors-on-exit` left in a test's `--bpf-dir`.
package enum TestPins {
    /// Removes every pin in `directory` and in the `previous-*` directories of earlier runs (their
    /// links detach with them), then the directory.
    package static func remove(_ directory: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = "\(directory)/\(entry)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { unlink("\(path)/\(name)") }
            if rmdir(path) != 0 { unlink(path) }
        }
        rmdir(directory)
    }
}
