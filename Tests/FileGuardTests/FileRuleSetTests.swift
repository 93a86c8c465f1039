// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
@testable import FileGuard

#if canImport(Glibc)
import Glibc
#endif

/// One row of a decision table.
struct DecisionCase: CustomTestStringConvertible, Sendable {
    var path: String
    var pid: Int32 = 100
    var binary: String? = "/usr/bin/cat"
    var kind: FileAccessKind = .open
    var rule: UInt32?
    var deny = false
    var errno: Int32 = 0
    var monitor = false

    var testDescription: String { "\(kind) \(path) pid \(pid) by \(binary ?? "nil") -> \(rule.map(String.init) ?? "none")" }
}

let tableRules = FileRuleSet([
    // 1: shadow is readable by passwd only.
    FileRule(id: 1, kind: .open, match: .exact(["/etc/shadow", "/etc/gshadow"]), binaries: .notIn(["/usr/bin/passwd"])),
    // 2: an allow rule that reports (observe only).
    FileRule(id: 2, kind: .open, match: .prefix(["/etc/ssh/"]), action: .allow),
    // 3: nothing executes from /tmp/, except pid 42.
    FileRule(id: 3, kind: .exec, match: .prefix(["/tmp/"]), pids: .notIn([42]), action: .deny(errno: EACCES)),
    // 4: monitor-only deny of private keys.
    FileRule(id: 4, kind: .open, match: .postfix([".key", ".pem"]), monitor: true),
    // 5: only binaries under /usr/ may exec from /opt/.
    FileRule(id: 5, kind: .exec, match: .prefix(["/opt/"]), binaries: .notPrefix(["/usr/"])),
    // 6: pid 7 may open nothing outside /proc/.
    FileRule(id: 6, kind: .open, match: .notPrefix(["/proc/"]), pids: .in([7])),
    // 7: opens of /srv/ by the listed binaries (earlier rules win on overlap).
    FileRule(id: 7, kind: .open, match: .prefix(["/srv/"]), binaries: .in(["/usr/sbin/nginx"]), action: .deny(errno: EIO)),
    // 8: /data/ by binaries under /home/.
    FileRule(id: 8, kind: .open, match: .prefix(["/data/"]), binaries: .prefix(["/home/"])),
    // 9: everything but .txt under /docs/ ... expressed as notPostfix (only decided, never marked).
    FileRule(id: 9, kind: .open, match: .notPostfix([".txt"]), pids: .in([9])),
    // 10: everything but two paths, for pid 10.
    FileRule(id: 10, kind: .open, match: .notExact(["/a", "/b"]), pids: .in([10])),
])

let decisionCases: [DecisionCase] = [
    DecisionCase(path: "/etc/shadow", rule: 1, deny: true, errno: EPERM),
    DecisionCase(path: "/etc/gshadow", rule: 1, deny: true, errno: EPERM),
    DecisionCase(path: "/etc/shadow", binary: "/usr/bin/passwd"),
    DecisionCase(path: "/etc/shadow", binary: nil, rule: 1, deny: true, errno: EPERM),  // unknown binary: notIn matches
    DecisionCase(path: "/etc/shadow-", rule: nil),
    DecisionCase(path: "/etc/shadow", kind: .exec, rule: nil),  // open rule, exec event
    DecisionCase(path: "/etc/ssh/sshd_config", rule: 2),
    DecisionCase(path: "/etc/sshd", rule: nil),
    DecisionCase(path: "/tmp/x/evil", kind: .exec, rule: 3, deny: true, errno: EACCES),
    DecisionCase(path: "/tmp/evil", pid: 42, kind: .exec, rule: nil),
    DecisionCase(path: "/tmp/evil", kind: .open, rule: nil),
    DecisionCase(path: "/home/u/id.key", rule: 4, deny: false, errno: EPERM, monitor: true),
    DecisionCase(path: "/home/u/cert.pem", rule: 4, deny: false, errno: EPERM, monitor: true),
    DecisionCase(path: "/home/u/cert.pem.bak", rule: nil),
    DecisionCase(path: "/opt/app/run", binary: "/usr/bin/bash", kind: .exec, rule: nil),
    DecisionCase(path: "/opt/app/run", binary: "/home/u/sh", kind: .exec, rule: 5, deny: true, errno: EPERM),
    DecisionCase(path: "/opt/app/run", binary: nil, kind: .exec, rule: 5, deny: true, errno: EPERM),
    DecisionCase(path: "/var/x", pid: 7, rule: 6, deny: true, errno: EPERM),
    DecisionCase(path: "/proc/self/status", pid: 7, rule: nil),
    DecisionCase(path: "/var/x", pid: 8, rule: nil),
    DecisionCase(path: "/srv/www/index.html", binary: "/usr/sbin/nginx", rule: 7, deny: true, errno: EIO),
    DecisionCase(path: "/srv/www/index.html", binary: nil, rule: nil),  // unknown binary: in does not match
    DecisionCase(path: "/data/db", binary: "/home/u/tool", rule: 8, deny: true, errno: EPERM),
    DecisionCase(path: "/data/db", binary: "/usr/bin/tool", rule: nil),
    DecisionCase(path: "/data/db", binary: nil, rule: nil),
    DecisionCase(path: "/docs/a.txt", pid: 9, rule: nil),
    DecisionCase(path: "/docs/a.md", pid: 9, rule: 9, deny: true, errno: EPERM),
    DecisionCase(path: "/a", pid: 10, rule: nil),
    DecisionCase(path: "/c", pid: 10, rule: 10, deny: true, errno: EPERM),
]

@Suite struct FileRuleSetTests {
    @Test(arguments: decisionCases)
    func decides(_ c: DecisionCase) {
        let d = tableRules.decide(path: c.path, pid: c.pid, binary: c.binary, kind: c.kind)
        #expect(d.ruleID == c.rule)
        #expect(d.deny == c.deny)
        #expect(d.errno == c.errno)
        #expect(d.monitor == c.monitor)
        #expect(d.matched == (c.rule != nil))
    }

    @Test func firstMatchWins() {
        let set = FileRuleSet([
            FileRule(id: 1, kind: .open, match: .prefix(["/x/"]), action: .allow),
            FileRule(id: 2, kind: .open, match: .exact(["/x/y"])),
        ])
        #expect(set.decide(path: "/x/y", pid: 1, binary: nil, kind: .open).ruleID == 1)
        let reversed = FileRuleSet(set.rules.reversed())
        let d = reversed.decide(path: "/x/y", pid: 1, binary: nil, kind: .open)
        #expect(d.ruleID == 2)
        #expect(d.deny)
    }

    /// An exact rule with identities (vigil-file-identity: inode) matches its file under another
    /// name by device and inode; without the identity, or for a prefix rule, the name decides.
    @Test func identitiesMatchOtherNamesOfAProtectedFile() {
        let file = FileIdentity(device: 0xfe00, inode: 818)
        var rule = FileRule(id: 1, kind: .open, match: .exact(["/etc/shadow"]))
        rule.identities = [file]
        let set = FileRuleSet([rule])
        #expect(set.needsIdentity)
        #expect(set.decide(path: "/etc/shadow", pid: 1, binary: nil, kind: .open).deny)
        #expect(set.decide(path: "/tmp/link", pid: 1, binary: nil, kind: .open, identity: file).deny)
        #expect(!set.decide(path: "/tmp/link", pid: 1, binary: nil, kind: .open, identity: .init(device: 0xfe00, inode: 819)).matched)
        #expect(!set.decide(path: "/tmp/link", pid: 1, binary: nil, kind: .open).matched)
        #expect(!set.decide(path: "/tmp/link", pid: 1, binary: nil, kind: .exec, identity: file).matched)
        var negated = FileRule(id: 2, kind: .open, match: .notExact(["/etc/shadow"]))
        negated.identities = [file]
        #expect(!FileRuleSet([negated]).needsIdentity, "identities apply to exact matches only")
        #expect(!FileRuleSet([FileRule(id: 3, kind: .open, match: .exact(["/x"]))]).needsIdentity)
    }

    /// A rule of a pod-scoped policy decides only for processes in scope; others fall through
    /// to later rules, and the scope is asked only once path and pid matched.
    @Test func scopedRuleAppliesOnlyInScope() {
        let asked = ScopeLog()
        let scope = ProcessScope(id: 7) { pid in
            asked.record(pid)
            return pid == 100
        }
        let set = FileRuleSet([
            FileRule(id: 1, kind: .open, match: .exact(["/x/y"]), scope: scope),
            FileRule(id: 2, kind: .open, match: .exact(["/x/y"]), action: .allow),
        ])
        #expect(set.decide(path: "/x/y", pid: 100, binary: nil, kind: .open).ruleID == 1)
        #expect(set.decide(path: "/x/y", pid: 100, binary: nil, kind: .open).deny)
        let outside = set.decide(path: "/x/y", pid: 200, binary: nil, kind: .open)
        #expect(outside.ruleID == 2)
        #expect(!outside.deny)
        #expect(set.decide(path: "/x/z", pid: 200, binary: nil, kind: .open) == .noMatch)
        #expect(asked.pids == [100, 100, 200])
    }

    @Test func emptySetAllowsEverything() {
        let d = FileRuleSet.empty.decide(path: "/etc/shadow", pid: 1, binary: nil, kind: .open)
        #expect(d == .noMatch)
        #expect(!FileRuleSet.empty.needsBinary)
        #expect(FileRuleSet.empty.isEmpty)
    }

    @Test func prefixIsStringPrefix() {
        let set = FileRuleSet([FileRule(id: 1, kind: .open, match: .prefix(["/etc"]))])
        #expect(set.decide(path: "/etcd/conf", pid: 1, binary: nil, kind: .open).ruleID == 1)
        let dir = FileRuleSet([FileRule(id: 1, kind: .open, match: .prefix(["/etc/"]))])
        #expect(dir.decide(path: "/etcd/conf", pid: 1, binary: nil, kind: .open).ruleID == nil)
        #expect(dir.decide(path: "/etc", pid: 1, binary: nil, kind: .open).ruleID == nil)
    }

    @Test func bytesThatAreNotUTF8() {
        let odd: [UInt8] = Array("/data/".utf8) + [0xff, 0xfe]
        let set = FileRuleSet([FileRule(id: 3, kind: .open, match: .exact([odd]))])
        #expect(set.decide(path: odd, pid: 1, binary: nil, kind: .open).ruleID == 3)
        #expect(set.decide(path: Array("/data/".utf8), pid: 1, binary: nil, kind: .open).ruleID == nil)
    }

    @Test func needsBinaryOnlyWhenARuleLooksAtIt() {
        #expect(tableRules.needsBinary)
        #expect(!FileRuleSet([FileRule(id: 1, kind: .open, match: .exact(["/x"]))]).needsBinary)
        #expect(tableRules.kinds == [.open, .exec])
    }

    @Test func emptyPatternLists() {
        let set = FileRuleSet([
            FileRule(id: 1, kind: .open, match: .exact([[UInt8]]())),
            FileRule(id: 2, kind: .open, match: .notPrefix([[UInt8]]())),
        ])
        // An empty positive list matches nothing; an empty negated list matches everything.
        #expect(set.decide(path: "/x", pid: 1, binary: nil, kind: .open).ruleID == 2)
    }

    /// `decide` is on the path of every open on a marked filesystem: it must stay in the
    /// sub-microsecond range for a realistic rule set.
    @Test func decideIsFast() {
        var rules: [FileRule] = []
        for i in 0..<100 {
            rules.append(FileRule(id: UInt32(i), kind: .open, match: .prefix(["/srv/app\(i)/"]), binaries: .notIn(["/usr/bin/app\(i)"])))
        }
        rules.append(FileRule(id: 1000, kind: .open, match: .exact((0..<1000).map { "/etc/secret\($0)" })))
        let set = FileRuleSet(rules)
        let path = Array("/usr/lib/x86_64-linux-gnu/libc.so.6".utf8)
        let binary = Array("/usr/bin/bash".utf8)
        let n = 20_000
        let start = Sys.monotonicNanos()
        var matched = 0
        for i in 0..<n {
            if set.decide(path: path, pid: Int32(i), binary: binary, kind: .open).matched { matched += 1 }
        }
        let perCall = Double(Sys.monotonicNanos() - start) / Double(n)
        print("FileRuleSet.decide: \(Int(perCall)) ns per call over 101 rules (this build)")
        #expect(matched == 0)
        #expect(perCall < 200_000)
    }
}

/// Pids a scope was asked about, in order.
final class ScopeLog: Sendable {
    private let storage = Mutex<[Int32]>([])
    func record(_ pid: Int32) { storage.withLock { $0.append(pid) } }
    var pids: [Int32] { storage.withLock { $0 } }
}
