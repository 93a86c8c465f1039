// SPDX-License-Identifier: Apache-2.0
import Glibc
import Tracefs

/// Policy hooks attach to tracepoints by id, which libbpf reads from tracefs. Hosts that do
/// not mount tracefs (this build machine is one) get it mounted at the standard place.
enum TracefsMount {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The tracefs root, mounting tracefs at /sys/kernel/tracing when no mount exists.
    static func ensure() throws -> String {
        if let root = Tracefs.root() { return root }
        if mount("nodev", Tracefs.standardPath, "tracefs", 0, nil) != 0 {
            let reason = String(cString: strerror(errno))
            throw Failure(
                description: "tracefs is not mounted and mounting it at \(Tracefs.standardPath) failed: \(reason); "
                    + "policy hooks need tracefs (mount -t tracefs nodev \(Tracefs.standardPath))")
        }
        guard let root = Tracefs.root() else {
            throw Failure(description: "tracefs mounted at \(Tracefs.standardPath) but its events/ directory is missing")
        }
        return root
    }

    /// Whether perf kprobes can be created on this kernel (the kprobe PMU exists).
    static var kprobesAvailable: Bool {
        access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0
    }
}
