// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Testing

/// The policy maps are named in Swift and numbered in the ABI header only.
@Suite struct PolicyMapIDTests {
    @Test func everyMapHasItsOwnHeaderID() {
        let ids = PolicyMapID.allCases.map(\.cValue.rawValue)
        #expect(Set(ids).count == PolicyMapID.allCases.count)
        #expect(ids.sorted() == Array(0..<UInt32(ids.count)), "the loader indexes its map table by these ids")
        #expect(PolicyMapID.lsmHooks.cValue == VIGIL_MAP_LSM_HOOKS)
    }
}
