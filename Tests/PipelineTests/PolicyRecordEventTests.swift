// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Exporter
import Pipeline
import PolicyCompiler
import ProcessCache
import Testing
import Tracefs
import TracingPolicy

/// A policy record's event encoded from the record in place (``PolicyRecordEvent``) against the
/// same event rendered into an ``ExportEvent`` and encoded as before: the same bytes, for every
/// kind of policy event, every argument kind the renderer knows, labels, the record's flags, a
/// process found and one missed, with and without Vigil's fields.
@Suite struct PolicyRecordEventTests {
    static let args: [(CompiledArg, RawArgument)] = [
        (CompiledArg(label: "fd", declaredType: .int, kind: .int(size: 4, signed: true)), .integer(UInt64(bitPattern: -5))),
        (CompiledArg(label: nil, declaredType: .uint32, kind: .int(size: 4, signed: false)), .integer(0xffff_ffff_0000_0007)),
        (CompiledArg(label: "la\"bel\u{1}", declaredType: .long, kind: .int(size: 8, signed: true)), .integer(UInt64(bitPattern: -1))),
        (CompiledArg(label: "", declaredType: .sizeT, kind: .int(size: 8, signed: false)), .integer(.max)),
        (CompiledArg(label: "f", declaredType: .fd, kind: .fd), .integer(3)),
        (CompiledArg(label: "id", declaredType: .auto, kind: .syscall64), .integer(59)),
        (CompiledArg(label: "other", declaredType: .auto, kind: .string), .integer(42)),
        (CompiledArg(label: "path", declaredType: .string, kind: .string), .string(Array("/etc/pa\"ss\u{1}\u{e9}".utf8) + [0xff], truncated: false)),
        (CompiledArg(label: "args", declaredType: .auto, kind: .constBuf(bytes: 48, elementSize: 8, elementCount: 6)), .constBuffer(Array(0..<16))),
        (CompiledArg(label: "sa", declaredType: .sockaddr, kind: .sockaddr), .sockaddr(family: 2, port: 443, address: [10, 0, 0, 1])),
        (CompiledArg(label: "file", declaredType: .file, kind: .string), .file(path: Array("/tmp/x".utf8), flags: 0o2000000, mode: 0o100644, truncated: false, inode: 7, device: 1 << 20 | 3)),
        (CompiledArg(label: nil, declaredType: .file, kind: .string), .file(path: Array("missing".utf8), flags: 0, mode: 0, truncated: false)),
        (CompiledArg(label: "bin", declaredType: .linuxBinprm, kind: .string), .file(path: Array("/bin/sh".utf8), flags: 0, mode: 0o104755, truncated: false, inode: 9, device: 2)),
        (CompiledArg(label: "buf", declaredType: .charBuf, kind: .string), .buffer([1, 2, 3], size: 100, truncated: true)),
        (CompiledArg(label: "sock", declaredType: .sock, kind: .sockaddr), .sock(family: 10, type: 1, protocol: 6, port: 80, address: Array(repeating: 0, count: 15) + [1])),
        (CompiledArg(label: "gone", declaredType: .string, kind: .string), .unreadable),
    ]

    static func hook(_ event: HookEvent) throws -> CompiledHook {
        var hook = try #require(try PolicyRecordReplayTests.compiled().hooks.first)
        hook.event = event
        hook.message = "a \"message\""
        hook.tags = ["t1", "t\u{2}"]
        hook.args = args.map(\.0)
        return hook
    }

    @Test(arguments: [
        HookEvent.tracepoint(subsystem: "syscalls", event: "sys_enter_openat"), .kprobe(functionName: "__x64_sys_openat"),
        .lsm(hook: "socket_connect"), .uprobe(path: "/usr/bin/bash", symbol: "readline", offset: 0x40),
    ])
    func encodedInPlaceAsRendered(event: HookEvent) throws {
        let fixture = try PipelineGoldenTests.records()
        let exec = try #require(fixture.compactMap { if case .exec(let e) = $0 { e } else { nil } }.first)
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0))
        for record in fixture.prefix(while: { if case .exec = $0 { false } else { true } }) + [.exec(exec)] {
            _ = cache.handle(record)
        }
        let clock = KtimeClock(bootWallNanoseconds: 1_700_000_000_000_000_000)
        for mechanism in [Mechanism.tracepoint, .bpfLSM] {
            let slot = PolicyHookSlot(policyName: "p\"olicy", hook: try Self.hook(event), mechanism: mechanism)
            var compared = 0
            for (pid, processKtime) in [(exec.pid, exec.ktime), (4_000_000, UInt64(5))] {
                for flags in 0..<32 {
                    var record = GenericRecord(
                        ktime: processKtime &+ 1_000_000_123, cgroupID: 9, pid: pid, tid: pid &+ 1, processKtime: processKtime,
                        hookSlot: 1, policyID: 1, selector: 0, action: UInt8(flags % 6), signal: 0, monitor: flags & 1 != 0,
                        args: flags & 2 != 0 ? Self.args.map(\.1) : Array(Self.args.map(\.1).prefix(3)))
                    record.fenced = flags & 4 != 0
                    record.ioUring = flags & 8 != 0
                    record.cgroupSockAddr = flags & 16 != 0
                    record.result = flags & 2 != 0 ? -13 : nil
                    let inPlace = PolicyEvents.recordEvent(for: record, slot: slot, cache: &cache, nodeName: "n", clock: clock)
                    let rendered = PolicyEvents.event(for: record, slot: slot, cache: &cache, nodeName: "n", clock: clock)
                    #expect(inPlace.rendered() == rendered)
                    for vigil in [false, true] {
                        let encoder = JSONLineEncoder(vigilFields: vigil)
                        let a = String(decoding: encoder.encode(inPlace), as: UTF8.self)
                        let b = String(decoding: encoder.encode(rendered), as: UTF8.self)
                        #expect(a == b)
                        compared += 1
                    }
                }
            }
            #expect(compared == 128)
        }
    }

    /// Through the exporter: the observer sees the event's kind without rendering it and the
    /// rendered event when it asks; with a filter configured (here the rate limit, which hands
    /// what it drops to an observer) the event is rendered for it and the line is the same.
    @Test func exporterObserverAndFilters() throws {
        let slot = PolicyHookSlot(
            policyName: "p", hook: try Self.hook(.kprobe(functionName: "f")), mechanism: .tracepoint)
        var cache = ProcessCache(config: ProcessCacheConfig(nodeName: "n"), clock: KtimeClock(bootWallNanoseconds: 0))
        let record = GenericRecord(
            ktime: 5, pid: 1, tid: 1, processKtime: 0, hookSlot: 1, policyID: 1, selector: 0,
            action: UInt8(VIGIL_ACTION_POST.rawValue), signal: 0, monitor: false, args: Self.args.map(\.1))
        let event = PolicyEvents.recordEvent(
            for: record, slot: slot, cache: &cache, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0))
        var lines: [[UInt8]] = []
        var observed: [ExportEvent] = []
        for filtered in [false, true] {
            let exporter = Exporter(stdout: nil, file: nil)
            if filtered { exporter.rateLimiter = ExportRateLimiter(eventsPerMinute: 1000, nodeName: "n") }
            exporter.lineObserver = { e, line in
                #expect(e.tag == .kprobe)
                observed.append(e.event)
                lines.append(Array(line))
            }
            try exporter.export(event)
            #expect(exporter.eventsExported == 1)
        }
        #expect(lines.count == 2 && lines[0] == lines[1] && lines[0] == JSONLineEncoder().encode(event.rendered()))
        #expect(observed == [event.rendered(), event.rendered()])
    }
}
