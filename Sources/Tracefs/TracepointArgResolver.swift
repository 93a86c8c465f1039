// SPDX-License-Identifier: Apache-2.0

/// How the BPF side reads one tracepoint argument and how user space renders it.
package enum TracepointArgKind: Sendable, Hashable {
    /// An integer of `size` bytes (1, 2, 4, 8) read at the field offset (little-endian, so a
    /// narrower read of a wider field yields its low bytes).
    case int(size: Int, signed: Bool)
    /// A user-space `char *`: read the pointer at the field offset, then a bounded NUL-terminated
    /// string from user memory.
    case string
    /// A user-space buffer whose length is the integer in another field (`char_buf` with
    /// `sizeArgIndex`): read the pointer, the length from `size`, then that many bytes.
    case charBuf(size: TracepointSizeField)
    /// A user-space `struct sockaddr *`: read the pointer, then the address.
    case sockaddr
    /// A file descriptor: a 4-byte int read at the field offset.
    case fd
    /// `raw_syscalls` `long id`: an 8-byte syscall number, rendered `{id, abi}` (the BPF side
    /// sets ``Syscalls/compat32Bit`` for 32-bit tasks).
    case syscall64
    /// A fixed array copied out of the record: `bytes` bytes, `elementCount` elements of
    /// `elementSize` bytes (`unsigned long args[6]`: 48, 8, 6).
    case constBuf(bytes: Int, elementSize: Int, elementCount: Int)
    /// A `__data_loc char[]` string stored in the record: read the u32 descriptor
    /// (offset | length << 16), then the bytes it points at inside the record.
    case dataLocString
    /// Tetragon's `nop`: nothing is fetched and nothing is rendered.
    case nop

    /// The JSON key Tetragon uses for this kind in `args[]` (§2.5), or nil for ``nop``:
    /// signed 1/2/4-byte ints `int_arg`, unsigned `uint_arg`, signed 8-byte `long_arg`, unsigned
    /// 8-byte `size_arg`, strings `string_arg`, `char_buf` `bytes_arg`, `sockaddr_arg`, fd
    /// `file_arg`, `syscall_id`. A ``constBuf`` of 8-byte elements is flattened by Tetragon into one
    /// `size_arg` per element (its only supported array); other arrays are given as `bytes_arg`.
    package var jsonKey: String? {
        switch self {
        case .int(let size, let signed):
            if size == 8 { return signed ? "long_arg" : "size_arg" }
            return signed ? "int_arg" : "uint_arg"
        case .string, .dataLocString: return "string_arg"
        case .charBuf: return "bytes_arg"
        case .sockaddr: return "sockaddr_arg"
        case .fd: return "file_arg"
        case .syscall64: return "syscall_id"
        case .constBuf(_, let elementSize, _): return elementSize == 8 ? "size_arg" : "bytes_arg"
        case .nop: return nil
        }
    }
}

/// The integer field that holds the length of a ``TracepointArgKind/charBuf(size:)`` buffer.
package struct TracepointSizeField: Sendable, Hashable {
    /// Format field index of the length field.
    package var fieldIndex: Int
    /// Its byte offset in the record.
    package var offset: Int
    /// Its size in bytes (read this many bytes; lengths are unsigned).
    package var size: Int

    package init(fieldIndex: Int, offset: Int, size: Int) {
        self.fieldIndex = fieldIndex
        self.offset = offset
        self.size = size
    }
}

/// One TracingPolicy tracepoint argument, resolved against the format file.
package struct ResolvedTracepointArg: Sendable, Hashable {
    /// Format field index (the spec's `index`).
    package var fieldIndex: Int
    /// Byte offset of the field in the record.
    package var offset: Int
    /// Bytes read at ``offset``: the integer width for ``TracepointArgKind/int(size:signed:)``,
    /// 4 for `fd` and `__data_loc` descriptors, 8 for pointers and `syscall64`, the array size
    /// for `constBuf`, 0 for `nop`.
    package var size: Int
    /// How to read and render it.
    package var kind: TracepointArgKind

    package init(fieldIndex: Int, offset: Int, size: Int, kind: TracepointArgKind) {
        self.fieldIndex = fieldIndex
        self.offset = offset
        self.size = size
        self.kind = kind
    }
}

/// A field named in an error message.
package struct TracepointFieldRef: Sendable, Hashable, CustomStringConvertible {
    /// `subsystem/event`.
    package var tracepoint: String
    /// Format field index.
    package var index: Int
    /// Field name.
    package var name: String
    /// Parsed type.
    package var type: FieldType

    package init(tracepoint: String, index: Int, name: String, type: FieldType) {
        self.tracepoint = tracepoint
        self.index = index
        self.name = name
        self.type = type
    }

    init(_ format: TracepointFormat, _ field: TracepointField) {
        self.init(tracepoint: format.qualifiedName, index: field.index, name: field.name, type: field.type)
    }

    /// `field 6 'filename' (pointer (const char *)) of syscalls/sys_enter_openat`.
    package var description: String {
        "field \(index) '\(name)' (\(type.summary)) of \(tracepoint)"
    }
}

/// Why a tracepoint argument cannot be resolved.
package enum TracepointArgError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `index` is negative or not below the number of fields.
    case fieldIndexOutOfRange(tracepoint: String, fieldCount: Int, index: Int, argPosition: Int?)
    /// `sizeArgIndex` (1-based field index) names no field.
    case sizeArgIndexOutOfRange(tracepoint: String, fieldCount: Int, sizeArgIndex: Int, argPosition: Int?)
    /// The field `sizeArgIndex` names is not an integer.
    case sizeFieldNotInteger(size: TracepointFieldRef, sizeArgIndex: Int)
    /// The declared type cannot be read from this field.
    case typeMismatch(declaredType: String, field: TracepointFieldRef, reason: String)
    /// `auto` on a `char *` without `sizeArgIndex` (Tetragon: "no metadata field for buffer").
    case bufferWithoutSize(field: TracepointFieldRef)
    /// `char_buf` without `sizeArgIndex`.
    case charBufWithoutSize(field: TracepointFieldRef)
    /// `auto` cannot infer a type for this field.
    case cannotInfer(field: TracepointFieldRef, reason: String)
    /// A type that reads a kernel object through a kernel pointer (`file`, `path`, `sock`,
    /// `skb`, `cred`, `linux_binprm`, ...): tracepoint fields do not carry one.
    case needsKernelPointer(declaredType: String, field: TracepointFieldRef)
    /// A type Tetragon knows that this agent does not support on tracepoints (yet); also used for
    /// kernel-object types on a field that does point at that struct.
    case notSupportedOnTracepoints(declaredType: String, field: TracepointFieldRef, reason: String)
    /// `const_buf` was declared; Tetragon only derives it from array fields.
    case constBufNotUserSelectable(field: TracepointFieldRef)
    /// Not a Tetragon argument type.
    case unknownType(declaredType: String, field: TracepointFieldRef)

    package var description: String {
        switch self {
        case .fieldIndexOutOfRange(let tp, let count, let index, let pos):
            return "tracepoint \(tp) has \(count) fields but field \(index) was requested\(Self.inArg(pos))"
        case .sizeArgIndexOutOfRange(let tp, let count, let sizeArgIndex, let pos):
            return "tracepoint \(tp) has \(count) fields but sizeArgIndex \(sizeArgIndex) (1-based, field \(sizeArgIndex - 1)) was requested\(Self.inArg(pos))"
        case .sizeFieldNotInteger(let size, let sizeArgIndex):
            return "sizeArgIndex \(sizeArgIndex) refers to \(size), which is not an integer"
        case .typeMismatch(let type, let field, let reason):
            return "type '\(type)' cannot be read from \(field): \(reason)"
        case .bufferWithoutSize(let field):
            return "no metadata field for buffer \(field); declare type: string, or char_buf with sizeArgIndex"
        case .charBufWithoutSize(let field):
            return "type 'char_buf' on \(field) needs sizeArgIndex (1-based index of the length field)"
        case .cannotInfer(let field, let reason):
            return "cannot infer a type for \(field): \(reason)"
        case .needsKernelPointer(let type, let field):
            return "type '\(type)' needs a pointer to a kernel object, which \(field) does not provide; tracepoint fields hold values and user-space pointers"
        case .notSupportedOnTracepoints(let type, let field, let reason):
            return "type '\(type)' on \(field) is not supported on tracepoints yet: \(reason)"
        case .constBufNotUserSelectable(let field):
            return "type 'const_buf' cannot be user-defined (\(field)); leave the type empty or auto for array fields"
        case .unknownType(let type, let field):
            return "unknown argument type '\(type)' for \(field)"
        }
    }

    private static func inArg(_ position: Int?) -> String {
        position.map { " in args[\($0)]" } ?? ""
    }
}

/// Resolves TracingPolicy tracepoint `args` (index + type) against a format file. Pure.
///
/// Rules (Tetragon's `generic_tracepoint` plus this agent's choices):
/// - `index` selects `format.fields[index]`, common fields included.
/// - Integer types read that many bytes from an integer field at least as wide (syscall fields are
///   8 bytes, so `int` reads the low 4). `uint64`/`ulong`/`size_t` may also read an 8-byte
///   pointer's value.
/// - `string` needs a `char *` field (user pointer) or a `__data_loc char[]` field;
///   `data_loc` needs the latter.
/// - `char_buf` needs a pointer field and `sizeArgIndex`; `sockaddr` needs a pointer field;
///   `fd` an integer field of at least 4 bytes; `syscall64` an 8-byte integer field.
/// - `auto`/empty: integers by the field's size and signedness; `char *` becomes `char_buf`
///   when `sizeArgIndex` is given, else an error (declare `string`); fixed arrays become
///   `const_buf`; `__data_loc char[]` a string.
/// - `sizeArgIndex` is, as in Tetragon's tracepoint code, the **1-based format field index** of
///   the length (`sys_enter_write`: `buf` is field 6, `count` field 7, so `sizeArgIndex: 8`).
///   When that field is not among the policy's args, the BPF side must still fetch it (Tetragon
///   adds it as a hidden `nop` arg). It is ignored for types other than `char_buf`/`auto`.
/// - Kernel-object types (`file`, `path`, `sock`, `skb`, `cred`, `linux_binprm`, ...) are refused.
package enum TracepointArgResolver {
    /// Resolves one argument.
    ///
    /// - Parameters:
    ///   - format: the tracepoint's parsed format.
    ///   - index: the spec's `index` (format field index).
    ///   - declaredType: the spec's `type` (Tetragon type name); `""` or `auto` to infer.
    ///   - sizeArgIndex: the spec's `sizeArgIndex` (1-based field index), nil or 0 for none.
    ///   - argPosition: position of the arg in the spec's `args` list, for messages.
    package static func resolve(
        format: TracepointFormat,
        index: Int,
        declaredType: String,
        sizeArgIndex: Int?,
        argPosition: Int? = nil
    ) -> Result<ResolvedTracepointArg, TracepointArgError> {
        guard index >= 0, index < format.fields.count else {
            return .failure(.fieldIndexOutOfRange(
                tracepoint: format.qualifiedName, fieldCount: format.fields.count, index: index, argPosition: argPosition))
        }
        let field = format.fields[index]
        let ref = TracepointFieldRef(format, field)
        let type = declaredType.isEmpty ? "auto" : declaredType

        // The length field, resolved lazily: only char_buf and auto-on-char* use it.
        func sizeField() -> Result<TracepointSizeField?, TracepointArgError> {
            guard let sizeArgIndex, sizeArgIndex != 0 else { return .success(nil) }
            let fieldIndex = sizeArgIndex - 1
            guard fieldIndex >= 0, fieldIndex < format.fields.count else {
                return .failure(.sizeArgIndexOutOfRange(
                    tracepoint: format.qualifiedName, fieldCount: format.fields.count,
                    sizeArgIndex: sizeArgIndex, argPosition: argPosition))
            }
            let sizeField = format.fields[fieldIndex]
            guard case .integer(let size, _, _) = sizeField.type else {
                return .failure(.sizeFieldNotInteger(size: TracepointFieldRef(format, sizeField), sizeArgIndex: sizeArgIndex))
            }
            return .success(TracepointSizeField(fieldIndex: fieldIndex, offset: sizeField.offset, size: size))
        }

        func ok(_ kind: TracepointArgKind, reading size: Int) -> Result<ResolvedTracepointArg, TracepointArgError> {
            .success(ResolvedTracepointArg(fieldIndex: index, offset: field.offset, size: size, kind: kind))
        }
        func mismatch(_ reason: String) -> Result<ResolvedTracepointArg, TracepointArgError> {
            .failure(.typeMismatch(declaredType: type, field: ref, reason: reason))
        }

        if let (width, signed) = integerTypes[type] {
            switch field.type {
            case .integer(let fieldSize, _, _):
                guard width <= fieldSize else {
                    return mismatch("it reads \(width) bytes but the field has \(fieldSize)")
                }
                return ok(.int(size: width, signed: signed), reading: width)
            case .pointer where width == 8 && !signed && field.size == 8:
                return ok(.int(size: 8, signed: false), reading: 8)
            case .pointer:
                return mismatch("the field is a pointer; declare string, char_buf or sockaddr for what it points at, or uint64 for its value")
            default:
                return mismatch("the field is not an integer")
            }
        }

        switch type {
        case "auto":
            return inferred(field: field, ref: ref, sizeField: sizeField)

        case "fd":
            guard case .integer(let fieldSize, _, _) = field.type, fieldSize >= 4 else {
                return mismatch("a file descriptor is read from an integer field of at least 4 bytes")
            }
            return ok(.fd, reading: 4)

        case "syscall64":
            guard case .integer(8, _, _) = field.type else {
                return mismatch("syscall64 needs an 8-byte integer field such as raw_syscalls' 'long id'")
            }
            return ok(.syscall64, reading: 8)

        case "string":
            if field.type.isCharPointer { return ok(.string, reading: 8) }
            if field.type.isDataLocString { return ok(.dataLocString, reading: 4) }
            if case .pointer(let pointee) = field.type {
                return mismatch("the field points to '\(pointee)', not to char; declare char_buf with sizeArgIndex to read it as bytes")
            }
            return mismatch("string needs a 'char *' or '__data_loc char[]' field")

        case "data_loc":
            guard field.type.isDataLocString else {
                return mismatch("data_loc needs a '__data_loc char[]' field")
            }
            return ok(.dataLocString, reading: 4)

        case "char_buf":
            guard case .pointer = field.type else {
                return mismatch("char_buf needs a pointer field")
            }
            switch sizeField() {
            case .failure(let error): return .failure(error)
            case .success(nil): return .failure(.charBufWithoutSize(field: ref))
            case .success(let size?): return ok(.charBuf(size: size), reading: 8)
            }

        case "sockaddr":
            guard case .pointer = field.type else {
                return mismatch("sockaddr needs a pointer field (struct sockaddr *)")
            }
            return ok(.sockaddr, reading: 8)

        case "nop":
            return ok(.nop, reading: 0)

        case "const_buf":
            return .failure(.constBufNotUserSelectable(field: ref))

        default:
            if let structName = kernelObjectTypes[type] {
                if case .pointer(let pointee) = field.type, pointeeNames(pointee, structName) {
                    return .failure(.notSupportedOnTracepoints(
                        declaredType: type, field: ref,
                        reason: "reading '\(structName)' through a tracepoint field is not implemented"))
                }
                return .failure(.needsKernelPointer(declaredType: type, field: ref))
            }
            if let reason = otherTetragonTypes[type] {
                return .failure(.notSupportedOnTracepoints(declaredType: type, field: ref, reason: reason))
            }
            return .failure(.unknownType(declaredType: type, field: ref))
        }
    }

    /// Type inference for `auto`.
    private static func inferred(
        field: TracepointField,
        ref: TracepointFieldRef,
        sizeField: () -> Result<TracepointSizeField?, TracepointArgError>
    ) -> Result<ResolvedTracepointArg, TracepointArgError> {
        func ok(_ kind: TracepointArgKind, reading size: Int) -> Result<ResolvedTracepointArg, TracepointArgError> {
            .success(ResolvedTracepointArg(fieldIndex: field.index, offset: field.offset, size: size, kind: kind))
        }
        switch field.type {
        case .integer(let size, let signed, _):
            return ok(.int(size: size, signed: signed), reading: size)
        case .pointer(let pointee):
            guard field.type.isCharPointer else {
                return .failure(.cannotInfer(
                    field: ref,
                    reason: "a pointer to '\(pointee)' has no default type; declare sockaddr, char_buf (with sizeArgIndex) or uint64"))
            }
            switch sizeField() {
            case .failure(let error): return .failure(error)
            case .success(nil): return .failure(.bufferWithoutSize(field: ref))
            case .success(let size?): return ok(.charBuf(size: size), reading: 8)
            }
        case .array(_, let count, let elementSize):
            guard count > 0, field.size > 0 else {
                return .failure(.cannotInfer(field: ref, reason: "a flexible array has no fixed size"))
            }
            return ok(.constBuf(bytes: field.size, elementSize: elementSize, elementCount: count), reading: field.size)
        case .dataLoc(let element):
            guard field.type.isDataLocString else {
                return .failure(.cannotInfer(field: ref, reason: "only '__data_loc char[]' is supported, not '__data_loc \(element)[]'"))
            }
            return ok(.dataLocString, reading: 4)
        case .relLoc:
            return .failure(.cannotInfer(field: ref, reason: "'__rel_loc' fields are not supported"))
        case .other(let text):
            return .failure(.cannotInfer(field: ref, reason: "'\(text)' is not an integer, pointer, array or __data_loc"))
        }
    }

    /// Tetragon integer type names: width and signedness.
    static let integerTypes: [String: (Int, Bool)] = [
        "int8": (1, true), "sint8": (1, true), "uint8": (1, false),
        "int16": (2, true), "sint16": (2, true), "uint16": (2, false),
        "int": (4, true), "int32": (4, true), "sint32": (4, true), "uint32": (4, false),
        "long": (8, true), "int64": (8, true), "sint64": (8, true),
        "uint64": (8, false), "ulong": (8, false), "size_t": (8, false),
    ]

    /// Tetragon types that read a kernel object through a kernel pointer, with the C type they
    /// expect to point at.
    static let kernelObjectTypes: [String: String] = [
        "file": "struct file", "path": "struct path", "dentry": "struct dentry",
        "sock": "struct sock", "socket": "struct socket", "skb": "struct sk_buff",
        "cred": "struct cred", "linux_binprm": "struct linux_binprm", "filename": "struct filename",
        "kiocb": "struct kiocb", "iov_iter": "struct iov_iter", "bpf_attr": "union bpf_attr",
        "perf_event": "struct perf_event", "bpf_map": "struct bpf_map", "bpf_prog": "struct bpf_prog",
        "user_namespace": "struct user_namespace", "module": "struct module",
        "load_info": "struct load_info", "net_device": "struct net_device",
        "kernel_cap_t": "kernel_cap_t", "cap_inheritable": "kernel_cap_t",
        "cap_permitted": "kernel_cap_t", "cap_effective": "kernel_cap_t",
    ]

    /// Other Tetragon types this agent does not handle on tracepoints, with the reason.
    static let otherTetragonTypes: [String: String] = [
        "char_iovec": "reading a user iovec array is not implemented",
        "sockaddr_un": "reading a user sockaddr_un is not implemented; use sockaddr",
        "capability": "capability numbers are not rendered on tracepoints",
        "bpf_cmd": "bpf command names are not rendered on tracepoints",
    ]

    /// Whether pointer text `pointee` (e.g. `const struct file`) names `structName`.
    private static func pointeeNames(_ pointee: String, _ structName: String) -> Bool {
        pointee.split(separator: " ").filter { $0 != "const" }.joined(separator: " ") == structName
    }
}
