// SPDX-License-Identifier: Apache-2.0
import CVigilABI

/// The policy maps user space writes: `enum vigil_policy_map` of the ABI header, by name (the
/// numbers live in the header only).
package enum PolicyMapID: Sendable, Hashable, CaseIterable {
    case hooks
    case policyMode
    case stringEqual
    case stringPrefix
    case stringPostfix
    case integerSet
    case address
    case connectHooks
    case syscallHooks
    /// Pod scope flags and levels per policy id (`struct vigil_scope`).
    case policyScope
    /// Cgroups in a policy's pod scope (`struct vigil_scope_key` -> 1).
    case scopeCgroups
    case lsmHooks
    /// Files by (dev, ino) for Equal file args under `vigil-file-identity: inode` (`struct
    /// vigil_file_id_key` -> 1).
    case fileIdentities
    /// DNSName set ids the DNS answer program learns addresses for (`struct vigil_fqdn_set_key`
    /// -> 1).
    case fqdnSets
    /// Whether the agent is up and the cgroups it has classified (`struct vigil_agent_state`,
    /// one entry), for fail-closed pod scopes.
    case agentState

    /// The id the loader takes.
    package var cValue: vigil_policy_map {
        switch self {
        case .hooks: VIGIL_MAP_HOOKS
        case .policyMode: VIGIL_MAP_POLICY_MODE
        case .stringEqual: VIGIL_MAP_STR_EQ
        case .stringPrefix: VIGIL_MAP_STR_PREFIX
        case .stringPostfix: VIGIL_MAP_STR_POSTFIX
        case .integerSet: VIGIL_MAP_INT_SET
        case .address: VIGIL_MAP_ADDR
        case .connectHooks: VIGIL_MAP_CONNECT_HOOKS
        case .syscallHooks: VIGIL_MAP_SYSCALL_HOOKS
        case .policyScope: VIGIL_MAP_POLICY_SCOPE
        case .scopeCgroups: VIGIL_MAP_SCOPE_CGROUPS
        case .lsmHooks: VIGIL_MAP_LSM_HOOKS
        case .fileIdentities: VIGIL_MAP_FILE_IDS
        case .fqdnSets: VIGIL_MAP_FQDN_SETS
        case .agentState: VIGIL_MAP_AGENT_STATE
        }
    }
}

/// One map entry exactly as the BPF programs read it: the policy compiler's output, applied
/// by the agent with one `bpf_map_update_elem` each.
package struct MapUpdate: Sendable, Hashable, CustomStringConvertible {
    package var map: PolicyMapID
    package var key: [UInt8]
    package var value: [UInt8]

    package init(map: PolicyMapID, key: [UInt8], value: [UInt8]) {
        self.map = map
        self.key = key
        self.value = value
    }

    package var description: String {
        func hex(_ bytes: [UInt8]) -> String {
            // Trailing zero padding says nothing; keep golden lists readable.
            var end = bytes.count
            while end > 0 && bytes[end - 1] == 0 { end -= 1 }
            return bytes[..<end].map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
        }
        return "\(map) key=\(hex(key)) value=\(hex(value))"
    }
}
