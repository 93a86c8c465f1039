// SPDX-License-Identifier: Apache-2.0

/// Parsing the C declarations of tracepoint format fields (`const char * filename`,
/// `unsigned long args[6]`, `__data_loc char[] filename`, ...).
///
/// This is not a C parser: format files only hold one declarator per field, built by the kernel's
/// `TRACE_EVENT` macros from a type and a name. The declaration is tokenised, noise is dropped
/// (`__attribute__((...))` which kernels 5.16+ may emit, and the sparse annotations `__user`,
/// `__rcu`, `__iomem`, `__percpu`, `__force`, `__seg_gs`, `__seg_fs`, plus `volatile`/`restrict`),
/// the last identifier is the name, a trailing `[n]` on it makes an array, and a last `*` in the
/// type makes a pointer.
enum CDeclaration {
    /// The result: field name and type.
    struct Parsed: Hashable {
        var name: String
        var type: FieldType
    }

    private enum ArraySuffix {
        case none, flexible, fixed(Int), unknown(String)
    }

    /// Tokens carrying no type information.
    static let noiseTokens: Set<String> = [
        "__user", "__rcu", "__iomem", "__percpu", "__force", "__kernel", "__seg_gs", "__seg_fs",
        "volatile", "restrict", "__restrict", "__restrict__", "__bitwise", "__aligned",
    ]

    /// Parses `declaration` of a field whose format line says `size`/`signed`.
    static func parse(_ declaration: String, fieldSize: Int, fieldSigned: Bool) -> Parsed {
        var tokens = tokenize(stripAttributes(declaration))
        guard !tokens.isEmpty else { return Parsed(name: "", type: .other(declaration)) }

        // The name: the last token, possibly carrying `[n]`. A declaration that is only a type
        // (no name) is not produced by the kernel; treat the whole thing as unsupported.
        var nameToken = tokens.removeLast()
        var suffix = ArraySuffix.none
        if let open = nameToken.firstIndex(of: "["), nameToken.hasSuffix("]") {
            let inner = String(nameToken[nameToken.index(after: open)..<nameToken.index(before: nameToken.endIndex)])
                .filter { $0 != " " }
            if inner.isEmpty {
                suffix = .flexible
            } else if let n = Int(inner), n >= 0 {
                suffix = .fixed(n)
            } else {
                suffix = .unknown(inner)   // `[SOME_MACRO]` that was not expanded
            }
            nameToken = String(nameToken[..<open])
        }
        let name = nameToken
        guard isIdentifier(name), !tokens.isEmpty else {
            return Parsed(name: name, type: .other(declaration))
        }

        // __data_loc / __rel_loc: `__data_loc char[] name`, `__data_loc cpumask_t name`.
        if tokens[0] == "__data_loc" || tokens[0] == "__rel_loc" {
            var element = normalized(Array(tokens.dropFirst()))
            if element.hasSuffix("[]") { element = String(element.dropLast(2)).trimmingSpaces() }
            return Parsed(name: name, type: tokens[0] == "__data_loc" ? .dataLoc(element: element) : .relLoc(element: element))
        }

        switch suffix {
        case .none:
            break
        case .flexible:
            return Parsed(name: name, type: .array(element: normalized(tokens), count: 0, elementSize: 0))
        case .fixed(let count):
            let elementSize = count > 0 && fieldSize % count == 0 ? fieldSize / count : 0
            return Parsed(name: name, type: .array(element: normalized(tokens), count: count, elementSize: elementSize))
        case .unknown(let text):
            return Parsed(name: name, type: .other(normalized(tokens) + "[" + text + "]"))
        }

        // Pointer: the last type token is `*`, or `*` followed only by `const` (`T *const name`).
        var typeTokens = tokens
        while typeTokens.last == "const" { typeTokens.removeLast() }
        if typeTokens.last == "*" {
            typeTokens.removeLast()
            return Parsed(name: name, type: .pointer(pointee: normalized(typeTokens)))
        }

        // Scalar.
        let base = typeTokens.filter { $0 != "const" }
        if base.first == "struct" || base.first == "union" || base.contains("*") {
            return Parsed(name: name, type: .other(normalized(tokens)))
        }
        if [1, 2, 4, 8].contains(fieldSize) {
            return Parsed(name: name, type: .integer(size: fieldSize, signed: fieldSigned, cType: normalized(base)))
        }
        return Parsed(name: name, type: .other(normalized(tokens)))
    }

    /// Whether `type` (e.g. `const char`, `unsigned char`) is a character type.
    static func isCharType(_ type: String) -> Bool {
        let base = type.split(separator: " ").filter { $0 != "const" && $0 != "volatile" }
        return base == ["char"] || base == ["unsigned", "char"] || base == ["signed", "char"]
    }

    /// Removes every `__attribute__((...))`, matching parentheses.
    static func stripAttributes(_ s: String) -> String {
        guard s.contains("__attribute__") else { return s }
        var out = ""
        var rest = Substring(s)
        while let r = rest.firstRange(of: "__attribute__") {
            out += rest[..<r.lowerBound]
            var i = r.upperBound
            while i < rest.endIndex, rest[i] == " " { i = rest.index(after: i) }
            if i < rest.endIndex, rest[i] == "(" {
                var depth = 0
                while i < rest.endIndex {
                    if rest[i] == "(" { depth += 1 }
                    if rest[i] == ")" {
                        depth -= 1
                        if depth == 0 { i = rest.index(after: i); break }
                    }
                    i = rest.index(after: i)
                }
            }
            out += " "
            rest = rest[i...]
        }
        out += rest
        return out
    }

    /// Splits on whitespace and around `*`; drops noise tokens. `char[]` stays one token.
    static func tokenize(_ s: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        func flush() {
            if !current.isEmpty {
                if !noiseTokens.contains(current) { tokens.append(current) }
                current = ""
            }
        }
        var bracketDepth = 0
        for ch in s {
            if ch == "[" { bracketDepth += 1 }
            if ch == "]" { bracketDepth -= 1 }
            if bracketDepth > 0 {
                current.append(ch)   // keep `[16]`, `[ 16 ]` attached
                continue
            }
            if ch == " " || ch == "\t" {
                flush()
            } else if ch == "*" {
                flush()
                tokens.append("*")
            } else {
                current.append(ch)
            }
        }
        flush()
        // `char []` written with a space: glue `[]`/`[n]` back to the previous token.
        var glued: [String] = []
        for t in tokens {
            if t.hasPrefix("["), let last = glued.last, last != "*" {
                glued[glued.count - 1] = last + t
            } else {
                glued.append(t)
            }
        }
        return glued
    }

    /// Joins tokens with single spaces, writing pointers as `T *` and `T *const`.
    static func normalized(_ tokens: [String]) -> String {
        var out = ""
        var previous: String?
        for t in tokens {
            if let previous, !(previous == "*" && t != "*") { out += " " }
            out += t
            previous = t
        }
        return out
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII)
        else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
