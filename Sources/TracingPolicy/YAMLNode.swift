// SPDX-License-Identifier: Apache-2.0

import Foundation
import Yams

/// A YAML node with its source position, independent of Yams (and `Sendable`).
///
/// Plain scalars are resolved with YAML 1.1 rules (as Kubernetes' YAML reader
/// does): `true`/`yes`/`on` are booleans, `12`/`0x1f`/`017` integers, `~`/`null`
/// and empty values null. Quoted and block scalars are always strings.
package struct YAMLNode: Sendable, Hashable {
    /// The resolved kind of a scalar.
    package enum ScalarKind: Sendable, Hashable {
        case null, bool, int, float, string
    }

    /// A mapping entry.
    package struct Pair: Sendable, Hashable {
        /// The key node (a scalar in policies).
        package var key: YAMLNode
        /// The value node.
        package var value: YAMLNode
    }

    /// The node's content.
    package enum Content: Sendable, Hashable {
        /// A scalar: its text exactly as written (after unquoting) and its resolved kind.
        case scalar(String, ScalarKind)
        /// A sequence.
        case sequence([YAMLNode])
        /// A mapping, in document order.
        case mapping([Pair])
    }

    /// The node's content.
    package var content: Content
    /// Where the node starts.
    package var location: SourceLocation

    /// Creates a node.
    package init(_ content: Content, location: SourceLocation) {
        self.content = content
        self.location = location
    }

    /// True for a null scalar (`~`, `null`, or an empty value).
    package var isNull: Bool {
        if case .scalar(_, .null) = content { return true }
        return false
    }

    /// The scalar text, if the node is a scalar.
    package var scalarText: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// How the node is described in type errors: `a list`, `the string "x"`, ...
    var kindDescription: String {
        switch content {
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let text, let kind):
            switch kind {
            case .null: return "null"
            case .bool: return "the boolean \(text)"
            case .int: return "the integer \(text)"
            case .float: return "the number \(text)"
            case .string: return "the string \(quoted(text))"
            }
        }
    }
}

/// Quotes a value for messages, escaping control characters.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\0": out += "\\0"
        default:
            if scalar.value < 0x20 {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// Splits YAML text into documents and composes each into a ``YAMLNode``.
enum YAMLReader {
    /// One document of a stream: its root (nil when empty) and its index.
    struct Document {
        var root: YAMLNode
        var index: Int
    }

    /// Reads all documents of `text`. A syntax error inside one document is
    /// reported and only that document is lost: the stream is cut at `---` lines
    /// (which YAML forbids inside any scalar) and each piece is parsed on its own.
    static func documents(
        in text: String, file: String, limits: YAMLLimits = .standard
    ) -> (documents: [Document], errors: [ValidationError]) {
        var documents: [Document] = []
        var errors: [ValidationError] = []
        var index = 0
        for chunk in split(text) {
            // Bounds first, on libyaml's events: composing (Yams) and converting an input that
            // expands past them would take the stack, the time or the memory.
            if let exceeded = YAMLBounds.check(chunk.text, limits: limits) {
                errors.append(ValidationError(
                    location: SourceLocation(file: file, line: exceeded.line + chunk.lineOffset, column: exceeded.column),
                    path: "", message: "YAML refused: \(exceeded.message)"))
                index += 1
                continue
            }
            let parser: Parser
            do {
                parser = try Parser(yaml: chunk.text)
            } catch {
                errors.append(syntaxError(error, file: file, lineOffset: chunk.lineOffset, text: chunk.text))
                continue
            }
            while true {
                do {
                    guard let root = try parser.nextRoot() else { break }
                    let node = convert(root, file: file, lineOffset: chunk.lineOffset)
                    if !node.isNull {
                        documents.append(Document(root: node, index: index))
                    }
                    index += 1
                } catch {
                    errors.append(syntaxError(error, file: file, lineOffset: chunk.lineOffset, text: chunk.text))
                    index += 1
                    break
                }
            }
        }
        return (documents, errors)
    }

    /// A piece of the stream starting at a `---` line (or the start of the text).
    struct Chunk {
        var text: String
        /// Lines before the chunk (added to the chunk's 1-based line numbers).
        var lineOffset: Int
    }

    /// Cuts the stream before every `---` document marker at column 1.
    static func split(_ input: String) -> [Chunk] {
        var text = input
        if text.unicodeScalars.first == "\u{FEFF}" {
            text.unicodeScalars.removeFirst()
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var chunks: [Chunk] = []
        var start = 0
        var hasContent = false
        for (number, line) in lines.enumerated() {
            if isDocumentStart(line), number > start, hasContent {
                chunks.append(Chunk(text: lines[start..<number].joined(separator: "\n"), lineOffset: start))
                start = number
                hasContent = false
            }
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if !trimmed.isEmpty, !trimmed.hasPrefix("#"), !trimmed.hasPrefix("%"), !isDocumentStart(line) {
                hasContent = true
            } else if isDocumentStart(line), line.count > 3 {
                // `--- value` or `--- |` carries content on the marker line itself.
                let rest = line.dropFirst(3).drop { $0 == " " || $0 == "\t" || $0 == "\r" }
                if !rest.isEmpty, !rest.hasPrefix("#") { hasContent = true }
            }
        }
        if start < lines.count {
            chunks.append(Chunk(text: lines[start...].joined(separator: "\n"), lineOffset: start))
        }
        return chunks
    }

    private static func isDocumentStart(_ line: Substring) -> Bool {
        guard line.hasPrefix("---") else { return false }
        let rest = line.dropFirst(3)
        guard let next = rest.first else { return true }
        return next == " " || next == "\t" || next == "\r"
    }

    /// Converts a Yams node (positions shifted by `lineOffset` lines).
    static func convert(_ node: Node, file: String, lineOffset: Int) -> YAMLNode {
        let location = node.mark.map {
            SourceLocation(file: file, line: $0.line + lineOffset, column: $0.column)
        } ?? SourceLocation(file: file, line: lineOffset + 1, column: 1)
        switch node {
        case .scalar(let scalar):
            return YAMLNode(.scalar(scalar.string, scalarKind(node, scalar)), location: location)
        case .sequence(let sequence):
            return YAMLNode(.sequence(sequence.map { convert($0, file: file, lineOffset: lineOffset) }), location: location)
        case .mapping(let mapping):
            var pairs: [YAMLNode.Pair] = []
            var merged: [YAMLNode.Pair] = []
            for (key, value) in mapping {
                let keyNode = convert(key, file: file, lineOffset: lineOffset)
                let valueNode = convert(value, file: file, lineOffset: lineOffset)
                if case .scalar(let scalar) = key, scalar.style == .plain || scalar.style == .any,
                   scalar.string == "<<" {
                    // YAML merge key: pull in the entries of the referenced mapping(s).
                    switch valueNode.content {
                    case .mapping(let entries):
                        merged += entries
                    case .sequence(let items):
                        for item in items { if case .mapping(let entries) = item.content { merged += entries } }
                    case .scalar:
                        pairs.append(YAMLNode.Pair(key: keyNode, value: valueNode))
                    }
                    continue
                }
                pairs.append(YAMLNode.Pair(key: keyNode, value: valueNode))
            }
            let explicit = Set(pairs.compactMap(\.key.scalarText))
            var seen = explicit
            for pair in merged {
                if let key = pair.key.scalarText, seen.insert(key).inserted {
                    pairs.append(pair)
                }
            }
            return YAMLNode(.mapping(pairs), location: location)
        case .alias:
            return YAMLNode(.scalar("", .null), location: location)
        }
    }

    private static func scalarKind(_ node: Node, _ scalar: Node.Scalar) -> YAMLNode.ScalarKind {
        switch scalar.style {
        case .singleQuoted, .doubleQuoted, .literal, .folded:
            return .string
        case .plain, .any:
            break
        }
        switch node.tag.rawValue {
        case Tag.Name.null.rawValue: return .null
        case Tag.Name.bool.rawValue: return .bool
        case Tag.Name.int.rawValue: return .int
        case Tag.Name.float.rawValue: return .float
        default: return .string
        }
    }

    /// Turns a Yams error into a positioned report.
    static func syntaxError(_ error: any Error, file: String, lineOffset: Int, text: String) -> ValidationError {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: mark.line + lineOffset, column: mark.column)
        }
        func contextSuffix(_ context: YamlError.Context?) -> String {
            guard let context, !context.text.isEmpty else { return "" }
            return " (\(context.text) at line \(context.mark.line + lineOffset), column \(context.mark.column))"
        }
        guard let yamlError = error as? YamlError else {
            return ValidationError(location: SourceLocation(file: file, line: lineOffset + 1, column: 1), path: "",
                                   message: "invalid YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return ValidationError(location: at(mark), path: "",
                                   message: "invalid YAML: \(problem)\(contextSuffix(context))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map(quoted).joined(separator: ", ")
            let noun = duplicates.count == 1 ? "key" : "keys"
            return ValidationError(location: at(context.mark), path: "",
                                   message: "invalid YAML: duplicate \(noun) \(keys) in one mapping")
        case .reader(let problem, let offset, _, _):
            var line = 1
            var column = 1
            if let offset {
                for character in text.prefix(offset) {
                    if character == "\n" { line += 1; column = 1 } else { column += 1 }
                }
            }
            return ValidationError(location: SourceLocation(file: file, line: line + lineOffset, column: column),
                                   path: "", message: "invalid YAML: \(problem)")
        default:
            return ValidationError(location: SourceLocation(file: file, line: lineOffset + 1, column: 1), path: "",
                                   message: "invalid YAML: \(yamlError)")
        }
    }
}
