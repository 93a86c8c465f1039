// SPDX-License-Identifier: Apache-2.0

/// Running a TracingPolicy syscall kprobe (`call: sys_openat`, `syscall: true`) on the
/// `syscalls/sys_enter_<name>` tracepoint instead, for kernels without kprobes.
///
/// Every `syscalls/sys_enter_<name>` format has the four `common_*` fields, then
/// `int __syscall_nr`, then one 8-byte field per syscall argument in prototype order
/// (`sys_enter_openat`: `dfd` 5, `filename` 6, `flags` 7, `mode` 8). `sys_exit_<name>` has the
/// common fields, `__syscall_nr` and `long ret` (field 5).
///
/// Caveat: on x86_64 the syscall trace events ignore compat (32-bit) syscalls
/// (`ARCH_TRACE_IGNORE_COMPAT_SYSCALLS`), so `syscalls/sys_enter_dup` fires for 64-bit `dup`
/// only. A kprobe on `__ia32_sys_dup` therefore cannot be mapped to `sys_enter_dup`; use
/// `raw_syscalls/sys_enter` with the i386 number (and a compat check) for those.
package enum SyscallTracepoint {
    /// The tracepoint subsystem of the per-syscall events.
    package static let subsystem = "syscalls"
    /// Format field index of `__syscall_nr` (after the four common fields).
    package static let syscallNumberFieldIndex = 4
    /// Format field index of the first syscall argument.
    package static let firstArgumentFieldIndex = 5
    /// Format field index of `ret` in `sys_exit_<name>`.
    package static let returnFieldIndex = 5

    /// Recognises a syscall entry point in a kprobe `call` and returns the bare syscall name and
    /// its ABI.
    ///
    /// Accepted: `sys_X` (ABI `defaultABI`, as Tetragon adds the host prefix), `__x64_sys_X`,
    /// `__ia32_sys_X` and `__ia32_compat_sys_X` (i386), `__arm64_sys_X`. Anything else
    /// (`do_sys_openat2`, `ksys_read`, `__se_sys_X`, `__do_sys_X`, `security_file_open`, a bare
    /// `openat`) is not a syscall entry point and gives nil. The name is not checked against
    /// the syscall tables or tracefs; see ``exists(tracefsRoot:syscall:)``.
    package static func forKprobeCall(_ call: String, defaultABI: SyscallABI = .x86_64) -> (syscall: String, abi: SyscallABI)? {
        var rest = Substring(call)
        var abi = defaultABI
        var matchedPrefix = false
        for (prefix, prefixABI) in Syscalls.entryPrefixes where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            abi = prefixABI
            matchedPrefix = true
            break
        }
        if !matchedPrefix {
            guard rest.hasPrefix("sys_") else { return nil }
            rest = rest.dropFirst(4)
        }
        guard let first = rest.first, first.isASCII, first.isLetter || first == "_",
              rest.allSatisfy({ $0.isASCII && ($0 == "_" || $0.isLetter || $0.isNumber) })
        else { return nil }
        return (String(rest), abi)
    }

    /// The format field index of syscall argument `index` (0-based, prototype order) in
    /// `syscalls/sys_enter_<name>`: `5 + index`.
    package static func fieldIndex(forKprobeArg index: Int) -> Int {
        firstArgumentFieldIndex + index
    }

    /// Translates a syscall kprobe's `sizeArgIndex` (1-based function argument, e.g. 3 for
    /// `write`'s `count`) into the tracepoint's (1-based format field index: 8). 0 stays 0 (none).
    package static func sizeArgIndex(forKprobeSizeArgIndex index: Int) -> Int {
        index > 0 ? fieldIndex(forKprobeArg: index - 1) + 1 : 0
    }

    /// Like ``fieldIndex(forKprobeArg:)`` but checked against a loaded `sys_enter_*` format:
    /// nil unless field 4 is `__syscall_nr` and the argument field exists.
    package static func fieldIndex(forKprobeArg index: Int, in format: TracepointFormat) -> Int? {
        let field = fieldIndex(forKprobeArg: index)
        guard index >= 0,
              format.fields.count > syscallNumberFieldIndex,
              format.fields[syscallNumberFieldIndex].name == "__syscall_nr",
              field < format.fields.count
        else { return nil }
        return field
    }

    /// `sys_enter_<syscall>`. `syscall` is the kernel function-name suffix (what
    /// ``forKprobeCall(_:defaultABI:)`` returns); for an x86_64 table name use
    /// ``enterEvent(forTableName:)``.
    package static func enterEvent(syscall: String) -> String { "sys_enter_\(syscall)" }

    /// The `sys_enter_*` event of x86_64 syscall `name` as named in the syscall table (and by
    /// ``Syscalls/name(of:abi:)``): `fstat` → `sys_enter_newfstat`, `openat` → `sys_enter_openat`.
    package static func enterEvent(forTableName name: String) -> String {
        enterEvent(syscall: Syscalls.x86_64EntryName(of: name))
    }

    /// `sys_exit_<syscall>`.
    package static func exitEvent(syscall: String) -> String { "sys_exit_\(syscall)" }

    /// Whether `<tracefsRoot>/events/syscalls/sys_enter_<syscall>` exists (needs
    /// `CONFIG_FTRACE_SYSCALLS`; syscalls not built into the kernel have none). `syscall` may be the
    /// function-name suffix (`newfstat`) or the x86_64 table name (`fstat`).
    package static func exists(tracefsRoot: String, syscall: String) -> Bool {
        for name in Set([syscall, Syscalls.x86_64EntryName(of: syscall)])
        where Tracefs.eventExists(tracefsRoot: tracefsRoot, subsystem: subsystem, event: enterEvent(syscall: name)) {
            return true
        }
        return false
    }
}
