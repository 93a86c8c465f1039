// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Tracefs

struct KprobeCallCase: Sendable, CustomTestStringConvertible {
    var call: String
    var syscall: String?
    var abi: SyscallABI?
    var testDescription: String { call.isEmpty ? "\"\"" : call }

    init(_ call: String, _ syscall: String?, _ abi: SyscallABI? = nil) {
        self.call = call
        self.syscall = syscall
        self.abi = abi
    }
}

let kprobeCallCases: [KprobeCallCase] = [
    KprobeCallCase("sys_openat", "openat", .x86_64),
    KprobeCallCase("sys_write", "write", .x86_64),
    KprobeCallCase("__x64_sys_openat", "openat", .x86_64),
    KprobeCallCase("__x64_sys_execve", "execve", .x86_64),
    KprobeCallCase("__ia32_sys_dup", "dup", .i386),
    KprobeCallCase("__ia32_compat_sys_openat", "openat", .i386),
    KprobeCallCase("__arm64_sys_openat", "openat", .arm64),
    KprobeCallCase("sys_clone3", "clone3", .x86_64),
    KprobeCallCase("sys_pread64", "pread64", .x86_64),
    // Not syscall entry points.
    KprobeCallCase("openat", nil),
    KprobeCallCase("do_sys_openat2", nil),
    KprobeCallCase("ksys_read", nil),
    KprobeCallCase("__se_sys_openat", nil),
    KprobeCallCase("__do_sys_openat", nil),
    KprobeCallCase("security_file_open", nil),
    KprobeCallCase("fd_install", nil),
    KprobeCallCase("sys_", nil),
    KprobeCallCase("__x64_sys_", nil),
    KprobeCallCase("sys_open at", nil),
    KprobeCallCase("", nil),
]

@Suite struct SyscallTracepointTests {
    @Test(arguments: kprobeCallCases)
    func kprobeCall(_ c: KprobeCallCase) {
        let result = SyscallTracepoint.forKprobeCall(c.call)
        #expect(result?.syscall == c.syscall)
        #expect(result?.abi == c.abi)
    }

    @Test func defaultABIForUnprefixedCalls() {
        #expect(SyscallTracepoint.forKprobeCall("sys_openat", defaultABI: .arm64)! == ("openat", .arm64))
        #expect(SyscallTracepoint.forKprobeCall("__x64_sys_openat", defaultABI: .arm64)! == ("openat", .x86_64))
    }

    @Test func eventNames() {
        #expect(SyscallTracepoint.enterEvent(syscall: "openat") == "sys_enter_openat")
        #expect(SyscallTracepoint.exitEvent(syscall: "openat") == "sys_exit_openat")
        #expect(SyscallTracepoint.subsystem == "syscalls")
        #expect(SyscallTracepoint.enterEvent(forTableName: "fstat") == "sys_enter_newfstat")
        #expect(SyscallTracepoint.enterEvent(forTableName: "umount2") == "sys_enter_umount")
        #expect(SyscallTracepoint.enterEvent(forTableName: "openat") == "sys_enter_openat")
        // A kprobe on the function name maps straight to the event.
        #expect(SyscallTracepoint.forKprobeCall("__x64_sys_newfstat").map { SyscallTracepoint.enterEvent(syscall: $0.syscall) }
                == "sys_enter_newfstat")
    }

    @Test func argumentFieldMapping() {
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 0) == 5)
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 1) == 6)
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 5) == 10)
    }

    /// openat(dfd, filename, flags, mode): kprobe arg 1 is `filename`, field 6.
    @Test func mappingAgainstSysEnterOpenat() throws {
        let f = Formats.openat
        #expect(f.fields[SyscallTracepoint.syscallNumberFieldIndex].name == "__syscall_nr")
        let names = ["dfd", "filename", "flags", "mode"]
        for (arg, name) in names.enumerated() {
            let index = try #require(SyscallTracepoint.fieldIndex(forKprobeArg: arg, in: f))
            #expect(f.fields[index].name == name)
        }
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 1) == 6)
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 4, in: f) == nil)
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: -1, in: f) == nil)
        // The kprobe `string` type on arg 1 resolves on the tracepoint.
        let resolved = try TracepointArgResolver.resolve(
            format: f, index: SyscallTracepoint.fieldIndex(forKprobeArg: 1), declaredType: "string", sizeArgIndex: nil).get()
        #expect(resolved.kind == .string)
        #expect(resolved.offset == 24)
    }

    /// write(fd, buf, count): kprobe arg 2 is `count`, field 7; `char_buf` with kprobe
    /// `sizeArgIndex: 3` (1-based arg) becomes tracepoint `sizeArgIndex: 8` (1-based field).
    @Test func mappingAgainstSysEnterWrite() throws {
        let f = Formats.write
        let count = try #require(SyscallTracepoint.fieldIndex(forKprobeArg: 2, in: f))
        #expect(count == 7)
        #expect(f.fields[count].name == "count")
        #expect(f.fields[SyscallTracepoint.fieldIndex(forKprobeArg: 0)].name == "fd")
        #expect(f.fields[SyscallTracepoint.fieldIndex(forKprobeArg: 1)].name == "buf")
        let kprobeSizeArgIndex = 3
        let tracepointSizeArgIndex = SyscallTracepoint.sizeArgIndex(forKprobeSizeArgIndex: kprobeSizeArgIndex)
        #expect(tracepointSizeArgIndex == 8)
        #expect(SyscallTracepoint.sizeArgIndex(forKprobeSizeArgIndex: 0) == 0)
        let buf = try TracepointArgResolver.resolve(
            format: f, index: SyscallTracepoint.fieldIndex(forKprobeArg: 1), declaredType: "char_buf",
            sizeArgIndex: tracepointSizeArgIndex).get()
        #expect(buf.kind == .charBuf(size: TracepointSizeField(fieldIndex: 7, offset: 32, size: 8)))
    }

    @Test func returnValueOfSysExit() {
        let f = Formats.exitOpenat
        #expect(f.fields[SyscallTracepoint.returnFieldIndex].name == "ret")
    }

    @Test func checkedMappingNeedsASyscallFormat() {
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 0, in: Formats.exec) == nil)
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 0, in: Formats.raw) == nil)
    }

    @Test(.enabled(if: Tracefs.root() != nil, "tracefs is not mounted"))
    func existsOnThisMachine() throws {
        let root = try #require(Tracefs.root())
        #expect(SyscallTracepoint.exists(tracefsRoot: root, syscall: "openat"))
        #expect(SyscallTracepoint.exists(tracefsRoot: root, syscall: "write"))
        #expect(!SyscallTracepoint.exists(tracefsRoot: root, syscall: "no_such_syscall"))
        #expect(SyscallTracepoint.exists(tracefsRoot: root, syscall: "fstat"))
        #expect(SyscallTracepoint.exists(tracefsRoot: root, syscall: "newfstat"))
        // Live check of the mapping on the real format files.
        let write = try TracepointFormat.load(tracefsRoot: root, subsystem: "syscalls", event: "sys_enter_write")
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 2, in: write).map { write.fields[$0].name } == "count")
        let openat = try TracepointFormat.load(tracefsRoot: root, subsystem: "syscalls", event: "sys_enter_openat")
        #expect(SyscallTracepoint.fieldIndex(forKprobeArg: 1, in: openat).map { openat.fields[$0].name } == "filename")
    }

    @Test func existsIsFalseWithoutTracefs() {
        #expect(!SyscallTracepoint.exists(tracefsRoot: "/nonexistent-tracefs", syscall: "openat"))
    }
}
