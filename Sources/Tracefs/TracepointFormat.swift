// SPDX-License-Identifier: Apache-2.0
import HostFiles

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The parsed `format` file of one tracepoint (`<tracefs>/events/<subsystem>/<event>/format`).
///
/// A format file looks like this (tabs before `field:`, `offset:`, `size:`, `signed:`):
///
///     name: sys_enter_openat
///     ID: 782
///     format:
///     	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
///     	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
///     	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
///     	field:int common_pid;	offset:4;	size:4;	signed:1;
///
///     	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
///     	field:int dfd;	offset:16;	size:8;	signed:0;
///     	field:const char * filename;	offset:24;	size:8;	signed:0;
///     ...
///     print fmt: "dfd: 0x%08lx, ...", ...
///
/// ``fields`` holds every field line in file order, the four `common_*` fields included, so that
/// `fields[i]` is the field a TracingPolicy tracepoint arg with `index: i` refers to (Tetragon
/// counts the same way).
package struct TracepointFormat: Sendable, Hashable {
    /// Subsystem (directory under `events/`), as asked for.
    package var subsystem: String
    /// Event (directory under the subsystem), as asked for.
    package var event: String
    /// The `name:` line (normally equal to ``event``).
    package var name: String
    /// The `ID:` line: the perf event config used to attach to the tracepoint.
    package var id: Int
    /// Every field in file order, common fields included; `fields[i].index == i`.
    package var fields: [TracepointField]

    package init(subsystem: String, event: String, name: String, id: Int, fields: [TracepointField]) {
        self.subsystem = subsystem
        self.event = event
        self.name = name
        self.id = id
        self.fields = fields
    }

    /// `subsystem/event`, as used in messages and by Tetragon.
    package var qualifiedName: String { "\(subsystem)/\(event)" }

    /// Number of leading `common_*` fields (4 on every kernel since 2.6.3x: type, flags,
    /// preempt_count, pid).
    package var commonFieldCount: Int {
        fields.prefix { $0.isCommon }.count
    }

    /// The index of the field called `name`, if any.
    package func fieldIndex(named name: String) -> Int? {
        fields.firstIndex { $0.name == name }
    }

    /// Parses the text of a format file.
    ///
    /// `name:` and `ID:` are required. Each line containing `field:` before the `print fmt:` line
    /// must have the shape `field:<decl>;<ws>offset:<n>;<ws>size:<n>;<ws>signed:<0|1>;`. The C
    /// declaration is parsed into a ``FieldType``; declarations it does not understand become
    /// ``FieldType/other(_:)`` rather than errors, so one odd field does not make a whole
    /// tracepoint unusable.
    ///
    /// - Throws: ``TracepointFormatError`` when the header or a field line is malformed.
    package static func parse(_ text: String, subsystem: String, event: String) throws(TracepointFormatError) -> TracepointFormat {
        let where_ = "\(subsystem)/\(event)"
        var name: String?
        var id: Int?
        var fields: [TracepointField] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty { continue }
            if line.hasPrefix("print fmt:") { break }
            if line.hasPrefix("name:") {
                name = trimmed(line.dropFirst(5))
            } else if line.hasPrefix("ID:") {
                guard let value = Int(trimmed(line.dropFirst(3))), value >= 0 else {
                    throw .malformedHeader(tracepoint: where_, line: lineNumber, text: String(rawLine))
                }
                id = value
            } else if line.hasPrefix("field:") {
                let field = try parseFieldLine(line, index: fields.count, tracepoint: where_, lineNumber: lineNumber)
                fields.append(field)
            }
            // "format:" and anything else before "print fmt:" carries nothing we need.
        }
        guard let name, !name.isEmpty else { throw .missingHeader(tracepoint: where_, header: "name:") }
        guard let id else { throw .missingHeader(tracepoint: where_, header: "ID:") }
        return TracepointFormat(subsystem: subsystem, event: event, name: name, id: id, fields: fields)
    }

    /// Reads and parses `<tracefsRoot>/events/<subsystem>/<event>/format`.
    ///
    /// - Throws: ``TracepointFormatError/notFound(tracepoint:path:)`` when the file does not
    ///   exist (the tracepoint does not exist on this kernel, or tracefs is not mounted there),
    ///   ``TracepointFormatError/unreadable(path:errno:)`` for other open/read failures, and the
    ///   errors of ``parse(_:subsystem:event:)``.
    package static func load(tracefsRoot: String, subsystem: String, event: String) throws(TracepointFormatError) -> TracepointFormat {
        let path = Tracefs.formatPath(tracefsRoot: tracefsRoot, subsystem: subsystem, event: event)
        guard let text = HostFile.readText(atPath: path) else {
            let err = errno
            if err == ENOENT || err == ENOTDIR {
                throw .notFound(tracepoint: "\(subsystem)/\(event)", path: path)
            }
            throw .unreadable(path: path, errno: err)
        }
        return try parse(text, subsystem: subsystem, event: event)
    }

    private static func trimmed(_ s: Substring) -> String {
        String(s.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }

    /// `field:<decl>;\toffset:<n>;\tsize:<n>;\tsigned:<0|1>;` (leading whitespace already dropped).
    private static func parseFieldLine(
        _ line: Substring, index: Int, tracepoint: String, lineNumber: Int
    ) throws(TracepointFormatError) -> TracepointField {
        func bad(_ reason: String) -> TracepointFormatError {
            .malformedField(tracepoint: tracepoint, line: lineNumber, text: String(line), reason: reason)
        }
        let parts = line.split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { throw bad("expected field, offset, size and signed parts") }
        let declaration = trimmed(parts[0].dropFirst("field:".count))
        guard !declaration.isEmpty else { throw bad("empty declaration") }
        func number(_ part: Substring, _ key: String) throws(TracepointFormatError) -> Int {
            let p = part.drop { $0 == " " || $0 == "\t" }
            guard p.hasPrefix(key + ":"), let v = Int(trimmed(p.dropFirst(key.count + 1))), v >= 0 else {
                throw bad("expected \(key):<number>")
            }
            return v
        }
        let offset = try number(parts[1], "offset")
        let size = try number(parts[2], "size")
        let signed = try number(parts[3], "signed")
        guard signed == 0 || signed == 1 else { throw bad("signed must be 0 or 1") }
        let parsed = CDeclaration.parse(declaration, fieldSize: size, fieldSigned: signed == 1)
        return TracepointField(
            index: index, declaration: declaration, name: parsed.name,
            offset: offset, size: size, isSigned: signed == 1, type: parsed.type
        )
    }
}

/// One `field:` line of a format file.
package struct TracepointField: Sendable, Hashable {
    /// Position in ``TracepointFormat/fields`` (common fields included): the TracingPolicy `index`.
    package var index: Int
    /// The raw C declaration between `field:` and `;`, e.g. `const char * filename`.
    package var declaration: String
    /// The field name, without any array suffix (`comm` for `char comm[16]`).
    package var name: String
    /// Byte offset in the raw trace record (the tracepoint program's context).
    package var offset: Int
    /// Size in bytes in the record. Syscall tracepoints store every argument in 8 bytes whatever
    /// its C type (`int dfd` has size 8 and `signed:0`).
    package var size: Int
    /// The format file's `signed:` flag.
    package var isSigned: Bool
    /// The parsed type.
    package var type: FieldType

    package init(
        index: Int, declaration: String, name: String, offset: Int, size: Int, isSigned: Bool, type: FieldType
    ) {
        self.index = index
        self.declaration = declaration
        self.name = name
        self.offset = offset
        self.size = size
        self.isSigned = isSigned
        self.type = type
    }

    /// Whether this is one of the `common_*` header fields.
    package var isCommon: Bool { name.hasPrefix("common_") }
}

/// The type of a tracepoint field, from its C declaration and the format line's size/signedness.
package enum FieldType: Sendable, Hashable {
    /// A scalar read as an integer: C integer types, `bool`, enums and integer typedefs
    /// (`pid_t`, `umode_t`, `size_t`, `u32`, `__u64`, ...). `size` and `signed` come from the
    /// format line (authoritative, e.g. 8 for syscall args declared `int`); `cType` is the
    /// declared type without `const`, e.g. `unsigned int`, `umode_t`, `enum zone_type`.
    case integer(size: Int, signed: Bool, cType: String)
    /// A pointer. `pointee` is the declared type minus the last `*`, qualifiers kept and spacing
    /// normalised: `const char` for `const char *`, `struct sockaddr` for `struct sockaddr *`,
    /// `void` for `void *`, `const char *const` for `const char *const *`.
    case pointer(pointee: String)
    /// A fixed array `T name[count]` stored in the record (`char comm[16]`,
    /// `unsigned long args[6]`). `count` is 0 for a flexible array (`char buf[]`, size 0);
    /// `elementSize` is the field size divided by `count` (0 when `count` is 0).
    case array(element: String, count: Int, elementSize: Int)
    /// `__data_loc T[] name`: a u32 in the record whose low 16 bits are the offset (from the
    /// record start) and high 16 bits the length of data appended to the record;
    /// `element` is `char` for dynamic strings (`__string()` fields).
    case dataLoc(element: String)
    /// `__rel_loc T[] name`: like `__data_loc` but the offset is relative to the end of the
    /// field itself.
    case relLoc(element: String)
    /// A declaration that is none of the above (struct by value, odd scalar sizes, ...);
    /// the normalised type text.
    case other(String)

    /// Whether this is a pointer to `char`, `signed char` or `unsigned char` (any qualifiers).
    package var isCharPointer: Bool {
        if case .pointer(let pointee) = self { return CDeclaration.isCharType(pointee) }
        return false
    }

    /// Whether this is `__data_loc char[]` (a dynamic string).
    package var isDataLocString: Bool {
        if case .dataLoc(let element) = self { return CDeclaration.isCharType(element) }
        return false
    }

    /// A short human description for messages: `8-byte integer (int)`, `pointer (const char *)`,
    /// `array (unsigned long[6])`, `__data_loc char[]`.
    package var summary: String {
        switch self {
        case .integer(let size, let signed, let cType):
            return "\(size)-byte \(signed ? "signed" : "unsigned") integer (\(cType))"
        case .pointer(let pointee):
            return "pointer (\(pointee.hasSuffix("*") ? pointee + "*" : pointee + " *"))"
        case .array(let element, let count, _):
            return "array (\(element)[\(count == 0 ? "" : String(count))])"
        case .dataLoc(let element):
            return "__data_loc \(element)[]"
        case .relLoc(let element):
            return "__rel_loc \(element)[]"
        case .other(let text):
            return "unsupported type (\(text))"
        }
    }
}

/// Errors from reading or parsing a format file.
package enum TracepointFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The format file does not exist: no such tracepoint on this kernel (or no tracefs at the root).
    case notFound(tracepoint: String, path: String)
    /// The format file exists but could not be read.
    case unreadable(path: String, errno: Int32)
    /// A required header line (`name:` or `ID:`) is missing.
    case missingHeader(tracepoint: String, header: String)
    /// A header line could not be parsed.
    case malformedHeader(tracepoint: String, line: Int, text: String)
    /// A `field:` line could not be parsed.
    case malformedField(tracepoint: String, line: Int, text: String, reason: String)

    package var description: String {
        switch self {
        case .notFound(let tracepoint, let path):
            return "tracepoint \(tracepoint) does not exist on this kernel (\(path) not found)"
        case .unreadable(let path, let err):
            return "cannot read tracepoint format \(path): \(String(cString: strerror(err)))"
        case .missingHeader(let tracepoint, let header):
            return "tracepoint \(tracepoint): format file has no '\(header)' line"
        case .malformedHeader(let tracepoint, let line, let text):
            return "tracepoint \(tracepoint): format line \(line) is malformed: \(text.debugDescription)"
        case .malformedField(let tracepoint, let line, let text, let reason):
            return "tracepoint \(tracepoint): format line \(line) is malformed (\(reason)): \(text.debugDescription)"
        }
    }
}
