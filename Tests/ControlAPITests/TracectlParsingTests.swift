// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import AsyncHTTPClient
import ControlAPI
import Foundation
import NIOHTTP1
import Testing
@testable import tracectl

@Suite("tracectl argument parsing")
struct TracectlParsingTests {
    func parse<T: ParsableCommand>(_ arguments: [String], as type: T.Type) throws -> T {
        let command = try Tracectl.parseAsRoot(arguments)
        return try #require(command as? T, "\(arguments) parsed as \(Swift.type(of: command))")
    }

    @Test("status and the global --server-address, before or after the command, or from the environment default")
    func status() throws {
        #expect(try parse(["status"], as: StatusCommand.self).global.socketPath == "/var/run/vigil/vigil.sock"
            || ProcessInfo.processInfo.environment["VIGIL_SERVER_ADDRESS"] != nil)
        #expect(try parse(["status", "--server-address", "/tmp/a.sock"], as: StatusCommand.self).global.socketPath == "/tmp/a.sock")
        #expect(try parse(["--server-address", "/tmp/b.sock", "status"], as: StatusCommand.self).global.socketPath == "/tmp/b.sock")
        #expect(try parse(["policy", "--server-address", "/tmp/c.sock", "list"], as: PolicyListCommand.self).global.socketPath == "/tmp/c.sock")
        #expect(try parse(["status", "-o", "json"], as: StatusCommand.self).output == .json)
    }

    @Test("policy list -o text|json")
    func list() throws {
        #expect(try parse(["policy", "list"], as: PolicyListCommand.self).output == .text)
        #expect(try parse(["policy", "list", "-o", "json"], as: PolicyListCommand.self).output == .json)
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "list", "-o", "yaml"]) }
    }

    @Test("policy add FILE [--mode]")
    func add() throws {
        let plain = try parse(["policy", "add", "p.yaml"], as: PolicyAddCommand.self)
        #expect(plain.file == "p.yaml")
        #expect(plain.mode == nil)
        #expect(try parse(["policy", "add", "p.yaml", "--mode", "monitor"], as: PolicyAddCommand.self).mode == .monitor)
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "add", "p.yaml", "--mode", "loud"]) }
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "add"]) }
    }

    @Test("policy delete|enable|disable NAME [-n NS], policy mode NAME MODE, policy reload")
    func namedCommands() throws {
        let delete = try parse(["policy", "delete", "p", "-n", "team-a"], as: PolicyDeleteCommand.self)
        #expect(delete.policy.name == "p")
        #expect(delete.policy.namespace == "team-a")
        #expect(try parse(["policy", "enable", "p"], as: PolicyEnableCommand.self).policy.namespace == nil)
        #expect(try parse(["policy", "disable", "p", "--namespace", "x"], as: PolicyDisableCommand.self).policy.namespace == "x")
        let mode = try parse(["policy", "mode", "p", "enforce"], as: PolicyModeCommand.self)
        #expect(mode.name == "p")
        #expect(mode.mode == .enforce)
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "mode", "p", "banana"]) }
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "mode", "p"]) }
        _ = try parse(["policy", "reload"], as: PolicyReloadCommand.self)
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "frobnicate"]) }
    }

    @Test("events options become the /v1/events query")
    func events() throws {
        let plain = try parse(["events"], as: EventsCommand.self)
        #expect(plain.output == .json)
        #expect(plain.query.isEmpty)
        let events = try parse([
            "events", "-o", "compact", "--binary", "^/usr/bin/(cat|less)$", "--namespace", "a", "--namespace", "b",
            "--pod", "web-", "--event-types", "exec,process_kprobe", "--event-types", "exit", "--policy", "p",
            "--action", "sigkill",
        ], as: EventsCommand.self)
        #expect(events.output == .compact)
        #expect(events.query.map { "\($0.0)=\($0.1)" } == [
            "types=exec,process_kprobe,exit", "binary=^/usr/bin/(cat|less)$", "namespace=a,b", "pod=web-",
            "policy=p", "action=sigkill",
        ])
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["events", "-o", "table"]) }
    }

    @Test("the query is percent-encoded into an http+unix URL")
    func requestURL() throws {
        let client = ControlClient(socketPath: "/var/run/vigil/vigil.sock")
        let request = client.makeRequest(.GET, "/v1/events", query: [("binary", "^/usr/bin/(a|b) c$")], body: nil, contentType: nil)
        #expect(request.url == "http+unix://%2Fvar%2Frun%2Fvigil%2Fvigil.sock/v1/events?binary=%5E%2Fusr%2Fbin%2F%28a%7Cb%29%20c%24")
    }

    @Test("connection problems name the socket")
    func clientErrors() {
        #expect(ClientError.permissionDenied("/var/run/vigil/vigil.sock").description
            == "permission denied: /var/run/vigil/vigil.sock (run as root or a member of the --server-group)")
        #expect(ClientError.noSocket("/x.sock").description.contains("/x.sock"))
        #expect(ClientError.refused("/x.sock").description.hasPrefix("connection refused: /x.sock"))
        #expect(ClientError.agent(.invalidPolicy("policy refused", details: ["a.yaml:1:2: spec: bad"])).description
            == "error: policy refused\n  a.yaml:1:2: spec: bad")
    }

    @Test("a missing socket and a socket nobody listens on are told apart")
    func missingAndRefused() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        await #expect(throws: ClientError.noSocket(directory + "/none.sock")) {
            _ = try await ControlClient(socketPath: directory + "/none.sock").status()
        }
        // A socket file left behind by a process that is gone.
        let path = directory + "/stale.sock"
        try makeStaleSocket(path)
        await #expect(throws: ClientError.refused(path)) {
            _ = try await ControlClient(socketPath: path).status()
        }
    }

    @Test("policy validate: offline, every error at file:line:column, exit 1 on any error")
    func validate() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try goodPolicy.write(toFile: directory + "/good.yaml", atomically: true, encoding: .utf8)
        try badPolicy.write(toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)

        let command = try parse(["policy", "validate", directory + "/good.yaml", directory + "/bad.yaml"], as: PolicyValidateCommand.self)
        #expect(command.files.count == 2)
        #expect(throws: (any Error).self) { try Tracectl.parseAsRoot(["policy", "validate"]) }

        let node = ValidationTarget(capabilities: fixtureNode(), source: "test node", podScopes: false)
        let good = PolicyValidateCommand.report(files: [directory + "/good.yaml"], target: node)
        #expect(!good.failed)
        #expect(good.lines == ["\(directory)/good.yaml: ok (1 policy: shadow-reads)"])

        let both = PolicyValidateCommand.report(
            files: [directory + "/good.yaml", directory + "/bad.yaml", directory + "/missing.yaml"], target: node)
        #expect(both.failed)
        let errors = both.lines.filter { $0.hasPrefix(directory + "/bad.yaml:") }
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.contains(try! Regex(#"/bad\.yaml:\d+:\d+: spec\.tracepoints\[0\]\.selectors\[0\]\."#)) })
        #expect(both.lines.contains { $0.hasPrefix(directory + "/missing.yaml: cannot read policy file") })

        // Against a probe file: a unit test does not probe (load programs into) the running kernel.
        let file = ProbeFile(features: [], hooks: [], capabilities: fixtureNode())
        try JSONEncoder().encode(file).write(to: URL(fileURLWithPath: directory + "/node.json"))
        let offline = try parse(
            ["policy", "validate", "--node-probe", directory + "/node.json", directory + "/good.yaml", directory + "/bad.yaml"],
            as: PolicyValidateCommand.self)
        #expect(throws: ExitCode.failure) { try offline.run() }
        #expect(throws: Never.self) {
            try parse(["policy", "validate", "--node-probe", directory + "/node.json", directory + "/good.yaml"], as: PolicyValidateCommand.self).run()
        }
    }
}

/// Leaves a socket file with no listener at `path`.
func makeStaleSocket(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    close(fd)
    guard result == 0 else { throw POSIXError(.EADDRINUSE) }
}
