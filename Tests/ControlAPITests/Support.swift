// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Foundation
import Logging
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A fresh short directory for sockets (UNIX socket paths are limited to 107 bytes).
func temporaryDirectory() -> String {
    let path = "/tmp/vigil-ctl-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func quietLogger() -> Logger {
    var logger = Logger(label: "control-api-test")
    logger.logLevel = .error
    return logger
}

struct TimeoutError: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `TimeoutError` after `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimeoutError(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Polls `condition` every 10 ms for at most `seconds`.
func eventually(_ what: String, timeout seconds: Double = 5, _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimeoutError(what: what)
}

/// Runs a `ControlServer` for `agent` on a temporary socket inside a `ServiceGroup`, calls
/// `body` once it listens, then shuts the group down gracefully and waits for it.
func withControlServer<T: Sendable>(
    agent: some AgentControl, configuration: ControlServerConfiguration? = nil,
    _ body: @escaping @Sendable (ControlServer, String) async throws -> T
) async throws -> T {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var settings = configuration ?? ControlServerConfiguration()
    if configuration == nil { settings.socketPath = directory + "/vigil.sock" }
    let server = try ControlServer(agent: agent, configuration: settings, logger: quietLogger())
    let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger()))
    let running = Task { try await group.run() }
    do {
        try await withTimeout(10, "server start") { try await server.waitUntilListening() }
        let result = try await body(server, settings.socketPath)
        await group.triggerGracefulShutdown()
        try await withTimeout(10, "server shutdown") { try await running.value }
        return result
    } catch {
        running.cancel()
        _ = try? await running.value
        throw error
    }
}

/// A bare UNIX socket client for what an HTTP client will not do: send a request and then
/// not read the answer (a stalled client), or read raw bytes.
final class RawUnixClient: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads what arrives until `stop` says so or `seconds` pass without data.
    func read(idleSeconds seconds: Double, until stop: (String) -> Bool) -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(seconds * 1000))
            if ready <= 0 { break }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            data.append(contentsOf: buffer[..<n])
            if stop(String(decoding: data, as: UTF8.self)) { break }
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// An exec line of `binary`, with the filter fields filled in.
func execLine(_ binary: String, arguments: String = "", namespace: String? = nil, pod: String? = nil, n: Int = 0) -> EventLine {
    var process = #"{"exec_id":"id\#(n)","pid":\#(1000 + n),"binary":"\#(binary)","arguments":"\#(arguments)""#
    if let namespace, let pod { process += #","pod":{"namespace":"\#(namespace)","name":"\#(pod)"}"# }
    process += "}"
    let json = #"{"process_exec":{"process":\#(process)},"node_name":"test-node","time":"2026-11-26T00:46:08.393050667Z"}"#
    return EventLine(json: json, type: "process_exec", binary: binary, namespace: namespace, pod: pod)
}

/// A tracepoint line of a policy.
func tracepointLine(_ binary: String, path: String, policy: String, action: String = "KPROBE_ACTION_POST") -> EventLine {
    let json = #"{"process_tracepoint":{"process":{"exec_id":"x","pid":7,"binary":"\#(binary)","arguments":"\#(path)"},"subsys":"syscalls","event":"sys_enter_openat","args":[{"string_arg":"\#(path)"},{"int_arg":0}],"policy_name":"\#(policy)","action":"\#(action)"},"node_name":"test-node","time":"2026-11-26T00:46:08.393050667Z"}"#
    return EventLine(json: json, type: "process_tracepoint", binary: binary, policyName: policy, action: action)
}
