// SPDX-License-Identifier: Apache-2.0

import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Settings of the control socket.
package struct ControlServerConfiguration: Sendable {
    /// The default `--server-address`.
    package static let defaultSocketPath = "/var/run/vigil/vigil.sock"

    /// Path of the UNIX domain socket (`--server-address`).
    package var socketPath: String
    /// Group allowed to use the socket (`--server-group`): mode 0660 and this group instead of
    /// 0600, owner only.
    package var group: String?
    /// Largest request body accepted (policy YAML), in bytes.
    package var maxBodyBytes: Int
    /// At shutdown, how long an event stream may take to flush what it has buffered before its
    /// connection is closed.
    package var shutdownGracePeriod: Duration

    package init(
        socketPath: String = ControlServerConfiguration.defaultSocketPath, group: String? = nil,
        maxBodyBytes: Int = 4 << 20, shutdownGracePeriod: Duration = .seconds(1)
    ) {
        self.socketPath = socketPath
        self.group = group
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGracePeriod = shutdownGracePeriod
    }
}

/// The agent's control API: HTTP/1.1 + JSON on a UNIX domain socket, served with Hummingbird.
/// Routes are listed in `docs/control-api.md`; each calls one `AgentControl` method.
///
/// A `Service`: put it in the agent's `ServiceGroup`. `run()` creates the socket's directory,
/// removes a stale socket, listens, restricts the socket (0600, or 0660 with `--server-group`)
/// before the first connection is accepted, and removes the socket file when it returns. On
/// graceful shutdown it first ends the event streams (each sends what it has buffered; a
/// client that does not read is disconnected after `shutdownGracePeriod`), then stops
/// accepting connections and returns when the last request is done. Cancellation stops it at
/// once.
package final class ControlServer: Service, Sendable {
    package let configuration: ControlServerConfiguration
    private let agent: any AgentControl
    private let logger: Logger
    private let groupID: gid_t?
    private let listening = ReadySignal<Void>()

    /// A server for `agent`. Resolves `--server-group` now, so that a bad group name stops
    /// the agent at start.
    package init(agent: any AgentControl, configuration: ControlServerConfiguration = .init(), logger: Logger)
        throws(ControlServerError)
    {
        self.agent = agent
        self.configuration = configuration
        self.logger = logger
        self.groupID = try configuration.group.map { group throws(ControlServerError) in
            try UnixSocketFile.groupID(named: group)
        }
    }

    /// Serves until graceful shutdown or cancellation.
    ///
    /// - Throws: `ControlServerError` when the socket cannot be set up, or the server's error.
    package func run() async throws {
        let path = configuration.socketPath
        do {
            try UnixSocketFile.prepare(path: path)
        } catch {
            listening.fail(error)
            throw error
        }
        let setupError = SetupErrorBox()
        let streams = EventStreams()
        let app = Application(
            router: Self.makeRouter(agent: agent, configuration: configuration, streams: streams),
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "vigil"),
            onServerRunning: { [groupID, listening, logger] channel in
                // Runs before the first connection is accepted.
                do throws(ControlServerError) {
                    try UnixSocketFile.restrict(path: path, group: groupID)
                    logger.info("control API listening", metadata: ["socket": "\(path)"])
                    listening.succeed(())
                } catch {
                    setupError.set(error)
                    listening.fail(error)
                    try? await channel.close()
                }
            },
            logger: logger
        )
        defer { UnixSocketFile.remove(path: path) }
        // The application runs in its own service group, out of reach of the caller's graceful
        // shutdown: on shutdown, event streams are ended and flushed first, and only then is
        // the server told to quiesce (it closes a connection right after its last response
        // is queued, which would cut what is still buffered).
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let inner = Task.detached { try await group.run() }
        let grace = configuration.shutdownGracePeriod
        do {
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await inner.value
                } onGracefulShutdown: {
                    Task {
                        await streams.endAll(grace: grace)
                        await group.triggerGracefulShutdown()
                    }
                }
            } onCancel: {
                inner.cancel()
            }
        } catch {
            listening.fail(error)
            throw error
        }
        if let error = setupError.get() { throw error }
        listening.fail(ControlServerError("control server stopped"))
    }

    /// Returns once the socket accepts connections (with its final mode); throws if the server
    /// failed to start or has stopped.
    package func waitUntilListening() async throws {
        try await listening.wait()
    }

    // MARK: - Routes

    /// The router: every route of `docs/control-api.md`.
    static func makeRouter(agent: any AgentControl, configuration: ControlServerConfiguration, streams: EventStreams)
        -> Router<ControlRequestContext>
    {
        let router = Router(context: ControlRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        let maxBody = configuration.maxBodyBytes

        router.get("/v1/status") { _, _ in
            try JSONResponse.make(await agent.status())
        }
        router.get("/v1/policies") { _, _ in
            try JSONResponse.make(PolicyList(policies: await agent.listPolicies()))
        }
        router.post("/v1/policies") { request, _ in
            let query = request.uri.queryParameters
            let mode = try parseMode(query["mode"].map(String.init), what: "mode")
            let fileName = query["name"].map(String.init).flatMap { $0.isEmpty ? nil : $0 } ?? "policy.yaml"
            let yaml = try await bodyText(request, maxBytes: maxBody)
            guard !yaml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ControlError.badRequest("empty body: expected TracingPolicy YAML")
            }
            let added = try await agent.addPolicy(yaml: yaml, fileName: fileName, mode: mode)
            return try JSONResponse.make(PolicyList(policies: added), status: .created)
        }
        router.post("/v1/policies/reload") { _, _ in
            try JSONResponse.make(PolicyList(policies: try await agent.reloadPolicies()))
        }
        router.delete("/v1/policies/:name") { request, context in
            let name = try policyName(context)
            try await agent.deletePolicy(name: name, namespace: namespace(request))
            return Response(status: .noContent)
        }
        router.post("/v1/policies/:name/enable") { request, context in
            let info = try await agent.setPolicyEnabled(
                name: try policyName(context), namespace: namespace(request), enabled: true)
            return try JSONResponse.make(info)
        }
        router.post("/v1/policies/:name/disable") { request, context in
            let info = try await agent.setPolicyEnabled(
                name: try policyName(context), namespace: namespace(request), enabled: false)
            return try JSONResponse.make(info)
        }
        router.put("/v1/policies/:name/mode") { request, context in
            let name = try policyName(context)
            var text = try await bodyText(request, maxBytes: 1024).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
            if text.isEmpty, let fromQuery = request.uri.queryParameters["mode"] { text = String(fromQuery) }
            guard let mode = try parseMode(text, what: "mode") else {
                throw ControlError.badRequest("missing mode: the body must be enforce or monitor")
            }
            return try JSONResponse.make(try await agent.setPolicyMode(name: name, namespace: namespace(request), mode: mode))
        }
        router.get("/v1/events") { request, context in
            let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            let filter = try EventFilter(query: query, context: agent.streamFilterContext)
            return try eventStream(agent.events(filter: filter), channel: context.channel, streams: streams)
        }
        return router
    }

    /// The chunked NDJSON response of `GET /v1/events`.
    private static func eventStream(
        _ subscription: EventSubscription, channel: any Channel, streams: EventStreams
    ) throws(ControlError) -> Response {
        guard let id = streams.begin(subscription, channel: channel) else {
            subscription.finish()
            throw ControlError.unavailable("the agent is shutting down")
        }
        let body = ResponseBody { writer in
            defer { streams.end(id) }
            for await line in subscription {
                var buffer = ByteBuffer()
                buffer.reserveCapacity(line.bytes.count + 1)
                buffer.writeBytes(line.bytes)
                if line.bytes.last != UInt8(ascii: "\n") { buffer.writeInteger(UInt8(ascii: "\n")) }
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/x-ndjson"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    private static func policyName(_ context: ControlRequestContext) throws(ControlError) -> String {
        guard let raw = context.parameters.get("name") else {
            throw ControlError.badRequest("missing policy name")
        }
        let name = raw.removingPercentEncoding ?? raw
        guard !name.isEmpty else { throw ControlError.badRequest("empty policy name") }
        return name
    }

    private static func namespace(_ request: Request) -> String? {
        guard let value = request.uri.queryParameters["namespace"], !value.isEmpty else { return nil }
        return String(value)
    }

    private static func parseMode(_ text: String?, what: String) throws(ControlError) -> PolicyMode? {
        guard let text, !text.isEmpty else { return nil }
        guard let mode = PolicyMode(rawValue: text.lowercased()) else {
            throw ControlError.badRequest("invalid \(what) \"\(text)\": expected enforce or monitor")
        }
        return mode
    }

    private static func bodyText(_ request: Request, maxBytes: Int) async throws -> String {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw ControlError(status: 413, message: "request body larger than \(maxBytes) bytes")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw ControlError.badRequest("request body is not valid UTF-8")
        }
        return text
    }
}

/// `{"policies": [...]}`: the body of list, add and reload.
package struct PolicyList: Codable, Sendable, Hashable {
    package var policies: [PolicyInfo]

    package init(policies: [PolicyInfo]) {
        self.policies = policies
    }
}

/// The request context of the control routes: Hummingbird's, plus the connection's channel
/// (event streams watch it to notice a client that left).
package struct ControlRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// JSON bodies with the same encoder everywhere.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try ControlJSON.encoder().encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}

/// The JSON coders of the control API (keys are spelled out by each type).
package enum ControlJSON {
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    package static func decoder() -> JSONDecoder {
        JSONDecoder()
    }
}

/// Turns every failure into `{"error": "...", "details": [...]}` with a 4xx/5xx status: a
/// `ControlError` as it is, an unknown route as 404, anything else as 500. Never lets an
/// error escape as an empty response.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = ControlRequestContext

    func handle(
        _ request: Request, context: ControlRequestContext,
        next: (Request, ControlRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ControlError {
            return Self.response(error)
        } catch let error as HTTPError {
            if error.status == .notFound {
                return Self.response(.notFound("no such route: \(request.method) \(request.uri.path)"))
            }
            return Self.response(ControlError(status: error.status.code, message: error.body ?? error.status.reasonPhrase))
        } catch is NIOTooManyBytesError {
            return Self.response(ControlError(status: 413, message: "request body too large"))
        } catch {
            context.logger.error("control request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(.internalError("internal error: \(error)"))
        }
    }

    static func response(_ error: ControlError) -> Response {
        let status = HTTPResponse.Status(code: (400...599).contains(error.status) ? error.status : 500)
        do {
            return try JSONResponse.make(error, status: status)
        } catch {
            return Response(status: .internalServerError)
        }
    }
}

/// The first error from the socket setup that runs inside the server's start callback.
private final class SetupErrorBox: Sendable {
    private let error = Mutex<ControlServerError?>(nil)

    func set(_ value: ControlServerError) {
        error.withLock { if $0 == nil { $0 = value } }
    }

    func get() -> ControlServerError? {
        error.withLock { $0 }
    }
}
