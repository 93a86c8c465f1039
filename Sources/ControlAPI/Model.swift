// SPDX-License-Identifier: Apache-2.0

// The JSON documents of the control API. Keys on the wire are snake_case (like the event
// export); every type spells its keys out, so the encoder and decoder need no key strategy.

// `PolicyMode` (enforce | monitor) is the policy model's own type, re-exported so that the agent,
// which imports both modules, has one type to pass around.
@_exported import enum TracingPolicy.PolicyMode

extension PolicyMode: Codable, CustomStringConvertible {
    package var description: String { rawValue }
}

/// Where a policy came from: a file the agent read (`--tracing-policy`, `--tracing-policy-dir`),
/// the control API (`tracectl policy add`) or a TracingPolicy object in the cluster.
package enum PolicySource: String, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case file
    case api
    case kubernetes

    package var description: String { rawValue }
}

/// A policy's state in the agent.
package enum PolicyState: String, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Compiled and attached: its hooks are live.
    case loaded
    /// Known to the agent but not running; `PolicyInfo.error` says why.
    case error
    /// Turned off with `disable`; kept so that `enable` can bring it back.
    case disabled
    /// Valid, but its `nodeSelector` does not match this node's labels (or they are not known
    /// yet); `PolicyInfo.error` says which. Applied as soon as the labels match.
    case notOnThisNode = "not_on_this_node"

    package var description: String { rawValue }
}

/// One hook family the agent can use on this kernel, and what it can do there.
package struct MechanismInfo: Codable, Sendable, Hashable {
    /// The kind of hook, e.g. `tracepoint`, `syscall_kprobe`, `file_open`.
    package var hook: String
    /// How it is implemented on this node, e.g. `tp_btf`, `raw_tp`, `tracepoint`, `bpf_lsm`,
    /// or `unavailable`.
    package var mechanism: String
    /// Events can be reported.
    package var observe: Bool
    /// The offending process can be killed (`Sigkill`, `Signal`) in the hook.
    package var kill: Bool
    /// The operation can be refused (`Override`, deny hooks).
    package var deny: Bool

    package init(hook: String, mechanism: String, observe: Bool, kill: Bool, deny: Bool) {
        self.hook = hook
        self.mechanism = mechanism
        self.observe = observe
        self.kill = kill
        self.deny = deny
    }
}

/// `GET /v1/status`.
package struct AgentStatus: Codable, Sendable, Hashable {
    /// The agent's version.
    package var version: String
    /// Seconds since the agent started.
    package var uptimeSeconds: Double
    /// The node name written in every event.
    package var nodeName: String
    /// `uname -r`.
    package var kernelRelease: String
    /// The process hook family in use (`tp_btf` or `raw_tp`).
    package var attachMode: String
    /// What each hook family can do on this kernel.
    package var mechanisms: [MechanismInfo]
    /// Agent counters, e.g. `events_exported`, `kernel_drops`, `queue_drops`, `policy_filtered`,
    /// `client_drops`.
    package var counters: [String: UInt64]
    /// Number of policies the agent knows (any state).
    package var policies: Int
    /// `--enforcement-cgroup`: the cgroup2 subtree kills and denies are fenced to; nil for the
    /// whole node.
    package var enforcementFence: EnforcementFenceInfo?

    package init(
        version: String, uptimeSeconds: Double, nodeName: String, kernelRelease: String,
        attachMode: String, mechanisms: [MechanismInfo] = [], counters: [String: UInt64] = [:],
        policies: Int = 0, enforcementFence: EnforcementFenceInfo? = nil
    ) {
        self.enforcementFence = enforcementFence
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.nodeName = nodeName
        self.kernelRelease = kernelRelease
        self.attachMode = attachMode
        self.mechanisms = mechanisms
        self.counters = counters
        self.policies = policies
    }

    enum CodingKeys: String, CodingKey {
        case version
        case uptimeSeconds = "uptime_seconds"
        case nodeName = "node_name"
        case kernelRelease = "kernel_release"
        case attachMode = "attach_mode"
        case mechanisms
        case counters
        case policies
        case enforcementFence = "enforcement_fence"
    }
}

/// The enforcement fence as `tracectl status` shows it.
package struct EnforcementFenceInfo: Codable, Sendable, Hashable {
    /// The cgroup2 directory given to `--enforcement-cgroup`, resolved.
    package var directory: String
    /// Its path in the cgroup2 hierarchy, as `/proc/PID/cgroup` writes it.
    package var path: String
    /// Its cgroup2 id, the value the kernel programs compare.
    package var cgroupID: UInt64

    package init(directory: String, path: String, cgroupID: UInt64) {
        self.directory = directory
        self.path = path
        self.cgroupID = cgroupID
    }

    enum CodingKeys: String, CodingKey {
        case directory
        case path
        case cgroupID = "cgroup_id"
    }
}

/// One hook a policy is attached to.
package struct HookInfo: Codable, Sendable, Hashable {
    /// What is hooked, e.g. `syscalls/sys_enter_openat (raw sys_enter dispatcher)` or
    /// `do_exit (kprobe + kretprobe)`.
    package var hook: String
    /// How: the agent's `Mechanism.name` (`tracepoint`, `cgroup`, `bpf_lsm`, `kprobe`, `fentry`,
    /// `fexit`, `fmod_ret`, `fanotify`).
    package var mechanism: String

    package init(hook: String, mechanism: String) {
        self.hook = hook
        self.mechanism = mechanism
    }
}

/// One policy as the agent sees it (`GET /v1/policies`).
package struct PolicyInfo: Codable, Sendable, Hashable {
    /// `metadata.name`.
    package var name: String
    /// `metadata.namespace` of a `TracingPolicyNamespaced`; nil for cluster-wide policies.
    package var namespace: String?
    /// Where it came from.
    package var source: PolicySource
    /// The file it was read from (for `file` policies) or the name given when it was added.
    package var file: String?
    /// Loaded, refused (`error`), or disabled.
    package var state: PolicyState
    /// Why the policy is in the `error` state, or in `not_on_this_node`.
    package var error: String?
    /// Enforce or monitor.
    package var mode: PolicyMode
    /// The hooks it runs on.
    package var hooks: [HookInfo]
    /// Actions taken (or, in monitor mode, that would have been taken) by action name, e.g.
    /// `{"post": 12, "sigkill": 1}`.
    package var actionCounts: [String: UInt64]
    /// The pod scope of a pod-scoped policy (podSelector, containerSelector, namespaced); nil:
    /// every process.
    package var scope: PolicyScopeInfo?

    package init(
        name: String, namespace: String? = nil, source: PolicySource, file: String? = nil,
        state: PolicyState, error: String? = nil, mode: PolicyMode = .enforce, hooks: [HookInfo] = [],
        actionCounts: [String: UInt64] = [:], scope: PolicyScopeInfo? = nil
    ) {
        self.scope = scope
        self.name = name
        self.namespace = namespace
        self.source = source
        self.file = file
        self.state = state
        self.error = error
        self.mode = mode
        self.hooks = hooks
        self.actionCounts = actionCounts
    }

    enum CodingKeys: String, CodingKey {
        case name
        case namespace
        case source
        case file
        case state
        case error
        case mode
        case hooks
        case actionCounts = "action_counts"
        case scope
    }

    /// `namespace/name`, or `name` for a cluster-wide policy.
    package var qualifiedName: String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name)" }
        return name
    }
}

/// Where a pod-scoped policy applies right now.
package struct PolicyScopeInfo: Codable, Sendable, Hashable {
    /// The selectors, e.g. `namespace=shop pods{app=cart} containers{name=api} +host`.
    package var selector: String
    /// Cgroups (pods or containers) in the kernel's set.
    package var cgroups: Int
    /// Selected pods or containers whose cgroup was not found yet.
    package var unresolved: Int

    package init(selector: String, cgroups: Int, unresolved: Int) {
        self.selector = selector
        self.cgroups = cgroups
        self.unresolved = unresolved
    }
}

/// A refused control request: the HTTP status, a one-line message and, for policies, one
/// `file:line:column: path: message` string per problem.
///
/// On the wire: `{"error": "...", "details": ["..."]}` with the status as the HTTP status.
package struct ControlError: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status code (400, 404, 409, 422, 500, 503).
    package var status: Int
    /// What went wrong, in one line.
    package var message: String
    /// Every individual problem (e.g. each policy validation error), possibly empty.
    package var details: [String]

    package init(status: Int, message: String, details: [String] = []) {
        self.status = status
        self.message = message
        self.details = details
    }

    /// 400: the request itself is malformed (bad query value, bad body).
    package static func badRequest(_ message: String, details: [String] = []) -> ControlError {
        ControlError(status: 400, message: message, details: details)
    }

    /// 404: no such policy (or route).
    package static func notFound(_ message: String, details: [String] = []) -> ControlError {
        ControlError(status: 404, message: message, details: details)
    }

    /// 409: the request conflicts with the agent's state (e.g. a policy of that name exists
    /// and was loaded from a file).
    package static func conflict(_ message: String, details: [String] = []) -> ControlError {
        ControlError(status: 409, message: message, details: details)
    }

    /// 422: the policy text was read but is not a valid policy; `details` lists every problem.
    package static func invalidPolicy(_ message: String, details: [String]) -> ControlError {
        ControlError(status: 422, message: message, details: details)
    }

    /// 500: the agent failed (e.g. the kernel refused a map update).
    package static func internalError(_ message: String, details: [String] = []) -> ControlError {
        ControlError(status: 500, message: message, details: details)
    }

    /// 503: the agent cannot do this now (starting or stopping).
    package static func unavailable(_ message: String, details: [String] = []) -> ControlError {
        ControlError(status: 503, message: message, details: details)
    }

    enum CodingKeys: String, CodingKey {
        case message = "error"
        case details
        case status
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        message = try container.decode(String.self, forKey: .message)
        details = try container.decodeIfPresent([String].self, forKey: .details) ?? []
        status = try container.decodeIfPresent(Int.self, forKey: .status) ?? 0
    }

    /// Writes `error` and `details` only: the status travels as the HTTP status.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(message, forKey: .message)
        try container.encode(details, forKey: .details)
    }

    /// The message, then each detail on its own line.
    package var description: String {
        ([message] + details.map { "  " + $0 }).joined(separator: "\n")
    }
}
