// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Tracefs

struct DeclCase: Sendable, CustomTestStringConvertible {
    var declaration: String
    var size: Int
    var signed: Bool
    var name: String
    var type: FieldType
    var testDescription: String { declaration }

    init(_ declaration: String, size: Int, signed: Bool = false, _ name: String, _ type: FieldType) {
        self.declaration = declaration
        self.size = size
        self.signed = signed
        self.name = name
        self.type = type
    }
}

/// Declarations as they appear in format files (all shapes seen on Linux 6.18 and a few older ones).
let declarationCases: [DeclCase] = [
    DeclCase("unsigned short common_type", size: 2, "common_type", .integer(size: 2, signed: false, cType: "unsigned short")),
    DeclCase("int common_pid", size: 4, signed: true, "common_pid", .integer(size: 4, signed: true, cType: "int")),
    DeclCase("unsigned int fd", size: 8, "fd", .integer(size: 8, signed: false, cType: "unsigned int")),
    DeclCase("unsigned flags", size: 4, "flags", .integer(size: 4, signed: false, cType: "unsigned")),
    DeclCase("unsigned long long ts", size: 8, "ts", .integer(size: 8, signed: false, cType: "unsigned long long")),
    DeclCase("long ret", size: 8, signed: true, "ret", .integer(size: 8, signed: true, cType: "long")),
    DeclCase("__u64 cookie", size: 8, "cookie", .integer(size: 8, signed: false, cType: "__u64")),
    DeclCase("u32 mask", size: 4, "mask", .integer(size: 4, signed: false, cType: "u32")),
    DeclCase("pid_t pid", size: 4, signed: true, "pid", .integer(size: 4, signed: true, cType: "pid_t")),
    DeclCase("size_t count", size: 8, "count", .integer(size: 8, signed: false, cType: "size_t")),
    DeclCase("umode_t mode", size: 8, "mode", .integer(size: 8, signed: false, cType: "umode_t")),
    DeclCase("bool boost", size: 1, "boost", .integer(size: 1, signed: false, cType: "bool")),
    DeclCase("unsigned char common_flags", size: 1, "common_flags", .integer(size: 1, signed: false, cType: "unsigned char")),
    DeclCase("signed char prio", size: 1, signed: true, "prio", .integer(size: 1, signed: true, cType: "signed char")),
    DeclCase("const int which", size: 8, "which", .integer(size: 8, signed: false, cType: "int")),
    DeclCase("const clockid_t which_clock", size: 8, "which_clock", .integer(size: 8, signed: false, cType: "clockid_t")),
    DeclCase("enum zone_type zone", size: 4, "zone", .integer(size: 4, signed: false, cType: "enum zone_type")),
    DeclCase("int __attribute__((user)) x", size: 4, signed: true, "x", .integer(size: 4, signed: true, cType: "int")),
    DeclCase("const char * filename", size: 8, "filename", .pointer(pointee: "const char")),
    DeclCase("char * buf", size: 8, "buf", .pointer(pointee: "char")),
    DeclCase("char *buf", size: 8, "buf", .pointer(pointee: "char")),
    DeclCase("unsigned char * data", size: 8, "data", .pointer(pointee: "unsigned char")),
    DeclCase("const void* value", size: 8, "value", .pointer(pointee: "const void")),
    DeclCase("void * ptr", size: 8, "ptr", .pointer(pointee: "void")),
    DeclCase("void __seg_gs * pcpu", size: 8, "pcpu", .pointer(pointee: "void")),
    DeclCase("const char __user * filename", size: 8, "filename", .pointer(pointee: "const char")),
    DeclCase("const char __attribute__((btf_type_tag(\"user\"))) * filename", size: 8, "filename", .pointer(pointee: "const char")),
    DeclCase("struct sockaddr * uservaddr", size: 8, "uservaddr", .pointer(pointee: "struct sockaddr")),
    DeclCase("const struct sockaddr * addr", size: 8, "addr", .pointer(pointee: "const struct sockaddr")),
    DeclCase("union bpf_attr * uattr", size: 8, "uattr", .pointer(pointee: "union bpf_attr")),
    DeclCase("const char *const * argv", size: 8, "argv", .pointer(pointee: "const char *const")),
    DeclCase("struct iocb * * iocbpp", size: 8, "iocbpp", .pointer(pointee: "struct iocb *")),
    DeclCase("const struct landlock_ruleset_attr *const attr", size: 8, "attr", .pointer(pointee: "const struct landlock_ruleset_attr")),
    DeclCase("const void *const value", size: 8, "value", .pointer(pointee: "const void")),
    DeclCase("char comm[16]", size: 16, "comm", .array(element: "char", count: 16, elementSize: 1)),
    DeclCase("unsigned long args[6]", size: 48, "args", .array(element: "unsigned long", count: 6, elementSize: 8)),
    DeclCase("__u8 saddr[4]", size: 4, "saddr", .array(element: "__u8", count: 4, elementSize: 1)),
    DeclCase("long caller[3]", size: 24, signed: true, "caller", .array(element: "long", count: 3, elementSize: 8)),
    DeclCase("char buf[]", size: 0, "buf", .array(element: "char", count: 0, elementSize: 0)),
    DeclCase("char name[TASK_COMM_LEN]", size: 16, "name", .other("char[TASK_COMM_LEN]")),
    DeclCase("__data_loc char[] filename", size: 4, "filename", .dataLoc(element: "char")),
    DeclCase("__data_loc u8[] buf", size: 4, "buf", .dataLoc(element: "u8")),
    DeclCase("__data_loc unsigned int[] ids", size: 4, "ids", .dataLoc(element: "unsigned int")),
    DeclCase("__data_loc cpumask_t cpumask", size: 4, "cpumask", .dataLoc(element: "cpumask_t")),
    DeclCase("__rel_loc char[] msg", size: 4, "msg", .relLoc(element: "char")),
    DeclCase("struct timespec64 ts", size: 16, "ts", .other("struct timespec64")),
    DeclCase("sigset_t set", size: 128, "set", .other("sigset_t")),
]

@Suite struct CDeclarationTests {
    @Test(arguments: declarationCases)
    func parses(_ c: DeclCase) {
        let parsed = CDeclaration.parse(c.declaration, fieldSize: c.size, fieldSigned: c.signed)
        #expect(parsed.name == c.name)
        #expect(parsed.type == c.type)
    }

    @Test func charTypes() {
        #expect(CDeclaration.isCharType("char"))
        #expect(CDeclaration.isCharType("const char"))
        #expect(CDeclaration.isCharType("unsigned char"))
        #expect(CDeclaration.isCharType("const signed char"))
        #expect(!CDeclaration.isCharType("u8"))
        #expect(!CDeclaration.isCharType("const char *const"))
        #expect(!CDeclaration.isCharType("void"))
    }

    @Test func summaries() {
        #expect(FieldType.integer(size: 8, signed: false, cType: "int").summary == "8-byte unsigned integer (int)")
        #expect(FieldType.pointer(pointee: "const char").summary == "pointer (const char *)")
        #expect(FieldType.array(element: "unsigned long", count: 6, elementSize: 8).summary == "array (unsigned long[6])")
        #expect(FieldType.dataLoc(element: "char").summary == "__data_loc char[]")
    }
}
