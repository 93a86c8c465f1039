// SPDX-License-Identifier: Apache-2.0

/// What selectors of one hook can refer to.
struct HookContext {
    enum Kind: Equatable {
        case kprobe, fentry, tracepoint, rawTracepoint, lsm, uprobe, usdt
        /// A selector macro: not tied to one hook, so argument references are not resolved.
        case macro

        var noun: String {
            switch self {
            case .kprobe: return "kprobe"
            case .fentry: return "fentry"
            case .tracepoint: return "tracepoint"
            case .rawTracepoint: return "raw tracepoint"
            case .lsm: return "LSM hook"
            case .uprobe: return "uprobe"
            case .usdt: return "USDT probe"
            case .macro: return "selector macro"
            }
        }

        /// Hooks whose `args[].index` is a function prototype position read from registers.
        var readsFunctionArguments: Bool { [.kprobe, .fentry, .lsm, .uprobe].contains(self) }
        /// Hooks where a matchArgs index may also be a position in `args`.
        var indexMayBePosition: Bool { self == .tracepoint || self == .rawTracepoint }
    }

    var kind: Kind
    var args: [KProbeArg] = []
    var data: [KProbeArg] = []
    var returnArg: KProbeArg?
    var isReturn = false

    static let macro = HookContext(kind: .macro)
}

/// Tetragon's hard limits.
enum Limits {
    static let selectorsPerHook = 5
    static let argsPerHook = 5
    static let matchArgsPerSelector = 5
    static let integerValuesPerMatchArgs = 4
    static let binariesPerSelector = 1
    static let binaryPathLength = 255
    static let prefixLength = 256
    static let postfixLength = 127
    static let substringLength = 100
    static let actionsPerSelector = 3
    static let namespaceValuesPerItem = 4
    static let namespaceItemsPerSelector = 10
    static let namespaceChangesPerSelector = 1
    static let messageLength = 256
    static let tags = 16
    static let pidValuesPerItem = 4
    static let functionArguments = 5
    static let rawTracepointArgIndex = 5
}

extension PolicyDecoder {
    static let kprobeKeys = [
        "call", "syscall", "return", "returnArg", "returnArgAction", "args", "data", "selectors", "message", "tags",
        "ignore",
    ]
    static let tracepointKeys = ["subsystem", "event", "raw", "args", "selectors", "message", "tags"]
    static let lsmKeys = ["hook", "args", "selectors", "message", "tags"]
    static let uprobeKeys = [
        "path", "symbols", "offsets", "addrs", "refCtrOffsets", "btfPath", "args", "data", "return", "returnArg",
        "selectors", "message", "tags", "binaryDigests", "ignore", "resolvePathInContainer",
    ]
    static let usdtKeys = ["path", "provider", "name", "btfPath", "args", "selectors", "message", "tags"]
    static let argKeys = [
        "index", "type", "label", "sizeArgIndex", "returnCopy", "maxData", "resolve", "btfType", "btfTypeModule",
        "source",
    ]

    // MARK: hooks

    func kprobe(_ node: YAMLNode, _ path: FieldPath, kind: HookContext.Kind) -> KProbeSpec? {
        guard let fields = Fields(node, path, context, allowed: Self.kprobeKeys) else { return nil }
        let call = fields.string("call", required: true)
        if let call {
            checkListReference(call, fields.location("call"), path["call"])
        }
        let syscall = fields.bool("syscall")
        let isReturn = fields.bool("return") ?? false
        var hook = HookContext(kind: kind)
        hook.isReturn = isReturn
        hook.args = args(fields, "args", kind: kind)
        hook.data = args(fields, "data", kind: kind)
        if let value = fields.value("returnArg") {
            hook.returnArg = arg(value, path["returnArg"], kind: kind, role: .returnArg)
        }
        checkArgCount(fields, kind: kind)
        if !isReturn, fields.value("returnArg") != nil {
            context.warning(fields.keyLocation("returnArg"), path["returnArg"],
                            "returnArg has no effect unless return is true")
        }
        if isReturn, fields.value("returnArg") == nil {
            context.error(fields.location("return"), path["return"],
                          "returnArg must be set when return is true (Tetragon: \"ReturnArg not specified with "
                              + "Return=true.\")")
        }
        var returnArgAction: ActionType?
        if let text = fields.string("returnArgAction"), !text.isEmpty {
            returnArgAction = ActionType.parse(text)
            if returnArgAction == nil {
                context.error(fields.location("returnArgAction"), path["returnArgAction"],
                              Suggestions.unknownValue("returnArgAction", text,
                                                       supported: ["Post", "TrackSock", "UntrackSock"]))
            } else if !isReturn {
                context.warning(fields.location("returnArgAction"), path["returnArgAction"],
                                "returnArgAction has no effect unless return is true")
            }
        }
        var ignoreCallNotFound = false
        if let value = fields.value("ignore"),
           let ignore = Fields(value, path["ignore"], context, allowed: ["callNotFound"]) {
            ignoreCallNotFound = ignore.bool("callNotFound") ?? false
        }
        let selectors = self.selectors(fields, hook: hook)
        let (message, tags) = messageAndTags(fields)
        guard let call else { return nil }
        return KProbeSpec(call: call, syscall: syscall, return: isReturn, returnArg: hook.returnArg,
                          returnArgAction: returnArgAction, args: hook.args, data: hook.data, selectors: selectors,
                          message: message, tags: tags, ignoreCallNotFound: ignoreCallNotFound,
                          location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }

    func tracepoint(_ node: YAMLNode, _ path: FieldPath) -> TracepointSpec? {
        guard let fields = Fields(node, path, context, allowed: Self.tracepointKeys) else { return nil }
        let subsystem = fields.string("subsystem", required: true)
        let event = fields.string("event", required: true)
        let raw = fields.bool("raw") ?? false
        var hook = HookContext(kind: raw ? .rawTracepoint : .tracepoint)
        hook.args = args(fields, "args", kind: hook.kind)
        checkArgCount(fields, kind: hook.kind)
        let selectors = self.selectors(fields, hook: hook)
        let (message, tags) = messageAndTags(fields)
        guard let subsystem, let event else { return nil }
        return TracepointSpec(subsystem: subsystem, event: event, raw: raw, args: hook.args, selectors: selectors,
                              message: message, tags: tags, location: fields.location, path: path,
                              fieldLocations: fields.fieldLocations)
    }

    func lsmHook(_ node: YAMLNode, _ path: FieldPath) -> LsmHookSpec? {
        guard let fields = Fields(node, path, context, allowed: Self.lsmKeys) else { return nil }
        let name = fields.string("hook", required: true)
        if let name, name.hasPrefix("security_") {
            context.error(fields.location("hook"), path["hook"],
                          "LSM hook names are written without the security_ prefix "
                              + "(did you mean \(quoted(String(name.dropFirst("security_".count))))?)")
        }
        var hook = HookContext(kind: .lsm)
        hook.args = args(fields, "args", kind: .lsm)
        checkArgCount(fields, kind: .lsm)
        let selectors = self.selectors(fields, hook: hook)
        let (message, tags) = messageAndTags(fields)
        guard let name else { return nil }
        return LsmHookSpec(hook: name, args: hook.args, selectors: selectors, message: message, tags: tags,
                           location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }

    func uprobe(_ node: YAMLNode, _ path: FieldPath) -> UProbeSpec? {
        guard let fields = Fields(node, path, context, allowed: Self.uprobeKeys) else { return nil }
        let binary = fields.string("path", required: true)
        let symbols = fields.strings("symbols") ?? []
        let offsets = fields.list("offsets") { Fields.integer($0, $1, UInt64.self, self.context) } ?? []
        let addrs = fields.list("addrs") { Fields.integer($0, $1, UInt64.self, self.context) } ?? []
        let refCtrOffsets = fields.list("refCtrOffsets") { Fields.integer($0, $1, UInt64.self, self.context) } ?? []
        let targets = [("symbols", symbols.count), ("offsets", offsets.count), ("addrs", addrs.count)]
            .filter { $0.1 > 0 }
        if targets.count > 1 {
            context.error(fields.location(targets[1].0), path[targets[1].0],
                          "uprobe needs at most one of symbols, addrs or offsets defined")
        } else if targets.isEmpty {
            context.error(fields.location, path["symbols"], "uprobe needs one of symbols, offsets or addrs")
        }
        let btfPath = fields.string("btfPath")
        let isReturn = fields.bool("return") ?? false
        let resolvePathInContainer = fields.bool("resolvePathInContainer") ?? false
        let binaryDigests = fields.strings("binaryDigests")?.map(\.value) ?? []
        var hook = HookContext(kind: .uprobe)
        hook.isReturn = isReturn
        hook.args = args(fields, "args", kind: .uprobe)
        hook.data = args(fields, "data", kind: .uprobe)
        if let value = fields.value("returnArg") {
            hook.returnArg = arg(value, path["returnArg"], kind: .uprobe, role: .returnArg)
        }
        checkArgCount(fields, kind: .uprobe)
        if isReturn, fields.value("returnArg") == nil {
            context.error(fields.location("return"), path["return"],
                          "returnArg must be set when return is true (Tetragon: \"ReturnArg not specified with "
                              + "Return=true.\")")
        }
        let selectors = self.selectors(fields, hook: hook)
        let (message, tags) = messageAndTags(fields)
        guard let binary else { return nil }
        return UProbeSpec(binaryPath: binary, symbols: symbols.map(\.value), offsets: offsets, addrs: addrs,
                          refCtrOffsets: refCtrOffsets, btfPath: btfPath, args: hook.args, data: hook.data,
                          return: isReturn, returnArg: hook.returnArg, selectors: selectors, message: message,
                          tags: tags, binaryDigests: binaryDigests, resolvePathInContainer: resolvePathInContainer,
                          location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }

    func usdt(_ node: YAMLNode, _ path: FieldPath) -> UsdtSpec? {
        guard let fields = Fields(node, path, context, allowed: Self.usdtKeys) else { return nil }
        let binary = fields.string("path", required: true)
        let provider = fields.string("provider", required: true)
        let name = fields.string("name", required: true)
        let btfPath = fields.string("btfPath")
        var hook = HookContext(kind: .usdt)
        hook.args = args(fields, "args", kind: .usdt)
        checkArgCount(fields, kind: .usdt)
        let selectors = self.selectors(fields, hook: hook)
        let (message, tags) = messageAndTags(fields)
        guard let binary, let provider, let name else { return nil }
        return UsdtSpec(binaryPath: binary, provider: provider, name: name, btfPath: btfPath, args: hook.args,
                        selectors: selectors, message: message, tags: tags, location: fields.location, path: path,
                        fieldLocations: fields.fieldLocations)
    }

    // MARK: shared pieces

    func checkArgCount(_ fields: Fields, kind: HookContext.Kind) {
        let args = fields.count("args")
        let data = fields.count("data")
        guard args + data > Limits.argsPerHook else { return }
        let what = data > 0 ? "arguments (args + data)" : "arguments"
        let key = args > Limits.argsPerHook || data == 0 ? "args" : "data"
        context.error(fields.location(key), fields.path[key],
                      "too many \(what): \(args + data) (Tetragon reads at most \(Limits.argsPerHook) args and data "
                          + "entries per hook)")
    }

    func messageAndTags(_ fields: Fields) -> (String?, [String]) {
        let message = fields.string("message")
        if let message, message.count > Limits.messageLength {
            context.error(fields.location("message"), fields.path["message"],
                          "message is too long: \(message.count) characters (at most \(Limits.messageLength))")
        }
        let tags = fields.strings("tags") ?? []
        if tags.count > Limits.tags {
            context.error(fields.location("tags"), fields.path["tags"],
                          "too many tags: \(tags.count) (at most \(Limits.tags))")
        }
        return (message, tags.map(\.value))
    }

    enum ArgRole { case arg, data, returnArg }

    func args(_ fields: Fields, _ key: String, kind: HookContext.Kind) -> [KProbeArg] {
        let role: ArgRole = key == "data" ? .data : .arg
        return fields.list(key) { self.arg($0, $1, kind: kind, role: role) } ?? []
    }

    func arg(_ node: YAMLNode, _ path: FieldPath, kind: HookContext.Kind, role: ArgRole) -> KProbeArg? {
        guard let fields = Fields(node, path, context, allowed: Self.argKeys) else { return nil }
        let index = fields.integer("index", UInt32.self, required: role == .arg)
        var type = ArgType.auto
        if let text = fields.string("type") {
            if let parsed = ArgType(rawValue: text) {
                type = parsed
            } else {
                context.error(fields.location("type"), path["type"],
                              Suggestions.unknownValue("argument type", text, supported: ArgType.allCases.map(\.rawValue)))
            }
        }
        var sizeArgIndex = fields.integer("sizeArgIndex", UInt32.self)
        if sizeArgIndex == 0 { sizeArgIndex = nil }
        var source: DataSource?
        if let text = fields.string("source") {
            source = DataSource(rawValue: text)
            if source == nil {
                context.error(fields.location("source"), path["source"],
                              Suggestions.unknownValue("source", text, supported: DataSource.allCases.map(\.rawValue)))
            } else if role != .data {
                context.error(fields.location("source"), path["source"], "source is only valid in data entries")
            }
        }
        let returnCopy = fields.bool("returnCopy") ?? false
        let maxData = fields.bool("maxData") ?? false
        if returnCopy, maxData {
            context.warning(fields.location("maxData"), path["maxData"], "maxData is not supported with returnCopy")
        }

        if let index, kind.readsFunctionArguments, role == .arg, index >= UInt32(Limits.functionArguments) {
            context.error(fields.location("index"), path["index"],
                          "index \(index) is out of range: a \(kind.noun) can read the first "
                              + "\(Limits.functionArguments) function arguments (index 0-\(Limits.functionArguments - 1))")
        }
        if let index, kind == .rawTracepoint, role == .arg, index > UInt32(Limits.rawTracepointArgIndex) {
            context.error(fields.location("index"), path["index"],
                          "index \(index) is out of range: a raw tracepoint argument index is at most "
                              + "\(Limits.rawTracepointArgIndex)")
        }
        if let size = sizeArgIndex {
            if type != .charBuf, type != .charIovec, type != .auto {
                context.warning(fields.location("sizeArgIndex"), path["sizeArgIndex"],
                                "sizeArgIndex is only used for char_buf and char_iovec arguments; ignored for \(type.rawValue)")
            }
            if kind.readsFunctionArguments, size > UInt32(Limits.functionArguments) {
                context.error(fields.location("sizeArgIndex"), path["sizeArgIndex"],
                              "sizeArgIndex \(size) does not point to an argument: it is the 1-based position of the "
                                  + "size argument among the first \(Limits.functionArguments) function arguments "
                                  + "(1-\(Limits.functionArguments))")
            } else if let index, size == index + 1 {
                context.error(fields.location("sizeArgIndex"), path["sizeArgIndex"],
                              "sizeArgIndex \(size) points to this argument itself (sizeArgIndex is 1-based: use "
                                  + "the index of the size argument plus one)")
            }
        }
        guard role != .arg || index != nil else { return nil }
        return KProbeArg(index: index ?? 0, type: type, label: fields.string("label"), sizeArgIndex: sizeArgIndex,
                         returnCopy: returnCopy, maxData: maxData, resolve: fields.string("resolve"),
                         btfType: fields.string("btfType"), btfTypeModule: fields.string("btfTypeModule"),
                         source: source, location: fields.location, path: path, fieldLocations: fields.fieldLocations)
    }
}
