// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import AsyncHTTPClient
import ControlAPI
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import tracectl

/// One raw request over the socket with AsyncHTTPClient; returns status, content type and body.
func rawRequest(
    _ socket: String, _ method: HTTPMethod, _ uri: String, body: String? = nil
) async throws -> (status: Int, contentType: String?, body: String) {
    var request = HTTPClientRequest(url: URL(httpURLWithSocketPath: socket, uri: uri)!.absoluteString)
    request.method = method
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), response.headers.first(name: "content-type"), String(buffer: bytes))
}

/// Decodes an error body `{"error": ..., "details": [...]}`.
func errorBody(_ text: String) throws -> ControlError {
    try JSONDecoder().decode(ControlError.self, from: Data(text.utf8))
}

let goodPolicy = """
    apiVersion: cilium.io/v1alpha1
    kind: TracingPolicy
    metadata:
      name: shadow-reads
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
            values: ["/etc/shadow"]
    """

/// Two documents, the second with two mistakes: nothing may be added.
let badPolicy = goodPolicy.replacingOccurrences(of: "shadow-reads", with: "first-ok") + """

    ---
    apiVersion: cilium.io/v1alpha1
    kind: TracingPolicy
    metadata:
      name: second-bad
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
            operator: Equl
            values: ["/etc/shadow"]
          matchActions:
          - action: Sigkil
    """

@Suite("Control API routes")
struct ControlServerTests {
    @Test("GET /v1/status")
    func status() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let status = try await ControlClient(socketPath: socket).status()
            #expect(status.nodeName == "test-node")
            #expect(status.kernelRelease == "6.18.0")
            #expect(status.mechanisms.count == 2)
            #expect(status.policies == 2)
            #expect(status.counters["events_exported"] == 42)

            let raw = try await rawRequest(socket, .GET, "/v1/status")
            #expect(raw.status == 200)
            #expect(raw.contentType == "application/json")
            #expect(raw.body.contains("\"uptime_seconds\":3723.5"))
            #expect(raw.body.contains("\"attach_mode\":\"tp_btf\""))
        }
    }

    @Test("GET /v1/policies")
    func list() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let policies = try await ControlClient(socketPath: socket).listPolicies()
            #expect(policies.map(\.name) == ["sensitive-file-reads", "uses-lsm"])
            #expect(policies[1].state == .error)
            #expect(policies[1].error?.contains("lsm.yaml:9:3") == true)
            let raw = try await rawRequest(socket, .GET, "/v1/policies")
            #expect(raw.body.hasPrefix("{\"policies\":["))
            #expect(raw.body.contains("\"action_counts\":{\"post\":12}"))
        }
    }

    @Test("POST /v1/policies: a valid file is added, with the mode asked for")
    func addGood() async throws {
        let agent = FakeAgent()
        try await withControlServer(agent: agent) { _, socket in
            let client = ControlClient(socketPath: socket)
            let added = try await client.addPolicy(yaml: goodPolicy, fileName: "shadow.yaml", mode: .monitor)
            #expect(added.map(\.name) == ["shadow-reads"])
            #expect(added[0].mode == .monitor)
            #expect(added[0].source == .api)
            #expect(added[0].hooks == [HookInfo(hook: "syscalls:sys_enter_openat", mechanism: "tracepoint")])
            let raw = try await rawRequest(socket, .POST, "/v1/policies?name=x.yaml", body: goodPolicy)
            #expect(raw.status == 201)
            #expect(try await client.listPolicies().count == 3)
        }
    }

    @Test("POST /v1/policies: a bad document refuses the whole file, with every problem at file:line:column")
    func addBad() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let client = ControlClient(socketPath: socket)
            let error = await #expect(throws: ClientError.self) {
                _ = try await client.addPolicy(yaml: badPolicy, fileName: "bad.yaml", mode: nil)
            }
            guard case .agent(let agentError)? = error else {
                Issue.record("expected an agent error, got \(String(describing: error))")
                return
            }
            #expect(agentError.status == 422)
            #expect(agentError.details.count == 2)
            let pattern = try Regex(#"^bad\.yaml:\d+:\d+: spec\.tracepoints\[0\]\.selectors\[0\]\.match"#)
            for detail in agentError.details {
                #expect(detail.contains(pattern), "\(detail)")
            }
            #expect(agentError.details[0].contains("Equl"))
            // All or nothing: the valid first document was not added either.
            #expect(try await client.listPolicies().map(\.name) == ["sensitive-file-reads", "uses-lsm"])

            let raw = try await rawRequest(socket, .POST, "/v1/policies?name=bad.yaml", body: badPolicy)
            #expect(raw.status == 422)
            #expect(raw.contentType == "application/json")
            let decoded = try errorBody(raw.body)
            #expect(decoded.details == agentError.details)
        }
    }

    @Test("POST /v1/policies: malformed requests are 4xx with a JSON error")
    func addMalformed() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = ControlServerConfiguration(socketPath: directory + "/v.sock")
        configuration.maxBodyBytes = 4096
        try await withControlServer(agent: FakeAgent(), configuration: configuration) { _, socket in
            let badMode = try await rawRequest(socket, .POST, "/v1/policies?mode=loud", body: goodPolicy)
            #expect(badMode.status == 400)
            #expect(try errorBody(badMode.body).message.contains("loud"))

            let empty = try await rawRequest(socket, .POST, "/v1/policies", body: "  \n")
            #expect(empty.status == 400)

            let huge = try await rawRequest(socket, .POST, "/v1/policies", body: String(repeating: "#", count: 10_000))
            #expect(huge.status == 413)
            #expect(try errorBody(huge.body).message.contains("4096"))

            let notYAML = try await rawRequest(socket, .POST, "/v1/policies", body: "{{{ [")
            #expect(notYAML.status == 422)
            #expect(try !errorBody(notYAML.body).details.isEmpty)
        }
    }

    @Test("DELETE /v1/policies/{name}: 204, then 404 for an unknown name")
    func delete() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let client = ControlClient(socketPath: socket)
            _ = try await client.addPolicy(yaml: goodPolicy, fileName: "p.yaml", mode: nil)
            let deleted = try await rawRequest(socket, .DELETE, "/v1/policies/shadow-reads")
            #expect(deleted.status == 204)
            #expect(try await !client.listPolicies().contains { $0.name == "shadow-reads" })

            let unknown = try await rawRequest(socket, .DELETE, "/v1/policies/nope")
            #expect(unknown.status == 404)
            #expect(try errorBody(unknown.body).message == "no policy named nope")

            await #expect(throws: ClientError.agent(ControlError(status: 404, message: "no policy named ns1/sensitive-file-reads"))) {
                try await client.deletePolicy(name: "sensitive-file-reads", namespace: "ns1")
            }
            try await client.deletePolicy(name: "sensitive-file-reads", namespace: nil)
            #expect(try await client.listPolicies().map(\.name) == ["uses-lsm"])
        }
    }

    @Test("POST /v1/policies/{name}/enable and /disable")
    func enableDisable() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let client = ControlClient(socketPath: socket)
            let disabled = try await client.setPolicyEnabled(name: "sensitive-file-reads", namespace: nil, enabled: false)
            #expect(disabled.state == .disabled)
            let enabled = try await rawRequest(socket, .POST, "/v1/policies/sensitive-file-reads/enable")
            #expect(enabled.status == 200)
            #expect(enabled.body.contains("\"state\":\"loaded\""))
            let unknown = try await rawRequest(socket, .POST, "/v1/policies/ghost/disable")
            #expect(unknown.status == 404)
            let conflict = try await rawRequest(socket, .POST, "/v1/policies/uses-lsm/enable")
            #expect(conflict.status == 409)
        }
    }

    @Test("PUT /v1/policies/{name}/mode")
    func mode() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            let client = ControlClient(socketPath: socket)
            let monitor = try await client.setPolicyMode(name: "sensitive-file-reads", namespace: nil, mode: .monitor)
            #expect(monitor.mode == .monitor)
            let enforce = try await rawRequest(socket, .PUT, "/v1/policies/sensitive-file-reads/mode", body: "enforce\n")
            #expect(enforce.status == 200)
            #expect(enforce.body.contains("\"mode\":\"enforce\""))
            let bad = try await rawRequest(socket, .PUT, "/v1/policies/sensitive-file-reads/mode", body: "banana")
            #expect(bad.status == 400)
            #expect(try errorBody(bad.body).message.contains("enforce or monitor"))
            let missing = try await rawRequest(socket, .PUT, "/v1/policies/sensitive-file-reads/mode", body: "")
            #expect(missing.status == 400)
            let unknown = try await rawRequest(socket, .PUT, "/v1/policies/ghost/mode", body: "monitor")
            #expect(unknown.status == 404)
        }
    }

    @Test("POST /v1/policies/reload")
    func reload() async throws {
        let agent = FakeAgent()
        try await withControlServer(agent: agent) { _, socket in
            let policies = try await ControlClient(socketPath: socket).reloadPolicies()
            #expect(policies.count == 2)
            #expect(await agent.reloads == 1)
        }
    }

    @Test("unknown routes and methods are 404 with a JSON error")
    func unknownRoutes() async throws {
        try await withControlServer(agent: FakeAgent()) { _, socket in
            for (method, uri) in [(HTTPMethod.GET, "/v2/status"), (.GET, "/v1/policies/reload"), (.POST, "/v1/status"), (.GET, "/")] {
                let answer = try await rawRequest(socket, method, uri)
                #expect(answer.status == 404, "\(method) \(uri)")
                #expect(answer.contentType == "application/json")
                #expect(try errorBody(answer.body).message.hasPrefix("no such route"))
            }
        }
    }

    @Test("tracectl commands run against the server; agent errors exit non-zero")
    func tracectlEndToEnd() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try badPolicy.write(toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)
        try goodPolicy.write(toFile: directory + "/good.yaml", atomically: true, encoding: .utf8)
        let agent = FakeAgent()
        try await withControlServer(agent: agent) { _, socket in
            let add = try #require(try Tracectl.parseAsRoot(["policy", "add", directory + "/good.yaml", "--server-address", socket]) as? PolicyAddCommand)
            try await add.run()
            #expect(await agent.listPolicies().contains { $0.name == "shadow-reads" })

            let bad = try #require(try Tracectl.parseAsRoot(["--server-address", socket, "policy", "add", directory + "/bad.yaml"]) as? PolicyAddCommand)
            await #expect(throws: ExitCode.failure) { try await bad.run() }

            let delete = try #require(try Tracectl.parseAsRoot(["policy", "delete", "ghost", "--server-address", socket]) as? PolicyDeleteCommand)
            await #expect(throws: ExitCode.failure) { try await delete.run() }

            let mode = try #require(try Tracectl.parseAsRoot(["policy", "mode", "shadow-reads", "monitor", "--server-address", socket]) as? PolicyModeCommand)
            try await mode.run()
            #expect(await agent.listPolicies().first { $0.name == "shadow-reads" }?.mode == .monitor)
        }
    }
}
