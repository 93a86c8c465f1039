// SPDX-License-Identifier: Apache-2.0
// Pipeline benchmark: replays raw ring-buffer records (recorded from a real agent run with
// VIGIL_RECORD_RAW=FILE) through the agent's user-space pipeline, with no kernel: decode ->
// process cache -> JSON encoding -> export file. Prints records/s (wall and per CPU second)
// and heap allocations per record (with bench/malloc_count.c preloaded), as one JSON object.
//
// usage: vigil-pipeline-bench FIXTURE [PASSES] [OUTPUT]   (OUTPUT is kept; by default a temporary file)
// VIGIL_BENCH_POLICY_OPENS=N: after each exported exec, also export N policy events shaped like
// an openat policy's (`process_tracepoint` syscalls/sys_exit_openat with a file argument and a
// policy outcome; process, parent and ancestors looked up in the cache as the agent's policy path
// does), to measure the open-storm export path without a kernel. For instruction counts run it
// under `valgrind --tool=callgrind` (repeatable on a loaded machine, unlike time).
// Run it pinned to one core (`taskset -c 0`). Each pass starts with an empty process cache, as
// the records of one pass name the same processes as the next.
import Events
import Exporter
import Foundation
import Glibc
import ProcessCache

/// Heap allocations so far, when bench/malloc_count.c is preloaded (`make bench` does), else nil.
func allocationCount() -> Int? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "vigil_bench_allocations") else { return nil }
    return Int(symbol.assumingMemoryBound(to: UInt.self).pointee)
}

func seconds(_ clock: clockid_t) -> Double {
    var now = timespec()
    clock_gettime(clock, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func main() throws {
    let arguments = CommandLine.arguments
    guard arguments.count >= 2, let fixture = FileManager.default.contents(atPath: arguments[1]) else {
        FileHandle.standardError.write("usage: vigil-pipeline-bench FIXTURE [PASSES] [OUTPUT]\n".data(using: .utf8)!)
        exit(2)
    }
    let passes = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20
    // An OUTPUT given is kept (to compare the export of two builds byte for byte); the default is removed.
    let keepOutput = arguments.count > 3
    let output = keepOutput ? arguments[3] : "/tmp/vigil-pipeline-bench-\(getpid()).log"

    // Split the fixture (UInt32 little-endian length + record bytes, repeated) into records.
    var ranges: [Range<Int>] = []
    fixture.withUnsafeBytes { bytes in
        var offset = 0
        while offset + 4 <= bytes.count {
            let size = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            guard offset + 4 + size <= bytes.count else { break }
            ranges.append(offset + 4..<offset + 4 + size)
            offset += 4 + size
        }
    }

    let config = ProcessCacheConfig(nodeName: "bench-node")
    let clock = KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000)
    let file = try ExportFileWriter(path: output, maxSizeMB: 100_000, maxBackups: 0)
    let exporter = Exporter(stdout: nil, file: file)
    var decodeErrors = 0
    let policyOpens = ProcessInfo.processInfo.environment["VIGIL_BENCH_POLICY_OPENS"].flatMap { Int($0) } ?? 0
    var policyOutcome = PolicyOutcome(policyName: "bench-opens", action: "KPROBE_ACTION_POST", tags: ["bench"])
    policyOutcome.returnValue = .int(3)
    policyOutcome.mechanism = "tracepoint syscalls/sys_exit_openat"
    let openedPath = Array("/etc/vigil-bench/opened-file.conf".utf8)
    var kinds = [String: Int]()

    func replay(_ bytes: UnsafeRawBufferPointer, count: inout Int) throws {
        var cache = ProcessCache(config: config, clock: clock)
        var sinceFlush = 0
        for range in ranges {
            guard let record = try? Record(decoding: UnsafeRawBufferPointer(rebasing: bytes[range])) else {
                decodeErrors += 1
                continue
            }
            if let event = cache.handle(record) {
                try exporter.export(event)
                count += 1
                if policyOpens > 0, case .exec(let exec) = record {
                    // The agent's policy path: context from the cache -> event -> export.
                    for _ in 0..<policyOpens {
                        let context = cache.context(pid: exec.pid, ktime: exec.ktime, tid: exec.tid)
                        guard let context else { break }
                        let kind = ExportEventKind.tracepoint(
                            subsystem: "syscalls", event: "sys_exit_openat",
                            args: [Argument(.file(path: openedPath, permission: ""))], outcome: policyOutcome)
                        try exporter.export(
                            ExportEvent(
                                kind: kind, process: context.process, parent: context.parent,
                                ancestors: context.ancestors, nodeName: "bench-node", time: event.time))
                        count += 1
                    }
                }
            }
            // The agent flushes after each ring-buffer batch; batches are hundreds of records here.
            sinceFlush += 1
            if sinceFlush == 256 {
                try exporter.flush()
                sinceFlush = 0
            }
        }
        try exporter.flush()
    }

    fixture.withUnsafeBytes { bytes in
        for range in ranges {
            switch try? Record(decoding: UnsafeRawBufferPointer(rebasing: bytes[range])) {
            case .exec: kinds["exec", default: 0] += 1
            case .clone: kinds["clone", default: 0] += 1
            case .exit: kinds["exit", default: 0] += 1
            case .generic: kinds["generic", default: 0] += 1
            case nil: kinds["undecodable", default: 0] += 1
            }
        }
    }

    var exported = 0
    var warm = 0
    try fixture.withUnsafeBytes { bytes in try replay(bytes, count: &warm) }  // warm-up: caches, buffers, page cache
    decodeErrors = 0
    let allocations0 = allocationCount()
    let wall0 = seconds(CLOCK_MONOTONIC)
    let cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID)
    for _ in 0..<passes {
        try fixture.withUnsafeBytes { bytes in try replay(bytes, count: &exported) }
    }
    let wall = seconds(CLOCK_MONOTONIC) - wall0
    let cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0
    let allocated = allocationCount().flatMap { now in allocations0.map { now - $0 } }
    try exporter.close()
    let outputBytes = file.bytesWritten
    if !keepOutput { unlink(output) }

    let records = ranges.count * passes
    let result: [String: Any] = [
        "fixture_records": ranges.count, "record_kinds": kinds, "passes": passes, "records": records,
        "events_exported": exported, "decode_errors": decodeErrors,
        "wall_seconds": wall, "cpu_seconds": cpu,
        "records_per_second_wall": Double(records) / wall, "records_per_cpu_second": Double(records) / cpu,
        "events_per_cpu_second": Double(exported) / cpu,
        "allocations_per_record": allocated.map { Double($0) / Double(records) } ?? NSNull(),
        "allocations_per_event": allocated.map { Double($0) / Double(max(exported, 1)) } ?? NSNull(),
        "bytes_per_event": Double(outputBytes) / Double(max(exported + warm, 1)),
    ]
    let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: json, as: UTF8.self))
}

try main()
