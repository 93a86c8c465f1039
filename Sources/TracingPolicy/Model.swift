// SPDX-License-Identifier: Apache-2.0

/// One policy: one YAML document of a policy file.
package struct TracingPolicyDocument: Sendable, Hashable {
    /// `cilium.io/v1alpha1` or `vigil.dev/v1alpha1`.
    package var apiVersion: String
    /// Cluster-wide or namespaced.
    package var kind: PolicyKind
    /// `metadata.name`.
    package var name: String
    /// `metadata.namespace` (required for `TracingPolicyNamespaced`).
    package var namespace: String?
    /// `metadata.annotations`.
    package var annotations: [String: String]
    /// `metadata.labels`.
    package var labels: [String: String]
    /// The policy body.
    package var spec: PolicySpec
    /// Where the document starts.
    package var source: SourceLocation
    /// 0-based position of the document in its file (counting empty documents).
    package var documentIndex: Int
}

/// `spec` of a policy.
package struct PolicySpec: PolicyNode {
    /// Kernel function hooks (`kprobes`).
    package var kprobes: [KProbeSpec] = []
    /// Tracepoint hooks (`tracepoints`).
    package var tracepoints: [TracepointSpec] = []
    /// BPF-LSM hooks (`lsmhooks`).
    package var lsmhooks: [LsmHookSpec] = []
    /// Parsed so that a later stage can refuse them with a position.
    package var uprobes: [UProbeSpec] = []
    /// Parsed so that a later stage can refuse them with a position.
    package var usdts: [UsdtSpec] = []
    /// fentry/fexit hooks; same fields as kprobes.
    package var fentries: [KProbeSpec] = []
    /// Named symbol lists (`lists`), referenced as `list:NAME`.
    package var lists: [ListSpec] = []
    /// `options` as written (unknown names included).
    package var options: [PolicyOption] = []
    /// The recognised options, typed.
    package var parsedOptions = PolicyOptions()
    /// `selectorsMacros`, in document order.
    package var selectorsMacros: [SelectorMacro] = []
    /// Pods (by labels) the policy applies to.
    package var podSelector: LabelSelector?
    /// Containers (by `name` / `repo`) the policy applies to.
    package var containerSelector: LabelSelector?
    /// Non-nil (and empty) when written as `{}`: the policy also applies to host processes.
    package var hostSelector: LabelSelector?
    /// Nodes (by labels) that load the policy.
    package var nodeSelector: LabelSelector?
    /// The nodeSelector when it restricts the nodes: nil when absent or written `{}`, which
    /// matches every node.
    package var restrictingNodeSelector: LabelSelector? {
        guard let nodeSelector, !nodeSelector.isEmpty else { return nil }
        return nodeSelector
    }
    /// Emit `process_loader` events.
    package var loader = false
    /// `enforcers` (at most one).
    package var enforcers: [EnforcerSpec] = []
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations

    /// The effective policy mode (`enforce` unless the `policy-mode` option says otherwise).
    package var policyMode: PolicyMode { parsedOptions.policyMode ?? .enforce }

    /// Looks up a list by name.
    package func list(named name: String) -> ListSpec? {
        lists.first { $0.name == name }
    }
}

/// The options Tetragon's tracing sensors recognise, typed.
package struct PolicyOptions: Sendable, Hashable {
    /// `policy-mode`.
    package var policyMode: PolicyMode?
    /// `disable-kprobe-multi`.
    package var disableKprobeMulti: Bool?
    /// `disable-uprobe-multi`.
    package var disableUprobeMulti: Bool?
    /// `override-method`.
    package var overrideMethod: OverrideMethod?
    /// `sleepable-preload-size`.
    package var sleepablePreloadSize: Int?
    /// `vigil-file-identity` (Vigil's own): `inode` makes Equal paths of fanotify file rules also
    /// protect the file they name (device and inode at load), under any other name.
    package var fileIdentity: FileIdentityMode?
    /// `vigil-while-agent-down` (Vigil's own): what the policy's enforcement does while no agent
    /// runs (`--keep-sensors-on-exit`) where it cannot be kept exact without one; nil: the
    /// agent's `--while-agent-down`.
    package var whileAgentDown: AgentDownMode?

    /// Creates an empty set of options.
    package init() {}

    /// The names of the recognised options.
    package static let knownNames = [
        "disable-kprobe-multi", "disable-uprobe-multi", "override-method", "policy-mode", "sleepable-preload-size",
        "vigil-file-identity", "vigil-while-agent-down",
    ]
}

/// One `options` entry.
package struct PolicyOption: PolicyNode {
    /// The name, as written.
    package var name: String
    /// The value, as written (empty when not set).
    package var value: String
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A kprobe (or fentry) hook.
package struct KProbeSpec: PolicyNode {
    /// Kernel symbol, or `list:NAME`.
    package var call: String
    /// `syscall` as written; nil when not set (Tetragon's CRD default is true).
    package var syscall: Bool?
    /// Also hook the function's return.
    package var `return`: Bool
    /// How to read the return value.
    package var returnArg: KProbeArg?
    /// `TrackSock` / `UntrackSock` on the return value.
    package var returnArgAction: ActionType?
    /// Arguments to read (`args`).
    package var args: [KProbeArg]
    /// Extra values read from `current_task` or `pt_regs`.
    package var data: [KProbeArg]
    /// In-kernel filters (`selectors`), OR-ed; the first match's actions run.
    package var selectors: [Selector]
    /// `message` copied into events (at most 256 characters).
    package var message: String?
    /// `tags` copied into events (at most 16).
    package var tags: [String]
    /// `ignore.callNotFound`.
    package var ignoreCallNotFound: Bool
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations

    /// `syscall` with Tetragon's default applied.
    package var isSyscall: Bool { syscall ?? true }
    /// The list name when `call` is `list:NAME`.
    package var listName: String? { call.hasPrefix("list:") ? String(call.dropFirst(5)) : nil }
}

/// A tracepoint hook.
package struct TracepointSpec: PolicyNode {
    /// Tracepoint subsystem, e.g. `syscalls`.
    package var subsystem: String
    /// Tracepoint event, e.g. `sys_enter_openat`.
    package var event: String
    /// Raw tracepoint (`index` is then the TP_PROTO argument position).
    package var raw: Bool
    /// Arguments to read (`args`).
    package var args: [KProbeArg]
    /// In-kernel filters (`selectors`), OR-ed; the first match's actions run.
    package var selectors: [Selector]
    /// `message` copied into events (at most 256 characters).
    package var message: String?
    /// `tags` copied into events (at most 16).
    package var tags: [String]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A BPF-LSM hook.
package struct LsmHookSpec: PolicyNode {
    /// Hook name without `security_` (e.g. `file_open`).
    package var hook: String
    /// Arguments to read (`args`).
    package var args: [KProbeArg]
    /// In-kernel filters (`selectors`), OR-ed; the first match's actions run.
    package var selectors: [Selector]
    /// `message` copied into events (at most 256 characters).
    package var message: String?
    /// `tags` copied into events (at most 16).
    package var tags: [String]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A uprobe hook: a function of a user-space binary, in every process that runs it.
package struct UProbeSpec: PolicyNode {
    /// The binary (`path`).
    package var binaryPath: String
    /// Function symbols (`symbols`).
    package var symbols: [String]
    /// Function offsets (`offsets`).
    package var offsets: [UInt64]
    /// Function addresses (`addrs`).
    package var addrs: [UInt64]
    /// Reference counter offsets (`refCtrOffsets`).
    package var refCtrOffsets: [UInt64]
    /// BTF file for the binary (`btfPath`).
    package var btfPath: String?
    /// Arguments to read (`args`).
    package var args: [KProbeArg]
    /// Extra values (`data`) read from `current_task` or `pt_regs`.
    package var data: [KProbeArg]
    /// Also hook the function's return.
    package var `return`: Bool
    /// How to read the return value.
    package var returnArg: KProbeArg?
    /// In-kernel filters (`selectors`), OR-ed; the first match's actions run.
    package var selectors: [Selector]
    /// `message` copied into events (at most 256 characters).
    package var message: String?
    /// `tags` copied into events (at most 16).
    package var tags: [String]
    /// `binaryDigests`: attach only when the file's digest is one of these.
    package var binaryDigests: [String] = []
    /// `resolvePathInContainer`: `path` is inside the containers of the policy's pods.
    package var resolvePathInContainer = false
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A USDT hook (kept so a later stage can refuse it with a position).
package struct UsdtSpec: PolicyNode {
    /// The binary (`path`).
    package var binaryPath: String
    /// USDT provider.
    package var provider: String
    /// The name, as written.
    package var name: String
    /// BTF file for the binary (`btfPath`).
    package var btfPath: String?
    /// Arguments to read (`args`).
    package var args: [KProbeArg]
    /// In-kernel filters (`selectors`), OR-ed; the first match's actions run.
    package var selectors: [Selector]
    /// `message` copied into events (at most 256 characters).
    package var message: String?
    /// `tags` copied into events (at most 16).
    package var tags: [String]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// One entry of `enforcers` (kept so a later stage can refuse it with a position).
package struct EnforcerSpec: PolicyNode {
    /// Syscalls / `security_*` functions, or `list:NAME`.
    package var calls: [String]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// One entry of `lists`.
package struct ListSpec: PolicyNode {
    /// The name, as written.
    package var name: String
    /// nil for a plain list of kernel symbols.
    package var type: ListType?
    /// The values, as written.
    package var values: [String]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Regular expression for `generated_ftrace`.
    package var pattern: String?
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// How to read one argument (`args[]`, `data[]`, `returnArg`).
package struct KProbeArg: PolicyNode {
    /// Prototype position (kprobe/LSM), format-file field index (tracepoint) or TP_PROTO position (raw tracepoint).
    package var index: UInt32
    /// The type.
    package var type: ArgType
    /// `label`, copied to the output.
    package var label: String?
    /// 1-based position of the size argument (`char_buf`, `char_iovec`); nil when not set.
    package var sizeArgIndex: UInt32?
    /// Read the buffer at function return (e.g. `read(2)` buffers).
    package var returnCopy: Bool
    /// Read up to 327360 bytes of a `char_buf` instead of 4096.
    package var maxData: Bool
    /// Dotted BTF path from the argument.
    package var resolve: String?
    /// Cast the argument to this BTF struct before resolving.
    package var btfType: String?
    /// Kernel module whose BTF holds `btfType`.
    package var btfTypeModule: String?
    /// Only in `data[]`.
    package var source: DataSource?
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A Kubernetes label selector (podSelector, containerSelector, hostSelector, nodeSelector).
package struct LabelSelector: PolicyNode {
    /// Labels that must all match.
    package var matchLabels: [String: String]
    /// Requirements that must all match.
    package var matchExpressions: [LabelSelectorRequirement]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations

    /// True for `{}` (matches everything).
    package var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }
}

/// One `matchExpressions` entry.
package struct LabelSelectorRequirement: PolicyNode {
    /// The label key.
    package var key: String
    /// The operator.
    package var `operator`: LabelSelectorOperator
    /// The values, as written.
    package var values: [String]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}
