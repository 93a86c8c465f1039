// SPDX-License-Identifier: Apache-2.0

/// Decodes and validates one policy document. Problems go to `context`; a
/// document is usable only if no error was reported.
final class PolicyDecoder {
    let context: DecodeContext
    /// Names of `spec.lists`.
    var listNames: [String] = []
    /// Whether `spec.enforcers` is non-empty.
    var hasEnforcers = false
    /// Filter keys set by each selector macro.
    var macroKeys: [String: Set<String>] = [:]

    init(context: DecodeContext) {
        self.context = context
    }

    static let topLevelKeys = ["apiVersion", "kind", "metadata", "spec"]
    /// `metav1.ObjectMeta` fields (policies exported with kubectl carry several).
    static let metadataKeys = [
        "name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers",
        "managedFields", "selfLink",
    ]
    static let specKeys = [
        "kprobes", "tracepoints", "lsmhooks", "uprobes", "usdts", "fentries", "lists", "enforcers", "options",
        "selectorsMacros", "podSelector", "containerSelector", "hostSelector", "nodeSelector", "loader",
    ]

    func document(_ root: YAMLNode, index: Int) -> TracingPolicyDocument? {
        guard let top = Fields(root, .root, context, allowed: Self.topLevelKeys,
                               what: "a mapping (a TracingPolicy document)") else { return nil }
        let apiVersion = top.string("apiVersion", required: true)
        if let apiVersion, !PolicyAPIVersion.all.contains(apiVersion) {
            context.error(top.location("apiVersion"), .root["apiVersion"],
                          "unsupported apiVersion \(quoted(apiVersion))"
                              + Suggestions.didYouMean(apiVersion, among: PolicyAPIVersion.all)
                              + "; supported: \(PolicyAPIVersion.all.joined(separator: ", "))")
        }
        var kind: PolicyKind?
        if let text = top.string("kind", required: true) {
            kind = PolicyKind(rawValue: text)
            if kind == nil {
                context.error(top.location("kind"), .root["kind"],
                              Suggestions.unknownValue("kind", text, supported: PolicyKind.allCases.map(\.rawValue)))
            }
        }

        var name: String?
        var namespace: String?
        var annotations: [String: String] = [:]
        var labels: [String: String] = [:]
        if let metadataNode = top.value("metadata") {
            if let metadata = Fields(metadataNode, .root["metadata"], context, allowed: Self.metadataKeys) {
                name = metadata.string("name", required: true)
                if let value = name, !PolicyValues.isDNSSubdomain(value) {
                    context.error(metadata.location("name"), metadata.path["name"],
                                  "invalid name \(quoted(value)): must be a lowercase RFC 1123 subdomain (lowercase "
                                      + "letters, digits, '-' and '.', starting and ending with a letter or digit, "
                                      + "at most 253 characters)")
                }
                namespace = metadata.string("namespace")
                if let value = namespace, !PolicyValues.isDNSLabel(value) {
                    context.error(metadata.location("namespace"), metadata.path["namespace"],
                                  "invalid namespace \(quoted(value)): must be a lowercase RFC 1123 label (lowercase "
                                      + "letters, digits and '-', starting and ending with a letter or digit, at "
                                      + "most 63 characters)")
                }
                annotations = metadata.stringMap("annotations") ?? [:]
                labels = metadata.stringMap("labels") ?? [:]
                if kind == .tracingPolicyNamespaced, namespace == nil {
                    context.error(metadataNode.location, .root["metadata"]["namespace"],
                                  "a TracingPolicyNamespaced needs metadata.namespace")
                } else if kind == .tracingPolicy, namespace != nil {
                    context.warning(metadata.location("namespace"), metadata.path["namespace"],
                                    "metadata.namespace is ignored: a TracingPolicy is cluster-wide "
                                        + "(use kind TracingPolicyNamespaced to scope it to a namespace)")
                }
            }
        } else {
            top.missing("metadata")
        }

        var spec: PolicySpec?
        if let specNode = top.value("spec") {
            spec = self.spec(specNode, .root["spec"], kind: kind)
        } else {
            top.missing("spec")
        }

        guard context.errors.isEmpty, let apiVersion, let kind, let name, let spec else { return nil }
        return TracingPolicyDocument(apiVersion: apiVersion, kind: kind, name: name, namespace: namespace,
                                     annotations: annotations, labels: labels, spec: spec, source: root.location,
                                     documentIndex: index)
    }

    // MARK: spec

    func spec(_ node: YAMLNode, _ path: FieldPath, kind: PolicyKind?) -> PolicySpec? {
        guard let fields = Fields(node, path, context, allowed: Self.specKeys) else { return nil }
        var spec = PolicySpec(location: fields.location, path: path, fieldLocations: fields.fieldLocations)

        // Things hooks refer to come first.
        spec.lists = fields.list("lists") { self.list($0, $1) } ?? []
        var seenLists: Set<String> = []
        for list in spec.lists where !seenLists.insert(list.name).inserted {
            context.error(list.location(of: "name"), list.path["name"], "duplicate list name \(quoted(list.name))")
        }
        listNames = spec.lists.map(\.name)

        spec.options = fields.list("options") { self.option($0, $1) } ?? []
        spec.parsedOptions = options(spec.options)

        spec.enforcers = fields.list("enforcers") { self.enforcer($0, $1) } ?? []
        hasEnforcers = fields.count("enforcers") > 0
        if fields.count("enforcers") > 1 {
            context.error(fields.location("enforcers"), path["enforcers"],
                          "too many enforcers: \(fields.count("enforcers")) (only one enforcer is allowed per policy)")
        }

        if let macros = fields.value("selectorsMacros") {
            spec.selectorsMacros = selectorMacros(macros, path["selectorsMacros"])
        }

        spec.kprobes = fields.list("kprobes") { self.kprobe($0, $1, kind: .kprobe) } ?? []
        spec.fentries = fields.list("fentries") { self.kprobe($0, $1, kind: .fentry) } ?? []
        spec.tracepoints = fields.list("tracepoints") { self.tracepoint($0, $1) } ?? []
        spec.lsmhooks = fields.list("lsmhooks") { self.lsmHook($0, $1) } ?? []
        spec.uprobes = fields.list("uprobes") { self.uprobe($0, $1) } ?? []
        spec.usdts = fields.list("usdts") { self.usdt($0, $1) } ?? []

        if let value = fields.value("podSelector") {
            spec.podSelector = labelSelector(value, path["podSelector"])
        }
        if let value = fields.value("containerSelector") {
            spec.containerSelector = labelSelector(value, path["containerSelector"])
            if let selector = spec.containerSelector {
                let supported = ["name", "repo"]
                for (key, _) in selector.matchLabels where !supported.contains(key) {
                    context.warning(selector.location(of: "matchLabels"), selector.path["matchLabels"][key],
                                    "containerSelector only knows the keys name and repo; \(quoted(key)) never matches")
                }
                for expression in selector.matchExpressions where !supported.contains(expression.key) {
                    context.warning(expression.location(of: "key"), expression.path["key"],
                                    "containerSelector only knows the keys name and repo; "
                                        + "\(quoted(expression.key)) never matches")
                }
            }
        }
        if let value = fields.value("hostSelector") {
            if let selector = labelSelector(value, path["hostSelector"]) {
                if case .mapping(let pairs) = value.content, !pairs.isEmpty {
                    context.error(value.location, path["hostSelector"],
                                  "hostSelector must be null or {} (Tetragon: \"The hostSelector should be either "
                                      + "null or {}.\")")
                } else if kind == .tracingPolicyNamespaced {
                    context.error(value.location, path["hostSelector"],
                                  "a TracingPolicyNamespaced must not set hostSelector (it applies only to pods of "
                                      + "its namespace)")
                } else {
                    spec.hostSelector = selector
                }
            }
        }
        if let value = fields.value("nodeSelector") {
            spec.nodeSelector = labelSelector(value, path["nodeSelector"])
        }
        spec.loader = fields.bool("loader") ?? false
        return spec
    }

    // MARK: lists, options, enforcers

    func list(_ node: YAMLNode, _ path: FieldPath) -> ListSpec? {
        guard let fields = Fields(node, path, context, allowed: ["name", "type", "values", "pattern", "validated"])
        else { return nil }
        let name = fields.string("name", required: true)
        var type: ListType?
        if let text = fields.string("type"), !text.isEmpty {
            type = ListType(rawValue: text)
            if type == nil {
                context.error(fields.location("type"), path["type"],
                              Suggestions.unknownValue("list type", text, supported: ListType.allCases.map(\.rawValue)))
            }
        }
        let decodedValues = fields.strings("values")
        let values = decodedValues ?? []
        let pattern = fields.string("pattern")
        _ = fields.bool("validated")
        switch type {
        case .generatedSyscalls?, .generatedFtrace?:
            if !values.isEmpty {
                context.error(fields.location("values"), path["values"],
                              "a \(type!.rawValue) list takes no values (they are generated)")
            }
            if type == .generatedFtrace, pattern?.isEmpty ?? true {
                context.error(fields.keyLocation("type"), path["pattern"],
                              "a generated_ftrace list needs a pattern (a regular expression over "
                                  + "available_filter_functions)")
            }
        default:
            if pattern != nil {
                context.warning(fields.location("pattern"), path["pattern"],
                                "pattern is only used by generated_ftrace lists; ignored")
            }
            if values.isEmpty, fields.has("name"), decodedValues != nil || fields.value("values") == nil {
                context.error(fields.has("values") ? fields.location("values") : fields.location,
                              path["values"], "list \(quoted(name ?? "")) has no values")
            }
        }
        guard let name else { return nil }
        return ListSpec(name: name, type: type, values: values.map(\.value), valueLocations: values.map(\.location),
                        pattern: pattern, location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }

    func option(_ node: YAMLNode, _ path: FieldPath) -> PolicyOption? {
        guard let fields = Fields(node, path, context, allowed: ["name", "value"]) else { return nil }
        guard let name = fields.string("name", required: true) else { return nil }
        return PolicyOption(name: name, value: fields.string("value") ?? "", location: fields.location, path: path,
                            fieldLocations: fields.fieldLocations)
    }

    /// Interprets the recognised options; unknown names become warnings.
    func options(_ options: [PolicyOption]) -> PolicyOptions {
        var parsed = PolicyOptions()
        var seen: Set<String> = []
        for option in options {
            if !seen.insert(option.name).inserted {
                context.warning(option.problem("option \(quoted(option.name)) is set more than once; the last value wins",
                                               at: "name"))
            }
            let value = option.value
            func invalid(_ message: String) { context.error(option.problem(message, at: "value")) }
            switch option.name {
            case "policy-mode":
                if let mode = PolicyMode(rawValue: value.lowercased()) {
                    parsed.policyMode = mode
                } else {
                    invalid(Suggestions.unknownValue("policy-mode", value, supported: PolicyMode.allCases.map(\.rawValue)))
                }
            case "disable-kprobe-multi", "disable-uprobe-multi":
                guard let flag = Self.goBool(value) else {
                    invalid("invalid value \(quoted(value)) for option \(quoted(option.name)): expected a boolean "
                                + "(true, false, 1, 0, t, f)")
                    continue
                }
                if option.name == "disable-kprobe-multi" {
                    parsed.disableKprobeMulti = flag
                } else {
                    parsed.disableUprobeMulti = flag
                }
            case "override-method":
                if let method = OverrideMethod(rawValue: value) {
                    parsed.overrideMethod = method
                } else {
                    invalid(Suggestions.unknownValue("override-method", value,
                                                     supported: OverrideMethod.allCases.map(\.rawValue)))
                }
            case "vigil-file-identity":
                if let mode = FileIdentityMode(rawValue: value.lowercased()) {
                    parsed.fileIdentity = mode
                } else {
                    invalid(Suggestions.unknownValue("vigil-file-identity", value, supported: FileIdentityMode.allCases.map(\.rawValue)))
                }
            case "vigil-while-agent-down":
                if let mode = AgentDownMode(rawValue: value.lowercased()) {
                    parsed.whileAgentDown = mode
                } else {
                    invalid(Suggestions.unknownValue("vigil-while-agent-down", value, supported: AgentDownMode.allCases.map(\.rawValue)))
                }
            case "sleepable-preload-size":
                if let size = Int(value), size > 0 {
                    parsed.sleepablePreloadSize = size
                } else {
                    invalid("invalid value \(quoted(value)) for option \"sleepable-preload-size\": expected a "
                                + "positive integer")
                }
            default:
                context.warning(option.problem(
                    "unknown option \(quoted(option.name)) is ignored"
                        + Suggestions.didYouMean(option.name, among: PolicyOptions.knownNames)
                        + "; known options: \(PolicyOptions.knownNames.joined(separator: ", "))",
                    at: "name"))
            }
        }
        return parsed
    }

    /// Go's `strconv.ParseBool`.
    static func goBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    func enforcer(_ node: YAMLNode, _ path: FieldPath) -> EnforcerSpec? {
        guard let fields = Fields(node, path, context, allowed: ["calls"]) else { return nil }
        let decodedCalls = fields.strings("calls", required: true)
        let calls = decodedCalls ?? []
        if decodedCalls?.isEmpty == true {
            context.error(fields.location("calls"), path["calls"], "an enforcer needs at least one call")
        }
        for (number, call) in calls.enumerated() {
            checkListReference(call.value, call.location, path["calls"][number])
        }
        return EnforcerSpec(calls: calls.map(\.value), location: fields.location, path: path,
                            fieldLocations: fields.fieldLocations)
    }

    /// Reports `list:NAME` references to lists that do not exist.
    func checkListReference(_ text: String, _ location: SourceLocation, _ path: FieldPath) {
        guard text.hasPrefix("list:") else { return }
        let name = String(text.dropFirst(5))
        guard !listNames.contains(name) else { return }
        let known = listNames.isEmpty ? "spec.lists is empty" : "defined lists: \(listNames.joined(separator: ", "))"
        context.error(location, path,
                      "unknown list \(quoted(name))" + Suggestions.didYouMean(name, among: listNames) + "; \(known)")
    }

    // MARK: label selectors

    func labelSelector(_ node: YAMLNode, _ path: FieldPath) -> LabelSelector? {
        guard let fields = Fields(node, path, context, allowed: ["matchLabels", "matchExpressions"]) else {
            return nil
        }
        let labels = fields.stringMap("matchLabels") ?? [:]
        let expressions = fields.list("matchExpressions") { item, itemPath -> LabelSelectorRequirement? in
            guard let entry = Fields(item, itemPath, self.context, allowed: ["key", "operator", "values"]) else {
                return nil
            }
            let key = entry.string("key", required: true)
            var op: LabelSelectorOperator?
            if let text = entry.string("operator", required: true) {
                op = LabelSelectorOperator(rawValue: text)
                if op == nil {
                    self.context.error(entry.location("operator"), itemPath["operator"],
                                       Suggestions.unknownValue("operator", text,
                                                                supported: LabelSelectorOperator.allCases.map(\.rawValue)))
                }
            }
            let decodedValues = entry.strings("values")
            let values = decodedValues ?? []
            switch op {
            case .in?, .notIn?:
                if values.isEmpty, decodedValues != nil || entry.value("values") == nil {
                    self.context.error(entry.has("values") ? entry.location("values") : entry.location,
                                       itemPath["values"], "operator \(op!.rawValue) needs at least one value")
                }
            case .exists?, .doesNotExist?:
                if !values.isEmpty {
                    self.context.error(entry.location("values"), itemPath["values"],
                                       "operator \(op!.rawValue) takes no values")
                }
            case nil:
                break
            }
            guard let key, let op else { return nil }
            return LabelSelectorRequirement(key: key, operator: op, values: values.map(\.value),
                                            location: entry.location, path: itemPath,
                                            fieldLocations: entry.fieldLocations)
        } ?? []
        return LabelSelector(matchLabels: labels, matchExpressions: expressions, location: fields.location, path: path,
                             fieldLocations: fields.fieldLocations)
    }
}
