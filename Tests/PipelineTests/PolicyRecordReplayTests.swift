// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Exporter
import FileGuard
import Foundation
import Pipeline
import PolicyCompiler
import ProcessCache
import TestSupport
import Testing
import Tracefs
import TracingPolicy

/// Policy records through ``Pipeline``, as the agent runs them: a compiled policy's hook table,
/// raw generic records as the BPF side writes them (vigil_abi.h), the benchmark fixture's
/// processes in the cache, and a fanotify decision of the same policy's deny rule.
@Suite struct PolicyRecordReplayTests {
    static let policy = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: replay-opens
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            message: an open
            tags: [replay]
            args:
            - index: 5
              type: int
            - index: 6
              type: string
              label: path
            selectors:
            - matchArgs:
              - index: 6
                operator: Prefix
                values: ["/etc/"]
          lsmhooks:
          - hook: file_open
            args:
            - index: 0
              type: file
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["/etc/replay-denied"]
              matchActions:
              - action: Override
                argError: -1
        """

    static func compiled() throws -> CompiledPolicy {
        let environment = CompileEnvironment(
            loadFormat: { subsystem, event in
                guard let text = FormatFixtures.texts["\(subsystem)/\(event)"] else {
                    throw TracepointFormatError.notFound(tracepoint: "\(subsystem)/\(event)", path: "fixture")
                }
                return try TracepointFormat.parse(text, subsystem: subsystem, event: event)
            }, kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Namespaces()))
        let parsed = PolicyParser.parse(yaml: policy, file: "replay.yaml")
        try #require(parsed.errors.isEmpty, "\(parsed.errors)")
        let document = try #require(parsed.documents.first)
        var sets = SetIDAllocator(first: 1)
        switch PolicyCompiler(environment: environment).compile(document, sets: &sets) {
        case .success(let policy): return policy
        case .failure(let failure):
            Issue.record("\(failure.errors)")
            throw failure
        }
    }

    @Test func policyRecordsAndDecisionsBecomePolicyEvents() throws {
        let policy = try Self.compiled()
        let hook = try #require(policy.hooks.first)
        let fileRule = try #require(policy.fileRules.first)
        let records = try PipelineGoldenTests.records()
        let execs = records.compactMap { if case .exec(let e) = $0 { e } else { nil } }
        let exec = try #require(execs.first)

        let exporter = Exporter(stdout: nil, file: nil)
        var lines: [String] = []
        exporter.lineObserver = { _, line in lines.append(String(decoding: line, as: UTF8.self)) }
        var reported: [String] = []
        let slot: UInt32 = 7
        let pipeline = Pipeline(
            cache: ProcessCache(config: ProcessCacheConfig(nodeName: "replay-node"), clock: KtimeClock(bootWallNanoseconds: 0)),
            exporter: exporter, nodeName: "replay-node", clock: KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000),
            policies: Pipeline.Policies(
                hookSlot: { $0 == slot ? PolicyHookSlot(policyName: policy.name, hook: hook, mechanism: hook.mechanism) : nil },
                fileRule: { $0 == 3 ? PolicyFileRule(policyName: policy.name, rule: fileRule) : nil },
                reportActions: { reported.append("\($0) \($1.rawValue) \($2)") }))

        // The raw records: the fixture's records up to its first exec, then policy records.
        func generic(pid: UInt32, ktime: UInt64, slot: UInt32, action: vigil_action_kind, monitor: Bool = false) -> GenericRecord {
            GenericRecord(
                ktime: ktime &+ 1_000, cgroupID: 9, pid: pid, tid: pid &+ 1, processKtime: ktime, hookSlot: slot, policyID: 1,
                selector: 0, action: UInt8(action.rawValue), signal: 0, monitor: monitor,
                args: [.integer(UInt64(bitPattern: -100)), .string(Array("/etc/passwd".utf8), truncated: false)])
        }
        let policyRecords = [
            generic(pid: exec.pid, ktime: exec.ktime, slot: slot, action: VIGIL_ACTION_POST),
            generic(pid: exec.pid, ktime: exec.ktime, slot: slot, action: VIGIL_ACTION_SIGKILL, monitor: true),
            generic(pid: exec.pid, ktime: exec.ktime, slot: 99, action: VIGIL_ACTION_POST),  // no such slot: skipped
            generic(pid: 4_000_000, ktime: 5, slot: slot, action: VIGIL_ACTION_POST),  // no such process: `miss`
        ]
        var raw: [[UInt8]] = []
        let untilExec = try #require(records.firstIndex { if case .exec = $0 { true } else { false } })
        let data = try #require(FileManager.default.contents(atPath: PipelineGoldenTests.fixture))
        data.withUnsafeBytes { bytes in
            var offset = 0
            for _ in 0...untilExec {
                let size = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                raw.append(Array(bytes[offset + 4..<offset + 4 + size]))
                offset += 4 + size
            }
        }
        for record in policyRecords {
            let bytes = try #require(record.encoded())
            #expect(try Record(decoding: bytes.withUnsafeBytes { $0 }) == .generic(record), "encoded record decodes back")
            raw.append(bytes)
        }
        raw.append([1, 2, 3])  // too short: a decode error
        for bytes in raw { bytes.withUnsafeBytes { pipeline.process(raw: $0) } }
        pipeline.endBatch()
        #expect(pipeline.decodeErrors == 1)
        #expect(reported.sorted() == ["replay-opens KPROBE_ACTION_POST 2", "replay-opens KPROBE_ACTION_SIGKILL 1"])

        let policyLines = lines.filter { $0.contains("process_tracepoint") }
        try #require(policyLines.count == 3, "\(lines.suffix(4))")
        let first = try Self.object(policyLines[0])["process_tracepoint"] as? [String: Any]
        #expect(first?["subsys"] as? String == "syscalls")
        #expect(first?["event"] as? String == "sys_enter_openat")
        #expect(first?["policy_name"] as? String == "replay-opens")
        #expect(first?["action"] as? String == "KPROBE_ACTION_POST")
        #expect(first?["message"] as? String == "an open")
        #expect(first?["tags"] as? [String] == ["replay"])
        let args = first?["args"] as? [[String: Any]]
        #expect(args?.first?["int_arg"] as? Int == -100)
        #expect(args?.last?["string_arg"] as? String == "/etc/passwd")
        #expect(args?.last?["label"] == nil)  // Tetragon writes no labels on tracepoint arguments
        let process = first?["process"] as? [String: Any]
        #expect(process?["pid"] as? Int == Int(exec.pid))
        #expect(process?["tid"] as? Int == Int(exec.pid + 1))
        #expect(process?["binary"] as? String == String(decoding: exec.binary, as: UTF8.self))
        #expect(process?["exec_id"] as? String == ExecIDs.make(node: "replay-node", ktime: exec.ktime, pid: exec.pid))
        #expect(policyLines[1].contains(#""action":"KPROBE_ACTION_SIGKILL""#))
        #expect(policyLines[2].contains(#""pid":4000000"#))
        #expect(!policyLines[0].contains("miss") && policyLines[2].contains("miss"))

        // A decision of the policy's deny rule, in the same batch as its process's records.
        let decision = FileDecisionEvent(
            ruleID: 3, pid: Int32(exec.pid), path: Array("/etc/replay-denied".utf8), binary: nil, kind: .open, denied: true,
            monitor: false, errno: 1, ruleErrno: 1, monotonicNanos: 0)
        let unknown = FileDecisionEvent(
            ruleID: 4, pid: 1, path: [], binary: nil, kind: .open, denied: true, monitor: false, errno: 1, ruleErrno: 1,
            monotonicNanos: 0)
        lines.removeAll()
        reported.removeAll()
        pipeline.process([], fileDecisions: [decision, unknown])
        try #require(lines.count == 1)
        let lsm = try Self.object(lines[0])["process_lsm"] as? [String: Any]
        #expect(lsm?["function_name"] as? String == "file_open")
        #expect(lsm?["action"] as? String == "KPROBE_ACTION_OVERRIDE")
        #expect((lsm?["process"] as? [String: Any])?["binary"] as? String == String(decoding: exec.binary, as: UTF8.self))
        #expect(reported == ["replay-opens KPROBE_ACTION_OVERRIDE 1"])
    }

    /// lsmhooks socket_connect on BPF-LSM also runs on the cgroup connect/sendmsg programs
    /// (unconnected sends and TCP fast open never reach the LSM hook): each event names the
    /// program that decided, from the record's flag, as it crosses the decoder.
    @Test func socketConnectOnBPFLSMEventsNameTheProgramThatDecided() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: deny-port
            spec:
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["443"]
                  matchActions:
                  - action: Override
                    argError: -1
            """
        let environment = CompileEnvironment(
            loadFormat: { subsystem, event in
                throw TracepointFormatError.notFound(tracepoint: "\(subsystem)/\(event)", path: "none")
            }, kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Namespaces()), bpfLSM: true)
        let parsed = PolicyParser.parse(yaml: yaml, file: "connect.yaml")
        let document = try #require(parsed.documents.first)
        var sets = SetIDAllocator(first: 1)
        let policy = try PolicyCompiler(environment: environment).compile(document, sets: &sets).get()
        let hook = try #require(policy.hooks.first)
        try #require(hook.mechanism == .bpfLSM)
        let slot = PolicyHookSlot(policyName: policy.name, hook: hook, mechanism: hook.mechanism)
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0))

        func mechanism(cgroupSockAddr: Bool) throws -> String? {
            var record = GenericRecord(
                ktime: 1, pid: 10, tid: 10, processKtime: 0, hookSlot: 1, policyID: 1, selector: 0,
                action: UInt8(VIGIL_ACTION_OVERRIDE.rawValue), signal: 0, monitor: false, args: [])
            record.denied = true
            record.result = -1
            record.cgroupSockAddr = cgroupSockAddr
            let bytes = try #require(record.encoded())
            guard case .generic(let decoded) = try Record(decoding: bytes.withUnsafeBytes { $0 }) else { return nil }
            #expect(decoded == record)
            let event = PolicyEvents.event(
                for: decoded, slot: slot, cache: &cache, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
            guard case .lsm(_, _, let outcome) = event.kind else { return nil }
            return outcome.mechanism
        }
        #expect(try mechanism(cgroupSockAddr: false) == "bpf_lsm socket_connect")
        #expect(try mechanism(cgroupSockAddr: true) == "cgroup_sock_addr")
    }

    static func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
