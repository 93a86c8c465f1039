// SPDX-License-Identifier: Apache-2.0

internal import CYaml

/// How large a policy's YAML may be, written and expanded. Every way a policy enters (file,
/// directory, SIGHUP, `tracectl policy add`, Kubernetes CRDs) goes through ``PolicyParser``,
/// which checks these before anything is composed, so no input makes the parser crash, stall or
/// balloon: aliases (`*a`) are counted at the size and depth of what they expand to.
///
/// The defaults are far above what real policies use: Tetragon's 71 examples and `policies/`
/// load with each limit cut to a quarter (docs/policies.md).
package struct YAMLLimits: Sendable, Hashable {
    /// Bytes of policy text (one file, one API body, one CRD object).
    package var maxBytes = 1 << 20
    /// Nesting of collections, aliases expanded.
    package var maxDepth = 64
    /// Aliases (`*name`) per document.
    package var maxAliases = 1_000
    /// Nodes of a document, aliases expanded.
    package var maxNodes = 50_000
    /// Nodes merge keys (`<<: *a`) pull into mappings, per document.
    package var maxMergedNodes = 10_000

    package init() {}

    /// The limits the agent and `tracectl` use.
    package static let standard = YAMLLimits()
}

/// Walks the event stream of YAML text (libyaml's parser, the one Yams composes from) without
/// composing it, adding up what every node and alias expands to, and stops at the first limit
/// exceeded. Iterative: nothing here recurses as deep as the input nests.
enum YAMLBounds {
    /// A limit exceeded: where (1-based, in the text given) and which.
    struct Violation: Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    /// What a node expands to.
    private struct Size {
        var nodes: Int
        var depth: Int
    }

    /// A collection being read.
    private struct Frame {
        var anchor: String?
        var isMapping: Bool
        var nodes = 1
        var childDepth = 0
        /// Mappings: children seen (keys and values alternate), and whether the pending value
        /// belongs to a `<<` key.
        var children = 0
        var mergeValue = false
    }

    /// The first limit `text` exceeds, or nil. Syntax errors are not reported here (nil): the
    /// composer reports them with its own message.
    static func check(_ text: String, limits: YAMLLimits) -> Violation? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer -> Violation? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return walk(&parser, limits: limits)
        }
    }

    private static func walk(_ parser: inout yaml_parser_t, limits: YAMLLimits) -> Violation? {
        var anchors: [String: Size] = [:]
        var stack: [Frame] = []
        var aliases = 0
        var merged = 0
        var event = yaml_event_t()

        func violation(_ event: yaml_event_t, _ message: String) -> Violation {
            Violation(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1, message: message)
        }
        func anchorName(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
        /// Adds a finished node to its parent; a violation when a limit is passed.
        func add(_ size: Size, at event: yaml_event_t, isKey: Bool = false, keyText: String? = nil) -> Violation? {
            if stack.count + size.depth > limits.maxDepth {
                return violation(event, "nests \(stack.count + size.depth) levels deep with aliases expanded (limit \(limits.maxDepth))")
            }
            guard var parent = stack.popLast() else {
                if size.nodes > limits.maxNodes {
                    return violation(event, "expands to more than \(limits.maxNodes) nodes (limit \(limits.maxNodes))")
                }
                return nil
            }
            defer { stack.append(parent) }
            parent.nodes = min(parent.nodes + size.nodes, limits.maxNodes + 1)
            parent.childDepth = max(parent.childDepth, size.depth)
            if parent.isMapping {
                if parent.children % 2 == 1 && parent.mergeValue {
                    merged = min(merged + size.nodes, limits.maxMergedNodes + 1)
                    if merged > limits.maxMergedNodes {
                        return violation(event, "merge keys (<<) pull in more than \(limits.maxMergedNodes) nodes (limit \(limits.maxMergedNodes))")
                    }
                }
                parent.mergeValue = parent.children % 2 == 0 && keyText == "<<"
                parent.children += 1
            }
            // The whole document so far: this frame plus every open one below it.
            let total = stack.reduce(parent.nodes) { min($0 + $1.nodes, limits.maxNodes + 1) }
            if total > limits.maxNodes {
                return violation(event, "expands to more than \(limits.maxNodes) nodes with aliases expanded (limit \(limits.maxNodes))")
            }
            return nil
        }

        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]
                stack = []
                aliases = 0
                merged = 0
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let size = Size(nodes: 1, depth: 1)
                if let anchor = anchorName(scalar.anchor) { anchors[anchor] = size }
                var keyText: String?
                if scalar.length == 2, scalar.plain_implicit != 0, let value = scalar.value,
                   value[0] == UInt8(ascii: "<"), value[1] == UInt8(ascii: "<") {
                    keyText = "<<"
                }
                if let found = add(size, at: event, keyText: keyText) { return found }
            case YAML_ALIAS_EVENT:
                aliases += 1
                if aliases > limits.maxAliases {
                    return violation(event, "more than \(limits.maxAliases) aliases in one document (limit \(limits.maxAliases))")
                }
                let size = anchorName(event.data.alias.anchor).flatMap { anchors[$0] } ?? Size(nodes: 1, depth: 1)
                if let found = add(size, at: event) { return found }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                if stack.count + 1 > limits.maxDepth {
                    return violation(event, "nests more than \(limits.maxDepth) levels deep (limit \(limits.maxDepth))")
                }
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = anchorName(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                stack.append(Frame(anchor: anchor, isMapping: isMapping))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { return nil }
                let size = Size(nodes: frame.nodes, depth: frame.childDepth + 1)
                if let anchor = frame.anchor { anchors[anchor] = size }
                if let found = add(size, at: event) { return found }
            default:
                break
            }
        }
    }
}
