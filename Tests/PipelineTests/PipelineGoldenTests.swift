// SPDX-License-Identifier: Apache-2.0
import CZlib
import Events
import Exporter
import Foundation
import Pipeline
import ProcessCache
import TestSupport
import Testing

/// The export a replay of the benchmark fixture produces, byte for byte, against output recorded
/// before the pipeline was optimised: decode -> process cache -> JSON, as the agent runs it.
///
/// Two configurations: the benchmark's (defaults), and one that turns on every optional part of
/// a process object (ancestors, `ns`, credentials, `docker`, `pod`, `refcnt` changes, evictions)
/// and adds a policy-style event per exec through ``ProcessCache/context(pid:ktime:tid:)``. Each
/// compares a digest of the whole replay and, line by line, the first records' output kept
/// gzipped in `Golden/` (so a mismatch shows the line). `VIGIL_UPDATE_GOLDEN=1` rewrites both;
/// only do that for an intended change of the output.
@Suite struct PipelineGoldenTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixture = root.appendingPathComponent("../../bench/fixtures/exec-storm.records").standardized.path
    static let golden = root.appendingPathComponent("Golden")
    /// Records whose output is kept line by line.
    static let keptRecords = 900

    @Test func benchmarkConfiguration() throws {
        let records = try Self.records()
        let config = ProcessCacheConfig(nodeName: "bench-node")
        let output = Self.replay(records, config: config, extras: false)
        try Self.check(output, records: records, config: config, extras: false, name: "bench", digest: 0xd3ea_2ff6_558f_679a, lines: 6002)
    }

    @Test func everyOptionalField() throws {
        let records = try Self.records()
        let config = Self.fullConfig(records)
        let output = Self.replay(records, config: config, extras: true)
        try Self.check(output, records: records, config: config, extras: true, name: "full", digest: 0xa784_655e_37e7_9b08, lines: 12005)
    }

    // MARK: - Replay

    static func records() throws -> [Record] {
        let data = try #require(FileManager.default.contents(atPath: fixture), "fixture \(fixture) missing")
        var records: [Record] = []
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset + 4 <= bytes.count {
                let size = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                guard offset + 4 + size <= bytes.count else { break }
                records.append(try Record(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset + 4..<offset + 4 + size])))
                offset += 4 + size
            }
        }
        #expect(records.count == 9003)
        return records
    }

    /// Ancestors, namespaces (some host, some not), credentials, container ids for a third of the
    /// cgroups, and a capacity small enough that entries are evicted during the replay.
    static func fullConfig(_ records: [Record]) -> ProcessCacheConfig {
        var host = Namespaces()
        for case .exec(let exec) in records {
            host = exec.namespaces
            break
        }
        host.net &+= 1  // one namespace that is not the host's
        return ProcessCacheConfig(
            nodeName: "golden \"node\"", enableAncestors: true, exportNamespaces: true, exportCredentials: true,
            hostNamespaces: host, capacity: 700,
            dockerID: { id in String(repeating: String(id, radix: 16), count: 8) })
    }

    /// The replay runs through ``Pipeline``, the agent's own loop, with no export sink: its line
    /// observer collects the lines.
    static func replay(_ records: [Record], config: ProcessCacheConfig, extras: Bool, limit: Int = .max) -> [UInt8] {
        let exporter = Exporter(stdout: nil, file: nil)
        var out: [UInt8] = []
        exporter.lineObserver = { _, line in out.append(contentsOf: line) }
        // Every fifth record's event gets a pod, where the agent's pod wait would add it.
        var n = 0
        let pipeline = Pipeline(
            cache: ProcessCache(config: config, clock: KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000)),
            exporter: exporter, nodeName: config.nodeName, clock: KtimeClock(bootWallNanoseconds: 0),
            hold: !extras ? nil : { event in
                guard n > 0, n % 5 == 0 else { return [event] }
                var event = event
                event.process.pod = ExportedPod(
                    namespace: "ns", name: "pod-\(n)", uid: "uid", container: nil, labels: [("app", "x")],
                    workload: "w", workloadKind: "Deployment")
                event.process.namespacePID = 7
                return [event]
            })
        if extras {
            // /proc-seeded processes: init and the shell that started the storm driver (left out
            // of the fixture), so that events have parents and ancestors. The shell's start time
            // is not the one the records name: its children find it as the pid's live seeded entry.
            let initProcess = ProcFSProcess(
                pid: 1, ppid: 0, startKtime: 1_000, argv: [Array("init".utf8), Array("--flag".utf8), []],
                binary: Array("/sbin/init".utf8), cwd: Array("/".utf8))
            let driver = ProcFSProcess(
                pid: 13923, ppid: 1, startKtime: 13_838_636_573_676, argv: [Array("sh".utf8), Array("a b".utf8)],
                binary: Array("/bin/sh\u{7f}\u{1}".utf8), cwd: Array("/work".utf8), cgroupID: 42)
            pipeline.seed([initProcess, driver])
        }
        for record in records.prefix(limit) {
            n += 1
            pipeline.handle(record)
            guard extras, case .exec(let exec) = record else { continue }
            // What a policy event of this process carries, built as the agent builds one.
            let context = pipeline.cache.context(pid: exec.pid, ktime: exec.ktime, tid: exec.pid &+ 1)
            let latest = pipeline.cache.context(pid: exec.pid, ktime: 0, tid: nil)
            #expect(context == latest.map { var c = $0; c.process.tid = exec.pid &+ 1; return c })
            if context != nil {
                let time = KtimeClock(bootWallNanoseconds: 0).wallTime(ktime: exec.ktime)
                pipeline.export(
                    PolicyEvents.event(
                        kind: .kprobe(
                            functionName: "__x64_sys_openat", args: [Argument(.file(path: exec.binary, permission: ""))],
                            outcome: PolicyOutcome(policyName: "golden", action: .post)),
                        pid: exec.pid, tid: exec.pid &+ 1, processKtime: exec.ktime, cgroupID: 0, binary: [],
                        startTime: time, time: time, cache: pipeline.cache, nodeName: config.nodeName))
            }
            if let process = pipeline.cache.process(pid: exec.ppid, ktime: exec.parentKtime) {
                pipeline.export(ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "", time: process.startTime))
            }
        }
        pipeline.endBatch()
        return out
    }

    // MARK: - Comparison

    static func check(
        _ output: [UInt8], records: [Record], config: ProcessCacheConfig, extras: Bool, name: String, digest: UInt64,
        lines: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let file = golden.appendingPathComponent("\(name)-first-\(keptRecords).jsonl.gz").path
        let kept = replay(records, config: config, extras: extras, limit: keptRecords)
        let actualDigest = fnv1a(output)
        let actualLines = output.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] == "1" {
            let plain = NSTemporaryDirectory() + "/vigil-golden-\(getpid())-\(name).jsonl"
            _ = FileManager.default.createFile(atPath: plain, contents: Data(kept))
            unlink(file)
            try Gzip.compressFile(source: plain, destination: file, permissions: 0o644)
            unlink(plain)
            print("golden \(name): digest 0x\(String(actualDigest, radix: 16)), \(actualLines) lines")
            return
        }
        let expected = try gunzip(file)
        let keptLines = kept.split(separator: 0x0A, omittingEmptySubsequences: false)
        let expectedLines = expected.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (i, (a, e)) in zip(keptLines, expectedLines).enumerated() where a != e {
            Issue.record(
                "\(name): line \(i + 1) differs\nexpected: \(String(decoding: e, as: UTF8.self))\nactual:   \(String(decoding: a, as: UTF8.self))",
                sourceLocation: sourceLocation)
            return
        }
        #expect(keptLines.count == expectedLines.count, "\(name): line count", sourceLocation: sourceLocation)
        #expect(actualLines == lines, "\(name): lines of the whole replay", sourceLocation: sourceLocation)
        #expect(
            actualDigest == digest, "\(name): digest 0x\(String(actualDigest, radix: 16)) of the whole replay",
            sourceLocation: sourceLocation)
    }

    /// FNV-1a, 64-bit: enough to tell two outputs apart, with no dependency.
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

    static func gunzip(_ path: String) throws -> [UInt8] {
        let gz = try #require(gzopen(path, "rb"), "cannot open \(path)")
        defer { gzclose(gz) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            try #require(n >= 0, "gzread \(path)")
            if n == 0 { break }
            out.append(contentsOf: chunk[..<Int(n)])
        }
        return out
    }
}

/// The process cache's rendered JSON is only used while the process it was made from is unchanged.
@Suite struct RenderedProcessTests {
    @Test func aChangedFieldIsWrittenAfresh() throws {
        var cache = ProcessCache(
            config: ProcessCacheConfig(nodeName: "n", exportNamespaces: true, exportCredentials: true),
            clock: KtimeClock(bootWallNanoseconds: 0))
        let records = try PipelineGoldenTests.records()
        var exec: ExecRecord?
        for record in records {
            _ = cache.handle(record)
            if case .exec(let e) = record {
                exec = e
                break
            }
        }
        let e = try #require(exec)
        let process = try #require(cache.process(pid: e.pid, ktime: e.ktime))
        #expect(process.rendered.slot != nil)
        let encoder = JSONLineEncoder()
        func line(_ p: ExportedProcess) -> String {
            String(decoding: encoder.encode(ExportEvent(kind: .exec, process: p, parent: nil, nodeName: "n", time: p.startTime)), as: UTF8.self)
        }
        func uncached(_ p: ExportedProcess) -> String {
            var p = p
            p.rendered = RenderedProcessLink(nil)
            return line(p)
        }
        #expect(line(process) == uncached(process))
        #expect(process.rendered.slot?.rendered != nil)  // filled by the first encode
        #expect(line(process) == uncached(process))

        let changes: [(inout ExportedProcess) -> Void] = [
            { $0.binary.append(UInt8(ascii: "x")) }, { $0.arguments = [Array("changed".utf8)] }, { $0.execID = "e" },
            { $0.pid += 1 }, { $0.uid += 1 }, { $0.auid = 7 }, { $0.cwd = Array("/x".utf8) }, { $0.flags.insert(.miss) },
            { $0.startTime = WallTime(nanosecondsSinceEpoch: 5) }, { $0.docker = "d" }, { $0.parentExecID = "p" },
            { $0.namespaces = nil }, { $0.credentials = nil },
        ]
        for (i, change) in changes.enumerated() {
            var changed = process
            change(&changed)
            #expect(changed.rendered.slot == nil, "change \(i) kept the rendering")
            #expect(line(changed) == uncached(changed))
            #expect(line(changed) != line(process), "change \(i)")
        }
        // Per-event fields keep the rendering and are still written.
        var perEvent = process
        perEvent.tid = 99
        perEvent.refcnt = 5
        perEvent.pod = ExportedPod(
            namespace: "ns", name: "p", uid: "u", container: nil, labels: [], workload: "w", workloadKind: "Pod")
        #expect(perEvent.rendered.slot != nil)
        #expect(line(perEvent) == uncached(perEvent))
        #expect(line(perEvent).contains(#""tid":99"#))
    }
}

/// The pipeline's golden exports (`Golden/*.jsonl.gz`, default encoder options) are Tetragon's
/// schema line by line (Tests/TestSupport/Schema/tetragon-schema.json).
@Suite struct PipelineGoldenSchemaTests {
    @Test(arguments: ["bench", "full"])
    func goldenExportIsTetragonsSchema(name: String) throws {
        let schema = try TetragonSchema.load()
        let file = PipelineGoldenTests.golden.appendingPathComponent("\(name)-first-\(PipelineGoldenTests.keptRecords).jsonl.gz")
        let text = String(decoding: try PipelineGoldenTests.gunzip(file.path), as: UTF8.self)
        #expect(text.split(separator: "\n").count > 500)
        let problems = schema.problems(lines: text)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5).joined(separator: "\n"))")
    }
}
