// SPDX-License-Identifier: Apache-2.0

import Events
import Foundation
import Testing

@testable import Exporter

/// Wall time from seconds and nanoseconds since the epoch.
func wall(_ seconds: UInt64, _ nanos: UInt64 = 0) -> WallTime {
    WallTime(nanosecondsSinceEpoch: seconds * 1_000_000_000 + nanos)
}

/// 2026-03-14T09:21:07Z, the second of the reference example (section 2.6).
let exampleSecond: UInt64 = 1_773_480_067

/// The `process` of the reference `process_exec` example, without pod fields.
func curlProcess(refcnt: UInt32 = 0) -> ExportedProcess {
    ExportedProcess(
        execID: "d29ya2VyLTI6ODEyMzQ1Njc4OTAxMjo0MDIxMQ==", pid: 40211, tid: 40211, uid: 1000, auid: 4_294_967_295,
        cwd: Array("/app".utf8), binary: Array("/usr/bin/curl".utf8),
        arguments: [Array("-s".utf8), Array("https://api.example.org/v1/health".utf8)], flags: [.execve, .clone],
        startTime: wall(exampleSecond, 412_339_871), docker: "3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7",
        parentExecID: "d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==", refcnt: refcnt)
}

/// The `parent` of the reference example.
func shellProcess() -> ExportedProcess {
    ExportedProcess(
        execID: "d29ya2VyLTI6ODEyMzQ1MDAxMTAwMDo0MDE3Nw==", pid: 40177, tid: 40177, uid: 1000, auid: 4_294_967_295,
        cwd: Array("/app".utf8), binary: Array("/bin/sh".utf8),
        arguments: [Array("-c".utf8), Array("curl -s https://api.example.org/v1/health".utf8)],
        flags: [.execve, .clone], startTime: wall(exampleSecond, 398_120_455),
        docker: "3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7", parentExecID: "d29ya2VyLTI6Nzk5MDAxMjM0NTY3OjM5MDAx")
}

/// A process with only the required fields, for tests that vary one of them.
func bareProcess(
    execID: String = "", cwd: [UInt8] = [], binary: [UInt8] = [], arguments: [[UInt8]] = []
) -> ExportedProcess {
    ExportedProcess(
        execID: execID, pid: 0, tid: 0, uid: 0, auid: 0, cwd: cwd, binary: binary, arguments: arguments, flags: [],
        startTime: WallTime(nanosecondsSinceEpoch: 0))
}

/// Encodes `event` to a String; `vigilFields` as `--enable-vigil-fields`.
///
/// A policy event is encoded twice, as built by hand and with its fixed keys rendered once
/// (`JSONLineEncoder.renderedPolicyKeys`, what a hook slot gives its events), and the two
/// lines must be the same bytes.
func encodeLine(
    _ event: ExportEvent, vigilFields: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) -> String {
    let encoder = JSONLineEncoder(vigilFields: vigilFields)
    let line = encoder.encode(event)
    if let rendered = withRenderedKeys(event) {
        #expect(encoder.encode(rendered) == line, "rendered keys changed the line", sourceLocation: sourceLocation)
    }
    return String(decoding: line, as: UTF8.self)
}

/// `event` with its policy keys rendered as a hook slot renders them; nil for exec and exit.
func withRenderedKeys(_ event: ExportEvent) -> ExportEvent? {
    let keys = RenderedPolicyKeysLink(JSONLineEncoder.renderedPolicyKeys(event.kind))
    var copy = event
    switch event.kind {
    case .exec, .exit: return nil
    case .tracepoint(let subsystem, let name, let args, var outcome):
        outcome.renderedKeys = keys
        copy.kind = .tracepoint(subsystem: subsystem, event: name, args: args, outcome: outcome)
    case .kprobe(let functionName, let args, var outcome):
        outcome.renderedKeys = keys
        copy.kind = .kprobe(functionName: functionName, args: args, outcome: outcome)
    case .lsm(let functionName, let args, var outcome):
        outcome.renderedKeys = keys
        copy.kind = .lsm(functionName: functionName, args: args, outcome: outcome)
    case .uprobe(let path, let symbol, let offset, let args, var outcome):
        outcome.renderedKeys = keys
        copy.kind = .uprobe(path: path, symbol: symbol, offset: offset, args: args, outcome: outcome)
    }
    return copy
}

/// Parses one JSON line with Foundation; fails the test when it is not a JSON object.
func parseJSONObject(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let data = Data(line.utf8)
    let object = try JSONSerialization.jsonObject(with: data)
    return try #require(object as? [String: Any], sourceLocation: sourceLocation)
}

/// A fresh private directory, removed by the caller with `removeDirectory`.
func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/vigil-exporter-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    try #require(made != nil)
    return String(cString: made!)
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
