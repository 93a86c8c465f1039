// SPDX-License-Identifier: Apache-2.0

/// One selector (in-kernel filter). Filters of different kinds are AND-ed;
/// the selectors of a hook are OR-ed.
package struct Selector: PolicyNode {
    /// `matchArgs`: filters on arguments (AND-ed).
    package var matchArgs: [ArgSelector] = []
    /// `matchData`: filters on `data` values (AND-ed).
    package var matchData: [ArgSelector] = []
    /// `matchReturnArgs`: filters on the return value.
    package var matchReturnArgs: [ArgSelector] = []
    /// `matchPIDs`: filters on process IDs.
    package var matchPIDs: [PIDSelector] = []
    /// `matchBinaries`: filters on the executed binary (at most one).
    package var matchBinaries: [BinarySelector] = []
    /// `matchParentBinaries`: filters on the parent's binary (at most one).
    package var matchParentBinaries: [BinarySelector] = []
    /// `matchNamespaces`: filters on namespace inodes.
    package var matchNamespaces: [NamespaceSelector] = []
    /// `matchNamespaceChanges`: namespace changes since exec (at most one).
    package var matchNamespaceChanges: [NamespaceChangesSelector] = []
    /// `matchCapabilities`: filters on capability sets.
    package var matchCapabilities: [CapabilitiesSelector] = []
    /// `matchCapabilityChanges`: capability changes since exec.
    package var matchCapabilityChanges: [CapabilitiesSelector] = []
    /// `matchWorkloads`, kept as written.
    package var matchWorkloads: [YAMLNode] = []
    /// `matchActions`: what to do when the selector matches (at most 3).
    package var matchActions: [ActionSelector] = []
    /// `matchReturnActions`: what to do when `matchReturnArgs` match (at most 3).
    package var matchReturnActions: [ActionSelector] = []
    /// Names of `selectorsMacros` pulled into this selector.
    package var macros: [String] = []
    /// `label`, copied to the output.
    package var label: String?
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations

    /// The filter keys written in this selector (used to check macro overlaps).
    package var filterKeys: Set<String> { Set(fieldLocations.byKey.keys).subtracting(["macros", "label"]) }
}

/// A named entry of `selectorsMacros`.
package struct SelectorMacro: Sendable, Hashable {
    /// The name, as written.
    package var name: String
    /// The selector fragment.
    package var selector: Selector
}

/// A `matchArgs` / `matchData` / `matchReturnArgs` entry.
package struct ArgSelector: PolicyNode {
    /// `index` as written (prototype position or tracepoint field index).
    package var index: UInt32?
    /// `args` as written (positions in the hook's `args` list; wins over `index`).
    package var args: [UInt32]?
    /// The operator.
    package var `operator`: SelectorOperator
    /// The values, as written.
    package var values: [String]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Positions in the hook's `args` (or `data`) list this entry filters on, resolved
    /// with Tetragon's rules; empty when not resolvable here (e.g. inside a macro, or
    /// for matchReturnArgs).
    package var argPositions: [Int]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchPIDs` entry.
package struct PIDSelector: PolicyNode {
    /// The operator.
    package var `operator`: SetOperator
    /// The values, as written.
    package var values: [UInt32]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Also match descendants of the matching processes.
    package var followForks: Bool
    /// Compare PIDs inside the process' PID namespace.
    package var isNamespacePID: Bool
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchBinaries` / `matchParentBinaries` entry.
package struct BinarySelector: PolicyNode {
    /// The operator.
    package var `operator`: BinaryOperator
    /// The values, as written.
    package var values: [String]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Also match children of the matching binaries (In/NotIn only).
    package var followChildren: Bool
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchNamespaces` entry.
package struct NamespaceSelector: PolicyNode {
    /// The namespace kind.
    package var namespace: NamespaceType
    /// The operator.
    package var `operator`: SetOperator
    /// Namespace inode numbers or `host_ns`.
    package var values: [String]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchNamespaceChanges` entry.
package struct NamespaceChangesSelector: PolicyNode {
    /// The operator.
    package var `operator`: SetOperator
    /// The values, as written.
    package var values: [NamespaceType]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchCapabilities` / `matchCapabilityChanges` entry.
package struct CapabilitiesSelector: PolicyNode {
    /// Defaults to `Effective`.
    package var type: CapabilitySetType
    /// The operator.
    package var `operator`: SetOperator
    /// Only match when the process is not in the host user namespace.
    package var isNamespaceCapability: Bool
    /// The values, as written.
    package var values: [LinuxCapability]
    /// Where each of `values` was written (same order).
    package var valueLocations: [SourceLocation]
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}

/// A `matchActions` / `matchReturnActions` entry.
package struct ActionSelector: PolicyNode {
    /// The action.
    package var action: ActionType
    /// Override / NotifyEnforcer error value.
    package var argError: Int32?
    /// Signal / NotifyEnforcer signal number.
    package var argSig: UInt32?
    /// DnsLookup: the name to resolve.
    package var argFqdn: String?
    /// GetUrl: the URL to fetch.
    package var argUrl: String?
    /// TrackSock / UntrackSock argument index.
    package var argSock: UInt32?
    /// Legacy FollowFD parameter (accepted, unused).
    package var argFd: UInt32?
    /// Legacy FollowFD parameter (accepted, unused).
    package var argName: UInt32?
    /// Set: index of the argument to write.
    package var argIndex: UInt32?
    /// Set: the 4-byte value to write.
    package var argValue: Int64?
    /// `rateLimit` as written.
    package var rateLimit: String?
    /// `rateLimit` in seconds.
    package var rateLimitSeconds: UInt64?
    /// `rateLimitScope` (thread when not set).
    package var rateLimitScope: RateLimitScope?
    /// Post: include the kernel stack trace.
    package var kernelStackTrace: Bool
    /// Post: include the user stack trace.
    package var userStackTrace: Bool
    /// Post: include the file's IMA hash (LSM hooks).
    package var imaHash: Bool
    /// Uprobe override parameters (kept as written).
    package var argRegs: [String]
    /// Uprobe override: replacement symbol, as written.
    package var argNewSymbol: String?
    /// Uprobe override: replacement address, as written.
    package var argNewAddr: String?
    /// Uprobe override: replacement offset, as written.
    package var argNewOffset: String?
    /// Where the node starts (for a mapping: its first key).
    package var location: SourceLocation
    /// The node's field path, e.g. `spec.kprobes[0]`.
    package var path: FieldPath
    /// Where each written field's value is.
    package var fieldLocations: FieldLocations
}
