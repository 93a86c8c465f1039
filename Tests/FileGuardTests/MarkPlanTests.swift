// SPDX-License-Identifier: Apache-2.0
import CFanotify
import Testing
@testable import FileGuard

#if canImport(Glibc)
import Glibc
#endif

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// One row: rules in, marks out (target, events, rules) and the number of unmarked patterns.
struct PlanCase: CustomTestStringConvertible, Sendable {
    var name: String
    var rules: [FileRule]
    var options = MarkPlan.Options()
    var marks: [MarkPlan.Mark]
    var unmarked = 0

    var testDescription: String { name }
}

let planCases: [PlanCase] = [
    PlanCase(
        name: "exact paths are inode marks",
        rules: [FileRule(id: 1, kind: .open, match: .exact(["/etc/shadow", "/etc/gshadow"]))],
        marks: [
            .init(target: .file(b("/etc/shadow")), events: [.open], ruleIDs: [1]),
            .init(target: .file(b("/etc/gshadow")), events: [.open], ruleIDs: [1]),
        ]),
    PlanCase(
        name: "exec and open on the same file merge into one mark",
        rules: [
            FileRule(id: 1, kind: .open, match: .exact(["/usr/bin/nc"])),
            FileRule(id: 2, kind: .exec, match: .exact(["/usr/bin/nc"])),
        ],
        marks: [.init(target: .file(b("/usr/bin/nc")), events: [.open, .exec], ruleIDs: [1, 2])]),
    PlanCase(
        name: "a directory prefix is a directory mark plus a filesystem mark",
        rules: [FileRule(id: 3, kind: .exec, match: .prefix(["/tmp/"]))],
        marks: [
            .init(target: .directory(b("/tmp")), events: [.exec], ruleIDs: [3]),
            .init(target: .filesystem(containing: b("/tmp")), events: [.exec], ruleIDs: [3]),
        ]),
    PlanCase(
        name: "a prefix that is not a directory marks its parent",
        rules: [FileRule(id: 4, kind: .open, match: .prefix(["/etc/pass"]))],
        marks: [
            .init(target: .directory(b("/etc")), events: [.open], ruleIDs: [4]),
            .init(target: .filesystem(containing: b("/etc")), events: [.open], ruleIDs: [4]),
        ]),
    PlanCase(
        name: "the root prefix",
        rules: [FileRule(id: 5, kind: .exec, match: .prefix(["/"]))],
        marks: [
            .init(target: .directory(b("/")), events: [.exec], ruleIDs: [5]),
            .init(target: .filesystem(containing: b("/")), events: [.exec], ruleIDs: [5]),
        ]),
    PlanCase(
        name: "without subtree filesystem marks a prefix covers one level and says so",
        rules: [FileRule(id: 6, kind: .open, match: .prefix(["/srv/www/"]))],
        options: MarkPlan.Options(subtreeFilesystemMarks: false),
        marks: [.init(target: .directory(b("/srv/www")), events: [.open], ruleIDs: [6])],
        unmarked: 1),
    PlanCase(
        name: "exact paths can also mark their parent directory",
        rules: [FileRule(id: 7, kind: .open, match: .exact(["/etc/shadow"]))],
        options: MarkPlan.Options(exactParentDirectoryMarks: true),
        marks: [
            .init(target: .file(b("/etc/shadow")), events: [.open], ruleIDs: [7]),
            .init(target: .directory(b("/etc")), events: [.open], ruleIDs: [7]),
        ]),
    PlanCase(
        name: "postfix and negated forms are reported, not marked",
        rules: [
            FileRule(id: 8, kind: .open, match: .postfix([".key"])),
            FileRule(id: 9, kind: .open, match: .notExact(["/a"])),
            FileRule(id: 10, kind: .open, match: .notPrefix(["/a/"])),
            FileRule(id: 11, kind: .open, match: .notPostfix([".txt"])),
        ],
        marks: [], unmarked: 4),
    PlanCase(
        name: "relative, non-canonical and directory-like exact paths are reported",
        rules: [
            FileRule(id: 12, kind: .open, match: .exact(["etc/shadow", "/etc//shadow", "/etc/../etc/shadow", "/etc/"])),
            FileRule(id: 13, kind: .open, match: .prefix(["", "tmp/"])),
        ],
        marks: [], unmarked: 6),
    PlanCase(
        name: "two rules on one directory share the marks; filesystem marks are per path until resolved",
        rules: [
            FileRule(id: 14, kind: .open, match: .prefix(["/data/"])),
            FileRule(id: 15, kind: .exec, match: .prefix(["/data/"])),
            FileRule(id: 16, kind: .open, match: .prefix(["/srv/"])),
        ],
        marks: [
            .init(target: .directory(b("/data")), events: [.open, .exec], ruleIDs: [14, 15]),
            .init(target: .filesystem(containing: b("/data")), events: [.open, .exec], ruleIDs: [14, 15]),
            .init(target: .directory(b("/srv")), events: [.open], ruleIDs: [16]),
            .init(target: .filesystem(containing: b("/srv")), events: [.open], ruleIDs: [16]),
        ]),
    PlanCase(
        name: "allow and monitor rules need marks too (they report)",
        rules: [
            FileRule(id: 17, kind: .open, match: .exact(["/etc/hosts"]), action: .allow),
            FileRule(id: 18, kind: .exec, match: .exact(["/usr/bin/curl"]), monitor: true),
        ],
        marks: [
            .init(target: .file(b("/etc/hosts")), events: [.open], ruleIDs: [17]),
            .init(target: .file(b("/usr/bin/curl")), events: [.exec], ruleIDs: [18]),
        ]),
    PlanCase(name: "no rules, no marks", rules: [], marks: []),
]

@Suite struct MarkPlanTests {
    @Test(arguments: planCases)
    func plans(_ c: PlanCase) {
        let plan = MarkPlan(rules: FileRuleSet(c.rules), options: c.options)
        #expect(plan.marks == c.marks)
        #expect(plan.unmarked.count == c.unmarked, "\(plan.unmarked)")
    }

    @Test func masksAndFlags() {
        let file = MarkPlan.Mark(target: .file(b("/x")), events: [.open], ruleIDs: [1])
        #expect(file.mask == 0x0001_0000)
        #expect(file.mask == UInt64(FAN_OPEN_PERM))
        #expect(file.flags == 0)
        let exec = MarkPlan.Mark(target: .file(b("/x")), events: [.exec], ruleIDs: [1])
        #expect(exec.mask == 0x0004_0000)
        let dir = MarkPlan.Mark(target: .directory(b("/d")), events: [.open, .exec], ruleIDs: [1])
        #expect(dir.mask == 0x0805_0000)  // OPEN_PERM | OPEN_EXEC_PERM | EVENT_ON_CHILD
        #expect(dir.flags == UInt32(FAN_MARK_ONLYDIR))
        let fs = MarkPlan.Mark(target: .filesystem(containing: b("/d")), events: [.exec], ruleIDs: [1])
        #expect(fs.mask == UInt64(FAN_OPEN_EXEC_PERM))
        #expect(fs.flags == 0x100)
        #expect(fs.flags == UInt32(FAN_MARK_FILESYSTEM))
    }

    @Test func descriptionForTheLog() {
        let plan = MarkPlan(rules: FileRuleSet([
            FileRule(id: 1, kind: .open, match: .exact(["/etc/shadow"])),
            FileRule(id: 2, kind: .exec, match: .prefix(["/tmp/"])),
            FileRule(id: 3, kind: .open, match: .postfix([".pem"])),
        ]))
        let text = plan.description
        print(text)
        #expect(text.hasPrefix("fanotify mark plan: 3 marks (1 filesystem), 1 pattern unmarked"))
        #expect(text.contains("mark file /etc/shadow: open (mask 0x10000), rule 1"))
        #expect(text.contains("mark directory /tmp: exec (mask 0x8040000), rule 2"))
        #expect(text.contains("mark filesystem holding /tmp: exec (mask 0x40000), rule 2; every exec on that filesystem is a permission round trip"))
        #expect(text.contains("unmarked rule 3 postfix [\"\\.pem\"]") || text.contains("unmarked rule 3 postfix"))
        #expect(plan.filesystemMarkCount == 1)
    }

    @Test func pathHelpers() {
        #expect(MarkPlan.parent(of: b("/a/b")) == b("/a"))
        #expect(MarkPlan.parent(of: b("/a/b/")) == b("/a"))
        #expect(MarkPlan.parent(of: b("/a")) == b("/"))
        #expect(MarkPlan.parent(of: b("/")) == b("/"))
        #expect(MarkPlan.trimmingSlash(b("/a//")) == b("/a"))
        #expect(MarkPlan.trimmingSlash(b("/")) == b("/"))
        #expect(MarkPlan.pathProblem(b("/a/b")) == nil)
        #expect(MarkPlan.pathProblem(b("a/b")) != nil)
        #expect(MarkPlan.pathProblem(b("/a/./b")) != nil)
        #expect(MarkPlan.pathProblem(b("/a/..")) != nil)
    }

    @Test func mountPointsBelowADirectory() {
        let mountinfo = b("""
        27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        22 27 0:21 / /proc rw,relatime - proc proc rw
        50 27 0:40 / /var/lib/docker rw - ext4 /dev/vdb rw
        51 27 0:41 / /var/lib/with\\040space rw - tmpfs tmpfs rw
        52 27 0:42 / /variable rw - tmpfs tmpfs rw
        53 27 0:43 / /var rw - tmpfs tmpfs rw

        """)
        #expect(MountInfo.mountPoints(below: b("/var/"), in: mountinfo) == [b("/var/lib/docker"), b("/var/lib/with space")])
        #expect(MountInfo.mountPoints(below: b("/var"), in: mountinfo).count == 2)
        #expect(MountInfo.mountPoints(below: b("/"), in: mountinfo).count == 5)
        #expect(MountInfo.mountPoints(below: b("/srv/"), in: mountinfo).isEmpty)
    }
}

@Suite struct SysTests {
    @Test(arguments: [Int32(0), 7, 10, 99, 1234567, Int32.max, -1])
    func procPaths(_ n: Int32) {
        let made = Sys.withProcPath("/proc/", n, "/exe") { String(cString: $0) }
        #expect(made == "/proc/\(n)/exe")
    }

    @Test func readlinkOfOwnExe() {
        #expect(Sys.exeOf(pid: getpid()) != nil)
        #expect(Sys.exeOf(pid: -5) == nil)
    }
}
