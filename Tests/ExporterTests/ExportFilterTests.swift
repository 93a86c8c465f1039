// SPDX-License-Identifier: Apache-2.0

import Events
@testable import ExportFilters
import Foundation
import Testing

@testable import Exporter

/// Tetragon's export filters on rendered events: allow and deny lists, field filters,
/// redaction filters and the rate limit, each through the exporter as the agent runs it.
@Suite struct ExportFilterTests {
    private func pod(_ namespace: String = "shop", name: String = "payments-api-7d9c6b5f4-x2kqp") -> ExportedPod {
        ExportedPod(
            namespace: namespace, name: name, uid: "2f0c1a8e",
            container: .init(
                id: "containerd://3b9f2c7d", name: "api", imageID: nil, imageName: nil, startTime: nil, privileged: false),
            labels: [("app", "payments-api"), ("tier", "backend")], workload: "payments-api", workloadKind: "Deployment")
    }

    private func exec(_ process: ExportedProcess = curlProcess(), parent: ExportedProcess? = shellProcess()) -> ExportEvent {
        ExportEvent(kind: .exec, process: process, parent: parent, nodeName: "worker-2", time: wall(exampleSecond))
    }

    private func kprobe(policy: String) -> ExportEvent {
        ExportEvent(
            kind: .kprobe(
                functionName: "__x64_sys_openat", args: [Argument(.string(Array("/etc/shadow".utf8)), label: "path")],
                outcome: PolicyOutcome(policyName: policy, action: .post)),
            process: curlProcess(), parent: shellProcess(), nodeName: "worker-2", time: wall(exampleSecond))
    }

    /// Exports `events` through an exporter with these filters; the lines the sinks got.
    private func exported(
        _ events: [ExportEvent], allow: String = "", deny: String = "", fields: String = "",
        context: ExportFilterContext = .init()
    ) throws -> [[String: Any]] {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let file = try ExportFileWriter(path: dir + "/events.log")
        let exporter = Exporter(stdout: nil, file: file)
        exporter.filters = try ExportFilters(allowlist: allow, denylist: deny, context: context)
        exporter.fieldFilters = try FieldFilters(fields)
        for event in events { try exporter.export(event) }
        try exporter.close()
        return try String(decoding: readBytes(dir + "/events.log"), as: UTF8.self)
            .split(separator: "\n").map { try parseJSONObject(String($0)) }
    }

    private func binaries(_ lines: [[String: Any]]) -> [String] {
        lines.map { line in
            let body = line.first { $0.key != "node_name" && $0.key != "time" }?.value as? [String: Any]
            return (body?["process"] as? [String: Any])?["binary"] as? String ?? "?"
        }
    }

    private func named(_ binary: String, pid: UInt32 = 7, arguments: [String] = []) -> ExportedProcess {
        var process = curlProcess()
        process.binary = Array(binary.utf8)
        process.pid = pid
        process.arguments = arguments.map { Array($0.utf8) }
        return process
    }

    @Test func noListsExportEverything() throws {
        #expect(try exported([exec(), kprobe(policy: "p")]).count == 2)
    }

    /// Lines OR-ed, keys AND-ed, values OR-ed; the denylist wins.
    @Test func allowAndDenySemantics() throws {
        let events = [
            exec(named("/usr/bin/curl")), exec(named("/usr/bin/wget")), exec(named("/bin/ls")),
            exec(named("/usr/bin/curl", pid: 99)),
        ]
        // Allowlist only: default deny.
        #expect(binaries(try exported(events, allow: #"{"binary_regex":["curl$","wget$"]}"#))
            == ["/usr/bin/curl", "/usr/bin/wget", "/usr/bin/curl"])
        // Keys AND-ed.
        #expect(binaries(try exported(events, allow: #"{"binary_regex":["curl$"],"pid":[99]}"#)) == ["/usr/bin/curl"])
        // Lines OR-ed, blank lines skipped.
        #expect(binaries(try exported(events, allow: "{\"pid\":[99]}\n\n{\"binary_regex\":[\"^/bin/\"]}\n"))
            == ["/bin/ls", "/usr/bin/curl"])
        // Denylist wins over the allowlist.
        #expect(binaries(try exported(events, allow: #"{"binary_regex":["curl$"]}"#, deny: #"{"pid":[99]}"#))
            == ["/usr/bin/curl"])
        // Denylist alone: everything else.
        #expect(binaries(try exported(events, deny: #"{"event_set":["PROCESS_EXEC"],"binary_regex":["^/usr/"]}"#))
            == ["/bin/ls"])
    }

    @Test func eventSetAndPolicyNames() throws {
        let events = [exec(), kprobe(policy: "secrets"), kprobe(policy: "noise")]
        let kinds = try exported(events, allow: #"{"event_set":["PROCESS_KPROBE"]}"#).map { $0.keys.sorted() }
        #expect(kinds.count == 2 && kinds.allSatisfy { $0.contains("process_kprobe") })
        let policies = try exported(events, deny: #"{"policy_names":["noise"]}"#)
        #expect(policies.count == 2)
        #expect(((policies[1]["process_kprobe"] as? [String: Any])?["policy_name"] as? String) == "secrets")
    }

    /// Parent binary and arguments, container id; the verdicts kept per process give the same answers again.
    @Test func parentArgumentsAndContainer() throws {
        let events = [exec(named("/usr/bin/curl", arguments: ["--password", "x"])), exec(named("/usr/bin/curl"), parent: named("/usr/bin/sshd"))]
        #expect(try exported(events, allow: #"{"parent_binary_regex":["/sh$"]}"#).count == 1)
        #expect(try exported(events, allow: #"{"arguments_regex":["^--password "]}"#).count == 1)
        #expect(try exported(events, allow: #"{"parent_arguments_regex":["curl -s"]}"#).count == 1)
        #expect(try exported(events, allow: #"{"container_id":["^3b9f"]}"#).count == 2)
        #expect(try exported(events + events, allow: #"{"arguments_regex":["password"]}"#).count == 2)
    }

    @Test func podFields() throws {
        var inPod = named("/usr/bin/curl")
        inPod.pod = pod()
        let events = [exec(inPod), exec(named("/usr/bin/host-only"))]
        // "" is the host's namespace (no pod).
        #expect(binaries(try exported(events, deny: #"{"namespace":["","kube-system"]}"#)) == ["/usr/bin/curl"])
        #expect(binaries(try exported(events, allow: #"{"namespace_regex":["^sh"]}"#)) == ["/usr/bin/curl"])
        #expect(try exported(events, allow: #"{"pod_regex":["^payments-"]}"#).count == 1)
        #expect(try exported(events, allow: #"{"container_name_regex":["^api$"]}"#).count == 1)
        #expect(try exported(events, allow: #"{"labels":["app in (payments-api,checkout),tier!=db"]}"#).count == 1)
        #expect(try exported(events, allow: #"{"labels":["!app"]}"#).isEmpty)  // never a host event
        #expect(try exported(events, allow: #"{"labels":["app=other","tier"]}"#).count == 1)
    }

    @Test func pidSetFollowsDescendants() throws {
        let context = ExportFilterContext(pidSetEnabled: true)
        let root = named("/bin/sh", pid: 500)
        let child = named("/usr/bin/make", pid: 501)
        let grandchild = named("/usr/bin/cc", pid: 502)
        let events = [exec(root, parent: nil), exec(child, parent: root), exec(grandchild, parent: child), exec(named("/bin/other", pid: 9))]
        #expect(binaries(try exported(events, allow: #"{"pid_set":[500]}"#, context: context))
            == ["/bin/sh", "/usr/bin/make", "/usr/bin/cc"])
        #expect(throws: FilterError.self) { try ExportFilters(allowlist: #"{"pid_set":[500]}"#, denylist: "") }
    }

    @Test func ancestorBinaryNeedsAncestors() throws {
        let line = #"{"event_set":["PROCESS_EXEC"],"ancestor_binary_regex":["sshd$"]}"#
        #expect(throws: FilterError.self) { try ExportFilters(allowlist: line, denylist: "") }
        var event = exec()
        event.ancestors = [named("/usr/sbin/sshd")]
        let lines = try exported([event, exec()], allow: line, context: ExportFilterContext(ancestorsOnBase: true))
        #expect(lines.count == 1)
    }

    /// A bad line names the flag, the line and the field; a key Vigil cannot evaluate is refused with why.
    @Test(arguments: [
        ("{\"binary_regex\":[\"ok\"]}\n{\"binary_regex\":[\"a\",\"(\"]}", "--export-denylist line 2, binary_regex[1]: invalid regular expression \"(\""),
        ("{\"binary\":[\"x\"]}", "--export-denylist line 1, binary: unknown field"),
        ("{\"event_set\":[\"PROCESS_FOO\"]}", "--export-denylist line 1, event_set[0]: unknown event type \"PROCESS_FOO\""),
        ("{\"health_check\":true}", "--export-denylist line 1, health_check: refused: needs the pods' exec probes"),
        ("{\"in_init_tree\":false}", "--export-denylist line 1, in_init_tree: refused"),
        ("{\"cel_expression\":[\"true\"]}", "--export-denylist line 1, cel_expression: refused: Vigil has no CEL evaluator"),
        ("\n{\"pid\":[\"1\"]}", "--export-denylist line 2, pid[0]: must be a whole number"),
        ("{\"labels\":[\"app in x\"]}", "--export-denylist line 1, labels[0]: invalid label selector"),
        ("{\"pid\":[1]", "--export-denylist line 1: invalid JSON"),
    ])
    func badFiltersAreRefused(_ text: String, _ message: String) {
        do {
            _ = try ExportFilters(allowlist: "", denylist: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error.description)")
        }
    }

    /// The literal pre-check never changes an answer: a text the expression matches always
    /// contains one of the literals read from it.
    @Test func literalPrecheckKeepsAnswers() throws {
        let patterns = [
            "--password(?:\\s+|=)(\\S*)", "(?:token|secret)=(\\S+)", "(?:^|/)kubelet$", "^/usr/bin/(?:ls|cat|grep)$",
            "--health(?:z|check)", "ab?c", "a\\.b", "x|y", "(?i)CURL", "colou?r", "[a-z]+-[0-9]", "^$", "a{0,2}bc",
            "(foo)?bar", "\\d+", "(ab|cd)+x", "x{2}yz", "[{]ab", "(?:ab){0}cd", "(?:ab){10}cd", "a\\.{12}b",
        ]
        let texts = [
            "--password secret", "token=abc", "/usr/bin/kubelet", "/usr/bin/ls", "--healthz", "ac", "abc", "a.b", "axb",
            "y", "curl", "color", "colour", "abc-1", "", "bc", "aabc", "bar", "foobar", "42", "cdx", "abab", "kubelet",
            "secret=1", "xxyz", "{ab", "cd", "ababababababababababcd", "a............b",
        ]
        for pattern in patterns {
            let regex = try FilterRegex(pattern)
            let reference = try NSRegularExpression(pattern: pattern)
            for text in texts {
                let expected = reference.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                #expect(regex.matches(text) == expected, "\(pattern) on \(text)")
                #expect(regex.matches(bytes: Array(text.utf8)) == expected, "\(pattern) on \(text) (bytes)")
            }
        }
        #expect(FilterRegex.requiredLiterals("--password(?:\\s+|=)(\\S*)") == [Array("--password".utf8)])
        #expect(FilterRegex.requiredLiterals("(?:token|secret)=(\\S+)") == [Array("token".utf8), Array("secret".utf8)])
        #expect(FilterRegex.requiredLiterals("(?:^|/)kubelet$") == [Array("kubelet".utf8)])
        #expect(FilterRegex.requiredLiterals("x|y") == nil)
        #expect(FilterRegex.requiredLiterals("(?i)curl") == nil)
    }

    // MARK: - Field filters

    @Test func fieldFiltersIncludeExclude() throws {
        let events = [exec(), kprobe(policy: "p")]
        let include = try exported(
            events, fields: #"{"event_set":["PROCESS_EXEC"],"fields":"process.binary,parent.pid","action":"INCLUDE"}"#)
        let execBody = try #require(include[0]["process_exec"] as? [String: Any])
        #expect(Set(execBody.keys) == ["process", "parent"])
        #expect((execBody["process"] as? [String: Any])?.keys.sorted() == ["binary"])
        #expect((execBody["parent"] as? [String: Any])?.keys.sorted() == ["pid"])
        #expect(include[0]["node_name"] as? String == "worker-2" && include[0]["time"] != nil)
        // The kprobe is not in the line's event_set: whole.
        #expect(((include[1]["process_kprobe"] as? [String: Any])?["process"] as? [String: Any])?["exec_id"] != nil)

        // EXCLUDE, camelCase paths, a path through a list; invert_event_set applies to every other type.
        let exclude = try exported(
            events,
            fields: #"{"event_set":["PROCESS_EXEC"],"invert_event_set":true,"fields":"process.execId,args.label,parent","action":"EXCLUDE"}"#)
        #expect((exclude[0]["process_exec"] as? [String: Any])?["parent"] != nil)
        let kprobeBody = try #require(exclude[1]["process_kprobe"] as? [String: Any])
        #expect(kprobeBody["parent"] == nil)
        #expect((kprobeBody["process"] as? [String: Any])?["exec_id"] == nil)
        #expect((kprobeBody["process"] as? [String: Any])?["binary"] as? String == "/usr/bin/curl")
        #expect((kprobeBody["args"] as? [[String: Any]])?.first?.keys.sorted() == ["string_arg"])

        // In order: an EXCLUDE after an INCLUDE wins.
        let both = try exported(
            [exec()], fields: "{\"fields\":\"process.binary,process.pid\"}\n{\"fields\":\"process.pid\",\"action\":\"EXCLUDE\"}")
        #expect(((both[0]["process_exec"] as? [String: Any])?["process"] as? [String: Any])?.keys.sorted() == ["binary"])
    }

    @Test func badFieldFiltersAreRefused() {
        for (text, message) in [
            (#"{"fields":"process.bin"}"#, "--field-filters line 1, fields path 1: unknown field \"bin\""),
            (#"{"fields":"process.binary","action":"KEEP"}"#, "--field-filters line 1, action: must be INCLUDE or EXCLUDE"),
            (#"{"action":"INCLUDE"}"#, "--field-filters line 1, fields: missing"),
            (#"{"fields":"process..binary"}"#, "--field-filters line 1, fields path 1:"),
        ] {
            #expect(throws: FilterError.self) { try FieldFilters(text) }
            do { _ = try FieldFilters(text) } catch { #expect(error.description.hasPrefix(message), "\(error.description)") }
        }
    }

    // MARK: - Redaction

    /// Tetragon's semantics: each capture group of each match becomes `*****`; the rest stays.
    @Test(arguments: [
        (["--password", "secret", "-u", "root"], "--password ***** -u root"),
        (["--password=hunter2", "x"], "--password=***** x"),
        (["-p", "a b", "--password", "s1", "--password=s2"], "-p \"a b\" --password ***** --password=*****"),
    ])
    func redaction(_ arguments: [String], _ expected: String) throws {
        let filters = try RedactionFilters(#"{"redact":["--password(?:\\s+|=)(\\S*)"]}"#)
        let redacted = filters.redact(binary: Array("/usr/bin/mysql".utf8), arguments: arguments.map { Array($0.utf8) })
        #expect(redacted.map { String(decoding: $0, as: UTF8.self) } == expected)
    }

    @Test func redactionByBinaryNestedGroupsAndNoGroup() throws {
        let filters = try RedactionFilters(
            "{\"redact\":[\"token=(\\\\w+)\"],\"binary_regex\":[\"(?:^|/)curl$\"]}\n{\"redact\":[\"(k(e)y)=\\\\S+\",\"nogroup\"]}")
        let args = [Array("token=abc".utf8), Array("key=1".utf8), Array("nogroup".utf8)]
        #expect(filters.redact(binary: Array("/usr/bin/curl".utf8), arguments: args).map { String(decoding: $0, as: UTF8.self) }
            == "token=***** *****=1 nogroup")
        #expect(filters.redact(binary: Array("/usr/bin/wget".utf8), arguments: args).map { String(decoding: $0, as: UTF8.self) }
            == "token=abc *****=1 nogroup")
        #expect(filters.redact(binary: [], arguments: [Array("nothing".utf8)]) == nil)
    }

    /// The redacted text is what the encoder writes, escaped, for the process wherever it appears.
    @Test func redactedArgumentsAreExported() throws {
        var process = curlProcess()
        process.arguments = []
        process.redactedArguments = Array("--password \"*****\" \\".utf8)
        let line = try parseJSONObject(String(decoding: JSONLineEncoder().encode(exec(process, parent: process)), as: UTF8.self))
        let body = try #require(line["process_exec"] as? [String: Any])
        #expect((body["process"] as? [String: Any])?["arguments"] as? String == "--password \"*****\" \\")
        #expect((body["parent"] as? [String: Any])?["arguments"] as? String == "--password \"*****\" \\")
    }

    @Test func badRedactionFiltersAreRefused() {
        for (text, message) in [
            (#"{"redact":["("]}"#, "--redaction-filters line 1, redact[0]: invalid regular expression"),
            (#"{"redact":[]}"#, "--redaction-filters line 1, redact: needs at least one"),
            (#"{"redact":["x"],"match":[{}]}"#, "--redaction-filters line 1, match: refused"),
            (#"{"redact":["x"],"binary_regex":["["]}"#, "--redaction-filters line 1, binary_regex[0]: invalid"),
        ] {
            do {
                _ = try RedactionFilters(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.hasPrefix(message), "\(error.description)")
            }
        }
    }

    // MARK: - Rate limit

    /// A minute's worth of events, then drops, reported once a minute as `rate_limit_info`.
    @Test func rateLimit() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let file = try ExportFileWriter(path: dir + "/events.log")
        let exporter = Exporter(stdout: nil, file: file)
        var clock: UInt64 = 1_000_000_000
        exporter.rateLimiter = ExportRateLimiter(eventsPerMinute: 3, nodeName: "worker-2", now: { clock })
        var unexported = 0
        exporter.unexportedObserver = { _ in unexported += 1 }
        for _ in 0..<5 { try exporter.export(exec()) }
        try exporter.flush()
        #expect(exporter.eventsExported == 3 && exporter.eventsRateLimited == 2 && unexported == 2)
        clock += 20_000_000_000  // 20 s: one event's worth refilled
        for _ in 0..<2 { try exporter.export(exec()) }
        #expect(exporter.eventsExported == 4 && exporter.eventsRateLimited == 3)
        clock += 40_000_000_000  // a minute since the start: the report
        try exporter.flush()
        try exporter.close()
        let lines = String(decoding: try readBytes(dir + "/events.log"), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 5)
        let info = try parseJSONObject(String(lines[4]))
        #expect((info["rate_limit_info"] as? [String: Any])?["number_of_dropped_process_events"] as? String == "3")
        #expect(info["node_name"] as? String == "worker-2" && info["time"] is String)
    }

    @Test func rateLimitZeroExportsNothing() throws {
        let exporter = Exporter(stdout: nil, file: nil)
        exporter.rateLimiter = ExportRateLimiter(eventsPerMinute: 0, nodeName: "n")
        try exporter.export(exec())
        #expect(exporter.eventsExported == 0 && exporter.eventsRateLimited == 1)
    }
}
