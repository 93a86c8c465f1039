// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import TestSupport
import Testing

@testable import Exporter

/// Every line the encoder writes with default options is a `GetEventsResponse` of Tetragon's
/// schema (Tests/TestSupport/Schema/tetragon-schema.json): no key outside it, Tetragon's JSON
/// types and ranges. With Vigil's fields, the extras are there, and only under `vigil` keys.
@Suite struct SchemaConformanceTests {
    static let schema = Result { try TetragonSchema.load() }

    /// Events of every kind with every optional part the encoder can write: the golden fixtures'
    /// processes (pod, ns, credentials, all flags, ancestors), every argument kind of
    /// ``ArgumentRenderingTests`` and file details, and every outcome (return, monitor, fence,
    /// mechanism).
    static func events() -> [ExportEvent] {
        var full = curlProcess(refcnt: 2)
        full.pod = PodFieldTests.pod(privileged: true)
        full.namespacePID = 57
        full.flags = ProcessFlags(rawValue: 0x1FFF)
        full.namespaces = ExportedNamespaces(
            uts: .init(inum: 4_026_531_838, isHost: true), ipc: .init(inum: 4_026_531_839, isHost: true),
            mnt: .init(inum: 4_026_532_500, isHost: false), pid: .init(inum: 4_026_532_501, isHost: false),
            pidForChildren: .init(inum: 4_026_532_501, isHost: false), net: .init(inum: 4_026_531_840, isHost: true),
            cgroup: .init(inum: 0, isHost: false), user: .init(inum: .max, isHost: true))
        var credentials = Credentials()
        credentials.uid = .max
        credentials.capPermitted = (1 << 41) - 1
        credentials.capEffective = 1 << 21 | 1 << 45
        full.credentials = credentials
        full.arguments = [Array("a b".utf8), [], [0xff, 0x22, 0x5c]]
        let parent = shellProcess()
        let ancestors = [bareProcess(execID: "YQ=="), bareProcess()]
        let details = FileDetails(inode: .max, device: .max, openFlags: .max)
        var args = ArgumentRenderingTests.cases.map(\.0)
        args += [
            Argument(.file(path: Array("/f".utf8), permission: "-rw-------", details: details), label: "file"),
            Argument(.path(path: Array("/p".utf8), permission: "", details: details)),
            Argument(.binprm(path: Array("/b".utf8), permission: "", details: FileDetails(inode: 1, device: 2, openFlags: nil))),
        ]
        var outcome = PolicyOutcome(
            policyName: "p", action: .sigkill, message: "m \"q\"", tags: ["a", "b"], monitor: true)
        outcome.fenced = true
        outcome.returnValue = .int(-13)
        outcome.mechanism = "cgroup_sock_addr"
        var posted = PolicyOutcome(policyName: "", action: .post)
        posted.returnValue = .size(.max)
        let time = wall(exampleSecond, 999_999_999)
        var events: [ExportEvent] = [
            ExportEvent(kind: .exec, process: full, parent: parent, ancestors: ancestors, nodeName: "n", time: time),
            ExportEvent(kind: .exec, process: bareProcess(), parent: nil, nodeName: "", time: wall(0)),
            ExportEvent(
                kind: .exit(signal: "SIGKILL", status: .max, time: time), process: full, parent: parent,
                ancestors: ancestors, nodeName: "n", time: time),
            ExportEvent(kind: .exit(signal: nil, status: 0, time: wall(0)), process: bareProcess(), parent: nil, nodeName: "", time: wall(0)),
        ]
        for o in [outcome, posted, PolicyOutcome(policyName: "x", action: .unknown)] {
            events += [
                ExportEvent(
                    kind: .tracepoint(subsystem: "syscalls", event: "sys_enter_openat", args: args, outcome: o),
                    process: full, parent: parent, ancestors: ancestors, nodeName: "n", time: time),
                ExportEvent(
                    kind: .kprobe(functionName: "__x64_sys_openat", args: args, outcome: o), process: full,
                    parent: parent, ancestors: ancestors, nodeName: "n", time: time),
                ExportEvent(
                    kind: .lsm(functionName: "file_open", args: args, outcome: o), process: full, parent: parent,
                    ancestors: ancestors, nodeName: "n", time: time),
                ExportEvent(
                    kind: .uprobe(path: "/usr/bin/bash", symbol: "readline", offset: 0, args: args, outcome: o),
                    process: full, parent: parent, ancestors: ancestors, nodeName: "n", time: time),
                ExportEvent(
                    kind: .uprobe(path: "/opt/app", symbol: "", offset: .max, args: args, outcome: o), process: full,
                    parent: parent, ancestors: ancestors, nodeName: "n", time: time),
            ]
        }
        return events
    }

    @Test func defaultLinesAreTetragonsSchema() throws {
        let schema = try Self.schema.get()
        for event in Self.events() {
            let line = encodeLine(event)
            let problems = schema.problems(line: line)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n\(line)")
            #expect(!line.contains("\"vigil\""))
        }
    }

    /// With Vigil's fields, each extra is there, under `vigil`, and the schema check names
    /// exactly those keys as unknown.
    @Test func vigilFieldsAreTheOnlyAdditions() throws {
        let schema = try Self.schema.get()
        var seen = Set<String>()
        for event in Self.events() {
            let line = encodeLine(event, vigilFields: true)
            for problem in schema.problems(line: line) {
                #expect(problem.hasSuffix(#"unknown field "vigil" in ProcessTracepoint"#)
                    || problem.hasSuffix(#"unknown field "vigil" in ProcessKprobe"#)
                    || problem.hasSuffix(#"unknown field "vigil" in ProcessLsm"#)
                    || problem.hasSuffix(#"unknown field "vigil" in ProcessUprobe"#)
                    || problem.hasSuffix(#"unknown field "vigil" in KprobeArgument"#), "\(problem)\n\(line)")
            }
            let json = try parseJSONObject(line)
            guard let body = json.values.compactMap({ $0 as? [String: Any] }).first else { continue }
            for (key, _) in body["vigil"] as? [String: Any] ?? [:] { seen.insert(key) }
            for arg in body["args"] as? [[String: Any]] ?? [] {
                for (key, _) in arg["vigil"] as? [String: Any] ?? [:] { seen.insert("args." + key) }
            }
            // What is not in `vigil` is the strict line.
            #expect(Self.strip(line) == String(encodeLine(event).dropLast()), "\(line)")
        }
        #expect(seen == ["mechanism", "policy_mode", "fenced", "return", "args.inode", "args.device", "args.open_flags", "args.error"])
    }

    /// `line` without its `vigil` members (they are always the last member of their object).
    static func strip(_ line: String) -> String {
        var text = line.hasSuffix("\n") ? String(line.dropLast()) : line
        while let range = text.range(of: #","vigil":{"#) ?? text.range(of: #""vigil":{"#) {
            var depth = 0
            var end = range.upperBound
            var inString = false
            var escaped = false
            var i = text.index(before: range.upperBound)
            while i < text.endIndex {
                let c = text[i]
                if inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                } else if c == "\"" {
                    inString = true
                } else if c == "{" {
                    depth += 1
                } else if c == "}" {
                    depth -= 1
                    if depth == 0 {
                        end = text.index(after: i)
                        break
                    }
                }
                i = text.index(after: i)
            }
            text.removeSubrange(range.lowerBound..<end)
        }
        return text
    }

    /// The checker fails what protojson would refuse, and says where.
    @Test(arguments: [
        (#"{"process_exec":{"process":{"pid":1}},"time":"2026-01-01T00:00:00Z","extra":1}"#, #"unknown field "extra""#),
        (#"{"process_exec":{"process":{"pid":-1}}}"#, "process_exec.process.pid: -1 is not a uint32"),
        (#"{"process_exec":{"process":{"pid":4294967296}}}"#, "is not a uint32"),
        (#"{"process_exec":{"process":{"pid":"1"}}}"#, "expected a uint32 number"),
        (#"{"process_kprobe":{"args":[{"size_arg":1}]}}"#, "expected a uint64 as a string"),
        (#"{"process_kprobe":{"args":[{"size_arg":"18446744073709551616"}]}}"#, "is not a uint64"),
        (#"{"process_kprobe":{"args":[{"long_arg":"-1","int_arg":2}]}}"#, "members of one oneof"),
        (#"{"process_kprobe":{"args":[{"bytes_arg":"AAH"}]}}"#, "is not standard base64"),
        (#"{"process_kprobe":{"action":"KPROBE_ACTION_DENY"}}"#, "is not a KprobeAction value"),
        (#"{"process_lsm":{"return":{"int_arg":0}}}"#, #"unknown field "return" in ProcessLsm"#),
        (#"{"process_exit":{"time":"2026-02-30T00:00:00Z"}}"#, "is not an RFC 3339 timestamp"),
        (#"{"process_exit":{"time":"2026-01-01 00:00:00Z"}}"#, "is not an RFC 3339 timestamp"),
        (#"{"process_exec":{"process":{"in_init_tree":1}}}"#, "expected true or false"),
        (#"{"process_exec":{"process":{"pid":1,"pid":2}}}"#, "duplicate key"),
        (#"{"process_exec":{},"process_exit":{}}"#, "expected one event key"),
        (#"{"node_name":"n"}"#, "expected one event key"),
        (#"{"process_exec":{"process":null}}"#, "null"),
        (#"{"process_exec":{"process":{"cwd":"\ud800"}}}"#, "not JSON"),
    ])
    func checkerRefuses(line: String, problem: String) throws {
        let problems = try Self.schema.get().problems(line: line)
        #expect(problems.contains { $0.contains(problem) }, "\(problems)")
    }

    @Test func checkerAcceptsTetragonsReferenceLines() throws {
        // The reference digest's example lines (values invented there), which Tetragon wrote.
        let kprobe = #"{"process_kprobe":{"process":{"exec_id":"ZQ==","pid":40211,"uid":1000,"start_time":"2026-03-14T09:21:07.412339871Z","auid":4294967295,"refcnt":1,"tid":40211,"in_init_tree":false},"function_name":"tcp_connect","args":[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":"10.42.1.17","daddr":"93.184.215.14","sport":51544,"dport":443,"cookie":"18446633487715360256","state":"TCP_SYN_SENT"},"label":"sk"}],"return":{"int_arg":0},"action":"KPROBE_ACTION_POST","policy_name":"egress-watch","return_action":"KPROBE_ACTION_POST","message":"outbound TCP connection","tags":["observability.network"]},"node_name":"worker-2","time":"2026-03-14T09:21:07.431907310Z"}"#
        #expect(try Self.schema.get().problems(line: kprobe) == [])
    }
}
