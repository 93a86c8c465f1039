// SPDX-License-Identifier: Apache-2.0
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// GET requests to the API server over HTTPS with a bearer token, on AsyncHTTPClient.
package final class KubeClient: Sendable {
    package let config: KubeConfig
    private let http: HTTPClient

    /// An answer other than 2xx: the status, the server's `Status` body if it sent one, and
    /// `Retry-After` in seconds when present (429, 503).
    package struct HTTPStatusError: Error, CustomStringConvertible {
        package var code: Int
        package var status: APIStatus?
        package var retryAfter: Duration?
        package var description: String {
            "HTTP \(code)" + (status.map { ": \($0.message ?? $0.reason ?? "")" } ?? "")
        }
    }

    /// - Parameter idleReadTimeout: a watch that stays silent this long is treated as dead and
    ///   reconnected; set it above the watch `timeoutSeconds`.
    package init(config: KubeConfig, idleReadTimeout: Duration = .seconds(660)) throws {
        self.config = config
        var tls = TLSConfiguration.makeClientConfiguration()
        if let pem = config.caPEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pem))
        }
        if config.insecureSkipVerify { tls.certificateVerification = .none }
        // Closing a watch sends close_notify; a server that never answers it must not hold the
        // agent's shutdown for NIOSSL's default 5 s.
        tls.shutdownTimeout = .milliseconds(500)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .nanoseconds(Int64(idleReadTimeout.components.seconds) * 1_000_000_000))
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    package func shutdown() async {
        try? await http.shutdown()
    }

    /// GETs `path?query` and returns the whole body of a 2xx answer.
    package func get(_ path: String, query: [(String, String)]) async throws -> [UInt8] {
        let response = try await send(path, query: query, timeout: .seconds(60))
        var body = try await response.body.collect(upTo: 256 << 20)
        return body.readBytes(length: body.readableBytes) ?? []
    }

    /// GETs `path?query` and returns the streaming body of a 2xx answer.
    package func stream(_ path: String, query: [(String, String)]) async throws -> HTTPClientResponse.Body {
        try await send(path, query: query, timeout: .seconds(30)).body
    }

    private func send(_ path: String, query: [(String, String)], timeout: Duration) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: config.server + path + Self.encode(query))
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "vigil")
        if let token = try config.token.current(), !token.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let response = try await http.execute(request, timeout: .seconds(timeout.components.seconds))
        guard (200..<300).contains(Int(response.status.code)) else {
            let code = Int(response.status.code)
            if code == 401 { config.token.invalidate() }
            var body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            let status = try? JSONDecoder().decode(APIStatus.self, from: Data(bytes))
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                .map { Duration.seconds($0) }
            throw HTTPStatusError(code: code, status: status, retryAfter: retryAfter)
        }
        return response
    }

    /// `?a=b&c=d` with the values percent-encoded (the field selector's `=` included).
    static func encode(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "?" + query.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}
