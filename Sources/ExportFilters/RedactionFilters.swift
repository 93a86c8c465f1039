// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation

/// `--redaction-filters`: Tetragon's `RedactionFilter` lines,
/// `{"redact":["--password(?:\\s+|=)(\\S*)"],"binary_regex":["(?:^|/)mysql$"]}`. For every
/// match of a `redact` expression in a process's `arguments` text, each capture group's text is
/// replaced by `*****` (the rest of the match stays); no capture group, nothing replaced.
/// `binary_regex` (any of them) limits a line to the processes whose binary matches. Lines
/// apply in order, each to the previous one's result.
///
/// Applied once per process, where the process cache makes its entry: the redacted text is the
/// only one kept, so every event naming the process (as `process`, `parent` or in `ancestors`)
/// and every sink, the control API's event stream included, carries it. Vigil exports no
/// environment variables, Tetragon's other redacted field.
package struct RedactionFilters: Sendable {
    struct Line: Sendable {
        var redact: [FilterRegex]
        var binaries: FilterRegex?
    }
    let lines: [Line]

    package static let replacement = "*****"

    /// - Throws: ``FilterError`` naming the line and field of the first mistake.
    package init(_ text: String) throws(FilterError) {
        let parser = FilterLines(flag: "--redaction-filters")
        var lines: [Line] = []
        for (line, object) in try parser.objects(text) {
            if object["match"] != nil {
                throw parser.error(line, "match", "refused: Tetragon's deprecated match is not supported; use binary_regex")
            }
            try parser.checkKeys(object, line: line, known: ["redact", "binary_regex"])
            let patterns = try parser.strings(object, "redact", line: line) ?? []
            guard !patterns.isEmpty else {
                throw parser.error(line, "redact", "needs at least one regular expression")
            }
            var redact: [FilterRegex] = []
            for (i, pattern) in patterns.enumerated() {
                do {
                    redact.append(try FilterRegex(pattern))
                } catch {
                    throw parser.error(line, "redact[\(i)]", "invalid regular expression \"\(pattern)\"")
                }
            }
            let binaries = try parser.regex(parser.strings(object, "binary_regex", line: line), "binary_regex", line: line)
            lines.append(Line(redact: redact, binaries: binaries))
        }
        self.lines = lines
    }

    package var isEmpty: Bool { lines.isEmpty }

    /// The `arguments` text of a process with `binary` and `arguments` after redaction, or nil
    /// when no line changed it.
    package func redact(binary: [UInt8], arguments: [[UInt8]]) -> [UInt8]? {
        guard !arguments.isEmpty else { return nil }
        var text: String?
        var changed = false
        var binaryText: String?
        for line in lines {
            if let binaries = line.binaries {
                if binaryText == nil { binaryText = String(decoding: binary, as: UTF8.self) }
                guard binaries.matches(binaryText!) else { continue }
            }
            if text == nil { text = String(decoding: ArgumentsText.join(arguments), as: UTF8.self) }
            for regex in line.redact {
                if let replaced = Self.redact(text!, with: regex.expression) {
                    text = replaced
                    changed = true
                }
            }
        }
        guard changed, let text else { return nil }
        return Array(text.utf8)
    }

    /// `text` with the capture groups of every match of `expression` replaced, nil when nothing
    /// was (Tetragon's `redactString`: groups in order, a group nested in one already replaced
    /// skipped, a group that took no part left alone).
    static func redact(_ text: String, with expression: NSRegularExpression) -> String? {
        let source = text as NSString
        let matches = expression.matches(in: text, range: NSRange(location: 0, length: source.length))
        guard expression.numberOfCaptureGroups > 0, !matches.isEmpty else { return nil }
        var out = ""
        var position = 0
        var modified = false
        for match in matches {
            for group in 1..<match.numberOfRanges {
                let range = match.range(at: group)
                if range.location == NSNotFound || range.location < position { continue }
                out += source.substring(with: NSRange(location: position, length: range.location - position))
                out += replacement
                position = range.location + range.length
                modified = true
            }
        }
        guard modified else { return nil }
        out += source.substring(from: position)
        return out
    }
}

