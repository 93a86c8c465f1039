// SPDX-License-Identifier: Apache-2.0

/// A position in a policy file, as editors show it: 1-based line and column.
///
/// A `line` of 0 means "the whole file" (for example an unreadable file); such a
/// location prints as just the file name.
package struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The file name the policy was read from (as given to the parser).
    package var file: String
    /// 1-based line number; 0 when the location refers to the whole file.
    package var line: Int
    /// 1-based column number, counted in Unicode scalars.
    package var column: Int

    /// Creates a location.
    package init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// A location that refers to a whole file rather than a position in it.
    package static func wholeFile(_ file: String) -> SourceLocation {
        SourceLocation(file: file, line: 0, column: 0)
    }

    /// `file:line:column`, or just `file` for a whole-file location.
    package var description: String {
        line == 0 ? file : "\(file):\(line):\(column)"
    }

    /// Orders by file, then line, then column.
    package static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// A path to a field inside a policy document, such as
/// `spec.tracepoints[0].selectors[1].matchArgs[0].values[2]`.
///
/// Build paths with the subscripts: `path["selectors"][1]["matchArgs"]`.
package struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    /// One step of a path.
    package enum Component: Sendable, Hashable {
        /// A mapping key.
        case key(String)
        /// A list position (0-based).
        case index(Int)
    }

    /// The steps from the document root.
    package private(set) var components: [Component]

    /// Creates a path from its steps.
    package init(_ components: [Component] = []) {
        self.components = components
    }

    /// The empty path (the document root).
    package static let root = FieldPath()

    /// The path of the mapping key `key` below this path.
    package subscript(_ key: String) -> FieldPath {
        FieldPath(components + [.key(key)])
    }

    /// The path of the list element at `index` below this path.
    package subscript(_ index: Int) -> FieldPath {
        FieldPath(components + [.index(index)])
    }

    /// The last mapping key of the path, if the path ends in a key.
    package var lastKey: String? {
        if case .key(let key)? = components.last { return key }
        return nil
    }

    /// Renders the path: keys joined with `.`, indices as `[n]`; keys that are not
    /// plain identifiers (label keys like `app.kubernetes.io/name`) as `[key]`.
    package var description: String {
        var out = ""
        for component in components {
            switch component {
            case .index(let index):
                out += "[\(index)]"
            case .key(let key):
                if FieldPath.isPlainKey(key) {
                    if !out.isEmpty { out += "." }
                    out += key
                } else {
                    out += "[\(key)]"
                }
            }
        }
        return out
    }

    private static func isPlainKey(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else {
            return false
        }
        return key.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-"
        }
    }
}

/// One problem found in a policy: where, which field, and why.
///
/// Used for both errors (the document is refused) and warnings (the document
/// loads, but something in it is ignored or suspicious).
package struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    package var location: SourceLocation
    /// The field path, e.g. `spec.kprobes[0].selectors[1].matchArgs[0].operator`;
    /// empty for problems that are not about one field (YAML syntax errors).
    package var path: String
    /// What is wrong, in words.
    package var message: String

    /// Creates a problem report.
    package init(location: SourceLocation, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    /// `file:line:column: path: message` (the path part is left out when empty).
    package var description: String {
        path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// The value locations of the fields of one model node, keyed by YAML key.
package struct FieldLocations: Sendable, Hashable {
    /// Key -> location of the key's value.
    package var byKey: [String: SourceLocation]

    /// Creates a table.
    package init(_ byKey: [String: SourceLocation] = [:]) {
        self.byKey = byKey
    }

    /// The location of `key`'s value, if the key was written.
    package subscript(_ key: String) -> SourceLocation? {
        byKey[key]
    }
}

/// A model node that remembers where it came from, so later stages can report
/// problems at the right place.
package protocol PolicyNode: Sendable, Hashable {
    /// Where the node starts (for a mapping: its first key).
    var location: SourceLocation { get }
    /// The node's field path.
    var path: FieldPath { get }
    /// Where each of its fields' values were written.
    var fieldLocations: FieldLocations { get }
}

extension PolicyNode {
    /// The location of `key`'s value, or of the node when the key was not written.
    package func location(of key: String) -> SourceLocation {
        fieldLocations[key] ?? location
    }

    /// A problem report about field `key` of this node (or about the node itself
    /// when `key` is nil).
    package func problem(_ message: String, at key: String? = nil) -> ValidationError {
        if let key {
            return ValidationError(location: location(of: key), path: path[key].description, message: message)
        }
        return ValidationError(location: location, path: path.description, message: message)
    }
}
