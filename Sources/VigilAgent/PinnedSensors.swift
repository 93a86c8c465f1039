// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import HostFiles
import Logging

/// `--keep-sensors-on-exit` and `--bpf-dir`: enforcement that outlives the agent.
///
/// With the flag, the cgroup connect links (and through them their programs and the policy
/// maps they read) are pinned in `--bpf-dir`, so a connect deny keeps denying while the agent
/// is down (killed, crashed, restarting). On start, whatever a previous run left pinned is
/// moved aside first, the new agent loads its policies (its own links are attached and
/// pinned), and only then are the old pins removed, which detaches the old links: no moment
/// without the deny, and no duplicate attachment afterwards. Without the flag nothing is
/// pinned, and leftovers of an earlier run with it are removed the same way.
///
/// The exec/fork/exit links and the process map are pinned with them: the pinned programs
/// read each process's binary (matchBinaries) from that map, which must keep following execs
/// while no agent runs. The next start takes the map over (``previousProcessMap``) and releases
/// the old exec tracking as soon as its own is attached.
///
/// Tracepoint hooks and the syscall dispatcher are pinned as they attach (TracepointBackend),
/// the BPF-LSM links by their backend. What cannot outlive the process: fanotify deny (open,
/// exec), whose group is the agent's descriptor; kprobe, trampoline and uprobe hooks (not
/// pinned); the records of the ring buffer nobody reads meanwhile.
struct PinnedSensors {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let standardMount = "/sys/fs/bpf"

    let directory: String
    let keep: Bool
    /// Directories holding the pins of previous runs, released after the policies are loaded.
    private(set) var previous: [String] = []

    /// Runs before the seccomp filter (it may mount bpffs).
    static func prepare(directory: String, keep: Bool, logger: Logger) throws -> PinnedSensors {
        var pins = PinnedSensors(directory: directory, keep: keep)
        let exists = access(directory, F_OK) == 0
        if !keep && !exists { return pins }
        if keep {
            try ensureBPFFS(for: directory, logger: logger)
            if !exists && mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw Failure(description: "--bpf-dir: cannot create \(directory): \(String(cString: strerror(errno)))")
            }
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let stale = entries.filter { !$0.hasPrefix("previous-") }
        pins.previous = entries.filter { $0.hasPrefix("previous-") }.map { "\(directory)/\($0)" }
        if !stale.isEmpty {
            let aside = "\(directory)/previous-\(getpid())-\(UInt64(Date().timeIntervalSince1970 * 1000))"
            guard mkdir(aside, 0o700) == 0 else {
                throw Failure(description: "--bpf-dir: cannot create \(aside): \(String(cString: strerror(errno)))")
            }
            for name in stale where rename("\(directory)/\(name)", "\(aside)/\(name)") != 0 {
                logger.warning("--bpf-dir: cannot move \(directory)/\(name) aside: \(String(cString: strerror(errno)))")
            }
            pins.previous.append(aside)
            logger.info("pinned enforcement of a previous run found; it stays until the policies are loaded",
                        metadata: ["pins": "\(stale.count)", "bpf_dir": "\(directory)"])
        }
        return pins
    }

    static let processTrackingPins = ["process_exec", "process_fork", "process_exit"]
    static let processMapPin = "vg_procs"

    /// The process map the most recent previous run pinned, if any: directories moved aside are
    /// named `previous-PID-MILLISECONDS`.
    var previousProcessMap: String? {
        func stamp(_ dir: String) -> UInt64 { UInt64(dir.split(separator: "-").last ?? "") ?? 0 }
        return previous.sorted { stamp($0) > stamp($1) }.lazy
            .map { "\($0)/\(Self.processMapPin)" }
            .first { access($0, F_OK) == 0 }
    }

    /// Once this run's exec tracking is attached and maintains the taken-over map `processMap`,
    /// the previous run's exec tracking that kept the same map is redundant: released now rather
    /// than with the rest, so no two programs write one identity.
    func releasePreviousProcessTracking(of processMap: String, logger: Logger) {
        let dir = (processMap as NSString).deletingLastPathComponent
        var released = 0
        for name in Self.processTrackingPins + [Self.processMapPin] where unlink("\(dir)/\(name)") == 0 {
            released += 1
        }
        logger.info("process identities of the previous run taken over", metadata: ["pins_released": "\(released)"])
    }

    /// Removes the previous runs' pins (their links detach as the last reference goes), and
    /// without `keep` the directory itself.
    func releasePrevious(logger: Logger) {
        var released = 0
        for dir in previous {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                if unlink("\(dir)/\(name)") == 0 { released += 1 }
            }
            rmdir(dir)
        }
        if released > 0 {
            logger.info("pinned enforcement of a previous run replaced", metadata: ["pins_released": "\(released)"])
        }
        if !keep { rmdir(directory) }
    }

    /// Mounts bpffs at /sys/fs/bpf when `directory` is meant to be there and nothing is mounted.
    private static func ensureBPFFS(for directory: String, logger: Logger) throws {
        let parent = (directory as NSString).deletingLastPathComponent
        let probe = access(directory, F_OK) == 0 ? directory : parent
        if isBPFFS(probe) { return }
        guard parent == standardMount, access(parent, F_OK) == 0 else {
            throw Failure(
                description: "--bpf-dir: \(directory) is not on a bpf file system; pins need one "
                    + "(mount -t bpf bpf \(standardMount), or a --bpf-dir under it)")
        }
        guard mount("bpf", parent, "bpf", 0, "mode=0700") == 0 else {
            throw Failure(
                description: "--keep-sensors-on-exit: mounting bpffs at \(parent) failed: \(String(cString: strerror(errno)))")
        }
        logger.info("mounted bpffs", metadata: ["path": "\(parent)"])
    }

    /// Whether `path` lies on a bpf file system mount (from /proc/self/mountinfo).
    static func isBPFFS(_ path: String) -> Bool {
        let mounts = MountInfo.mountPoints(ofType: "bpf", mountinfo: HostFile.readText(atPath: MountInfo.selfPath) ?? "")
        return mounts.contains { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }
}
