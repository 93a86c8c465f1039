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

// MARK: - selectorsMacros

extension Selector {
    /// This selector with the filters and actions of the `selectorsMacros` it names pulled in
    /// (Tetragon's `macros: [name]`): what the macro sets is set here, with the macro's source
    /// positions, so a problem in it is reported where the macro says it. The decoder has already
    /// refused a key set both here and in a macro, or in two macros, and unknown names.
    package func expanding(_ macros: [SelectorMacro]) -> Selector {
        var merged = self
        for name in self.macros {
            guard let macro = macros.first(where: { $0.name == name })?.selector else { continue }
            func take<T>(_ key: String, _ field: WritableKeyPath<Selector, [T]>) {
                guard merged[keyPath: field].isEmpty, !macro[keyPath: field].isEmpty else { return }
                merged[keyPath: field] = macro[keyPath: field]
                if let location = macro.fieldLocations[key] { merged.fieldLocations.byKey[key] = location }
            }
            take("matchArgs", \.matchArgs)
            take("matchData", \.matchData)
            take("matchReturnArgs", \.matchReturnArgs)
            take("matchPIDs", \.matchPIDs)
            take("matchBinaries", \.matchBinaries)
            take("matchParentBinaries", \.matchParentBinaries)
            take("matchNamespaces", \.matchNamespaces)
            take("matchNamespaceChanges", \.matchNamespaceChanges)
            take("matchCapabilities", \.matchCapabilities)
            take("matchCapabilityChanges", \.matchCapabilityChanges)
            take("matchWorkloads", \.matchWorkloads)
            take("matchActions", \.matchActions)
            take("matchReturnActions", \.matchReturnActions)
        }
        merged.macros = []
        return merged
    }
}

extension PolicySpec {
    /// Every hook's selectors with their macros expanded (``Selector/expanding(_:)``); the
    /// macros themselves are then spent.
    package func expandingSelectorMacros() -> PolicySpec {
        guard !selectorsMacros.isEmpty else { return self }
        var spec = self
        let macros = selectorsMacros
        func expand(_ selectors: [Selector]) -> [Selector] { selectors.map { $0.expanding(macros) } }
        for i in spec.kprobes.indices { spec.kprobes[i].selectors = expand(spec.kprobes[i].selectors) }
        for i in spec.fentries.indices { spec.fentries[i].selectors = expand(spec.fentries[i].selectors) }
        for i in spec.tracepoints.indices { spec.tracepoints[i].selectors = expand(spec.tracepoints[i].selectors) }
        for i in spec.lsmhooks.indices { spec.lsmhooks[i].selectors = expand(spec.lsmhooks[i].selectors) }
        for i in spec.uprobes.indices { spec.uprobes[i].selectors = expand(spec.uprobes[i].selectors) }
        for i in spec.usdts.indices { spec.usdts[i].selectors = expand(spec.usdts[i].selectors) }
        spec.selectorsMacros = []
        return spec
    }
}
