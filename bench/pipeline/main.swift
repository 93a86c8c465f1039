// SPDX-License-Identifier: Apache-2.0
// Pipeline benchmark: replays raw ring-buffer records (recorded from a real agent run with
// VIGIL_RECORD_RAW=FILE) through the agent's own user-space pipeline (`Pipeline`), with no
// kernel: decode -> process cache -> policy events -> JSON encoding -> export file. Prints
// records/s (wall and per CPU second) and heap allocations per record (with bench/malloc_count.c
// preloaded), as one JSON object.
//
// usage: vigil-pipeline-bench FIXTURE [PASSES] [OUTPUT]   (OUTPUT is kept; by default a temporary file)
// VIGIL_BENCH_POLICY_OPENS=N: after each exec record, also replay N raw policy records of that
// process, as `make bench`'s open-storm policy (bench-openat: sys_enter_openat, the path as a
// string) writes them, through that policy compiled for the sys_enter_openat format below: the
// open-storm export path without a kernel. For instruction counts run it under
// `valgrind --tool=callgrind` (repeatable on a loaded machine, unlike time).
// VIGIL_BENCH_EXPORT_THREAD=N: encoding and the export file on a thread of their own, at most N
// events waiting for it (`Pipeline`'s `exportThread`, as the agent runs on two cores or more):
// compare records_per_second_wall unpinned; events_per_cpu_second then counts both threads.
// VIGIL_BENCH_FILTERS=1: the export behind a 10-line `--export-denylist` (``benchDenylist``:
// type, binary, parent, arguments, pod, label, container and pid checks, none of which drops a
// fixture event, so every event is still encoded) and a `--redaction-filters` line applied in
// the process cache: the cost of evaluating them, not the saving of dropping events.
// Run it pinned to one core (`taskset -c 0`). Each pass starts with an empty process cache, as
// the records of one pass name the same processes as the next.
import CVigilABI
import Events
import ExportFilters
import Exporter
import Foundation
import Glibc
import Pipeline
import PolicyCompiler
import ProcessCache
import Tracefs
import TracingPolicy

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

    // "1": both; "deny" or "redact": one of them (to see which costs what).
    let filterMode = ProcessInfo.processInfo.environment["VIGIL_BENCH_FILTERS"] ?? ""
    let filtered = !filterMode.isEmpty
    var config = ProcessCacheConfig(nodeName: "bench-node")
    if filterMode == "1" || filterMode == "redact" {
        let redaction = try RedactionFilters(benchRedaction)
        config.redactArguments = { binary, arguments in redaction.redact(binary: binary, arguments: arguments) }
    }
    let clock = KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000)
    let file = try ExportFileWriter(path: output, maxSizeMB: 100_000, maxBackups: 0)
    let exporter = Exporter(stdout: nil, file: file)
    if filterMode == "1" || filterMode == "deny" {
        exporter.filters = try ExportFilters(allowlist: "", denylist: benchDenylist)
    }
    let policyOpens = ProcessInfo.processInfo.environment["VIGIL_BENCH_POLICY_OPENS"].flatMap { Int($0) } ?? 0
    let exportThread = ProcessInfo.processInfo.environment["VIGIL_BENCH_EXPORT_THREAD"].flatMap { Int($0) }
    var exportThreadWaits: UInt64 = 0
    let hook = policyOpens > 0 ? try openPolicyHook() : nil
    var kinds = [String: Int]()

    // What each pass replays: the fixture's records, each exec followed by its policy records.
    var replayed: [[UInt8]] = []
    fixture.withUnsafeBytes { bytes in
        for range in ranges {
            replayed.append(Array(bytes[range]))
            let record = try? Record(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]))
            switch record {
            case .exec: kinds["exec", default: 0] += 1
            case .clone: kinds["clone", default: 0] += 1
            case .exit: kinds["exit", default: 0] += 1
            case .generic: kinds["generic", default: 0] += 1
            case .flow: kinds["flow", default: 0] += 1
            case .dns: kinds["dns", default: 0] += 1
            case nil: kinds["undecodable", default: 0] += 1
            }
            guard case .exec(let exec) = record else { continue }
            for i in 0..<policyOpens {
                let open = GenericRecord(
                    ktime: exec.ktime &+ UInt64(i + 1) * 1_000, cgroupID: exec.cgroupID, pid: exec.pid, tid: exec.tid,
                    processKtime: exec.ktime, hookSlot: 0, policyID: 1, selector: 0, action: UInt8(VIGIL_ACTION_POST.rawValue),
                    signal: 0, monitor: false, args: [.string(openedPath, truncated: false)])
                replayed.append(open.encoded()!)
                kinds["generic (VIGIL_BENCH_POLICY_OPENS)", default: 0] += 1
            }
        }
    }

    var decodeErrors: UInt64 = 0
    func replay(count: inout Int) {
        let before = exporter.eventsExported
        let pipeline = Pipeline(
            cache: ProcessCache(config: config, clock: clock), exporter: exporter, nodeName: "bench-node", clock: clock,
            policies: Pipeline.Policies(hookSlot: { _ in hook }))
        if let exportThread { pipeline.startExportThread(capacity: exportThread) }
        var sinceFlush = 0
        for record in replayed {
            record.withUnsafeBytes { pipeline.process(raw: $0) }
            // The agent flushes after each ring-buffer batch; batches are hundreds of records here.
            sinceFlush += 1
            if sinceFlush == 256 {
                pipeline.endBatch()
                sinceFlush = 0
            }
        }
        pipeline.endBatch()
        pipeline.finish()
        exportThreadWaits += pipeline.exportThreadWaits
        decodeErrors += pipeline.decodeErrors
        count += Int(exporter.eventsExported - before)
    }

    var exported = 0
    var warm = 0
    replay(count: &warm)  // warm-up: caches, buffers, page cache
    decodeErrors = 0
    let allocations0 = allocationCount()
    let wall0 = seconds(CLOCK_MONOTONIC)
    let cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID)
    for _ in 0..<passes { replay(count: &exported) }
    let wall = seconds(CLOCK_MONOTONIC) - wall0
    let cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0
    let allocated = allocationCount().flatMap { now in allocations0.map { now - $0 } }
    try exporter.close()
    let outputBytes = file.bytesWritten
    if !keepOutput { unlink(output) }

    let records = replayed.count * passes
    let result: [String: Any] = [
        "fixture_records": ranges.count, "filters": filtered, "events_filtered": exporter.eventsFiltered, "policy_records_per_exec": policyOpens, "record_kinds": kinds, "passes": passes, "records": records,
        "events_exported": exported, "decode_errors": decodeErrors,
        "export_thread": exportThread.map { $0 as Any } ?? NSNull(), "export_thread_waits": exportThreadWaits,
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


/// VIGIL_BENCH_FILTERS' denylist: ten lines as a cluster's might read, none matching a fixture event.
let benchDenylist = #"""
    {"namespace":["kube-system","cilium"]}
    {"binary_regex":["^/usr/bin/(?:ls|cat|grep)$"]}
    {"event_set":["PROCESS_EXEC"],"binary_regex":["(?:^|/)kubelet$"]}
    {"parent_binary_regex":["(?:^|/)containerd-shim"]}
    {"policy_names":["noisy-policy"]}
    {"event_set":["PROCESS_TRACEPOINT"],"pod_regex":["^debug-"]}
    {"arguments_regex":["--health(?:z|check)"]}
    {"pid":[1,2]}
    {"labels":["app=noise"]}
    {"container_id":["^0000"]}
    """#

/// VIGIL_BENCH_FILTERS' redaction filter.
let benchRedaction = #"{"redact":["--password(?:\\s+|=)(\\S*)","(?:token|secret)=(\\S+)"]}"#

/// The open storm's policy path: a record names the process and the path opened.
let openedPath = Array("/etc/vigil-bench/opened-file.conf".utf8)

/// bench/run.py's OPEN_POLICY (bench-openat), compiled for the format below.
func openPolicyHook() throws -> PolicyHookSlot {
    let yaml = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: bench-openat
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 6
                operator: Prefix
                values: ["/etc/vigil-bench/"]
        """
    let environment = CompileEnvironment(
        loadFormat: { subsystem, event in try TracepointFormat.parse(openatFormat, subsystem: subsystem, event: event) },
        kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Namespaces()))
    let parsed = PolicyParser.parse(yaml: yaml, file: "bench-openat.yaml")
    guard let document = parsed.documents.first, parsed.errors.isEmpty else { throw BenchError("\(parsed.errors)") }
    var sets = SetIDAllocator(first: 1)
    switch PolicyCompiler(environment: environment).compile(document, sets: &sets) {
    case .success(let policy): return PolicyHookSlot(policyName: policy.name, hook: policy.hooks[0], mechanism: policy.hooks[0].mechanism)
    case .failure(let failure): throw failure
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `events/syscalls/sys_enter_openat/format` of Linux 6.18 x86_64 (as Tests/TestSupport's
/// FormatFixtures keeps it): the bench needs no tracefs.
let openatFormat = """
    name: sys_enter_openat
    ID: 782
    format:
    \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
    \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
    \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
    \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

    \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
    \tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
    \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
    \tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
    \tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

    print fmt: "dfd: 0x%08lx, filename: 0x%08lx, flags: 0x%08lx, mode: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename)), ((unsigned long)(REC->flags)), ((unsigned long)(REC->mode))
    """

try main()
