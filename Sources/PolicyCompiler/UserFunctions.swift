// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Where a uprobe of a policy asks to sit in its binary.
package enum UserFunctionTarget: Sendable, Hashable {
    /// A function symbol (`symbols`), looked up in the file's .symtab and .dynsym.
    case symbol(String)
    /// A file offset (`offsets`), as the uprobe PMU and /sys/kernel/tracing/uprobe_events take it.
    case offset(UInt64)
    /// A virtual address in the file's loadable segments (`addrs`, as `nm` prints a symbol's
    /// value), turned into the file offset of that byte.
    case address(UInt64)
}

/// What the compiler found of a uprobe target in the binary.
package enum UserFunctionLookup: Sendable, Hashable {
    /// The file offset the probe goes to.
    case offset(UInt64)
    /// The target cannot be probed in that binary, in words for the operator.
    case refused(String)
    /// The binary itself cannot be probed (missing, not a file, not ELF), in words for the operator.
    case unusableBinary(String)
    /// Not looked at where the compiler runs (validation away from the node): libbpf resolves a
    /// symbol when the agent attaches it.
    case unchecked
}

/// The function symbols of an ELF file and the file offsets uprobes attach at, read as libbpf
/// reads them for `bpf_program__attach_uprobe_opts` with a `func_name` (offset = the symbol's
/// value - its section's address + the section's file offset), so the compiler refuses a missing
/// symbol at its position in the policy and the event can name the offset.
package enum ELFFunctions {
    /// Looks `target` up in the file at `path`.
    package static func lookup(_ target: UserFunctionTarget, in path: String) -> UserFunctionLookup {
        // O_NONBLOCK: a FIFO named as the binary would otherwise block the open (and the agent).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            return .unusableBinary("\(path): \(String(cString: strerror(errno))) on this node")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return .unusableBinary("\(path) is not a regular file")
        }
        // Read, not mapped: a file truncated under a mapping would kill the agent with SIGBUS.
        // Only the headers and the symbol tables are read, with pread, bounded by the file size.
        guard let elf = ELF64(ELF64.File(fd: fd, size: UInt64(info.st_size))) else {
            return .unusableBinary("\(path) is not a 64-bit little-endian ELF file (uprobes need the machine code of a binary or library)")
        }
        switch target {
        case .offset(let offset):
            guard offset < elf.file.size else {
                return .refused("offset 0x\(String(offset, radix: 16)) is past the end of \(path) (\(elf.file.size) bytes)")
            }
            guard elf.isExecutableOffset(offset) else {
                return .refused("offset 0x\(String(offset, radix: 16)) of \(path) is not in an executable segment")
            }
            return .offset(offset)
        case .address(let address):
            guard let offset = elf.executableOffset(ofAddress: address) else {
                return .refused("address 0x\(String(address, radix: 16)) is not in an executable segment of \(path)")
            }
            return .offset(offset)
        case .symbol(let name):
            let offsets = elf.functionOffsets(named: name)
            if offsets.isEmpty {
                return .refused(
                    "\(path) has no function symbol \(name) (neither in .symtab nor in .dynsym: misspelled, static and "
                        + "stripped, or in a library the binary loads rather than in the binary)")
            }
            guard offsets.count == 1, let offset = offsets.first else {
                return .refused(
                    "\(path) has \(offsets.count) different functions named \(name) (at file offsets "
                        + offsets.sorted().map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
                        + "); give the one meant in `offsets`")
            }
            return .offset(offset)
        }
    }
}

/// The parts of an ELF64 little-endian file a uprobe needs: section headers, symbol tables and
/// program headers. Every read is bounds-checked: the file is whatever the policy names.
struct ELF64 {
    /// An open file read with pread.
    struct File {
        let fd: Int32
        let size: UInt64

        /// `count` bytes at `offset`, or nil when they are not all inside the file (or a table
        /// would be larger than any real one: 1 GB).
        func read(_ offset: UInt64, _ count: UInt64) -> [UInt8]? {
            guard offset <= size, count <= size - offset, count <= 1 << 30 else { return nil }
            var buffer = [UInt8](repeating: 0, count: Int(count))
            var done = 0
            while done < buffer.count {
                let n = buffer.withUnsafeMutableBytes { raw in
                    pread(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return nil }
                done += n
            }
            return buffer
        }
    }

    struct Section {
        var type: UInt32
        var address: UInt64
        var offset: UInt64
        var size: UInt64
        var link: UInt32
        var entrySize: UInt64
    }

    let file: File
    let sections: [Section]
    /// The loadable executable segments (PT_LOAD with PF_X): file offset, virtual address, size in the file.
    let executableSegments: [(offset: UInt64, address: UInt64, size: UInt64)]

    init?(_ file: File) {
        self.file = file
        guard let header = file.read(0, 64), header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46,
            header[4] == 2 /* ELFCLASS64 */, header[5] == 1 /* ELFDATA2LSB */
        else { return nil }
        var sections: [Section] = []
        let shoff = Self.u64(header, 0x28), shentsize = UInt64(Self.u16(header, 0x3a)), shnum = UInt64(Self.u16(header, 0x3c))
        if shentsize >= 64, shoff > 0, let table = file.read(shoff, shnum * shentsize) {
            for i in 0..<Int(shnum) {
                let at = i * Int(shentsize)
                sections.append(
                    Section(
                        type: Self.u32(table, at + 4), address: Self.u64(table, at + 16), offset: Self.u64(table, at + 24),
                        size: Self.u64(table, at + 32), link: Self.u32(table, at + 40), entrySize: Self.u64(table, at + 56)))
            }
        }
        self.sections = sections
        var segments: [(offset: UInt64, address: UInt64, size: UInt64)] = []
        let phoff = Self.u64(header, 0x20), phentsize = UInt64(Self.u16(header, 0x36)), phnum = UInt64(Self.u16(header, 0x38))
        if phentsize >= 56, let table = file.read(phoff, phnum * phentsize) {
            for i in 0..<Int(phnum) {
                let at = i * Int(phentsize)
                guard Self.u32(table, at) == 1 /* PT_LOAD */, Self.u32(table, at + 4) & 1 != 0 /* PF_X */ else { continue }
                segments.append((Self.u64(table, at + 8), Self.u64(table, at + 16), Self.u64(table, at + 32)))
            }
        }
        self.executableSegments = segments
    }

    /// File offsets of the defined functions (STT_FUNC, STT_GNU_IFUNC) named `name` (or
    /// `name@VERSION`, as libbpf accepts), from .symtab and .dynsym; distinct values.
    func functionOffsets(named name: String) -> Set<UInt64> {
        let wanted = Array(name.utf8)
        var found: Set<UInt64> = []
        for table in sections where table.type == 2 /* SHT_SYMTAB */ || table.type == 11 /* SHT_DYNSYM */ {
            guard Int(table.link) < sections.count, table.entrySize >= 24, table.entrySize <= 4096,
                let symbols = file.read(table.offset, table.size)
            else { continue }
            let stringTable = sections[Int(table.link)]
            guard let strings = file.read(stringTable.offset, stringTable.size) else { continue }
            let entry = Int(table.entrySize)
            for i in 0..<(symbols.count / entry) {
                let at = i * entry
                let kind = symbols[at + 4] & 0xf
                let shndx = Self.u16(symbols, at + 6)
                guard kind == 2 || kind == 10, shndx != 0, shndx < 0xff00, Int(shndx) < sections.count,
                    Self.matches(wanted, in: strings, at: Int(Self.u32(symbols, at)))
                else { continue }
                let value = Self.u64(symbols, at + 8)
                let section = sections[Int(shndx)]
                guard value >= section.address else { continue }
                found.insert((value - section.address) &+ section.offset)
            }
        }
        return found
    }

    /// Whether `offset` lies in the file bytes of a loadable executable segment.
    func isExecutableOffset(_ offset: UInt64) -> Bool {
        executableSegments.contains { offset >= $0.offset && offset - $0.offset < $0.size }
    }

    /// The file offset of the byte at virtual address `address` in an executable segment, as
    /// libbpf and cilium/ebpf turn an address into an offset: address - p_vaddr + p_offset.
    func executableOffset(ofAddress address: UInt64) -> UInt64? {
        executableSegments.first { address >= $0.address && address - $0.address < $0.size }
            .map { (address - $0.address) &+ $0.offset }
    }

    /// Whether the NUL-terminated string at `at` of `strings` is `wanted`, or `wanted@...`.
    private static func matches(_ wanted: [UInt8], in strings: [UInt8], at: Int) -> Bool {
        guard at >= 0, at + wanted.count < strings.count else { return false }
        for (i, byte) in wanted.enumerated() where strings[at + i] != byte { return false }
        let next = strings[at + wanted.count]
        return next == 0 || next == UInt8(ascii: "@")
    }

    private static func u16(_ b: [UInt8], _ at: Int) -> UInt16 {
        guard at >= 0, at + 2 <= b.count else { return 0 }
        return UInt16(b[at]) | UInt16(b[at + 1]) << 8
    }

    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at >= 0, at + 4 <= b.count else { return 0 }
        return (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }

    private static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        guard at >= 0, at + 8 <= b.count else { return 0 }
        return (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }
}
