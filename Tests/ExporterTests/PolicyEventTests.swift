// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

/// The JSON of `curlProcess()` and `shellProcess()`, as in the `process_exec` golden line.
private let curlJSON = #"{"exec_id":"d29ya2VyLTI6ODEyMzQ1Njc4OTAxMjo0MDIxMQ==","pid":40211,"uid":1000,"cwd":"/app","binary":"/usr/bin/curl","arguments":"-s https://api.example.org/v1/health","flags":"execve clone","start_time":"2026-03-14T09:21:07.412339871Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","tid":40211}"#
private let shellJSON = #"{"exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","pid":40177,"uid":1000,"cwd":"/app","binary":"/bin/sh","arguments":"-c \"curl -s https://api.example.org/v1/health\"","flags":"execve clone","start_time":"2026-03-14T09:21:07.398120455Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx","tid":40177}"#

/// `process_tracepoint` and `process_kprobe` lines, compared byte for byte and parsed back.
@Suite struct PolicyEventGoldenTests {
    /// `raw_syscalls/sys_enter` for `write(1, buf, 13)`: the `id` field typed `syscall64` becomes
    /// `syscall_id`, the `long[6] args` field is flattened into one `size_arg` per element, and
    /// every label is dropped, as Tetragon does for tracepoints.
    @Test func tracepointRawSyscallsSysEnter() throws {
        let event = ExportEvent(
            kind: .tracepoint(
                subsystem: "raw_syscalls", event: "sys_enter",
                args: [
                    Argument(.syscallID(id: 1, abi: "x64"), label: "id"),
                    Argument(.size(1), label: "args"), Argument(.size(94_458_938_012_336)), Argument(.size(13)),
                    Argument(.size(0)), Argument(.size(0)), Argument(.size(0)),
                ],
                outcome: PolicyOutcome(
                    policyName: "syscall-audit", action: .post, tags: ["observability.syscalls"])),
            process: curlProcess(), parent: shellProcess(), nodeName: "worker-2",
            time: wall(exampleSecond, 431_907_310))
        let expected = #"{"process_tracepoint":{"process":"# + curlJSON + #","parent":"# + shellJSON
            + #","subsys":"raw_syscalls","event":"sys_enter","args":[{"syscall_id":{"id":1,"abi":"x64"}},{"size_arg":"1"},{"size_arg":"94458938012336"},{"size_arg":"13"},{"size_arg":"0"},{"size_arg":"0"},{"size_arg":"0"}],"policy_name":"syscall-audit","action":"KPROBE_ACTION_POST","tags":["observability.syscalls"]},"node_name":"worker-2","time":"2026-03-14T09:21:07.431907310Z"}"#
            + "\n"
        let line = encodeLine(event)
        #expect(line == expected)

        let json = try parseJSONObject(line)
        #expect(Set(json.keys) == ["process_tracepoint", "node_name", "time"])
        let tp = try #require(json["process_tracepoint"] as? [String: Any])
        #expect(tp["subsys"] as? String == "raw_syscalls")
        #expect(tp["event"] as? String == "sys_enter")
        let args = try #require(tp["args"] as? [[String: Any]])
        #expect(args.count == 7)
        #expect(args.allSatisfy { $0["label"] == nil })
        let id = try #require(args[0]["syscall_id"] as? [String: Any])
        #expect(id["id"] as? Int == 1)
        #expect(id["abi"] as? String == "x64")
        #expect(args[2]["size_arg"] as? String == "94458938012336")
        #expect(tp["message"] == nil)
        #expect(tp["policy_mode"] == nil)
    }

    /// `__x64_sys_write` with labelled `fd` and `size`, in enforce mode: no `policy_mode`.
    @Test func kprobeSysWriteWithLabels() throws {
        let event = ExportEvent(
            kind: .kprobe(
                functionName: "__x64_sys_write",
                args: [Argument(.int(1), label: "fd"), Argument(.size(13), label: "size")],
                outcome: PolicyOutcome(
                    policyName: "write-watch", action: .post, message: "write to stdout",
                    tags: ["observability.filesystem", "demo"])),
            process: curlProcess(refcnt: 1), parent: shellProcess(), nodeName: "worker-2",
            time: wall(exampleSecond, 431_907_310))
        let expected = #"{"process_kprobe":{"process":"#
            + curlJSON.replacingOccurrences(of: #","tid":40211"#, with: #","refcnt":1,"tid":40211"#)
            + #","parent":"# + shellJSON
            + #","function_name":"__x64_sys_write","args":[{"int_arg":1,"label":"fd"},{"size_arg":"13","label":"size"}],"action":"KPROBE_ACTION_POST","policy_name":"write-watch","message":"write to stdout","tags":["observability.filesystem","demo"]},"node_name":"worker-2","time":"2026-03-14T09:21:07.431907310Z"}"#
            + "\n"
        let line = encodeLine(event)
        #expect(line == expected)

        let json = try parseJSONObject(line)
        #expect(Set(json.keys) == ["process_kprobe", "node_name", "time"])
        let kp = try #require(json["process_kprobe"] as? [String: Any])
        #expect(kp["function_name"] as? String == "__x64_sys_write")
        let args = try #require(kp["args"] as? [[String: Any]])
        #expect(args.count == 2)
        #expect(args[0]["int_arg"] as? Int == 1)
        #expect(args[0]["label"] as? String == "fd")
        #expect(args[1]["size_arg"] as? String == "13")
        #expect(args[1]["label"] as? String == "size")
        #expect(kp["action"] as? String == "KPROBE_ACTION_POST")
        #expect(kp["policy_name"] as? String == "write-watch")
        #expect(kp["message"] as? String == "write to stdout")
        #expect(kp["tags"] as? [String] == ["observability.filesystem", "demo"])
        #expect(kp["vigil"] == nil)
        #expect(kp["ancestors"] == nil)
    }

    /// A Sigkill policy in monitor mode: strictly Tetragon's shape by default; with Vigil's fields
    /// `"vigil":{"policy_mode":"monitor"}` closes the event, after `ancestors`.
    @Test func kprobeMonitorModeSigkill() throws {
        let event = ExportEvent(
            kind: .kprobe(
                functionName: "__x64_sys_write", args: [Argument(.int(1), label: "fd")],
                outcome: PolicyOutcome(
                    policyName: "deny-write", action: .sigkill, message: "blocked write",
                    tags: ["enforcement"], monitor: true)),
            process: bareProcess(execID: "cA=="), parent: nil, ancestors: [bareProcess(execID: "YQ==")],
            nodeName: "n", time: wall(1))
        let strict = #"""
            {"process_kprobe":{"process":{"exec_id":"cA==","pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"function_name":"__x64_sys_write","args":[{"int_arg":1,"label":"fd"}],"action":"KPROBE_ACTION_SIGKILL","policy_name":"deny-write","message":"blocked write","tags":["enforcement"],"ancestors":[{"exec_id":"YQ==","pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0}]},"node_name":"n","time":"1970-01-01T00:00:01Z"}

            """#
        #expect(encodeLine(event) == strict)
        let extended = strict.replacingOccurrences(
            of: #""tid":0}]},"node_name""#, with: #""tid":0}],"vigil":{"policy_mode":"monitor"}},"node_name""#)
        let line = encodeLine(event, vigilFields: true)
        #expect(line == extended)

        let json = try parseJSONObject(line)
        let kp = try #require(json["process_kprobe"] as? [String: Any])
        #expect(kp["action"] as? String == "KPROBE_ACTION_SIGKILL")
        #expect((kp["vigil"] as? [String: Any])?["policy_mode"] as? String == "monitor")
        #expect((kp["ancestors"] as? [Any])?.count == 1)
    }

    /// A denied connect: what connect(2) returned and the mechanism are Vigil's (Tetragon's
    /// ProcessLsm has no `return`), so only with Vigil's fields, in `vigil`.
    @Test func lsmConnectWithReturnAndMechanism() throws {
        var outcome = PolicyOutcome(policyName: "egress", action: .override, tags: ["net"])
        outcome.returnValue = .int(-1)
        outcome.mechanism = "cgroup_sock_addr"
        let event = ExportEvent(
            kind: .lsm(
                functionName: "socket_connect",
                args: [Argument(.sockaddr(family: "AF_INET", address: "127.0.0.1", port: 8080), label: "address")],
                outcome: outcome),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let strict = #"""
            {"process_lsm":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"function_name":"socket_connect","policy_name":"egress","args":[{"sockaddr_arg":{"family":"AF_INET","addr":"127.0.0.1","port":8080},"label":"address"}],"action":"KPROBE_ACTION_OVERRIDE","tags":["net"]},"time":"1970-01-01T00:00:00Z"}

            """#
        #expect(encodeLine(event) == strict)
        let extended = #"""
            {"process_lsm":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"function_name":"socket_connect","policy_name":"egress","args":[{"sockaddr_arg":{"family":"AF_INET","addr":"127.0.0.1","port":8080},"label":"address"}],"action":"KPROBE_ACTION_OVERRIDE","tags":["net"],"vigil":{"mechanism":"cgroup_sock_addr","return":{"int_arg":-1}}},"time":"1970-01-01T00:00:00Z"}

            """#
        let line = encodeLine(event, vigilFields: true)
        #expect(line == extended)
        let lsm = try #require(try parseJSONObject(line)["process_lsm"] as? [String: Any])
        #expect(((lsm["vigil"] as? [String: Any])?["return"] as? [String: Any])?["int_arg"] as? Int == -1)
    }

    /// `process_uprobe` in ProcessUprobe's field order (path, symbol, policy_name, message, args,
    /// tags, ancestors, offset, action); a uretprobe's return value is Vigil's, as for LSM hooks.
    @Test func uprobeInTetragonsFieldOrder() throws {
        var outcome = PolicyOutcome(policyName: "shell", action: .sigkill, message: "line read", tags: ["t"])
        outcome.returnValue = .int(7)
        outcome.mechanism = "uretprobe"
        let bySymbol = ExportEvent(
            kind: .uprobe(
                path: "/usr/bin/bash", symbol: "readline", offset: 0, args: [Argument(.string(Array("ls".utf8)), label: "line")],
                outcome: outcome),
            process: bareProcess(), parent: nil, ancestors: [bareProcess(execID: "YQ==")], nodeName: "", time: wall(0))
        #expect(encodeLine(bySymbol) == #"""
            {"process_uprobe":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"path":"/usr/bin/bash","symbol":"readline","policy_name":"shell","message":"line read","args":[{"string_arg":"ls","label":"line"}],"tags":["t"],"ancestors":[{"exec_id":"YQ==","pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0}],"action":"KPROBE_ACTION_SIGKILL"},"time":"1970-01-01T00:00:00Z"}

            """#)
        let byOffset = ExportEvent(
            kind: .uprobe(path: "/opt/app", symbol: "", offset: 0x1234, args: [], outcome: outcome), process: bareProcess(),
            parent: nil, nodeName: "", time: wall(0))
        #expect(encodeLine(byOffset, vigilFields: true) == #"""
            {"process_uprobe":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"path":"/opt/app","policy_name":"shell","message":"line read","tags":["t"],"offset":"4660","action":"KPROBE_ACTION_SIGKILL","vigil":{"mechanism":"uretprobe","return":{"int_arg":7}}},"time":"1970-01-01T00:00:00Z"}

            """#)
    }

    /// A kprobe's `return` is Tetragon's own; its mechanism is Vigil's.
    @Test func kprobeReturnIsTetragons() throws {
        var outcome = PolicyOutcome(policyName: "opens", action: .post)
        outcome.returnValue = .int(3)
        outcome.mechanism = "fexit"
        let event = ExportEvent(
            kind: .kprobe(functionName: "vfs_open", args: [], outcome: outcome),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let strict = #"""
            {"process_kprobe":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"function_name":"vfs_open","return":{"int_arg":3},"action":"KPROBE_ACTION_POST","policy_name":"opens"},"time":"1970-01-01T00:00:00Z"}

            """#
        #expect(encodeLine(event) == strict)
        #expect(
            encodeLine(event, vigilFields: true)
                == strict.replacingOccurrences(of: #""opens"},"#, with: #""opens","vigil":{"mechanism":"fexit"}},"#))
    }

    /// Monitor mode without message or tags.
    @Test func tracepointMonitorModeWithoutTags() throws {
        let event = ExportEvent(
            kind: .tracepoint(
                subsystem: "syscalls", event: "sys_enter_unlinkat", args: [],
                outcome: PolicyOutcome(policyName: "no-unlink", action: .sigkill, monitor: true)),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let strict = #"""
            {"process_tracepoint":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"subsys":"syscalls","event":"sys_enter_unlinkat","policy_name":"no-unlink","action":"KPROBE_ACTION_SIGKILL"},"time":"1970-01-01T00:00:00Z"}

            """#
        #expect(encodeLine(event) == strict)
        let line = encodeLine(event, vigilFields: true)
        #expect(
            line
                == strict.replacingOccurrences(
                    of: #""KPROBE_ACTION_SIGKILL"},"#, with: #""KPROBE_ACTION_SIGKILL","vigil":{"policy_mode":"monitor"}},"#))
        let json = try parseJSONObject(line)
        let tp = try #require(json["process_tracepoint"] as? [String: Any])
        #expect(tp["args"] == nil)
        #expect(tp["tags"] == nil)
        #expect((tp["vigil"] as? [String: Any])?["policy_mode"] as? String == "monitor")
    }

    /// A Sigkill due outside `--enforcement-cgroup`: `action` says what was due and Vigil's
    /// `"vigil":{"fenced":true}` that it was not done; monitor mode and the fence together.
    @Test func tracepointFencedSigkill() throws {
        var outcome = PolicyOutcome(policyName: "kill-cat", action: .sigkill, tags: ["t"])
        outcome.fenced = true
        let event = ExportEvent(
            kind: .tracepoint(subsystem: "syscalls", event: "sys_enter_openat", args: [], outcome: outcome),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let strict = #"""
            {"process_tracepoint":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"subsys":"syscalls","event":"sys_enter_openat","policy_name":"kill-cat","action":"KPROBE_ACTION_SIGKILL","tags":["t"]},"time":"1970-01-01T00:00:00Z"}

            """#
        #expect(encodeLine(event) == strict)
        let line = encodeLine(event, vigilFields: true)
        #expect(line == strict.replacingOccurrences(of: #"["t"]},"#, with: #"["t"],"vigil":{"fenced":true}},"#))
        let tp = try #require(try parseJSONObject(line)["process_tracepoint"] as? [String: Any])
        #expect((tp["vigil"] as? [String: Any])?["fenced"] as? Bool == true)
        #expect((tp["vigil"] as? [String: Any])?["policy_mode"] == nil)

        var both = outcome
        both.monitor = true
        let bothEvent = ExportEvent(
            kind: .tracepoint(subsystem: "syscalls", event: "sys_enter_openat", args: [], outcome: both),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        #expect(encodeLine(bothEvent, vigilFields: true).contains(#""vigil":{"policy_mode":"monitor","fenced":true}}"#))
    }

    /// Zero values omitted: empty function name, policy name, the zero action (`KPROBE_ACTION_UNKNOWN`),
    /// empty message, no args, no tags.
    @Test func kprobeZeroValuesOmitted() throws {
        let event = ExportEvent(
            kind: .kprobe(functionName: "", args: [], outcome: PolicyOutcome(policyName: "", action: .unknown, message: "")),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let expected = #"""
            {"process_kprobe":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0}},"time":"1970-01-01T00:00:00Z"}

            """#
        let line = encodeLine(event)
        #expect(line == expected)
        _ = try parseJSONObject(line)
    }

    /// Escaping applies to every policy string: names, message, tags, labels, sockaddr text.
    @Test func policyStringsAreEscaped() throws {
        let event = ExportEvent(
            kind: .kprobe(
                functionName: "f\"n", args: [Argument(.sockaddr(family: "AF_UNIX", address: "a\\b", port: 0), label: "l\n")],
                outcome: PolicyOutcome(
                    policyName: "p\"", action: .post, message: "tab\there", tags: ["t\u{1}"])),
            process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        let line = encodeLine(event)
        #expect(line.contains(#""function_name":"f\"n""#))
        #expect(line.contains(#"{"sockaddr_arg":{"family":"AF_UNIX","addr":"a\\b"},"label":"l\n"}"#))
        #expect(line.contains(#""policy_name":"p\"","message":"tab\there","tags":["t\u0001"]"#))
        let json = try parseJSONObject(line)
        let kp = try #require(json["process_kprobe"] as? [String: Any])
        #expect(kp["function_name"] as? String == "f\"n")
        #expect(kp["message"] as? String == "tab\there")
        #expect(kp["tags"] as? [String] == ["t\u{1}"])
        let args = try #require(kp["args"] as? [[String: Any]])
        #expect(args[0]["label"] as? String == "l\n")
    }

    /// `string_arg` carrying bytes that are not UTF-8 uses the path escaping (`\xNN`), in both
    /// kinds; valid multi-byte UTF-8 passes through.
    @Test func stringArgWithInvalidUTF8() throws {
        let raw: [UInt8] = Array("/tmp/".utf8) + [0xFF, 0xFE] + Array("é\"x".utf8) + [0xC3]
        for kind in [
            ExportEventKind.kprobe(
                functionName: "security_file_open", args: [Argument(.string(raw), label: "path")],
                outcome: PolicyOutcome(policyName: "p", action: .post)),
            ExportEventKind.tracepoint(
                subsystem: "syscalls", event: "sys_enter_openat", args: [Argument(.string(raw), label: "path")],
                outcome: PolicyOutcome(policyName: "p", action: .post)),
        ] {
            let line = encodeLine(ExportEvent(kind: kind, process: bareProcess(), parent: nil, nodeName: "", time: wall(0)))
            #expect(line.contains(#"{"string_arg":"/tmp/\\xff\\xfeé\"x\\xc3""#))
            let json = try parseJSONObject(line)
            let body = try #require(json[kind.jsonKey] as? [String: Any])
            let args = try #require(body["args"] as? [[String: Any]])
            #expect(args[0]["string_arg"] as? String == #"/tmp/\xff\xfeé"x\xc3"#)
        }
    }
}

/// Each `ArgumentValue` kind, alone, with and without labels.
@Suite struct ArgumentRenderingTests {
    private static func render(_ arg: Argument, label: Bool = true) -> String {
        var out: [UInt8] = []
        JSONLineEncoder.appendArgument(arg, label: label, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static let cases: [(Argument, String)] = [
        (Argument(.binprm(path: Array("/usr/bin/true".utf8), permission: "-rwxr-xr-x")),
         #"{"linux_binprm_arg":{"path":"/usr/bin/true","permission":"-rwxr-xr-x"}}"#),
        (Argument(.file(path: Array("/etc/sh\u{1}adow".utf8) + [0xff], permission: "-rw-r-----"), label: "file"),
         #"{"file_arg":{"path":"/etc/sh\u0001adow\\xff","permission":"-rw-r-----"},"label":"file"}"#),
        (Argument(.sock(family: "AF_INET", type: "SOCK_STREAM", protocol: "IPPROTO_TCP", daddr: "10.0.0.1", dport: 443), label: "sk"),
         #"{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","daddr":"10.0.0.1","dport":443},"label":"sk"}"#),
        (
            Argument(
                .socket(
                    SocketArgument(
                        family: "AF_INET", type: "SOCK_STREAM", protocol: "IPPROTO_TCP", mark: 0, saddr: "127.0.0.1",
                        daddr: "127.0.0.2", sport: 40000, dport: 443, state: "TCP_SYN_SENT")), label: "sk"),
            #"{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":"127.0.0.1","daddr":"127.0.0.2","sport":40000,"dport":443,"state":"TCP_SYN_SENT"},"label":"sk"}"#
        ),
        (Argument(.path(path: Array("/tmp/x".utf8), permission: "drwxr-xr-x")),
         #"{"path_arg":{"path":"/tmp/x","permission":"drwxr-xr-x"}}"#),
        (
            Argument(.credentials({ var c = Credentials(); c.uid = 1000; c.euid = 0; c.capEffective = 1; return c }()), label: "new"),
            #"{"process_credentials_arg":{"uid":1000,"gid":0,"euid":0,"egid":0,"suid":0,"sgid":0,"fsuid":0,"fsgid":0,"caps":{"effective":["CAP_CHOWN"]}},"label":"new"}"#
        ),
        (Argument(.int(-3)), #"{"int_arg":-3}"#),
        (Argument(.int(0), label: "fd"), #"{"int_arg":0,"label":"fd"}"#),
        (Argument(.int(.min)), #"{"int_arg":-2147483648}"#),
        (Argument(.int(.max)), #"{"int_arg":2147483647}"#),
        (Argument(.uint(3)), #"{"uint_arg":3}"#),
        (Argument(.uint(.max), label: "mode"), #"{"uint_arg":4294967295,"label":"mode"}"#),
        (Argument(.long(-3)), #"{"long_arg":"-3"}"#),
        (Argument(.long(.min)), #"{"long_arg":"-9223372036854775808"}"#),
        (Argument(.long(.max)), #"{"long_arg":"9223372036854775807"}"#),
        (Argument(.size(3), label: "count"), #"{"size_arg":"3","label":"count"}"#),
        (Argument(.size(0)), #"{"size_arg":"0"}"#),
        (Argument(.size(.max)), #"{"size_arg":"18446744073709551615"}"#),
        (Argument(.string(Array("/etc/passwd".utf8)), label: "path"), #"{"string_arg":"/etc/passwd","label":"path"}"#),
        (Argument(.string([])), #"{"string_arg":""}"#),
        (Argument(.bytes([0x00, 0x01, 0xFE, 0xFF]), label: "buf"), #"{"bytes_arg":"AAH+/w==","label":"buf"}"#),
        (Argument(.bytes([])), #"{"bytes_arg":""}"#),
        (
            Argument(.truncatedBytes(Array("hello".utf8), originalSize: 4096), label: "buf"),
            #"{"truncated_bytes_arg":{"bytes_arg":"aGVsbG8=","orig_size":"4096"},"label":"buf"}"#
        ),
        (Argument(.truncatedBytes([], originalSize: 9)), #"{"truncated_bytes_arg":{"orig_size":"9"}}"#),
        (Argument(.truncatedBytes([0xFB], originalSize: 0)), #"{"truncated_bytes_arg":{"bytes_arg":"+w=="}}"#),
        (Argument(.truncatedBytes([], originalSize: 0)), #"{"truncated_bytes_arg":{}}"#),
        (
            Argument(.sockaddr(family: "AF_INET", address: "127.0.0.1", port: 8080), label: "addr"),
            #"{"sockaddr_arg":{"family":"AF_INET","addr":"127.0.0.1","port":8080},"label":"addr"}"#
        ),
        (Argument(.sockaddr(family: "AF_INET6", address: "::1", port: 0)), #"{"sockaddr_arg":{"family":"AF_INET6","addr":"::1"}}"#),
        (Argument(.sockaddr(family: "", address: "", port: 53)), #"{"sockaddr_arg":{"port":53}}"#),
        (Argument(.sockaddr(family: "", address: "10.0.0.1", port: 0)), #"{"sockaddr_arg":{"addr":"10.0.0.1"}}"#),
        (Argument(.sockaddr(family: "", address: "", port: 0)), #"{"sockaddr_arg":{}}"#),
        (Argument(.syscallID(id: 1, abi: "x64"), label: "id"), #"{"syscall_id":{"id":1,"abi":"x64"},"label":"id"}"#),
        (Argument(.syscallID(id: 0, abi: "x64")), #"{"syscall_id":{"abi":"x64"}}"#),
        (Argument(.syscallID(id: 59, abi: "")), #"{"syscall_id":{"id":59}}"#),
        (Argument(.syscallID(id: 0, abi: "")), #"{"syscall_id":{}}"#),
        // Unreadable: no value key (Tetragon's KprobeArgument has none); Vigil's `vigil.error` says why.
        (Argument(.error("could not read argument"), label: "buf"), #"{"label":"buf"}"#),
        (Argument(.error("")), #"{}"#),
        (Argument(.int(7), label: ""), #"{"int_arg":7}"#),
    ]

    @Test(arguments: cases)
    func rendersWithLabel(argument: Argument, expected: String) throws {
        let text = Self.render(argument)
        #expect(text == expected)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let dictionary = try #require(object as? [String: Any])
        #expect(dictionary.count == Self.valueKeys(argument) + ((argument.label ?? "").isEmpty ? 0 : 1))
    }

    /// Without labels (tracepoints) the value key is the only key.
    @Test(arguments: cases)
    func rendersWithoutLabel(argument: Argument, expected: String) throws {
        let text = Self.render(argument, label: false)
        if let label = argument.label, !label.isEmpty {
            let withoutLabel = expected.replacingOccurrences(of: #","label":"\#(label)""#, with: "")
                .replacingOccurrences(of: #""label":"\#(label)""#, with: "")
            #expect(text == withoutLabel)
        } else {
            #expect(text == expected)
        }
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        #expect((object as? [String: Any])?.count == Self.valueKeys(argument))
    }

    /// 1, or 0 for an unreadable argument, which has no value key.
    private static func valueKeys(_ argument: Argument) -> Int {
        if case .error = argument.value { 0 } else { 1 }
    }

    /// Vigil's facts of an argument: nothing by default; with Vigil's fields a `vigil` object
    /// after `label`.
    @Test func vigilObjectOfArguments() {
        let details = FileDetails(inode: 1 << 40, device: 8 << 20 | 1, openFlags: 0o2100000)
        let file = Argument(.file(path: Array("/etc/passwd".utf8), permission: "-rw-r--r--", details: details), label: "file")
        #expect(Self.render(file) == #"{"file_arg":{"path":"/etc/passwd","permission":"-rw-r--r--"},"label":"file"}"#)
        var out: [UInt8] = []
        JSONLineEncoder.appendArgument(file, label: true, vigil: true, to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #"{"file_arg":{"path":"/etc/passwd","permission":"-rw-r--r--"},"label":"file","vigil":{"inode":"1099511627776","device":"8:1","open_flags":"O_RDONLY|O_LARGEFILE|O_CLOEXEC"}}"#)
        out = []
        let exec = Argument(.binprm(path: Array("/bin/true".utf8), permission: "", details: FileDetails(inode: 7, device: 0, openFlags: nil)))
        JSONLineEncoder.appendArgument(exec, label: false, vigil: true, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"linux_binprm_arg":{"path":"/bin/true"},"vigil":{"inode":"7","device":"0:0"}}"#)
        out = []
        JSONLineEncoder.appendArgument(Argument(.error("could not read the argument")), label: false, vigil: true, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"vigil":{"error":"could not read the argument"}}"#)
        out = []
        JSONLineEncoder.appendArgument(Argument(.error("x"), label: "buf"), label: true, vigil: true, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"label":"buf","vigil":{"error":"x"}}"#)
        out = []
        JSONLineEncoder.appendArgument(Argument(.int(1), label: "fd"), label: true, vigil: true, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"int_arg":1,"label":"fd"}"#)
    }

    /// Every kind appears once in the table.
    @Test func tableCoversEveryKind() {
        var seen = Set<String>()
        for (argument, _) in Self.cases {
            switch argument.value {
            case .int: seen.insert("int")
            case .uint: seen.insert("uint")
            case .long: seen.insert("long")
            case .size: seen.insert("size")
            case .string: seen.insert("string")
            case .bytes: seen.insert("bytes")
            case .truncatedBytes: seen.insert("truncatedBytes")
            case .sockaddr: seen.insert("sockaddr")
            case .sock: seen.insert("sock")
            case .socket: seen.insert("socket")
            case .path: seen.insert("path")
            case .credentials: seen.insert("credentials")
            case .file: seen.insert("file")
            case .binprm: seen.insert("binprm")
            case .syscallID: seen.insert("syscallID")
            case .error: seen.insert("error")
            }
        }
        #expect(seen.count == 16)
    }

    /// RFC 4648 section 10 vectors, then every length 0...70 against Foundation.
    @Test func base64MatchesFoundation() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (input, expected) in vectors {
            var out = JSONBuffer()
            out.appendBase64(Array(input.utf8))
            #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
        }
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var out = JSONBuffer(capacity: 1)  // grows while appending
            out.append(static: "x")
            out.appendBase64(bytes)
            #expect(String(decoding: out.bytes, as: UTF8.self) == "x" + Data(bytes).base64EncodedString())
        }
    }
}
