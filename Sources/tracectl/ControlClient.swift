// SPDX-License-Identifier: Apache-2.0

import AsyncHTTPClient
import ControlAPI
import Foundation
import NIOCore
import NIOHTTP1

/// Why a control request failed, worded for a person at a terminal.
package enum ClientError: Error, Equatable, CustomStringConvertible {
    /// The agent answered with an error (message and details from `{"error", "details"}`).
    case agent(ControlError)
    /// No socket at the path.
    case noSocket(String)
    /// A socket file, but nobody listening (the agent is not running).
    case refused(String)
    /// Not allowed to connect.
    case permissionDenied(String)
    /// Any other transport failure.
    case transport(String, String)
    /// The agent's answer could not be read.
    case badResponse(String)

    package var description: String {
        switch self {
        case .agent(let error):
            return "error: " + error.description
        case .noSocket(let path):
            return "cannot connect: no agent socket at \(path) (is vigil running? use --server-address to point at its socket)"
        case .refused(let path):
            return "connection refused: \(path) (the agent is not running)"
        case .permissionDenied(let path):
            return "permission denied: \(path) (run as root or a member of the --server-group)"
        case .transport(let path, let message):
            return "cannot talk to the agent at \(path): \(message)"
        case .badResponse(let message):
            return "unexpected answer from the agent: \(message)"
        }
    }
}

/// The control API over HTTP on the agent's UNIX socket (AsyncHTTPClient, `http+unix://`).
package struct ControlClient: Sendable {
    /// The socket path (`--server-address`).
    package let socketPath: String
    private let httpClient: HTTPClient
    /// Deadline of one non-streaming request.
    package var timeout: TimeAmount = .seconds(30)

    package init(socketPath: String, httpClient: HTTPClient = .shared) {
        self.socketPath = socketPath
        self.httpClient = httpClient
    }

    // MARK: - Calls

    package func status() async throws(ClientError) -> AgentStatus {
        try await call(.GET, "/v1/status", as: AgentStatus.self)
    }

    package func listPolicies() async throws(ClientError) -> [PolicyInfo] {
        try await call(.GET, "/v1/policies", as: PolicyList.self).policies
    }

    package func addPolicy(yaml: String, fileName: String, mode: PolicyMode?) async throws(ClientError) -> [PolicyInfo] {
        var query = [("name", fileName)]
        if let mode { query.append(("mode", mode.rawValue)) }
        return try await call(.POST, "/v1/policies", query: query, body: yaml, contentType: "application/yaml",
                              as: PolicyList.self).policies
    }

    package func deletePolicy(name: String, namespace: String?) async throws(ClientError) {
        _ = try await send(.DELETE, "/v1/policies/\(Self.escape(name))", query: Self.namespaceQuery(namespace))
    }

    package func setPolicyEnabled(name: String, namespace: String?, enabled: Bool) async throws(ClientError) -> PolicyInfo {
        try await call(.POST, "/v1/policies/\(Self.escape(name))/\(enabled ? "enable" : "disable")",
                       query: Self.namespaceQuery(namespace), as: PolicyInfo.self)
    }

    package func setPolicyMode(name: String, namespace: String?, mode: PolicyMode) async throws(ClientError) -> PolicyInfo {
        try await call(.PUT, "/v1/policies/\(Self.escape(name))/mode", query: Self.namespaceQuery(namespace),
                       body: mode.rawValue, contentType: "text/plain", as: PolicyInfo.self)
    }

    package func reloadPolicies() async throws(ClientError) -> [PolicyInfo] {
        try await call(.POST, "/v1/policies/reload", as: PolicyList.self).policies
    }

    /// Streams `GET /v1/events`, calling `handle` with each line (without its newline) until
    /// the agent ends the stream (returns) or the connection fails (throws).
    package func streamEvents(
        query: [(String, String)], handle: (String) async throws -> Void
    ) async throws(ClientError) {
        try checkSocket()
        let request = makeRequest(.GET, "/v1/events", query: query, body: nil, contentType: nil)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: .distantFuture)
        } catch {
            throw classify(error)
        }
        guard response.status == .ok else {
            let body = try await collect(response)
            throw agentError(status: response.status, body: body)
        }
        var pending: [UInt8] = []
        do {
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                var start = 0
                while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[start..<newline], as: UTF8.self)
                    start = newline + 1
                    if !line.isEmpty { try await handle(line) }
                }
                pending.removeFirst(start)
            }
        } catch let error as ClientError {
            throw error
        } catch let error as HTTPParserError where error == .invalidEOFState {
            throw .transport(socketPath, "the agent closed the event stream mid-line (did it stop?)")
        } catch {
            throw .transport(socketPath, "event stream interrupted: \(error)")
        }
        if !pending.isEmpty {
            do { try await handle(String(decoding: pending, as: UTF8.self)) } catch {
                throw .transport(socketPath, "\(error)")
            }
        }
    }

    // MARK: - HTTP

    private func call<T: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: String? = nil,
        contentType: String? = nil, as type: T.Type
    ) async throws(ClientError) -> T {
        let data = try await send(method, path, query: query, body: body, contentType: contentType)
        do {
            return try ControlJSON.decoder().decode(T.self, from: Data(data))
        } catch {
            throw .badResponse("\(method) \(path): \(error)")
        }
    }

    /// One request; returns the body of a 2xx answer, throws the agent's error otherwise.
    private func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: String? = nil,
        contentType: String? = nil
    ) async throws(ClientError) -> [UInt8] {
        try checkSocket()
        let request = makeRequest(method, path, query: query, body: body, contentType: contentType)
        let response: HTTPClientResponse
        let bytes: [UInt8]
        do {
            response = try await httpClient.execute(request, timeout: timeout)
            bytes = try await collect(response)
        } catch let error as ClientError {
            throw error
        } catch {
            throw classify(error)
        }
        guard (200..<300).contains(response.status.code) else {
            throw agentError(status: response.status, body: bytes)
        }
        return bytes
    }

    private func collect(_ response: HTTPClientResponse) async throws(ClientError) -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: 64 << 20)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw .transport(socketPath, "reading the answer: \(error)")
        }
    }

    private func agentError(status: HTTPResponseStatus, body: [UInt8]) -> ClientError {
        if var error = try? ControlJSON.decoder().decode(ControlError.self, from: Data(body)) {
            error.status = Int(status.code)
            return .agent(error)
        }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return .agent(ControlError(status: Int(status.code), message: text.isEmpty ? "\(status.code) \(status.reasonPhrase)" : text))
    }

    /// Fails at once, with the reason, when the socket cannot be connected to (the HTTP
    /// client's pool would otherwise retry until its timeout).
    private func checkSocket() throws(ClientError) {
        if let problem = Self.socketProblem(UnixSocketFile.connectError(socketPath), socketPath) { throw problem }
    }

    /// Names the socket problem from a test `connect()`, which gives the real `errno`.
    private func classify(_ error: any Error) -> ClientError {
        Self.socketProblem(UnixSocketFile.connectError(socketPath), socketPath) ?? .transport(socketPath, "\(error)")
    }

    private static func socketProblem(_ code: Int32, _ path: String) -> ClientError? {
        switch code {
        case 0: return nil
        case ENOENT, ENOTDIR: return .noSocket(path)
        case ECONNREFUSED:
            if UnixSocketFile.fileType(path) != .typeSocket { return .transport(path, "not a socket") }
            return .refused(path)
        case EACCES, EPERM: return .permissionDenied(path)
        default: return .transport(path, String(cString: strerror(code)))
        }
    }

    func makeRequest(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], body: String?, contentType: String?
    ) -> HTTPClientRequest {
        var uri = path
        if !query.isEmpty {
            uri += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        let url = URL(httpURLWithSocketPath: socketPath, uri: uri)?.absoluteString
            ?? "http+unix://\(Self.escape(socketPath))\(uri)"
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        }
        return request
    }

    private static func namespaceQuery(_ namespace: String?) -> [(String, String)] {
        guard let namespace, !namespace.isEmpty else { return [] }
        return [("namespace", namespace)]
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986).
    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
