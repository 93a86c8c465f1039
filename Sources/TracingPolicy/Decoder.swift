// SPDX-License-Identifier: Apache-2.0

/// Collects the problems of one document while it is decoded.
final class DecodeContext {
    private(set) var errors: [ValidationError] = []
    private(set) var warnings: [ValidationError] = []

    func error(_ location: SourceLocation, _ path: FieldPath, _ message: String) {
        errors.append(ValidationError(location: location, path: path.description, message: message))
    }

    func warning(_ location: SourceLocation, _ path: FieldPath, _ message: String) {
        warnings.append(ValidationError(location: location, path: path.description, message: message))
    }

    func error(_ problem: ValidationError) { errors.append(problem) }
    func warning(_ problem: ValidationError) { warnings.append(problem) }

    /// Reports a wrong YAML type.
    func typeMismatch(_ node: YAMLNode, _ path: FieldPath, expected: String) {
        var message = "expected \(expected), got \(node.kindDescription)"
        if case .scalar(_, .string) = node.content, expected.hasPrefix("a boolean") || expected.hasPrefix("an integer"),
           YAMLReader.resolvesAs(node.scalarText ?? "", expected: expected) {
            message += " (remove the quotes)"
        }
        error(node.location, path, message)
    }
}

extension YAMLReader {
    /// Whether quoted `text` would have been the expected kind without quotes.
    static func resolvesAs(_ text: String, expected: String) -> Bool {
        if expected.hasPrefix("a boolean") {
            return ["true", "false", "True", "False", "TRUE", "FALSE"].contains(text)
        }
        return PolicyValues.integer(text) != nil
    }
}

/// A string scalar with its position.
struct LocatedString {
    var value: String
    var location: SourceLocation
}

/// Reads the fields of one YAML mapping: checks the node is a mapping, reports
/// unknown keys (with a suggestion and the allowed keys), and offers typed
/// accessors that report wrong types at the value's position.
struct Fields {
    let context: DecodeContext
    let node: YAMLNode
    let path: FieldPath
    private(set) var entries: [String: YAMLNode.Pair] = [:]

    /// nil (after reporting) when `node` is not a mapping. Null counts as an empty mapping.
    init?(_ node: YAMLNode, _ path: FieldPath, _ context: DecodeContext, allowed: [String], what: String = "a mapping") {
        self.context = context
        self.node = node
        self.path = path
        let pairs: [YAMLNode.Pair]
        switch node.content {
        case .mapping(let list):
            pairs = list
        case .scalar(_, .null):
            pairs = []
        default:
            context.typeMismatch(node, path, expected: what)
            return nil
        }
        for pair in pairs {
            guard let key = pair.key.scalarText, case .scalar = pair.key.content else {
                context.error(pair.key.location, path, "mapping keys must be strings, got \(pair.key.kindDescription)")
                continue
            }
            if allowed.contains(key) {
                entries[key] = pair
            } else {
                let hint = Suggestions.didYouMean(key, among: allowed)
                context.error(pair.key.location, path[key],
                              "unknown field \(quoted(key))\(hint); allowed fields: \(allowed.joined(separator: ", "))")
            }
        }
    }

    /// Where the mapping starts.
    var location: SourceLocation { node.location }

    /// The value locations of all written keys.
    var fieldLocations: FieldLocations {
        FieldLocations(entries.mapValues(\.value.location))
    }

    /// Whether `key` was written (even as null).
    func has(_ key: String) -> Bool { entries[key] != nil }

    /// The value of `key`, nil when absent or null.
    func value(_ key: String) -> YAMLNode? {
        guard let value = entries[key]?.value, !value.isNull else { return nil }
        return value
    }

    /// Where `key`'s value is, or the mapping when it is absent.
    func location(_ key: String) -> SourceLocation {
        entries[key]?.value.location ?? node.location
    }

    /// Where `key` itself is written, or the mapping when it is absent.
    func keyLocation(_ key: String) -> SourceLocation {
        entries[key]?.key.location ?? node.location
    }

    func missing(_ key: String) {
        context.error(node.location, path[key], "missing required field \(quoted(key))")
    }

    /// A scalar read as text (numbers and booleans keep their spelling, as
    /// Kubernetes does for string fields).
    func string(_ key: String, required: Bool = false) -> String? {
        guard let value = value(key) else {
            if required { missing(key) }
            return nil
        }
        guard let text = value.scalarText else {
            context.typeMismatch(value, path[key], expected: "a string")
            return nil
        }
        if required, text.isEmpty {
            context.error(value.location, path[key], "\(quoted(key)) must not be empty")
            return nil
        }
        return text
    }

    /// A boolean scalar.
    func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .scalar(let text, .bool) = value.content else {
            context.typeMismatch(value, path[key], expected: "a boolean (true or false)")
            return nil
        }
        return ["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"].contains(text)
    }

    /// An integer scalar within `T`'s range.
    func integer<T: FixedWidthInteger>(_ key: String, _ type: T.Type, required: Bool = false) -> T? {
        guard let value = value(key) else {
            if required { missing(key) }
            return nil
        }
        return Fields.integer(value, path[key], type, context)
    }

    static func integer<T: FixedWidthInteger>(_ value: YAMLNode, _ path: FieldPath, _ type: T.Type,
                                              _ context: DecodeContext) -> T? {
        guard case .scalar(let text, .int) = value.content, let number = PolicyValues.integer(text) else {
            context.typeMismatch(value, path, expected: "an integer")
            return nil
        }
        guard let result = T(exactly: number) else {
            context.error(value.location, path,
                          "\(text) is out of range (\(T.min)...\(T.max))")
            return nil
        }
        return result
    }

    /// A list; each element is handed to `element` with its path. Null is an empty list.
    func list<T>(_ key: String, required: Bool = false, _ element: (YAMLNode, FieldPath) -> T?) -> [T]? {
        guard let value = value(key) else {
            if required { missing(key) }
            return nil
        }
        guard case .sequence(let items) = value.content else {
            context.typeMismatch(value, path[key], expected: "a list")
            return nil
        }
        return items.enumerated().compactMap { element($0.element, path[key][$0.offset]) }
    }

    /// The number of items written under `key` (0 when absent or not a list).
    func count(_ key: String) -> Int {
        if case .sequence(let items)? = value(key)?.content { return items.count }
        return 0
    }

    /// A list of scalars read as text.
    func strings(_ key: String, required: Bool = false) -> [LocatedString]? {
        list(key, required: required) { item, itemPath in
            guard let text = item.scalarText, !item.isNull else {
                context.typeMismatch(item, itemPath, expected: "a string")
                return nil
            }
            return LocatedString(value: text, location: item.location)
        }
    }

    /// A mapping of strings to strings (labels, annotations).
    func stringMap(_ key: String) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard case .mapping(let pairs) = value.content else {
            context.typeMismatch(value, path[key], expected: "a mapping of strings")
            return nil
        }
        var out: [String: String] = [:]
        for pair in pairs {
            guard let name = pair.key.scalarText else {
                context.error(pair.key.location, path[key], "keys must be strings")
                continue
            }
            guard let text = pair.value.scalarText, !pair.value.isNull else {
                context.typeMismatch(pair.value, path[key][name], expected: "a string")
                continue
            }
            out[name] = text
        }
        return out
    }
}
