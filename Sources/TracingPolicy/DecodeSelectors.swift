// SPDX-License-Identifier: Apache-2.0

extension PolicyDecoder {
    static let selectorKeys = [
        "matchArgs", "matchData", "matchReturnArgs", "matchPIDs", "matchBinaries", "matchParentBinaries",
        "matchNamespaces", "matchNamespaceChanges", "matchCapabilities", "matchCapabilityChanges", "matchWorkloads",
        "matchActions", "matchReturnActions", "macros", "label",
    ]
    static let actionKeys = [
        "action", "argError", "argSig", "argFqdn", "argUrl", "argSock", "argFd", "argName", "argIndex", "argValue",
        "rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash", "argRegs", "argNewSymbol",
        "argNewAddr", "argNewOffset",
    ]

    /// The `selectors` of a hook.
    func selectors(_ fields: Fields, hook: HookContext) -> [Selector] {
        let count = fields.count("selectors")
        if count > Limits.selectorsPerHook {
            context.error(fields.location("selectors"), fields.path["selectors"],
                          "too many selectors: \(count) (Tetragon allows at most \(Limits.selectorsPerHook) "
                              + "selectors per hook)")
        }
        return fields.list("selectors") { self.selector($0, $1, hook: hook) } ?? []
    }

    /// `selectorsMacros`: a mapping of names to selectors.
    func selectorMacros(_ node: YAMLNode, _ path: FieldPath) -> [SelectorMacro] {
        guard case .mapping(let pairs) = node.content else {
            context.typeMismatch(node, path, expected: "a mapping of macro names to selectors")
            return []
        }
        var macros: [SelectorMacro] = []
        for pair in pairs {
            guard let name = pair.key.scalarText, !name.isEmpty else {
                context.error(pair.key.location, path, "macro names must be non-empty strings")
                continue
            }
            guard let selector = selector(pair.value, path[name], hook: .macro) else { continue }
            if !selector.macros.isEmpty {
                context.error(selector.location(of: "macros"), selector.path["macros"],
                              "a selector macro cannot use other macros")
            }
            macroKeys[name] = selector.filterKeys
            macros.append(SelectorMacro(name: name, selector: selector))
        }
        return macros
    }

    func selector(_ node: YAMLNode, _ path: FieldPath, hook: HookContext) -> Selector? {
        guard let fields = Fields(node, path, context, allowed: Self.selectorKeys) else { return nil }
        var selector = Selector(location: fields.location, path: path, fieldLocations: fields.fieldLocations)

        // Limits are checked on what was written, before any entry is dropped.
        let matchArgs = fields.count("matchArgs")
        let matchData = fields.count("matchData")
        if matchArgs > Limits.matchArgsPerSelector {
            limit(fields, "matchArgs", "too many matchArgs entries: \(matchArgs) (at most "
                + "\(Limits.matchArgsPerSelector) per selector)")
        } else if matchArgs + matchData > Limits.matchArgsPerSelector {
            limit(fields, "matchData", "too many matchArgs and matchData entries: \(matchArgs + matchData) (at most "
                + "\(Limits.matchArgsPerSelector) together per selector)")
        }
        for key in ["matchBinaries", "matchParentBinaries"] where fields.count(key) > Limits.binariesPerSelector {
            limit(fields, key, "too many \(key) entries: \(fields.count(key)) (at most "
                + "\(Limits.binariesPerSelector) per selector; put all paths in the values of one entry)")
        }
        if fields.count("matchNamespaces") > Limits.namespaceItemsPerSelector {
            limit(fields, "matchNamespaces", "too many matchNamespaces entries: \(fields.count("matchNamespaces")) "
                + "(at most \(Limits.namespaceItemsPerSelector) per selector)")
        }
        if fields.count("matchNamespaceChanges") > Limits.namespaceChangesPerSelector {
            limit(fields, "matchNamespaceChanges", "too many matchNamespaceChanges entries: "
                + "\(fields.count("matchNamespaceChanges")) (only one per selector)")
        }
        for key in ["matchActions", "matchReturnActions"] where fields.count(key) > Limits.actionsPerSelector {
            limit(fields, key, "too many actions: \(fields.count(key)) (at most \(Limits.actionsPerSelector) "
                + "actions per selector)")
        }

        selector.matchArgs = fields.list("matchArgs") { self.argSelector($0, $1, hook: hook, target: .args) } ?? []
        selector.matchData = fields.list("matchData") { self.argSelector($0, $1, hook: hook, target: .data) } ?? []
        selector.matchReturnArgs = fields.list("matchReturnArgs") {
            self.argSelector($0, $1, hook: hook, target: .returnArg)
        } ?? []
        selector.matchPIDs = fields.list("matchPIDs") { self.pidSelector($0, $1) } ?? []
        selector.matchBinaries = fields.list("matchBinaries") { self.binarySelector($0, $1) } ?? []
        selector.matchParentBinaries = fields.list("matchParentBinaries") { self.binarySelector($0, $1) } ?? []
        selector.matchNamespaces = fields.list("matchNamespaces") { self.namespaceSelector($0, $1) } ?? []
        selector.matchNamespaceChanges = fields.list("matchNamespaceChanges") {
            self.namespaceChangesSelector($0, $1)
        } ?? []
        selector.matchCapabilities = fields.list("matchCapabilities") { self.capabilitiesSelector($0, $1) } ?? []
        selector.matchCapabilityChanges = fields.list("matchCapabilityChanges") {
            self.capabilitiesSelector($0, $1)
        } ?? []
        selector.matchWorkloads = fields.list("matchWorkloads") { item, itemPath -> YAMLNode? in
            guard case .mapping = item.content else {
                self.context.typeMismatch(item, itemPath, expected: "a mapping (a workload selector)")
                return nil
            }
            return item
        } ?? []
        selector.matchActions = fields.list("matchActions") { self.action($0, $1) } ?? []
        selector.matchReturnActions = fields.list("matchReturnActions") { self.action($0, $1) } ?? []
        selector.label = fields.string("label")

        if hook.kind != .macro, !hook.isReturn {
            for key in ["matchReturnArgs", "matchReturnActions"] where fields.has(key) {
                context.warning(fields.keyLocation(key), path[key],
                                "\(key) has no effect: the \(hook.kind.noun) does not set return: true")
            }
        }

        let macros = fields.strings("macros") ?? []
        selector.macros = macros.map(\.value)
        var fromMacros: [String: String] = [:]
        for (number, macro) in macros.enumerated() {
            guard let keys = macroKeys[macro.value] else {
                let known = Array(macroKeys.keys).sorted()
                context.error(macro.location, path["macros"][number],
                              "unknown selector macro \(quoted(macro.value))"
                                  + Suggestions.didYouMean(macro.value, among: known)
                                  + (known.isEmpty ? "; spec.selectorsMacros is empty"
                                                   : "; defined macros: \(known.joined(separator: ", "))"))
                continue
            }
            for key in keys.sorted() {
                if fields.has(key) {
                    context.error(macro.location, path["macros"][number],
                                  "macro \(quoted(macro.value)) sets \(key), which this selector also sets; a filter "
                                      + "may come from only one place")
                } else if let other = fromMacros[key] {
                    context.error(macro.location, path["macros"][number],
                                  "macros \(quoted(other)) and \(quoted(macro.value)) both set \(key); a filter may "
                                      + "come from only one place")
                } else {
                    fromMacros[key] = macro.value
                }
            }
        }
        return selector
    }

    private func limit(_ fields: Fields, _ key: String, _ message: String) {
        context.error(fields.location(key), fields.path[key], message)
    }

    // MARK: matchArgs / matchData / matchReturnArgs

    enum ArgTarget { case args, data, returnArg }

    func argSelector(_ node: YAMLNode, _ path: FieldPath, hook: HookContext, target: ArgTarget) -> ArgSelector? {
        guard let fields = Fields(node, path, context, allowed: ["index", "args", "operator", "values"]) else {
            return nil
        }
        let index = fields.integer("index", UInt32.self)
        var argLocations: [SourceLocation] = []
        let argList = fields.list("args") { item, itemPath -> UInt32? in
            guard let position = Fields.integer(item, itemPath, UInt32.self, self.context) else { return nil }
            argLocations.append(item.location)
            return position
        }
        var op: SelectorOperator?
        if let text = fields.string("operator", required: true) {
            op = SelectorOperator.parse(text)
            if op == nil {
                context.error(fields.location("operator"), path["operator"],
                              Suggestions.unknownValue("operator", text, supported: SelectorOperator.suggestionNames))
            }
        }
        let decodedValues = fields.strings("values")
        let values = decodedValues ?? []
        let valuesBroken = decodedValues == nil && fields.value("values") != nil

        // Which configured argument(s) the entry filters on.
        var positions: [Int] = []
        var argType: ArgType?
        switch target {
        case .returnArg:
            argType = hook.returnArg?.type
        case .args, .data:
            let configured = target == .args ? hook.args : hook.data
            let listName = target == .args ? "args" : "data"
            if hook.kind == .macro {
                break
            } else if let argList, fields.value("args") != nil {
                for (number, position) in argList.enumerated() {
                    if Int(position) < configured.count {
                        positions.append(Int(position))
                    } else {
                        context.error(argLocations[number], path["args"][number],
                                      "args entry \(position) is not a position in the hook's \(listName) "
                                          + Self.positionsDescription(configured.count, listName))
                    }
                }
            } else if index == nil, fields.value("index") == nil, op != .celExpr {
                context.error(fields.location, path["index"], "missing required field \"index\" (or \"args\")")
            } else if let index {
                if let position = configured.firstIndex(where: { $0.index == index }) {
                    positions = [position]
                } else if hook.kind.indexMayBePosition, Int(index) < configured.count {
                    positions = [Int(index)]
                } else {
                    let indices = configured.map { String($0.index) }.joined(separator: ", ")
                    let noun = target == .args ? "argument" : "data entry"
                    let message: String
                    if configured.isEmpty {
                        message = "index \(index) does not refer to a configured \(noun) (the \(hook.kind.noun) "
                            + "has no \(listName))"
                    } else if hook.kind.indexMayBePosition {
                        message = "index \(index) refers neither to a configured \(noun) index (\(indices)) nor to "
                            + "a position in \(listName) (0-\(configured.count - 1))"
                    } else {
                        message = "index \(index) does not refer to a configured \(noun) (configured \(listName) "
                            + "have index \(indices))"
                    }
                    context.error(fields.location("index"), path["index"], message)
                }
            }
            if positions.count == 1 {
                argType = configured[positions[0]].type
            }
        }

        if let op, !valuesBroken {
            checkArgValues(op, values, fields: fields, type: argType, typePath: positions.first.map {
                "\(target == .data ? "data" : "args")[\($0)]"
            } ?? "returnArg")
        }
        guard let op else { return nil }
        return ArgSelector(index: index, args: argList, operator: op, values: values.map(\.value),
                           valueLocations: values.map(\.location), argPositions: positions, location: fields.location,
                           path: path, fieldLocations: fields.fieldLocations)
    }

    static func positionsDescription(_ count: Int, _ listName: String) -> String {
        count == 0 ? "(the hook has no \(listName))" : "(positions 0-\(count - 1))"
    }

    /// Value checks that depend on the operator and (when known) the argument type.
    func checkArgValues(_ op: SelectorOperator, _ values: [LocatedString], fields: Fields, type: ArgType?,
                        typePath: String) {
        let path = fields.path
        let known = type.flatMap { $0 == .auto ? nil : $0 }
        func valueError(_ number: Int, _ message: String) {
            context.error(values[number].location, path["values"][number], message)
        }

        // Operator and argument type must fit together.
        if let type = known {
            var mismatch: String?
            if let allowed = op.socketArgumentTypes, !allowed.contains(type) {
                let names = allowed.map(\.rawValue)
                mismatch = "operator \(op.rawValue) needs a \(names.dropLast().joined(separator: ", ")) or "
                    + "\(names.last!) argument"
            } else if op == .fileType || op == .notFileType, type != .file, type != .path {
                mismatch = "operator \(op.rawValue) needs a file or path argument"
            } else if op.isStringOperator, type.isInteger {
                mismatch = "operator \(op.rawValue) compares strings"
            } else if op.isNumericOperator, type.isStringLike {
                mismatch = "operator \(op.rawValue) compares numbers"
            }
            if let mismatch {
                context.error(fields.location("operator"), path["operator"],
                              "\(mismatch), but \(typePath) has type \(type.rawValue)")
                return
            }
        }

        if values.isEmpty, !op.isPrivilegedPort, op != .celExpr, op != .capabilitiesGained {
            context.error(fields.has("values") ? fields.location("values") : fields.location, path["values"],
                          "operator \(op.rawValue) needs at least one value")
            return
        }
        if op.isPrivilegedPort, !values.isEmpty {
            context.warning(fields.location("values"), path["values"],
                            "operator \(op.rawValue) takes no values (privileged ports are 0-1023); values ignored")
        }

        switch op {
        case .sPort, .notSPort, .dPort, .notDPort:
            for (number, value) in values.enumerated() where PolicyValues.portRange(value.value) == nil {
                valueError(number, "invalid port \(quoted(value.value)): expected a port (0-65535) or a range "
                    + "\"min:max\"")
            }
        case .sAddr, .notSAddr, .dAddr, .notDAddr:
            for (number, value) in values.enumerated() where PolicyValues.ipPrefix(value.value) == nil {
                valueError(number, "invalid address \(quoted(value.value)): expected an IPv4 or IPv6 address or "
                    + "CIDR prefix (e.g. 10.0.0.0/8, fd00::/8)")
            }
        case .protocol:
            checkNamedNumbers(values, PolicyValues.protocols, "protocol", "IPPROTO_TCP", path: path)
        case .family:
            checkNamedNumbers(values, PolicyValues.families, "address family", "AF_INET", path: path)
        case .state:
            checkNamedNumbers(values, PolicyValues.tcpStates, "TCP state", "TCP_ESTABLISHED", path: path)
        case .fileType, .notFileType:
            for (number, value) in values.enumerated() where PolicyValues.fileTypes[value.value.lowercased()] == nil {
                valueError(number, Suggestions.unknownValue("file type", value.value,
                                                            supported: PolicyValues.fileTypes.keys.sorted()))
            }
        case .inRange, .notInRange:
            for (number, value) in values.enumerated() {
                guard let range = PolicyValues.integerRange(value.value) else {
                    valueError(number, "invalid range \(quoted(value.value)): expected \"min:max\" with integers, "
                        + "min <= max")
                    continue
                }
                if let allowed = known?.integerRange, !allowed.contains(range.lowerBound)
                    || !allowed.contains(range.upperBound) {
                    valueError(number, "range \(value.value) is out of range for type \(known!.rawValue) "
                        + "(\(allowed.lowerBound)...\(allowed.upperBound))")
                }
            }
        case .prefix, .notPrefix:
            for (number, value) in values.enumerated() where value.value.utf8.count > Limits.prefixLength {
                valueError(number, "prefix is too long: \(value.value.utf8.count) bytes (at most "
                    + "\(Limits.prefixLength))")
            }
        case .postfix, .notPostfix:
            for (number, value) in values.enumerated() where value.value.utf8.count > Limits.postfixLength {
                valueError(number, "postfix is too long: \(value.value.utf8.count) bytes (at most "
                    + "\(Limits.postfixLength))")
            }
        case .subString, .subStringIgnCase:
            for (number, value) in values.enumerated() where value.value.utf8.count >= Limits.substringLength {
                valueError(number, "substring is too long: \(value.value.utf8.count) bytes (must be shorter than "
                    + "\(Limits.substringLength))")
            }
        case .greaterThan, .lessThan:
            if values.count != 1 {
                context.error(fields.location("values"), path["values"],
                              "operator \(op.rawValue) takes exactly one value (\(values.count) given)")
            }
            checkIntegers(values, type: known, path: path)
        case .mask:
            checkIntegers(values, type: known, path: path)
        case .equal, .notEqual:
            if known?.isInteger == true {
                checkIntegers(values, type: known, path: path)
            }
        case .inMap, .notInMap:
            for (number, value) in values.enumerated() where value.value.hasPrefix("list:") {
                checkListReference(value.value, value.location, path["values"][number])
            }
            if known?.isInteger == true {
                let numeric = values.enumerated().filter { !$0.element.value.hasPrefix("list:") }
                for (number, value) in numeric {
                    if PolicyValues.integer(value.value) == nil, PolicyValues.integerRange(value.value) == nil {
                        valueError(number, "invalid value \(quoted(value.value)) for a \(known!.rawValue) argument: "
                            + "expected an integer, a range \"min:max\" or \"list:NAME\"")
                    }
                }
            }
        case .dnsName, .notDNSName:
            for (number, value) in values.enumerated() {
                if let problem = PolicyValues.dnsNameProblem(value.value) { valueError(number, problem) }
            }
        case .sPortPriv, .notSPortPriv, .dPortPriv, .notDPortPriv, .capabilitiesGained, .celExpr:
            break
        }

        if let type = known, type.isInteger, [.equal, .notEqual, .mask].contains(op),
           values.count > Limits.integerValuesPerMatchArgs {
            context.error(fields.location("values"), path["values"],
                          "too many values for an integer comparison: \(values.count) (at most "
                              + "\(Limits.integerValuesPerMatchArgs) per matchArgs entry; use operator InMap or "
                              + "NotInMap for larger sets)")
        }
    }

    private func checkIntegers(_ values: [LocatedString], type: ArgType?, path: FieldPath) {
        for (number, value) in values.enumerated() {
            guard let parsed = PolicyValues.integer(value.value) else {
                context.error(value.location, path["values"][number],
                              "invalid integer \(quoted(value.value))\(type.map { " for type \($0.rawValue)" } ?? "") "
                                  + "(use decimal, 0x hex or 0 octal)")
                continue
            }
            if let type, let allowed = type.integerRange, !allowed.contains(parsed) {
                context.error(value.location, path["values"][number],
                              "value \(value.value) is out of range for type \(type.rawValue) "
                                  + "(\(allowed.lowerBound)...\(allowed.upperBound))")
            }
        }
    }

    private func checkNamedNumbers(_ values: [LocatedString], _ table: [String: Int], _ what: String,
                                   _ example: String, path: FieldPath) {
        for (number, value) in values.enumerated()
        where table[value.value] == nil && PolicyValues.integer(value.value) == nil {
            let hint = Suggestions.didYouMean(value.value, among: table.keys.sorted())
            context.error(value.location, path["values"][number],
                          "unknown \(what) \(quoted(value.value))\(hint); expected a number or a name like \(example)")
        }
    }

    // MARK: process filters

    private func setOperator(_ fields: Fields, _ what: String) -> SetOperator? {
        guard let text = fields.string("operator", required: true) else { return nil }
        if let op = SetOperator(rawValue: text) { return op }
        context.error(fields.location("operator"), fields.path["operator"],
                      Suggestions.unknownValue("\(what) operator", text, supported: SetOperator.allCases.map(\.rawValue)))
        return nil
    }

    func pidSelector(_ node: YAMLNode, _ path: FieldPath) -> PIDSelector? {
        guard let fields = Fields(node, path, context, allowed: ["operator", "values", "followForks", "isNamespacePID"])
        else { return nil }
        let op = setOperator(fields, "matchPIDs")
        var locations: [SourceLocation] = []
        let values = fields.list("values", required: true) { item, itemPath -> UInt32? in
            guard let pid = Fields.integer(item, itemPath, UInt32.self, self.context) else { return nil }
            locations.append(item.location)
            return pid
        } ?? []
        if fields.count("values") > Limits.pidValuesPerItem {
            context.error(fields.location("values"), path["values"],
                          "too many PIDs: \(fields.count("values")) (at most \(Limits.pidValuesPerItem) per "
                              + "matchPIDs entry)")
        }
        let followForks = fields.bool("followForks") ?? false
        let isNamespacePID = fields.bool("isNamespacePID") ?? false
        guard let op else { return nil }
        return PIDSelector(operator: op, values: values, valueLocations: locations, followForks: followForks,
                           isNamespacePID: isNamespacePID, location: fields.location, path: path,
                           fieldLocations: fields.fieldLocations)
    }

    func binarySelector(_ node: YAMLNode, _ path: FieldPath) -> BinarySelector? {
        guard let fields = Fields(node, path, context, allowed: ["operator", "values", "followChildren"]) else {
            return nil
        }
        var op: BinaryOperator?
        if let text = fields.string("operator", required: true) {
            op = BinaryOperator.parse(text)
            if op == nil {
                context.error(fields.location("operator"), path["operator"],
                              Suggestions.unknownValue("operator", text, supported: BinaryOperator.allCases.map(\.rawValue)))
            }
        }
        let decodedValues = fields.strings("values", required: true)
        let values = decodedValues ?? []
        if decodedValues?.isEmpty == true {
            context.error(fields.location("values"), path["values"], "matchBinaries needs at least one value")
        }
        let followChildren = fields.bool("followChildren") ?? false
        if followChildren, let op, op != .in, op != .notIn {
            context.error(fields.location("followChildren"), path["followChildren"],
                          "followChildren works only with operators In and NotIn")
        }
        if let op {
            let (limit, what): (Int, String) = switch op {
            case .in, .notIn: (Limits.binaryPathLength, "binary path")
            case .prefix, .notPrefix: (Limits.prefixLength, "prefix")
            case .postfix, .notPostfix: (Limits.postfixLength, "postfix")
            }
            for (number, value) in values.enumerated() where value.value.utf8.count > limit {
                context.error(value.location, path["values"][number],
                              "\(what) is too long: \(value.value.utf8.count) bytes (at most \(limit))")
            }
        }
        guard let op else { return nil }
        return BinarySelector(operator: op, values: values.map(\.value), valueLocations: values.map(\.location),
                              followChildren: followChildren, location: fields.location, path: path,
                              fieldLocations: fields.fieldLocations)
    }

    func namespaceSelector(_ node: YAMLNode, _ path: FieldPath) -> NamespaceSelector? {
        guard let fields = Fields(node, path, context, allowed: ["namespace", "operator", "values"]) else {
            return nil
        }
        var namespace: NamespaceType?
        if let text = fields.string("namespace", required: true) {
            namespace = NamespaceType.parse(text)
            if namespace == nil {
                context.error(fields.location("namespace"), path["namespace"],
                              Suggestions.unknownValue("namespace", text, supported: NamespaceType.allCases.map(\.rawValue)))
            }
        }
        let op = setOperator(fields, "matchNamespaces")
        let values = fields.strings("values", required: true) ?? []
        if values.count > Limits.namespaceValuesPerItem {
            context.error(fields.location("values"), path["values"],
                          "too many namespace values: \(values.count) (at most \(Limits.namespaceValuesPerItem) per "
                              + "matchNamespaces entry)")
        }
        for (number, value) in values.enumerated() where value.value != "host_ns" && UInt32(value.value) == nil {
            context.error(value.location, path["values"][number],
                          "invalid namespace value \(quoted(value.value)): expected an inode number or \"host_ns\"")
        }
        guard let namespace, let op else { return nil }
        return NamespaceSelector(namespace: namespace, operator: op, values: values.map(\.value),
                                 valueLocations: values.map(\.location), location: fields.location, path: path,
                                 fieldLocations: fields.fieldLocations)
    }

    func namespaceChangesSelector(_ node: YAMLNode, _ path: FieldPath) -> NamespaceChangesSelector? {
        guard let fields = Fields(node, path, context, allowed: ["operator", "values"]) else { return nil }
        let op = setOperator(fields, "matchNamespaceChanges")
        var locations: [SourceLocation] = []
        let values = (fields.strings("values", required: true) ?? []).enumerated().compactMap {
            number, value -> NamespaceType? in
            guard let namespace = NamespaceType.parse(value.value) else {
                context.error(value.location, path["values"][number],
                              Suggestions.unknownValue("namespace", value.value,
                                                       supported: NamespaceType.allCases.map(\.rawValue)))
                return nil
            }
            locations.append(value.location)
            return namespace
        }
        guard let op else { return nil }
        return NamespaceChangesSelector(operator: op, values: values, valueLocations: locations,
                                        location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }

    func capabilitiesSelector(_ node: YAMLNode, _ path: FieldPath) -> CapabilitiesSelector? {
        guard let fields = Fields(node, path, context,
                                  allowed: ["type", "operator", "isNamespaceCapability", "values"]) else { return nil }
        var type: CapabilitySetType? = .effective
        if let text = fields.string("type") {
            type = CapabilitySetType.parse(text)
            if type == nil {
                context.error(fields.location("type"), path["type"],
                              Suggestions.unknownValue("capability set", text,
                                                       supported: CapabilitySetType.allCases.map(\.rawValue)))
            }
        }
        let op = setOperator(fields, "capabilities")
        let isNamespaceCapability = fields.bool("isNamespaceCapability") ?? false
        var locations: [SourceLocation] = []
        let values = (fields.strings("values", required: true) ?? []).enumerated().compactMap {
            number, value -> LinuxCapability? in
            guard let capability = LinuxCapability.named(value.value) else {
                context.error(value.location, path["values"][number],
                              Suggestions.unknownValue("capability", value.value,
                                                       supported: LinuxCapability.all.map(\.name)))
                return nil
            }
            locations.append(value.location)
            return capability
        }
        guard let type, let op else { return nil }
        return CapabilitiesSelector(type: type, operator: op, isNamespaceCapability: isNamespaceCapability,
                                    values: values, valueLocations: locations, location: fields.location, path: path,
                                    fieldLocations: fields.fieldLocations)
    }

    // MARK: actions

    func action(_ node: YAMLNode, _ path: FieldPath) -> ActionSelector? {
        guard let fields = Fields(node, path, context, allowed: Self.actionKeys) else { return nil }
        var action: ActionType?
        if let text = fields.string("action", required: true) {
            action = ActionType.parse(text)
            if action == nil {
                if let removed = ActionType.removed.first(where: { $0.lowercased() == text.lowercased() }) {
                    context.error(fields.location("action"), path["action"],
                                  "action \(quoted(removed)) was removed from Tetragon (fd arguments are now resolved "
                                      + "directly: use an fd or file argument type instead)")
                } else {
                    context.error(fields.location("action"), path["action"],
                                  Suggestions.unknownValue("action", text, supported: ActionType.allCases.map(\.rawValue)))
                }
            }
        }
        let argError = fields.integer("argError", Int32.self)
        let argSig = fields.integer("argSig", UInt32.self)
        let argFqdn = fields.string("argFqdn")
        let argUrl = fields.string("argUrl")
        let argSock = fields.integer("argSock", UInt32.self)
        let argFd = fields.integer("argFd", UInt32.self)
        let argName = fields.integer("argName", UInt32.self)
        let argIndex = fields.integer("argIndex", UInt32.self)
        var argValue = fields.integer("argValue", Int64.self)
        if let value = argValue, !(Int64(Int32.min)...Int64(UInt32.max)).contains(value) {
            context.error(fields.location("argValue"), path["argValue"],
                          "argValue \(value) does not fit in 32 bits (Set writes a 4-byte value)")
            argValue = nil
        }
        let rateLimit = fields.string("rateLimit")
        var rateLimitSeconds: UInt64?
        if let rateLimit {
            rateLimitSeconds = PolicyValues.rateLimitSeconds(rateLimit)
            if rateLimitSeconds == nil {
                context.error(fields.location("rateLimit"), path["rateLimit"],
                              "invalid rateLimit \(quoted(rateLimit)): expected a whole number of seconds, optionally "
                                  + "with an s, m or h suffix (e.g. \"30\", \"30s\", \"5m\", \"1h\")")
            }
        }
        var scope: RateLimitScope?
        if let text = fields.string("rateLimitScope") {
            scope = RateLimitScope.parse(text)
            if scope == nil {
                context.error(fields.location("rateLimitScope"), path["rateLimitScope"],
                              Suggestions.unknownValue("rateLimitScope", text,
                                                       supported: RateLimitScope.allCases.map(\.rawValue)))
            }
        }
        let kernelStackTrace = fields.bool("kernelStackTrace") ?? false
        let userStackTrace = fields.bool("userStackTrace") ?? false
        let imaHash = fields.bool("imaHash") ?? false
        let argRegs = fields.strings("argRegs") ?? []

        if let argSig, argSig > 64 {
            context.error(fields.location("argSig"), path["argSig"], "argSig \(argSig) is not a signal number (1-64)")
        }
        switch action {
        case .signal?:
            if argSig == nil, !fields.has("argSig") {
                context.error(fields.location("action"), path["argSig"],
                              "action Signal needs argSig (a signal number 1-64)")
            } else if argSig == 0 {
                context.error(fields.location("argSig"), path["argSig"], "argSig 0 is not a signal number (1-64)")
            }
        case .override?:
            if !fields.has("argError") {
                context.error(fields.location("action"), path["argError"],
                              "action Override needs argError (the error to return, e.g. -1 for -EPERM)")
            }
        case .notifyEnforcer?:
            if !hasEnforcers {
                context.error(fields.location("action"), path["action"],
                              "action NotifyEnforcer needs an enforcer: add spec.enforcers")
            }
        case .getUrl?:
            if argUrl?.isEmpty ?? true {
                context.error(fields.location("action"), path["argUrl"], "action GetUrl needs argUrl")
            }
        case .dnsLookup?:
            if argFqdn?.isEmpty ?? true {
                context.error(fields.location("action"), path["argFqdn"], "action DnsLookup needs argFqdn")
            }
        case .set?:
            for key in ["argIndex", "argValue"] where !fields.has(key) {
                context.error(fields.location("action"), path[key], "action Set needs argIndex and argValue")
            }
        default:
            break
        }
        if let action, action != .post {
            for key in ["rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash"]
            where fields.has(key) {
                context.warning(fields.keyLocation(key), path[key],
                                "\(key) only applies to the Post action; ignored for \(action.rawValue)")
            }
        }
        guard let action else { return nil }
        return ActionSelector(action: action, argError: argError, argSig: argSig, argFqdn: argFqdn, argUrl: argUrl,
                              argSock: argSock, argFd: argFd, argName: argName, argIndex: argIndex, argValue: argValue,
                              rateLimit: rateLimit, rateLimitSeconds: rateLimitSeconds, rateLimitScope: scope,
                              kernelStackTrace: kernelStackTrace, userStackTrace: userStackTrace, imaHash: imaHash,
                              argRegs: argRegs.map(\.value), argNewSymbol: fields.string("argNewSymbol"),
                              argNewAddr: fields.string("argNewAddr"), argNewOffset: fields.string("argNewOffset"),
                              location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }
}
