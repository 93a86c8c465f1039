// SPDX-License-Identifier: Apache-2.0

/// Names of Tetragon's `CapabilitiesType` enum, indexed by Linux capability bit number.
package enum CapabilityNames {
    /// Bit 0 (`CAP_CHOWN`) to bit 40 (`CAP_CHECKPOINT_RESTORE`).
    ///
    /// Bit 1 is `DAC_OVERRIDE`, without the `CAP_` prefix: that is how Tetragon's
    /// `api/v1/tetragon/capabilities.proto` spells the enum value, so protojson (and every
    /// Tetragon consumer and export filter) uses that name.
    package static let names: [StaticString] = [
        "CAP_CHOWN", "DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The name of capability `bit`, or nil for bits Tetragon has no name for.
    package static func name(bit: Int) -> String? {
        bit >= 0 && bit < names.count ? names[bit].description : nil
    }

    /// Appends a JSON array of the capabilities set in `mask`, lowest bit first. Bits without a
    /// name are written as numbers, as protojson writes unknown enum values.
    static func appendJSONList(_ mask: UInt64, to b: inout JSONBuffer) {
        b.append(UInt8(ascii: "["))
        var rest = mask
        var first = true
        while rest != 0 {
            let bit = rest.trailingZeroBitCount
            rest &= rest &- 1
            if first { first = false } else { b.append(UInt8(ascii: ",")) }
            if bit < names.count {
                b.append(UInt8(ascii: "\""))
                b.append(static: names[bit])
                b.append(UInt8(ascii: "\""))
            } else {
                b.appendDecimal(UInt64(bit))
            }
        }
        b.append(UInt8(ascii: "]"))
    }
}
