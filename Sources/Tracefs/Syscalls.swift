// SPDX-License-Identifier: Apache-2.0

/// A system call ABI, named as Tetragon renders it in `syscall_id {id, abi}` and accepts it in
/// syscall lists (`i386/sys_dup`).
package enum SyscallABI: String, Sendable, Hashable, CaseIterable {
    /// Native 64-bit x86 (`__x64_sys_*` entry points). Tetragon name `x64`.
    case x86_64 = "x64"
    /// 32-bit x86 (`int 0x80`/`sysenter` from 32-bit tasks; `__ia32_sys_*`). Tetragon name `i386`.
    case i386 = "i386"
    /// Native arm64 (`__arm64_sys_*`). Recognised in names; there is no number table for it.
    case arm64 = "arm64"

    /// The name Tetragon uses (`x64`, `i386`, `arm64`).
    package var tetragonName: String { rawValue }

    /// The kernel's entry-point prefix for this ABI (`__x64_`, `__ia32_`, `__arm64_`).
    package var symbolPrefix: String {
        switch self {
        case .x86_64: return "__x64_"
        case .i386: return "__ia32_"
        case .arm64: return "__arm64_"
        }
    }
}

/// Syscall names and numbers for x86_64 and i386, from generated tables (see
/// `scripts/gen-syscall-tables.sh`).
///
/// Names are the bare syscall names (`openat`, `dup`), without `sys_` or arch prefixes.
package enum Syscalls {
    /// Bit Tetragon's BPF side sets in a `syscall64` value when the task was in a 32-bit
    /// (compat) syscall; the low bits hold the syscall number (`IS_32BIT` in `syscall64.h`).
    package static let compat32Bit: UInt64 = 0x8000_0000

    /// The number of syscall `name` in `abi`, or nil when unknown.
    ///
    /// Accepted spellings: `openat`, `sys_openat`, `__x64_sys_openat`, `__ia32_sys_dup`,
    /// `__ia32_compat_sys_openat`, and Tetragon's list syntax `i386/sys_dup`, `x64/sys_openat`.
    /// An ABI given by the name (prefix or `abi/`) overrides `abi`; a name whose `abi/` and arch
    /// prefix disagree (`x64/__ia32_sys_dup`) is rejected. arm64 has no table, so arm64 names
    /// return nil.
    ///
    /// x86_64 kernel entry-point names that differ from the table name (``x86_64EntryAliases``,
    /// e.g. `newfstat` for `fstat`, as in `__x64_sys_newfstat` and `syscalls/sys_enter_newfstat`)
    /// are accepted too.
    package static func number(of name: String, abi: SyscallABI = .x86_64) -> Int? {
        guard let parsed = parse(name, defaultABI: abi) else { return nil }
        let numbers = numbersByName(parsed.abi)
        if let number = numbers[parsed.name] { return number }
        if parsed.abi == .x86_64, let tableName = x86_64EntryAliases[parsed.name] { return numbers[tableName] }
        return nil
    }

    /// x86_64 syscalls whose kernel function is not `sys_<table name>` (the `entry point` column of
    /// `arch/x86/entry/syscalls/syscall_64.tbl`): function-name suffix → table name.
    ///
    /// The function name is what kprobe `call`s and `syscalls/sys_enter_*` events use
    /// (`sys_enter_newfstat`), the table name what `raw_syscalls` ids and Tetragon's syscall lists
    /// use (`fstat`).
    package static let x86_64EntryAliases: [String: String] = [
        "newstat": "stat",
        "newfstat": "fstat",
        "newlstat": "lstat",
        "sendfile64": "sendfile",
        "newuname": "uname",
        "umount": "umount2",
    ]

    /// The kernel function-name suffix of x86_64 syscall `name` (`fstat` → `newfstat`); the name
    /// itself for syscalls implemented by `sys_<name>`.
    package static func x86_64EntryName(of name: String) -> String {
        x86_64EntryNames[name] ?? name
    }

    private static let x86_64EntryNames: [String: String] = {
        var inverse: [String: String] = [:]
        for (entry, table) in x86_64EntryAliases { inverse[table] = entry }
        return inverse
    }()

    /// The bare name of syscall `number` in `abi` (`openat`), or nil for a number with no syscall
    /// (or an ABI without a table).
    package static func name(of number: Int, abi: SyscallABI = .x86_64) -> String? {
        let table = names(abi)
        guard number >= 0, number < table.count, !table[number].isEmpty else { return nil }
        return table[number]
    }

    /// All syscall names of `abi` in number order (empty for arm64).
    package static func allNames(abi: SyscallABI) -> [String] {
        names(abi).filter { !$0.isEmpty }
    }

    /// Splits a syscall spelling into its bare name and ABI.
    ///
    /// `i386/sys_dup` → (`dup`, `.i386`); `__x64_sys_openat` → (`openat`, `.x86_64`);
    /// `sys_openat`/`openat` → (`openat`, `defaultABI`). Returns nil for an empty name, an
    /// unknown `abi/` prefix, or conflicting `abi/` and arch prefixes. The name is not checked
    /// against the tables.
    package static func parse(_ spelling: String, defaultABI: SyscallABI = .x86_64) -> (name: String, abi: SyscallABI)? {
        var rest = Substring(spelling)
        var listABI: SyscallABI?
        if let slash = rest.firstIndex(of: "/") {
            guard let abi = SyscallABI(rawValue: String(rest[..<slash])) else { return nil }
            listABI = abi
            rest = rest[rest.index(after: slash)...]
        }
        var prefixABI: SyscallABI?
        for (prefix, abi) in entryPrefixes where rest.hasPrefix(prefix) {
            prefixABI = abi
            rest = rest.dropFirst(prefix.count)
            break
        }
        if prefixABI == nil, rest.hasPrefix("sys_") { rest = rest.dropFirst(4) }
        if let listABI, let prefixABI, listABI != prefixABI { return nil }
        guard !rest.isEmpty, rest.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }), !rest.contains("/")
        else { return nil }
        return (String(rest), prefixABI ?? listABI ?? defaultABI)
    }

    /// Decodes a Tetragon `syscall64` value (raw_syscalls `id` with ``compat32Bit`` set for
    /// 32-bit tasks) into the syscall number and ABI, as rendered in `syscall_id {id, abi}`.
    package static func decodeSyscall64(_ raw: UInt64, nativeABI: SyscallABI = .x86_64) -> (id: Int, abi: SyscallABI) {
        if raw & compat32Bit != 0, nativeABI == .x86_64 {
            return (Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: raw & ~compat32Bit)), .i386)
        }
        return (Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: raw)), nativeABI)
    }

    /// Entry-point prefixes, longest first so `__ia32_compat_sys_` wins over `__ia32_sys_`.
    static let entryPrefixes: [(String, SyscallABI)] = [
        ("__ia32_compat_sys_", .i386),
        ("__x64_sys_", .x86_64),
        ("__ia32_sys_", .i386),
        ("__arm64_sys_", .arm64),
    ]

    private static func names(_ abi: SyscallABI) -> [String] {
        switch abi {
        case .x86_64: return SyscallTables.x86_64
        case .i386: return SyscallTables.i386
        case .arm64: return []
        }
    }

    private static let x86_64ByName = index(SyscallTables.x86_64)
    private static let i386ByName = index(SyscallTables.i386)

    private static func numbersByName(_ abi: SyscallABI) -> [String: Int] {
        switch abi {
        case .x86_64: return x86_64ByName
        case .i386: return i386ByName
        case .arm64: return [:]
        }
    }

    private static func index(_ table: [String]) -> [String: Int] {
        var result: [String: Int] = [:]
        result.reserveCapacity(table.count)
        for (number, name) in table.enumerated() where !name.isEmpty { result[name] = number }
        return result
    }
}

/// Namespace of the generated tables (`SyscallTableX86_64.swift`, `SyscallTableI386.swift`).
enum SyscallTables {}
