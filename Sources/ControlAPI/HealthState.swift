// SPDX-License-Identifier: Apache-2.0

import Glibc
import Synchronization

/// What `--health-server-address` answers: the agent's tasks report here, the probes read it.
///
/// - Liveness: the pipeline drains the ring buffer (its loop turned within `drainTimeout`; the
///   reader hands it a batch at least every ~100 ms, empty when the ring is quiet). A failing
///   export file does not make the agent dead: its lines are kept and retried by that same loop,
///   so a live loop is a retrying export. A restart would not make a full disk writable.
/// - Readiness: live, the sensor attached, the policies of the files and directory loaded
///   without a refusal, and the export writable now.
///
/// The pipeline's part is one atomic store per batch; the rest changes rarely, under a lock.
package final class HealthState: Sendable {
    /// One check of a probe: its name, whether it passes, and what the body says about it.
    package struct Check: Sendable, Equatable {
        package var name: String
        package var ok: Bool
        package var detail: String
    }

    private struct State {
        var sensor: String?
        var policiesLoaded = false
        var policyCount = 0
        var policyProblems: [String] = []
        var exportError: String?
        /// A sink error that has no "writable again" of its own (stdout): ready again after
        /// `otherErrorHold` without a new one.
        var otherExportError: (message: String, at: Int64)?
    }

    /// How long the pipeline may go without draining before the agent is not live.
    package let drainTimeout: Duration
    private let otherErrorHold: Int64 = 10_000_000_000
    private let state = Mutex(State())
    /// Monotonic nanoseconds of the pipeline's last turn; 0 until it starts.
    private let lastDrain = Atomic<Int64>(0)
    private let now: @Sendable () -> Int64

    /// - Parameter now: monotonic nanoseconds (tests pass their own clock).
    package init(drainTimeout: Duration = .seconds(30), now: @escaping @Sendable () -> Int64 = HealthState.monotonicNanoseconds) {
        self.drainTimeout = drainTimeout
        self.now = now
    }

    package static func monotonicNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    // MARK: - Reports

    /// The pipeline took a batch from the ring-buffer reader (an empty one included).
    package func drained() {
        lastDrain.store(now(), ordering: .relaxed)
    }

    /// The process sensor is attached (`mode`: its hook family).
    package func sensorAttached(_ mode: String) {
        state.withLock { $0.sensor = mode }
    }

    /// The policy files and directory were (re)loaded: `count` policies run, `problems` are the
    /// refusals (file:line:column and the reason), empty when every one loaded.
    package func policiesLoaded(count: Int, problems: [String]) {
        state.withLock {
            $0.policiesLoaded = true
            $0.policyCount = count
            $0.policyProblems = problems
        }
    }

    /// The export file's state after a batch: nil when the last write went through.
    package func exportFile(error: String?) {
        state.withLock { if $0.exportError != error { $0.exportError = error } }
    }

    /// A write to another sink (stdout) failed.
    package func exportFailed(_ message: String) {
        let at = now()
        state.withLock { $0.otherExportError = (message, at) }
    }

    // MARK: - Probes

    /// The liveness checks; the agent is live when all pass.
    package func liveness() -> [Check] {
        let drained = lastDrain.load(ordering: .relaxed)
        let exportError = state.withLock { $0.exportError }
        var checks = [drainCheck(drained)]
        if let exportError {
            // Alive while its loop runs: that loop is what retries the file.
            checks.append(Check(name: "export", ok: true, detail: "failing, lines kept and retried every second: \(exportError)"))
        }
        return checks
    }

    /// The readiness checks; the agent is ready when all pass.
    package func readiness() -> [Check] {
        let drained = lastDrain.load(ordering: .relaxed)
        let current = state.withLock { $0 }
        var checks = [drainCheck(drained)]
        checks.append(
            current.sensor.map { Check(name: "sensor", ok: true, detail: "attached (\($0))") }
                ?? Check(name: "sensor", ok: false, detail: "not attached yet"))
        if !current.policiesLoaded {
            checks.append(Check(name: "policies", ok: false, detail: "not loaded yet"))
        } else if current.policyProblems.isEmpty {
            checks.append(Check(name: "policies", ok: true, detail: "\(current.policyCount) loaded"))
        } else {
            checks.append(
                Check(
                    name: "policies", ok: false,
                    detail: "\(current.policyCount) loaded, \(current.policyProblems.count) refused: "
                        + current.policyProblems.joined(separator: "; ")))
        }
        if let error = current.exportError {
            checks.append(Check(name: "export", ok: false, detail: "file not writable, lines kept and retried: \(error)"))
        } else if let other = current.otherExportError, now() - other.at < otherErrorHold {
            checks.append(Check(name: "export", ok: false, detail: "write failed: \(other.message)"))
        } else {
            checks.append(Check(name: "export", ok: true, detail: "writable"))
        }
        return checks
    }

    private func drainCheck(_ drained: Int64) -> Check {
        guard drained != 0 else {
            // Start-up (sensor, /proc scan, policies) comes before the first batch; a liveness
            // probe must not kill an agent for starting. Readiness says it is not attached yet.
            return Check(name: "pipeline", ok: true, detail: "starting")
        }
        let idle = now() - drained
        let limit = drainTimeout.components.seconds * 1_000_000_000 + drainTimeout.components.attoseconds / 1_000_000_000
        if idle > limit {
            return Check(
                name: "pipeline", ok: false,
                detail: "has not drained the ring buffer for \(idle / 1_000_000) ms (limit \(limit / 1_000_000) ms): the export sink blocks it or it hangs")
        }
        return Check(name: "pipeline", ok: true, detail: "draining (last batch \(idle / 1_000_000) ms ago)")
    }

    /// The response body: "ok" or "not ok", then one line per check.
    package static func body(_ checks: [Check]) -> String {
        let ok = checks.allSatisfy(\.ok)
        return ([ok ? "ok" : "not ok"] + checks.map { "\($0.ok ? "[+]" : "[-]") \($0.name): \($0.detail)" })
            .joined(separator: "\n") + "\n"
    }
}
