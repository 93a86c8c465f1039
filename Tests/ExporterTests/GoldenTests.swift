// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

/// Whole lines compared byte for byte with lines written by hand from the Tetragon reference.
@Suite struct GoldenTests {
    /// Section 2.6 `process_exec`, with the `pod` and `in_init_tree` fields left out.
    @Test func processExecWithParent() throws {
        let event = ExportEvent(
            kind: .exec, process: curlProcess(), parent: shellProcess(), nodeName: "worker-2",
            time: wall(exampleSecond, 412_338_102))
        let expected = #"""
            {"process_exec":{"process":{"exec_id":"d29ya2VyLTI6ODEyMzQ1Njc4OTAxMjo0MDIxMQ==","pid":40211,"uid":1000,"cwd":"/app","binary":"/usr/bin/curl","arguments":"-s https://api.example.org/v1/health","flags":"execve clone","start_time":"2026-03-14T09:21:07.412339871Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","tid":40211},"parent":{"exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","pid":40177,"uid":1000,"cwd":"/app","binary":"/bin/sh","arguments":"-c \"curl -s https://api.example.org/v1/health\"","flags":"execve clone","start_time":"2026-03-14T09:21:07.398120455Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx","tid":40177}},"node_name":"worker-2","time":"2026-03-14T09:21:07.412338102Z"}

            """#
        let line = encodeLine(event)
        #expect(line == expected)

        let json = try parseJSONObject(line)
        #expect(Set(json.keys) == ["process_exec", "node_name", "time"])
        let exec = try #require(json["process_exec"] as? [String: Any])
        let process = try #require(exec["process"] as? [String: Any])
        let parent = try #require(exec["parent"] as? [String: Any])
        #expect(process["pid"] as? Int == 40211)
        #expect(process["auid"] as? Int == 4_294_967_295)
        #expect(parent["arguments"] as? String == #"-c "curl -s https://api.example.org/v1/health""#)
        #expect(exec["ancestors"] == nil)
    }

    /// `process_exit` with signal, status, exit time and one ancestor (after `time`, proto order).
    @Test func processExitWithSignalStatusAndAncestor() throws {
        let shim = ExportedProcess(
            execID: "d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx", pid: 39001, tid: 39001, uid: 0, auid: 4_294_967_295,
            cwd: Array("/".utf8), binary: Array("/usr/bin/containerd-shim-runc-v2".utf8), arguments: [],
            flags: [.procFS], startTime: wall(1_773_471_775))
        let event = ExportEvent(
            kind: .exit(signal: "SIGKILL", status: 2, time: wall(exampleSecond + 1, 500_000_000)),
            process: curlProcess(refcnt: 1), parent: shellProcess(), ancestors: [shim], nodeName: "worker-2",
            time: wall(exampleSecond + 1, 500_001_000))
        let expected = #"""
            {"process_exit":{"process":{"exec_id":"d29ya2VyLTI6ODEyMzQ1Njc4OTAxMjo0MDIxMQ==","pid":40211,"uid":1000,"cwd":"/app","binary":"/usr/bin/curl","arguments":"-s https://api.example.org/v1/health","flags":"execve clone","start_time":"2026-03-14T09:21:07.412339871Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","refcnt":1,"tid":40211},"parent":{"exec_id":"d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==","pid":40177,"uid":1000,"cwd":"/app","binary":"/bin/sh","arguments":"-c \"curl -s https://api.example.org/v1/health\"","flags":"execve clone","start_time":"2026-03-14T09:21:07.398120455Z","auid":4294967295,"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7","parent_exec_id":"d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx","tid":40177},"signal":"SIGKILL","status":2,"time":"2026-03-14T09:21:08.500Z","ancestors":[{"exec_id":"d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx","pid":39001,"uid":0,"cwd":"/","binary":"/usr/bin/containerd-shim-runc-v2","flags":"procFS","start_time":"2026-03-14T07:02:55Z","auid":4294967295,"tid":39001}]},"node_name":"worker-2","time":"2026-03-14T09:21:08.500001Z"}

            """#
        let line = encodeLine(event)
        #expect(line == expected)

        let json = try parseJSONObject(line)
        let exit = try #require(json["process_exit"] as? [String: Any])
        #expect(exit["signal"] as? String == "SIGKILL")
        #expect(exit["status"] as? Int == 2)
        #expect(exit["time"] as? String == "2026-03-14T09:21:08.500Z")
        #expect((exit["ancestors"] as? [Any])?.count == 1)
    }

    /// Exit without signal and with status 0: both omitted; no parent: omitted.
    @Test func processExitZeroValuesOmitted() throws {
        let event = ExportEvent(
            kind: .exit(signal: nil, status: 0, time: wall(0, 1)), process: bareProcess(), parent: nil,
            nodeName: "", time: wall(0))
        let expected = #"""
            {"process_exit":{"process":{"pid":0,"uid":0,"start_time":"1970-01-01T00:00:00Z","auid":0,"tid":0},"time":"1970-01-01T00:00:00.000000001Z"},"time":"1970-01-01T00:00:00Z"}

            """#
        let line = encodeLine(event)
        #expect(line == expected)
        _ = try parseJSONObject(line)
    }

    /// `ns` (is_host omitted when false, inum omitted when 0) and `process_credentials` with caps.
    @Test func namespacesAndCredentials() throws {
        var process = bareProcess(execID: "eA==")
        process.pid = 7
        process.tid = 8
        process.uid = 1
        process.auid = 2
        process.namespaces = ExportedNamespaces(
            uts: .init(inum: 4_026_531_838, isHost: true), ipc: .init(inum: 4_026_531_839, isHost: true),
            mnt: .init(inum: 4_026_532_500, isHost: false), pid: .init(inum: 4_026_532_501, isHost: false),
            pidForChildren: .init(inum: 4_026_532_501, isHost: false), net: .init(inum: 4_026_531_840, isHost: true),
            cgroup: .init(inum: 0, isHost: false), user: .init(inum: 4_026_531_837, isHost: true))
        var credentials = Credentials()
        credentials.uid = 1000
        credentials.gid = 1001
        credentials.euid = 0
        credentials.egid = 0
        credentials.suid = 1002
        credentials.sgid = 1003
        credentials.fsuid = 1004
        credentials.fsgid = 1005
        credentials.capPermitted = 1 << 0 | 1 << 1 | 1 << 13 | 1 << 21 | 1 << 40
        credentials.capEffective = 1 << 21 | 1 << 45
        credentials.capInheritable = 0
        process.credentials = credentials
        let event = ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "n", time: wall(1))
        let expected = #"""
            {"process_exec":{"process":{"exec_id":"eA==","pid":7,"uid":1,"start_time":"1970-01-01T00:00:00Z","auid":2,"ns":{"uts":{"inum":4026531838,"is_host":true},"ipc":{"inum":4026531839,"is_host":true},"mnt":{"inum":4026532500},"pid":{"inum":4026532501},"pid_for_children":{"inum":4026532501},"net":{"inum":4026531840,"is_host":true},"cgroup":{},"user":{"inum":4026531837,"is_host":true}},"tid":8,"process_credentials":{"uid":1000,"gid":1001,"euid":0,"egid":0,"suid":1002,"sgid":1003,"fsuid":1004,"fsgid":1005,"caps":{"permitted":["CAP_CHOWN","DAC_OVERRIDE","CAP_NET_RAW","CAP_SYS_ADMIN","CAP_CHECKPOINT_RESTORE"],"effective":["CAP_SYS_ADMIN",45]}}}},"node_name":"n","time":"1970-01-01T00:00:01Z"}

            """#
        let line = encodeLine(event)
        #expect(line == expected)
        _ = try parseJSONObject(line)
    }

    /// Credentials without capabilities still carry `caps` (a set message), with no lists.
    @Test func credentialsWithoutCapabilities() throws {
        var process = bareProcess()
        process.credentials = Credentials()
        let line = encodeLine(ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "", time: wall(0)))
        #expect(
            line.contains(
                #""process_credentials":{"uid":0,"gid":0,"euid":0,"egid":0,"suid":0,"sgid":0,"fsuid":0,"fsgid":0,"caps":{}}"#
            ))
        _ = try parseJSONObject(line)
    }

    /// Every flag word, in Tetragon's order; ancestors of an exec come after the parent.
    @Test func allFlagsAndExecAncestors() throws {
        var process = bareProcess()
        process.flags = ProcessFlags(rawValue: 0x1FFF)
        let line = encodeLine(
            ExportEvent(
                kind: .exec, process: process, parent: bareProcess(execID: "p"),
                ancestors: [bareProcess(execID: "a1"), bareProcess(execID: "a2")], nodeName: "", time: wall(0)))
        #expect(
            line.contains(
                #""flags":"execve procFS truncArgs miss errorFilename errorArgs nocwd rootcwd errorCWD clone truncFilename truncCWD deletedBinary""#
            ))
        #expect(line.contains(#""tid":0},"parent":{"exec_id":"p","#))
        #expect(line.contains(#""tid":0},"ancestors":[{"exec_id":"a1","#))
        #expect(line.contains(#""tid":0},{"exec_id":"a2","#))
        let json = try parseJSONObject(line)
        let exec = try #require(json["process_exec"] as? [String: Any])
        #expect((exec["ancestors"] as? [Any])?.count == 2)
    }

    /// Appending to a buffer keeps what was there; one newline per event.
    @Test func encodeAppends() {
        var buffer = Array("x".utf8)
        let event = ExportEvent(kind: .exec, process: bareProcess(), parent: nil, nodeName: "", time: wall(0))
        JSONLineEncoder().encode(event, into: &buffer)
        JSONLineEncoder().encode(event, into: &buffer)
        #expect(buffer.first == UInt8(ascii: "x"))
        #expect(buffer.filter { $0 == UInt8(ascii: "\n") }.count == 2)
        #expect(buffer.last == UInt8(ascii: "\n"))
    }
}
