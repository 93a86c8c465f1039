// SPDX-License-Identifier: Apache-2.0

import Foundation

/// The outcome of reading policy text, a file or a directory.
package struct PolicyParseResult: Sendable, Hashable {
    /// The documents without errors, in file and document order.
    package var documents: [TracingPolicyDocument] = []
    /// Problems that made a document (or a whole file) refused, sorted by position.
    package var errors: [ValidationError] = []
    /// Problems that did not stop a document from loading, sorted by position.
    package var warnings: [ValidationError] = []

    /// Creates an empty result.
    package init() {}

    /// True when nothing was refused.
    package var isValid: Bool { errors.isEmpty }

    /// Appends another result (for several files).
    package mutating func append(_ other: PolicyParseResult) {
        documents += other.documents
        errors += other.errors
        warnings += other.warnings
    }
}

/// Reads Tetragon TracingPolicy YAML into the typed model, reporting every
/// problem at `file:line:column` with the field path.
///
/// Each YAML document is one policy. A document with errors is refused on its
/// own: the other documents of the same file, and other files, still load.
package enum PolicyParser {
    /// Parses policy text; `file` is only used in locations. Text past `limits` (size, and what
    /// its aliases expand to) is refused at the position where the limit is passed.
    package static func parse(yaml: String, file: String, limits: YAMLLimits = .standard) -> PolicyParseResult {
        var result = PolicyParseResult()
        let size = yaml.utf8.count
        if size > limits.maxBytes {
            result.errors = [ValidationError(
                location: SourceLocation(file: file, line: 1, column: 1), path: "",
                message: "policy text of \(size) bytes refused (limit \(limits.maxBytes) bytes)")]
            return result
        }
        let (documents, syntaxErrors) = YAMLReader.documents(in: yaml, file: file, limits: limits)
        result.errors = syntaxErrors
        for document in documents {
            let context = DecodeContext()
            let decoder = PolicyDecoder(context: context)
            if let policy = decoder.document(document.root, index: document.index), context.errors.isEmpty {
                result.documents.append(policy)
            }
            result.errors += context.errors
            result.warnings += context.warnings
        }
        result.errors = sortedByPosition(result.errors)
        result.warnings = sortedByPosition(result.warnings)
        return result
    }

    /// Parses policy bytes (an API body, a fuzzer's input): refused at the first byte that is not
    /// UTF-8, otherwise as ``parse(yaml:file:limits:)``.
    package static func parse(bytes: [UInt8], file: String, limits: YAMLLimits = .standard) -> PolicyParseResult {
        switch PolicyText.decode(bytes, file: file) {
        case .text(let text):
            return parse(yaml: text, file: file, limits: limits)
        case .refused(let error):
            var result = PolicyParseResult()
            result.errors = [error]
            return result
        }
    }

    /// Reads and parses one file; an unreadable file is an error at the file, and so is one
    /// that `trust` refuses (the agent passes ``PolicyFileTrust/agent``; `root` is the policy
    /// directory the file came from).
    package static func parse(fileAt path: String, trust: PolicyFileTrust? = nil, root: String? = nil) -> PolicyParseResult {
        if let refusal = trust?.validationError(file: path, root: root) {
            var result = PolicyParseResult()
            result.errors = [refusal]
            return result
        }
        switch PolicyText.read(path, maxBytes: YAMLLimits.standard.maxBytes) {
        case .text(let text):
            return parse(yaml: text, file: path)
        case .refused(let error):
            var result = PolicyParseResult()
            result.errors = [error]
            return result
        }
    }

    /// Reads every `*.yaml` / `*.yml` file of a directory and of its immediate
    /// sub-directories (like Tetragon's `--tracing-policy-dir`), sorted by their
    /// path relative to `path`. Hidden entries (`.x`, including Kubernetes
    /// ConfigMap `..data` links) are skipped. With `trust`, each file is checked first
    /// (``PolicyFileTrust``) and a refused one is an error at that file.
    package static func loadDirectory(_ path: String, trust: PolicyFileTrust? = nil) -> PolicyParseResult {
        var result = PolicyParseResult()
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            result.errors = [ValidationError(location: .wholeFile(path), path: "",
                                             message: "cannot read policy directory: not a directory")]
            return result
        }
        let base = URL(fileURLWithPath: path)
        var files: [String] = []
        func entries(_ relative: String) -> [String]? {
            let url = relative.isEmpty ? base : base.appendingPathComponent(relative)
            do {
                return try manager.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }
            } catch {
                result.errors.append(ValidationError(location: .wholeFile(url.path), path: "",
                                                     message: "cannot read policy directory: \(describe(error))"))
                return nil
            }
        }
        func isPolicyFile(_ name: String) -> Bool {
            name.hasSuffix(".yaml") || name.hasSuffix(".yml")
        }
        for name in entries("") ?? [] {
            var entryIsDirectory: ObjCBool = false
            guard manager.fileExists(atPath: base.appendingPathComponent(name).path, isDirectory: &entryIsDirectory)
            else { continue }
            if entryIsDirectory.boolValue {
                for child in entries(name) ?? [] where isPolicyFile(child) {
                    var childIsDirectory: ObjCBool = false
                    let childPath = base.appendingPathComponent(name).appendingPathComponent(child).path
                    if manager.fileExists(atPath: childPath, isDirectory: &childIsDirectory),
                       !childIsDirectory.boolValue {
                        files.append(name + "/" + child)
                    }
                }
            } else if isPolicyFile(name) {
                files.append(name)
            }
        }
        for relative in files.sorted() {
            result.append(parse(fileAt: base.appendingPathComponent(relative).path, trust: trust, root: base.path))
        }
        return result
    }

    private static func sortedByPosition(_ problems: [ValidationError]) -> [ValidationError] {
        problems.enumerated().sorted {
            ($0.element.location, $0.offset) < ($1.element.location, $1.offset)
        }.map(\.element)
    }

    private static func describe(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError, let underlying = cocoa.underlying as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        return (error as NSError).localizedDescription
    }
}
