// SPDX-License-Identifier: Apache-2.0
import CLibbpf
import Glibc
import HostFiles
import KernelFeatures

/// What the process sensor needs from the kernel and the agent's privileges, checked before
/// anything is loaded so that a failure names the missing piece instead of an errno.
package enum KernelRequirements {
    /// Linux capability numbers that matter here.
    package enum Capability: Int, Sendable, CaseIterable {
        case sysAdmin = 21
        case perfmon = 38
        case bpf = 39

        package var name: String {
            switch self {
            case .sysAdmin: "CAP_SYS_ADMIN"
            case .perfmon: "CAP_PERFMON"
            case .bpf: "CAP_BPF"
            }
        }
    }

    /// Effective capabilities of this process, from /proc/self/status.
    package static func effectiveCapabilities(statusText: String) -> UInt64? {
        for line in statusText.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: " \t"), radix: 16)
        }
        return nil
    }

    /// Missing capabilities for loading BPF, or an empty list. CAP_SYS_ADMIN alone suffices.
    package static func missingCapabilities(effective: UInt64) -> [Capability] {
        func has(_ cap: Capability) -> Bool { effective & (1 << UInt64(cap.rawValue)) != 0 }
        if has(.sysAdmin) { return [] }
        return [Capability.bpf, .perfmon].filter { !has($0) }
    }

    /// Throws a ``BPFError`` naming the first requirement this machine does not meet.
    package static func check(procRoot: String = "/proc", btfPath: String = "/sys/kernel/btf/vmlinux") throws(BPFError) {
        let status = HostFile.readText(atPath: "\(procRoot)/self/status") ?? ""
        if let caps = effectiveCapabilities(statusText: status) {
            let missing = missingCapabilities(effective: caps)
            if !missing.isEmpty {
                throw BPFError(
                    code: .permissionDenied, errno: EPERM, operation: "capability check",
                    message: "missing \(missing.map(\.name).joined(separator: " and ")): run vigil as root, or grant "
                        + "CAP_BPF, CAP_PERFMON (and CAP_SYS_RESOURCE on kernels before 5.11)")
            }
        }
        if access(btfPath, R_OK) != 0 {
            throw BPFError(
                code: .missingKernelFeature, errno: ENOENT, operation: "kernel BTF",
                message: "\(btfPath) is missing: the kernel needs BTF (CONFIG_DEBUG_INFO_BTF=y) for CO-RE relocations")
        }
        if libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil) != 1 {
            throw BPFError(
                code: .missingKernelFeature, errno: ENOTSUP, operation: "BPF ring buffer",
                message: "this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8+)")
        }
    }

    /// Whether the kernel has the bpf_loop() helper (Linux 5.17+). Every policy program walks
    /// paths and strings in it; without it the agent runs the process sensor only, with the
    /// exec program's bounded path walk (``ProcessSensor/policyProgramsUnavailableReason``).
    package static func hasBPFLoop() -> Bool {
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nil) == 1
    }

    /// What the agent says where ``hasBPFLoop()`` is false.
    package static let noBPFLoopReason = KernelProbe.noBPFLoopReason
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}
