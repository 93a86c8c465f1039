// SPDX-License-Identifier: Apache-2.0
import Glibc
import Synchronization

/// The kernel's function symbols (/proc/kallsyms) and kprobe blacklist, read once on first use,
/// so a kprobe on a function this kernel lacks is refused with the reason instead of failing
/// at attach time with a bare ENOENT.
package final class KernelSymbols: Sendable {
    private struct Tables: Sendable {
        /// The files' bytes, searched per symbol: building a set of ~200k names costs seconds
        /// in a debug build under emulation, a byte search of one name microseconds.
        var kallsyms: [UInt8]
        var blacklist: [UInt8]
        var answers: [String: KernelSymbolStatus] = [:]
    }

    private let kallsymsPath: String
    private let blacklistPath: String
    private let tables = Mutex<Tables?>(nil)

    package init(
        kallsymsPath: String = "/proc/kallsyms", blacklistPath: String = "/sys/kernel/debug/kprobes/blacklist"
    ) {
        self.kallsymsPath = kallsymsPath
        self.blacklistPath = blacklistPath
    }

    package func status(of symbol: String) -> KernelSymbolStatus {
        tables.withLock { tables in
            if tables == nil {
                guard let kallsyms = Self.read(kallsymsPath), !kallsyms.isEmpty else { return .unknown }
                tables = Tables(kallsyms: kallsyms, blacklist: Self.read(blacklistPath) ?? [])
            }
            guard var current = tables else { return .unknown }
            if let known = current.answers[symbol] { return known }
            let status = Self.status(of: symbol, kallsyms: current.kallsyms, blacklist: current.blacklist)
            current.answers[symbol] = status
            tables = current
            return status
        }
    }

    /// `symbol` in /proc/kallsyms lines (`ffffffff81000000 T name [module]`, text symbols t/T
    /// only) and blacklist lines (`0xffffffff81000000-0xffffffff81000010\tname`).
    package static func status(of symbol: String, kallsyms: [UInt8], blacklist: [UInt8]) -> KernelSymbolStatus {
        let name = Array(symbol.utf8)
        guard !name.isEmpty, !name.contains(UInt8(ascii: " ")) else { return .missing }
        if contains(blacklist, [UInt8(ascii: "\t")] + name, endings: [UInt8(ascii: "\n"), UInt8(ascii: " ")]) { return .blacklisted }
        for kind in ["T", "t"] {
            if contains(kallsyms, Array(" \(kind) ".utf8) + name, endings: [UInt8(ascii: "\n"), UInt8(ascii: "\t")]) {
                return .attachable
            }
        }
        return .missing
    }

    /// Whether `needle` followed by one of `endings` (or the end) occurs in `haystack`.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8], endings: [UInt8]) -> Bool {
        haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                guard let base = h.baseAddress, let pattern = n.baseAddress, !needle.isEmpty, h.count >= n.count else {
                    return false
                }
                var offset = 0
                let last = h.count - n.count
                // memchr for the first byte, memcmp for the rest (glibc's memmem is not exported
                // to Swift without _GNU_SOURCE).
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(needle[0]), last - offset + 1) else { return false }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(hit, pattern, n.count) == 0 {
                        let end = at + n.count
                        if end == h.count || endings.contains(h[end]) { return true }
                    }
                    offset = at + 1
                }
                return false
            }
        }
    }

    /// The blank-separated (space or tab) fields of each line of a /proc or debugfs table; nil
    /// when the file cannot be read.
    package static func lineFields(_ path: String) -> [[Substring]]? {
        guard let bytes = read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            $0.split(whereSeparator: { $0 == " " || $0 == "\t" })
        }
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}

/// /sys/kernel/debug/error_injection/list: the functions a BPF program may make fail (fmod_ret,
/// bpf_override_return), besides security_* hooks. The file exists only where the kernel is
/// built with CONFIG_FUNCTION_ERROR_INJECTION; read once on first use.
package final class ErrorInjectionList: Sendable {
    private let path: String
    private let names = Mutex<Set<String>??>(nil)

    package init(path: String = "/sys/kernel/debug/error_injection/list") { self.path = path }

    /// nil when the kernel has no list (or debugfs is not mounted).
    package func contains(_ function: String) -> Bool? {
        names.withLock { names in
            if names == nil { names = .some(Self.read(path)) }
            guard let list = names ?? nil else { return nil }
            return list.contains(function)
        }
    }

    /// Lines are `name<TAB>ERRNO` (or `name [module]<TAB>TYPE`): the first word of each.
    static func read(_ path: String) -> Set<String>? {
        KernelSymbols.lineFields(path).map { lines in Set(lines.compactMap { $0.first.map(String.init) }) }
    }
}
