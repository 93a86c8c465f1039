// SPDX-License-Identifier: Apache-2.0

/// The policy maps user space writes; raw values are `enum vigil_policy_map` of the C loader.
package enum PolicyMapID: UInt32, Sendable, Hashable, CaseIterable {
    case hooks = 0
    case policyMode = 1
    case stringEqual = 2
    case stringPrefix = 3
    case stringPostfix = 4
    case integerSet = 5
    case address = 6
    case connectHooks = 7
    case syscallHooks = 8
    /// Pod scope flags and levels per policy id (`struct vigil_scope`).
    case policyScope = 9
    /// Cgroups in a policy's pod scope (`struct vigil_scope_key` -> 1).
    case scopeCgroups = 10
    case lsmHooks = 11
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
