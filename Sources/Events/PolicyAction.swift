// SPDX-License-Identifier: Apache-2.0
import CVigilABI

/// What a policy did (or, in monitor mode or outside the fence, would have done) on a match:
/// Tetragon's `KprobeAction` names, which the `action` key of policy events, the
/// `vigil_policy_actions_total` metric and the control API's per-policy counts all carry.
package enum PolicyAction: String, Sendable, Hashable, CaseIterable {
    /// protojson omits a zero enum: an event with this action has no `action` key.
    case unknown = "KPROBE_ACTION_UNKNOWN"
    case post = "KPROBE_ACTION_POST"
    case sigkill = "KPROBE_ACTION_SIGKILL"
    case signal = "KPROBE_ACTION_SIGNAL"
    case noPost = "KPROBE_ACTION_NOPOST"
    case override = "KPROBE_ACTION_OVERRIDE"

    /// The action of a generic record (`enum vigil_action_kind`); a kind this build does not
    /// know is a Post, as the BPF side emits the record whatever its last action was.
    package init(abi kind: UInt8) {
        switch UInt32(kind) {
        case VIGIL_ACTION_SIGKILL.rawValue: self = .sigkill
        case VIGIL_ACTION_SIGNAL.rawValue: self = .signal
        case VIGIL_ACTION_NOPOST.rawValue: self = .noPost
        case VIGIL_ACTION_OVERRIDE.rawValue: self = .override
        default: self = .post
        }
    }
}
