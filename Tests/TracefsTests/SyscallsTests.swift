// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Tracefs

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SyscallsTests {
    @Test func x86_64Numbers() {
        #expect(Syscalls.number(of: "openat") == 257)
        #expect(Syscalls.number(of: "write") == 1)
        #expect(Syscalls.number(of: "dup") == 32)
        #expect(Syscalls.number(of: "read") == 0)
        #expect(Syscalls.number(of: "execve") == 59)
        #expect(Syscalls.number(of: "openat2") == 437)
        #expect(Syscalls.number(of: "set_mempolicy_home_node") == 450)
        // Newer than the installed headers (script supplement).
        #expect(Syscalls.number(of: "fchmodat2") == 452)
        #expect(Syscalls.number(of: "file_setattr") == 469)
        #expect(Syscalls.number(of: "uretprobe") == 335)
        #expect(Syscalls.number(of: "uprobe") == 336)
        #expect(Syscalls.number(of: "uprobe", abi: .i386) == nil)
    }

    @Test func i386Numbers() {
        #expect(Syscalls.number(of: "dup", abi: .i386) == 41)
        #expect(Syscalls.number(of: "write", abi: .i386) == 4)
        #expect(Syscalls.number(of: "openat", abi: .i386) == 295)
        #expect(Syscalls.number(of: "socketcall", abi: .i386) == 102)
        #expect(Syscalls.number(of: "socketcall") == nil)
        #expect(Syscalls.number(of: "cachestat", abi: .i386) == 451)
    }

    @Test func spellings() {
        #expect(Syscalls.number(of: "sys_openat") == 257)
        #expect(Syscalls.number(of: "__x64_sys_openat") == 257)
        #expect(Syscalls.number(of: "__ia32_sys_dup") == 41)
        #expect(Syscalls.number(of: "__ia32_compat_sys_openat") == 295)
        #expect(Syscalls.number(of: "i386/sys_dup") == 41)
        #expect(Syscalls.number(of: "i386/dup") == 41)
        #expect(Syscalls.number(of: "i386/__ia32_sys_dup") == 41)
        #expect(Syscalls.number(of: "x64/sys_dup", abi: .i386) == 32)
        // A prefix overrides the abi argument.
        #expect(Syscalls.number(of: "__x64_sys_openat", abi: .i386) == 257)
        #expect(Syscalls.number(of: "sys_openat", abi: .i386) == 295)
    }

    /// x86_64 syscalls whose kernel function is not `sys_<table name>`.
    @Test func entryPointAliases() {
        #expect(Syscalls.number(of: "newfstat") == 5)
        #expect(Syscalls.number(of: "sys_newstat") == 4)
        #expect(Syscalls.number(of: "__x64_sys_newlstat") == 6)
        #expect(Syscalls.number(of: "sendfile64") == 40)
        #expect(Syscalls.number(of: "newuname") == 63)
        #expect(Syscalls.number(of: "umount") == 166)
        #expect(Syscalls.number(of: "umount2") == 166)
        #expect(Syscalls.number(of: "umount", abi: .i386) == 22)     // a real i386 table name
        #expect(Syscalls.number(of: "newfstat", abi: .i386) == nil)  // aliases are x86_64 only
        #expect(Syscalls.name(of: 5) == "fstat")
        #expect(Syscalls.x86_64EntryName(of: "fstat") == "newfstat")
        #expect(Syscalls.x86_64EntryName(of: "openat") == "openat")
    }

    @Test func rejectedSpellings() {
        #expect(Syscalls.number(of: "") == nil)
        #expect(Syscalls.number(of: "sys_") == nil)
        #expect(Syscalls.number(of: "no_such_syscall") == nil)
        #expect(Syscalls.number(of: "mips/sys_dup") == nil)
        #expect(Syscalls.number(of: "x64/__ia32_sys_dup") == nil)
        #expect(Syscalls.number(of: "i386/sys/dup") == nil)
        #expect(Syscalls.number(of: "__arm64_sys_openat") == nil)   // no arm64 table
        #expect(Syscalls.number(of: "do_sys_open") == nil)
    }

    @Test func parse() {
        #expect(Syscalls.parse("i386/sys_dup")! == ("dup", .i386))
        #expect(Syscalls.parse("__arm64_sys_openat")! == ("openat", .arm64))
        #expect(Syscalls.parse("openat", defaultABI: .i386)! == ("openat", .i386))
        #expect(Syscalls.parse("arm64/sys_openat")! == ("openat", .arm64))
        #expect(Syscalls.parse("bogus/sys_openat") == nil)
    }

    @Test func names() {
        #expect(Syscalls.name(of: 257) == "openat")
        #expect(Syscalls.name(of: 1) == "write")
        #expect(Syscalls.name(of: 32) == "dup")
        #expect(Syscalls.name(of: 41, abi: .i386) == "dup")
        #expect(Syscalls.name(of: 11, abi: .i386) == "execve")
        #expect(Syscalls.name(of: 400) == nil)          // x86_64 gap 335..423
        #expect(Syscalls.name(of: 222, abi: .i386) == nil)
        #expect(Syscalls.name(of: -1) == nil)
        #expect(Syscalls.name(of: 10_000) == nil)
        #expect(Syscalls.name(of: 0, abi: .arm64) == nil)
    }

    @Test func tablesRoundTrip() {
        for abi in [SyscallABI.x86_64, .i386] {
            let all = Syscalls.allNames(abi: abi)
            #expect(all.count > 350)
            #expect(Set(all).count == all.count, "duplicate names in \(abi)")
            for name in all {
                let number = Syscalls.number(of: name, abi: abi)
                #expect(number.flatMap { Syscalls.name(of: $0, abi: abi) } == name)
            }
        }
        #expect(Syscalls.allNames(abi: .arm64).isEmpty)
    }

    @Test func abiNames() {
        #expect(SyscallABI.x86_64.rawValue == "x64")
        #expect(SyscallABI.i386.tetragonName == "i386")
        #expect(SyscallABI(rawValue: "x64") == .x86_64)
        #expect(SyscallABI.i386.symbolPrefix == "__ia32_")
    }

    @Test func decodeSyscall64() {
        #expect(Syscalls.decodeSyscall64(257) == (257, .x86_64))
        #expect(Syscalls.decodeSyscall64(41 | Syscalls.compat32Bit) == (41, .i386))
        #expect(Syscalls.decodeSyscall64(59, nativeABI: .arm64) == (59, .arm64))
    }

    /// On this machine every syscall with a `sys_enter_*` tracepoint has a number (the tables are
    /// not older than the running kernel, and the entry-point aliases are complete).
    @Test(.enabled(if: Tracefs.root() != nil, "tracefs is not mounted"))
    func everySyscallTracepointHasANumber() throws {
        let root = try #require(Tracefs.root())
        guard let dir = opendir(root + "/events/syscalls") else {
            Issue.record("no events/syscalls")
            return
        }
        defer { closedir(dir) }
        var missing: [String] = []
        var seen = 0
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasPrefix("sys_enter_") else { continue }
            seen += 1
            let syscall = String(name.dropFirst("sys_enter_".count))
            if Syscalls.number(of: syscall) == nil { missing.append(syscall) }
        }
        #expect(seen > 300)
        #expect(missing.isEmpty, "\(missing)")
    }
}
