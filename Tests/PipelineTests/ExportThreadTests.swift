// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import Foundation
import Pipeline
import ProcessCache
import Testing

/// Encoding and the export file on their own thread (``Pipeline/startExportThread(capacity:)``,
/// as the agent runs on two cores or more): the same bytes in the same order as on the
/// pipeline's task, nothing lost at ``Pipeline/finish()``, and the bound makes the pipeline
/// wait instead of dropping.
@Suite struct ExportThreadTests {
    /// The benchmark fixture's replay, handed over in batches of 256 records to a thread that
    /// holds at most 100 events: byte for byte the export of the replay on one task (the golden
    /// digest of ``PipelineGoldenTests/benchmarkConfiguration()``).
    @Test func sameExportAsOnePipelineTask() throws {
        let records = try PipelineGoldenTests.records()
        let config = ProcessCacheConfig(nodeName: "bench-node")
        let exporter = Exporter(stdout: nil, file: nil)
        var out: [UInt8] = []
        exporter.lineObserver = { _, line in out.append(contentsOf: line) }
        let pipeline = Pipeline(
            cache: ProcessCache(config: config, clock: KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000)),
            exporter: exporter, nodeName: config.nodeName, clock: KtimeClock(bootWallNanoseconds: 0))
        pipeline.startExportThread(capacity: 100)
        for (i, record) in records.enumerated() {
            pipeline.handle(record)
            if i % 256 == 255 { pipeline.endBatch() }
        }
        pipeline.endBatch()
        pipeline.finish()
        #expect(out == PipelineGoldenTests.replay(records, config: config, extras: false))
        #expect(PipelineGoldenTests.fnv1a(out) == 0xd3ea_2ff6_558f_679a)
        #expect(exporter.eventsExported == 6002)
    }

    /// A slow sink and a bound of 16 events: the pipeline waits for room (counted), every event
    /// reaches the file in order by ``Pipeline/finish()``, and a flush request alone (an empty
    /// batch, as a quiet ring gives) writes out what the thread buffered.
    @Test func finishWritesEveryEventInOrder() throws {
        let path = NSTemporaryDirectory() + "/vigil-export-thread-\(getpid()).log"
        defer { unlink(path) }
        let exporter = Exporter(stdout: nil, file: try ExportFileWriter(path: path, maxSizeMB: 100, maxBackups: 0))
        exporter.lineObserver = { _, _ in usleep(100) }
        let pipeline = Pipeline(
            cache: ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0)),
            exporter: exporter, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
        pipeline.startExportThread(capacity: 16)
        func event(_ pid: UInt32) -> ExportEvent {
            let process = ExportedProcess(
                execID: "id-\(pid)", pid: pid, tid: pid, uid: 0, auid: 0, cwd: [], binary: Array("/bin/true".utf8),
                arguments: [], flags: [], startTime: WallTime(nanosecondsSinceEpoch: 0))
            return ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "n", time: process.startTime)
        }
        pipeline.export(event(1))
        pipeline.flush()
        pipeline.flush()  // the quiet ring's empty batch
        let deadline = Date().addingTimeInterval(5)
        while (try? String(contentsOfFile: path, encoding: .utf8))?.isEmpty ?? true, Date() < deadline { usleep(1000) }
        #expect((try String(contentsOfFile: path, encoding: .utf8)).contains("\"pid\":1,"), "flushed before finish")
        for batch in 0..<50 {
            for i in 0..<10 { pipeline.export(event(UInt32(2 + batch * 10 + i))) }
            pipeline.flush()
        }
        pipeline.finish()
        try exporter.close()
        #expect(pipeline.exportThreadWaits > 0)
        #expect(exporter.eventsExported == 501)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 501)
        let pids = lines.compactMap { line in
            line.range(of: "\"pid\":").flatMap { key in UInt32(line[key.upperBound...].prefix { $0.isNumber }) }
        }
        #expect(pids == Array(1...501))
    }
}
