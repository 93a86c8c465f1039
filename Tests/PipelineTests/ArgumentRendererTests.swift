// SPDX-License-Identifier: Apache-2.0
import Events
import Pipeline
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// What a hook read -> Tetragon's argument values.
@Suite struct ArgumentRendererTests {
    static func arg(_ kind: TracepointArgKind, _ type: ArgType = .auto, label: String? = nil) -> CompiledArg {
        CompiledArg(label: label, declaredType: type, kind: kind)
    }

    static func render(_ raw: RawArgument, _ kind: TracepointArgKind, label: String? = nil) -> [ArgumentValue] {
        ArgumentRenderer.render(raw, as: arg(kind, label: label)).map(\.value)
    }

    @Test func integers() {
        // The kernel sign-extends signed fields to 64 bits.
        #expect(Self.render(.integer(UInt64(bitPattern: -1)), .int(size: 4, signed: true)) == [.int(-1)])
        #expect(Self.render(.integer(UInt64(bitPattern: -2)), .int(size: 2, signed: true)) == [.int(-2)])
        #expect(Self.render(.integer(0x7f), .int(size: 1, signed: true)) == [.int(127)])
        #expect(Self.render(.integer(0xffff_ffff), .int(size: 4, signed: false)) == [.uint(4_294_967_295)])
        #expect(Self.render(.integer(0o644), .int(size: 2, signed: false)) == [.uint(420)])
        #expect(Self.render(.integer(UInt64(bitPattern: -5)), .int(size: 8, signed: true)) == [.long(-5)])
        #expect(Self.render(.integer(UInt64.max), .int(size: 8, signed: false)) == [.size(UInt64.max)])
        #expect(Self.render(.integer(1 << 40), .int(size: 8, signed: false)) == [.size(1 << 40)])
    }

    @Test func fileDescriptors() {
        #expect(Self.render(.integer(3), .fd) == [.int(3)])
        #expect(Self.render(.integer(UInt64(bitPattern: -100)), .fd) == [.int(-100)])  // AT_FDCWD
    }

    @Test func syscallIDs() {
        #expect(Self.render(.integer(59), .syscall64) == [.syscallID(id: 59, abi: "x64")])
        // 32-bit tasks: the compat bit marks an i386 number.
        #expect(Self.render(.integer(Syscalls.compat32Bit | 11), .syscall64) == [.syscallID(id: 11, abi: "i386")])
    }

    @Test func strings() {
        let path = Array("/etc/passwd".utf8)
        #expect(Self.render(.string(path, truncated: false), .string) == [.string(path)])
        #expect(Self.render(.string(path, truncated: true), .dataLocString) == [.string(path)])
        #expect(Self.render(.string([], truncated: false), .string) == [.string([])])
    }

    @Test func buffers() {
        let size = TracepointSizeField(fieldIndex: 7, offset: 32, size: 8)
        let bytes: [UInt8] = [0x68, 0x69, 0x0a]
        #expect(Self.render(.buffer(bytes, size: 3, truncated: false), .charBuf(size: size)) == [.bytes(bytes)])
        let captured = [UInt8](repeating: 0x41, count: 4096)
        #expect(Self.render(.buffer(captured, size: 10_000, truncated: true), .charBuf(size: size))
            == [.truncatedBytes(captured, originalSize: 10_000)])
    }

    /// raw_syscalls' `unsigned long args[6]`: one size_arg per element, as Tetragon renders it.
    @Test func constBufferOfLongs() {
        var bytes: [UInt8] = []
        let values: [UInt64] = [1, 0xdead_beef, 0, UInt64.max, 42, 1 << 63]
        for v in values { bytes += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let kind = TracepointArgKind.constBuf(bytes: 48, elementSize: 8, elementCount: 6)
        let rendered = ArgumentRenderer.render(.constBuffer(bytes), as: Self.arg(kind, label: "args"))
        #expect(rendered.count == 6)
        #expect(rendered.map(\.value) == values.map { .size($0) })
        #expect(rendered.allSatisfy { $0.label == "args" })
        // Other arrays (char comm[16]) stay bytes.
        let comm = Array("bash".utf8) + [UInt8](repeating: 0, count: 12)
        #expect(Self.render(.constBuffer(comm), .constBuf(bytes: 16, elementSize: 1, elementCount: 16)) == [.bytes(comm)])
    }

    @Test func sockaddrs() {
        #expect(Self.render(.sockaddr(family: 2, port: 443, address: [10, 0, 0, 1]), .sockaddr)
            == [.sockaddr(family: "AF_INET", address: "10.0.0.1", port: 443)])
        #expect(Self.render(.sockaddr(family: 2, port: 0, address: [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12)), .sockaddr)
            == [.sockaddr(family: "AF_INET", address: "10.0.0.1", port: 0)])
        func v6(_ groups: [UInt16]) -> RawArgument {
            .sockaddr(family: 10, port: 8080, address: groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
        }
        func text(_ raw: RawArgument) -> String? {
            if case .sockaddr(_, let address, _) = Self.render(raw, .sockaddr).first { return address }
            return nil
        }
        #expect(Self.render(v6([0, 0, 0, 0, 0, 0, 0, 1]), .sockaddr) == [.sockaddr(family: "AF_INET6", address: "::1", port: 8080)])
        #expect(text(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])) == "2001:db8::1")
        #expect(text(v6([0, 0, 0, 0, 0, 0, 0, 0])) == "::")
        #expect(text(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0])) == "fe80::")
        // One zero group is not compressed; the longest run is, the first of equal runs.
        #expect(text(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])) == "2001:db8:0:1:1:1:1:1")
        #expect(text(v6([0x2001, 0, 0, 1, 0, 0, 0, 1])) == "2001:0:0:1::1")
        #expect(text(v6([0x2001, 0, 0, 1, 1, 0, 0, 1])) == "2001::1:1:0:0:1")
        #expect(Self.render(.sockaddr(family: 1, port: 0, address: []), .sockaddr)
            == [.sockaddr(family: "AF_UNIX", address: "", port: 0)])
        #expect(Self.render(.sockaddr(family: 16, port: 0, address: []), .sockaddr)
            == [.sockaddr(family: "16", address: "", port: 0)])
    }

    @Test func unreadable() {
        #expect(Self.render(.unreadable, .string) == [.error("could not read the argument")])
        #expect(Self.render(.unreadable, .sockaddr) == [.error("could not read the argument")])
    }

    /// vigil_argv: the arguments NUL-terminated each -> Tetragon's `arguments` text; cut by the
    /// kernel's read -> truncated_bytes_arg with the whole size, never a silent string.
    @Test func argvIsTheArgumentsText() {
        let bytes = Array("-r\u{0}BEGIN RSA PRIVATE\u{0}/home\u{0}".utf8)
        let arg = Self.arg(.string, .vigilArgv, label: "arguments")
        let whole = ArgumentRenderer.render(.buffer(bytes, size: UInt64(bytes.count), truncated: false), as: arg)
        #expect(whole == [Argument(.string(Array("-r \"BEGIN RSA PRIVATE\" /home".utf8)), label: "arguments")])
        let cut = ArgumentRenderer.render(.buffer(Array("-r\u{0}BEG".utf8), size: 5000, truncated: true), as: arg)
        #expect(cut == [Argument(.truncatedBytes(Array("-r BEG".utf8), originalSize: 5000), label: "arguments")])
    }

    @Test func labelsAreCarried() {
        let rendered = ArgumentRenderer.render(.integer(1), as: Self.arg(.int(size: 4, signed: true), .int, label: "fd"))
        #expect(rendered == [Argument(.int(1), label: "fd")])
    }
}
