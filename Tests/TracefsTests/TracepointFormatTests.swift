// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Tracefs

#if canImport(Glibc)
import Glibc
#endif

/// Synthetic format files for shapes the real fixtures do not cover.
enum SyntheticFormats {
    /// A `__data_loc char[]` string, a `__data_loc` of non-char, a fixed char array, a u32 array,
    /// a flexible array, a `__rel_loc`, attribute noise (5.16+), a `bool`, a struct by value,
    /// an unexpanded array-size macro and a `void *`.
    static let mixed = """
    name: mixed_event
    ID: 4242
    format:
    \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
    \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
    \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
    \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

    \tfield:__data_loc char[] path;\toffset:8;\tsize:4;\tsigned:0;
    \tfield:__data_loc u64[] ids;\toffset:12;\tsize:4;\tsigned:0;
    \tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;
    \tfield:u32 sigset[2];\toffset:32;\tsize:8;\tsigned:0;
    \tfield:const char __attribute__((btf_type_tag("user"))) * name;\toffset:40;\tsize:8;\tsigned:0;
    \tfield:bool enabled;\toffset:48;\tsize:1;\tsigned:0;
    \tfield:struct timespec64 ts;\toffset:56;\tsize:16;\tsigned:0;
    \tfield:char label[TASK_COMM_LEN];\toffset:72;\tsize:16;\tsigned:0;
    \tfield:void * cookie;\toffset:88;\tsize:8;\tsigned:0;
    \tfield:__rel_loc char[] rel;\toffset:96;\tsize:4;\tsigned:0;
    \tfield:s16 delta;\toffset:100;\tsize:2;\tsigned:1;
    \tfield:size_t len;\toffset:104;\tsize:8;\tsigned:0;
    \tfield:const struct sockaddr * addr;\toffset:112;\tsize:8;\tsigned:0;
    \tfield:char buf[];\toffset:120;\tsize:0;\tsigned:0;

    print fmt: "path=%s", __get_str(path)
    """
}

@Suite struct TracepointFormatTests {
    private func parse(_ text: String, _ subsystem: String, _ event: String) throws -> TracepointFormat {
        try TracepointFormat.parse(text, subsystem: subsystem, event: event)
    }

    private let commonNames = ["common_type", "common_flags", "common_preempt_count", "common_pid"]

    @Test func sysEnterOpenat() throws {
        let f = try parse(RealFormats.sysEnterOpenat, "syscalls", "sys_enter_openat")
        #expect(f.name == "sys_enter_openat")
        #expect(f.id == 782)
        #expect(f.qualifiedName == "syscalls/sys_enter_openat")
        #expect(f.fields.map(\.name) == commonNames + ["__syscall_nr", "dfd", "filename", "flags", "mode"])
        #expect(f.fields.map(\.index) == Array(0..<9))
        #expect(f.commonFieldCount == 4)
        #expect(f.fields[0].type == .integer(size: 2, signed: false, cType: "unsigned short"))
        #expect(f.fields[3].type == .integer(size: 4, signed: true, cType: "int"))
        #expect(f.fields[4].type == .integer(size: 4, signed: true, cType: "int"))
        // Syscall args are 8 bytes in the record whatever the C type says.
        #expect(f.fields[5].type == .integer(size: 8, signed: false, cType: "int"))
        #expect(f.fields[5].offset == 16)
        #expect(f.fields[6].declaration == "const char * filename")
        #expect(f.fields[6].type == .pointer(pointee: "const char"))
        #expect(f.fields[6].type.isCharPointer)
        #expect(f.fields[6].offset == 24 && f.fields[6].size == 8 && !f.fields[6].isSigned)
        #expect(f.fields[8].type == .integer(size: 8, signed: false, cType: "umode_t"))
        #expect(f.fieldIndex(named: "filename") == 6)
        #expect(f.fieldIndex(named: "nope") == nil)
    }

    @Test func sysEnterWrite() throws {
        let f = try parse(RealFormats.sysEnterWrite, "syscalls", "sys_enter_write")
        #expect(f.id == 840)
        #expect(f.fields.map(\.name) == commonNames + ["__syscall_nr", "fd", "buf", "count"])
        #expect(f.fields[5].type == .integer(size: 8, signed: false, cType: "unsigned int"))
        #expect(f.fields[6].type == .pointer(pointee: "const char"))
        #expect(f.fields[7].type == .integer(size: 8, signed: false, cType: "size_t"))
        #expect(f.fields[7].offset == 32)
    }

    @Test func sysExitOpenat() throws {
        let f = try parse(RealFormats.sysExitOpenat, "syscalls", "sys_exit_openat")
        #expect(f.id == 781)
        #expect(f.fields.map(\.name) == commonNames + ["__syscall_nr", "ret"])
        #expect(f.fields[5].type == .integer(size: 8, signed: true, cType: "long"))
    }

    @Test func rawSyscallsSysEnter() throws {
        let f = try parse(RealFormats.rawSysEnter, "raw_syscalls", "sys_enter")
        #expect(f.name == "sys_enter")
        #expect(f.id == 443)
        #expect(f.fields.count == 6)
        #expect(f.fields[4].name == "id")
        #expect(f.fields[4].type == .integer(size: 8, signed: true, cType: "long"))
        #expect(f.fields[5].name == "args")
        #expect(f.fields[5].declaration == "unsigned long args[6]")
        #expect(f.fields[5].type == .array(element: "unsigned long", count: 6, elementSize: 8))
        #expect(f.fields[5].offset == 16 && f.fields[5].size == 48)
    }

    @Test func schedProcessExec() throws {
        let f = try parse(RealFormats.schedProcessExec, "sched", "sched_process_exec")
        #expect(f.id == 365)
        #expect(f.fields.map(\.name) == commonNames + ["filename", "pid", "old_pid"])
        #expect(f.fields[4].type == .dataLoc(element: "char"))
        #expect(f.fields[4].type.isDataLocString)
        #expect(f.fields[4].size == 4)
        #expect(f.fields[5].type == .integer(size: 4, signed: true, cType: "pid_t"))
    }

    @Test func schedSwitchCharArrays() throws {
        let f = try parse(RealFormats.schedSwitch, "sched", "sched_switch")
        #expect(f.fields[4].name == "prev_comm")
        #expect(f.fields[4].type == .array(element: "char", count: 16, elementSize: 1))
        #expect(f.fields[7].type == .integer(size: 8, signed: true, cType: "long"))
    }

    @Test func pointerShapes() throws {
        let connect = try parse(RealFormats.sysEnterConnect, "syscalls", "sys_enter_connect")
        #expect(connect.fields[6].type == .pointer(pointee: "struct sockaddr"))
        #expect(!connect.fields[6].type.isCharPointer)
        let execve = try parse(RealFormats.sysEnterExecve, "syscalls", "sys_enter_execve")
        #expect(execve.fields[5].type == .pointer(pointee: "const char"))
        #expect(execve.fields[6].name == "argv")
        #expect(execve.fields[6].type == .pointer(pointee: "const char *const"))
        #expect(!execve.fields[6].type.isCharPointer)
        #expect(execve.fields[6].type.summary == "pointer (const char *const *)")
    }

    @Test func syntheticShapes() throws {
        let f = try parse(SyntheticFormats.mixed, "test", "mixed_event")
        #expect(f.id == 4242)
        let byName = Dictionary(uniqueKeysWithValues: f.fields.map { ($0.name, $0.type) })
        #expect(byName["path"] == .dataLoc(element: "char"))
        #expect(byName["ids"] == .dataLoc(element: "u64"))
        #expect(byName["ids"]?.isDataLocString == false)
        #expect(byName["comm"] == .array(element: "char", count: 16, elementSize: 1))
        #expect(byName["sigset"] == .array(element: "u32", count: 2, elementSize: 4))
        #expect(byName["name"] == .pointer(pointee: "const char"))
        #expect(byName["enabled"] == .integer(size: 1, signed: false, cType: "bool"))
        #expect(byName["ts"] == .other("struct timespec64"))
        #expect(byName["label"] == .other("char[TASK_COMM_LEN]"))
        #expect(byName["cookie"] == .pointer(pointee: "void"))
        #expect(byName["rel"] == .relLoc(element: "char"))
        #expect(byName["delta"] == .integer(size: 2, signed: true, cType: "s16"))
        #expect(byName["len"] == .integer(size: 8, signed: false, cType: "size_t"))
        #expect(byName["addr"] == .pointer(pointee: "const struct sockaddr"))
        #expect(byName["buf"] == .array(element: "char", count: 0, elementSize: 0))
        #expect(f.fields.last?.index == f.fields.count - 1)
        #expect(f.fields.first { $0.name == "name" }?.declaration
                == #"const char __attribute__((btf_type_tag("user"))) * name"#)
    }

    @Test func fieldsAfterPrintFmtAreIgnoredAndBlankLinesSkipped() throws {
        let text = "name: x\nID: 1\nformat:\n\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\nprint fmt: \"field:int b;\"\n\tfield:int c;\toffset:4;\tsize:4;\tsigned:1;\n"
        let f = try parse(text, "s", "x")
        #expect(f.fields.map(\.name) == ["a"])
    }

    @Test func headerPageStyleSpaceAfterFieldColon() throws {
        let text = "name: hp\nID: 2\n\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
        let f = try parse(text, "s", "hp")
        #expect(f.fields[0].name == "timestamp")
        #expect(f.fields[0].type == .integer(size: 8, signed: false, cType: "u64"))
    }

    @Test func missingNameOrID() {
        #expect(throws: TracepointFormatError.missingHeader(tracepoint: "s/e", header: "name:")) {
            try TracepointFormat.parse("ID: 3\n", subsystem: "s", event: "e")
        }
        #expect(throws: TracepointFormatError.missingHeader(tracepoint: "s/e", header: "ID:")) {
            try TracepointFormat.parse("name: e\n", subsystem: "s", event: "e")
        }
        #expect(throws: TracepointFormatError.self) {
            try TracepointFormat.parse("name: e\nID: x1\n", subsystem: "s", event: "e")
        }
    }

    @Test(arguments: [
        "\tfield:int a;\toffset:0;\tsize:4;",
        "\tfield:int a;\toffset:x;\tsize:4;\tsigned:1;",
        "\tfield:int a;\toffset:0;\tsize:4;\tsigned:2;",
        "\tfield:int a;\tsize:4;\toffset:0;\tsigned:1;",
        "\tfield:;\toffset:0;\tsize:4;\tsigned:1;",
    ])
    func malformedFieldLines(_ line: String) {
        do {
            _ = try TracepointFormat.parse("name: e\nID: 1\nformat:\n" + line + "\n", subsystem: "s", event: "e")
            Issue.record("expected an error for \(line.debugDescription)")
        } catch {
            guard case .malformedField(let tp, let lineNo, _, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(tp == "s/e")
            #expect(lineNo == 4)
            #expect(error.description.contains("format line 4 is malformed"))
        }
    }

    @Test func loadNamesThePathOfAMissingTracepoint() throws {
        var template = Array("/tmp/vigil-tracefs-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try #require(made))
        defer { rmdir(root) }
        do {
            _ = try TracepointFormat.load(tracefsRoot: root, subsystem: "syscalls", event: "sys_enter_nope")
            Issue.record("expected notFound")
        } catch {
            let path = root + "/events/syscalls/sys_enter_nope/format"
            #expect(error == .notFound(tracepoint: "syscalls/sys_enter_nope", path: path))
            #expect(error.description == "tracepoint syscalls/sys_enter_nope does not exist on this kernel (\(path) not found)")
        }
    }

    @Test func loadReadsAFormatFileFromDisk() throws {
        var template = Array("/tmp/vigil-tracefs-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try #require(made))
        let dir = root + "/events/raw_syscalls/sys_enter"
        let path = dir + "/format"
        #expect(mkdir(root + "/events", 0o755) == 0)
        #expect(mkdir(root + "/events/raw_syscalls", 0o755) == 0)
        #expect(mkdir(dir, 0o755) == 0)
        defer {
            unlink(path); rmdir(dir); rmdir(root + "/events/raw_syscalls"); rmdir(root + "/events"); rmdir(root)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        let bytes = Array(RealFormats.rawSysEnter.utf8)
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        close(fd)
        let f = try TracepointFormat.load(tracefsRoot: root, subsystem: "raw_syscalls", event: "sys_enter")
        #expect(f == (try TracepointFormat.parse(RealFormats.rawSysEnter, subsystem: "raw_syscalls", event: "sys_enter")))
        #expect(Tracefs.eventExists(tracefsRoot: root, subsystem: "raw_syscalls", event: "sys_enter"))
    }
}

/// The same tracepoints read live from this machine's tracefs (IDs differ between boots and
/// kernels, so only the layout is compared).
@Suite(.enabled(if: Tracefs.root() != nil, "tracefs is not mounted"))
struct LiveTracepointFormatTests {
    static let cases: [(String, String, String)] = [
        ("syscalls", "sys_enter_openat", RealFormats.sysEnterOpenat),
        ("syscalls", "sys_enter_write", RealFormats.sysEnterWrite),
        ("syscalls", "sys_exit_openat", RealFormats.sysExitOpenat),
        ("raw_syscalls", "sys_enter", RealFormats.rawSysEnter),
        ("sched", "sched_process_exec", RealFormats.schedProcessExec),
    ]

    @Test(arguments: 0..<cases.count)
    func liveLayoutMatchesTheFixture(_ i: Int) throws {
        let (subsystem, event, fixture) = Self.cases[i]
        let root = try #require(Tracefs.root())
        let live = try TracepointFormat.load(tracefsRoot: root, subsystem: subsystem, event: event)
        let expected = try TracepointFormat.parse(fixture, subsystem: subsystem, event: event)
        #expect(live.name == expected.name)
        #expect(live.id > 0)
        #expect(live.fields.map(\.name) == expected.fields.map(\.name))
        #expect(live.fields.map(\.offset) == expected.fields.map(\.offset))
        #expect(live.fields.map(\.size) == expected.fields.map(\.size))
        #expect(live.fields.map(\.type) == expected.fields.map(\.type))
        #expect(live.commonFieldCount == 4)
    }

    @Test func missingTracepointOnTheRealTracefs() throws {
        let root = try #require(Tracefs.root())
        #expect(throws: TracepointFormatError.notFound(
            tracepoint: "syscalls/sys_enter_vigil_nope",
            path: root + "/events/syscalls/sys_enter_vigil_nope/format")) {
            try TracepointFormat.load(tracefsRoot: root, subsystem: "syscalls", event: "sys_enter_vigil_nope")
        }
    }

    /// Every format file on the machine parses; only a handful of declarations are `.other`.
    @Test func everyFormatFileParses() throws {
        let root = try #require(Tracefs.root())
        var parsed = 0
        var others: [String] = []
        for subsystem in listDirectory(root + "/events") where Tracefs.isDirectory(root + "/events/" + subsystem) {
            for event in listDirectory(root + "/events/" + subsystem)
            where Tracefs.isDirectory(root + "/events/\(subsystem)/\(event)") {
                let f = try TracepointFormat.load(tracefsRoot: root, subsystem: subsystem, event: event)
                #expect(f.commonFieldCount == 4, "\(subsystem)/\(event)")
                for field in f.fields {
                    if case .other = field.type { others.append("\(subsystem)/\(event): \(field.declaration)") }
                    #expect(!field.name.isEmpty, "\(subsystem)/\(event): \(field.declaration)")
                }
                parsed += 1
            }
        }
        #expect(parsed > 100)
        // Structs by value and the like; keep this small so parser regressions show.
        #expect(others.count < 20, "\(others)")
    }

    private func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
