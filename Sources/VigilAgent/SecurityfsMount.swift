// SPDX-License-Identifier: Apache-2.0
import Glibc
import Logging

/// Whether BPF-LSM runs is read from securityfs (`/sys/kernel/security/lsm`): an LSM program
/// attaches without error on a kernel where `bpf` is not an active LSM, and then never runs.
/// Hosts that do not mount securityfs (this build machine is one) would leave that unknown and
/// every lsmhooks deny on the fallback mechanisms, so the agent mounts it where it is missing,
/// as it does tracefs.
enum SecurityfsMount {
    static let path = "/sys/kernel/security"

    static func ensure(logger: Logger) {
        guard access("\(path)/lsm", F_OK) != 0, access(path, F_OK) == 0 else { return }
        if mount("securityfs", path, "securityfs", 0, nil) == 0 {
            logger.info("mounted securityfs to read the active LSMs", metadata: ["path": "\(path)"])
        } else {
            let reason = String(cString: strerror(errno))
            logger.warning(
                "securityfs is not mounted and mounting it failed: whether BPF-LSM runs is unknown, lsmhooks use the fallback mechanisms",
                metadata: ["path": "\(path)", "error": "\(reason)"])
        }
    }
}
