// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A stand-in for kube-apiserver that speaks the real list/watch protocol for pods over TLS with
/// a bearer token, and injects the faults a real cluster produces: several events per chunk and
/// events split across chunks, bookmarks, 410 as an `ERROR` event and as an HTTP status, 401 until
/// the token changes, 429/500 with `Retry-After`, a connection reset in the middle of an event,
/// and compaction that hides deletions (a relist must drop the pod).
///
/// Listens on 127.0.0.1 only; the certificate (CN and SAN 127.0.0.1) is made at start by
/// `openssl` in a temporary directory that ``stop()`` removes.
package final class FixtureAPIServer: @unchecked Sendable {
    /// How watch events are cut into HTTP chunks.
    package enum Chunking: Sendable {
        case onePerChunk
        /// The events that are due together (the backlog of a new watch, a ``addPods(_:)`` batch)
        /// go out in one chunk.
        case coalesced
        /// Every event is split in two chunks in the middle of its JSON.
        case split
    }

    /// A fault for the next matching request.
    package enum Fault: Sendable {
        /// Answer with this HTTP status and a `Status` body, optionally with `Retry-After`.
        case status(Int, retryAfter: Int?)
        /// Watch only: send half of the next event, then close the connection.
        case resetMidEvent
    }

    package struct Request: Sendable {
        package var path: String
        package var query: [String: String]
        package var authorization: String?
        package var isWatch: Bool { query["watch"] == "1" || query["watch"] == "true" }
    }

    package let directory: TempDir
    package let caPath: String
    package let tokenPath: String
    package private(set) var port = 0
    package var url: String { "https://127.0.0.1:\(port)" }

    private let lock = NSLock()
    private var token: String
    private var resourceVersion = 1000
    /// Collection path -> uid -> object; `/api/v1/pods` always exists, others once served.
    private var collections: [String: [String: [String: Any]]] = [FixtureAPIServer.podsPath: [:]]
    private var order: [String: [String]] = [:]
    private var history: [(rv: Int, path: String, type: String, object: [String: Any])] = []
    private var compactedBelow = 0
    private var listFaults: [Fault] = []
    private var watchFaults: [Fault] = []
    private var watchers: [ObjectIdentifier: WatchStream] = [:]
    private var requestLog: [Request] = []
    package var chunking: Chunking {
        get { lock.withLock { _chunking } }
        set { lock.withLock { _chunking = newValue } }
    }
    private var _chunking = Chunking.onePerChunk
    private var channel: (any Channel)?
    private var connections: [ObjectIdentifier: any Channel] = [:]

    /// Starts listening. `token` is the bearer token accepted, also written to ``tokenPath``.
    package init(token: String = "token-\(UUID().uuidString)") throws {
        self.token = token
        directory = try TempDir("vigil-apiserver")
        caPath = "\(directory.path)/ca.crt"
        tokenPath = "\(directory.path)/token"
        try Data(token.utf8).write(to: URL(fileURLWithPath: tokenPath))
        let keyPath = "\(directory.path)/server.key"
        let candidates: [String] = ["/usr/bin/openssl", "/bin/openssl"]
        let openssl = candidates.first { access($0, X_OK) == 0 } ?? "/usr/bin/openssl"
        let status = try Spawn.run(
            openssl,
            argv: [
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", keyPath, "-out", caPath, "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE",
            ].map { Array($0.utf8) })
        guard status == 0 else {
            directory.remove()
            throw Spawn.Failure(description: "openssl could not make the fixture certificate (wait status \(status))")
        }
        let certificate = try NIOSSLCertificate(file: caPath, format: .pem)
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        let context = try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)))
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                lock.withLock { connections[ObjectIdentifier(channel)] = channel }
                channel.closeFuture.whenComplete { [self] _ in
                    _ = lock.withLock { connections.removeValue(forKey: ObjectIdentifier(channel)) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
        let channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.channel = channel
        port = channel.localAddress?.port ?? 0
    }

    /// Closes the listener and every open watch, removes the files.
    package func stop() {
        let open = lock.withLock { () -> [WatchStream] in
            defer { watchers = [:] }
            return Array(watchers.values)
        }
        for stream in open { stream.close() }
        // Every connection, idle keep-alive ones too: a client shutting down then need not wait
        // for TLS close_notify answers.
        for connection in lock.withLock({ Array(connections.values) }) { try? connection.close().wait() }
        try? channel?.close().wait()
        channel = nil
        directory.remove()
    }

    /// Writes a kubeconfig for this server (CA file, token file) and returns its path.
    package func writeKubeconfig() throws -> String {
        let path = "\(directory.path)/kubeconfig"
        let text = """
            apiVersion: v1
            kind: Config
            current-context: fixture
            clusters:
            - name: fixture
              cluster: {server: "\(url)", certificate-authority: "\(caPath)"}
            contexts:
            - name: fixture
              context: {cluster: fixture, user: agent}
            users:
            - name: agent
              user: {tokenFile: "\(tokenPath)"}
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: - What the tests control

    /// Accepts only `token` from now on (requests with the old one get 401); does not touch the file.
    package func acceptToken(_ token: String) { lock.withLock { self.token = token } }

    /// Rewrites the token file, as the kubelet does when it rotates the token.
    package func writeTokenFile(_ token: String) throws {
        let temporary = tokenPath + ".new"
        try Data(token.utf8).write(to: URL(fileURLWithPath: temporary))
        rename(temporary, tokenPath)
    }

    package func inject(list faults: [Fault] = [], watch watchFaultList: [Fault] = []) {
        lock.withLock {
            listFaults += faults
            watchFaults += watchFaultList
        }
    }

    package var requests: [Request] { lock.withLock { requestLog } }
    package var openWatches: Int { lock.withLock { watchers.count } }
    package var currentResourceVersion: String { lock.withLock { String(resourceVersion) } }

    package static let podsPath = "/api/v1/pods"

    /// Serves `path` (e.g. a CRD's `/apis/vigil.dev/v1alpha1/tracingpolicies`) from now on;
    /// before, it answers 404 as for a CRD that is not installed.
    package func serveCollection(_ path: String) {
        lock.withLock { if collections[path] == nil { collections[path] = [:] } }
    }

    /// ADDED (or MODIFIED when the uid exists) for each object, sent to open watches as one batch.
    package func addObjects(_ objects: [[String: Any]], path: String) {
        lock.withLock {
            if collections[path] == nil { collections[path] = [:] }
            var batch: [[UInt8]] = []
            for object in objects {
                guard let uid = (object["metadata"] as? [String: Any])?["uid"] as? String else { continue }
                let type = collections[path]?[uid] == nil ? "ADDED" : "MODIFIED"
                batch.append(recordLocked(type: type, path: path, uid: uid, object: object))
            }
            broadcastLocked(batch, path: path)
        }
    }

    /// DELETED for the object.
    package func deleteObject(uid: String, path: String) {
        lock.withLock {
            guard let object = collections[path]?[uid] else { return }
            broadcastLocked([recordLocked(type: "DELETED", path: path, uid: uid, object: object)], path: path)
        }
    }

    package func addPods(_ objects: [[String: Any]]) { addObjects(objects, path: Self.podsPath) }

    package func addPod(_ object: [String: Any]) { addPods([object]) }

    /// DELETED for the pod.
    package func deletePod(uid: String) { deleteObject(uid: uid, path: Self.podsPath) }

    /// Removes the pod without any watch event and compacts the history past its deletion, as
    /// happens when an agent was disconnected longer than etcd keeps history: the next watch
    /// resume gets 410 and only a relist can tell that the pod is gone.
    package func deletePodDuringOutage(uid: String) {
        lock.withLock {
            guard collections[Self.podsPath]?[uid] != nil else { return }
            resourceVersion += 1
            collections[Self.podsPath]?[uid] = nil
            order[Self.podsPath]?.removeAll { $0 == uid }
            compactedBelow = resourceVersion + 1
        }
    }

    /// Forgets history: watches resuming from an older version get 410.
    package func compact() {
        lock.withLock { compactedBelow = resourceVersion + 1 }
    }

    /// A BOOKMARK with the current version to every open watch that allowed bookmarks.
    package func sendBookmark() {
        lock.withLock {
            resourceVersion += 1
            let line = Self.line([
                "type": "BOOKMARK",
                "object": ["kind": "Pod", "apiVersion": "v1", "metadata": ["resourceVersion": String(resourceVersion)]],
            ])
            for stream in watchers.values where stream.bookmarks { stream.send([line], chunking: _chunking) }
        }
    }

    /// Ends every open watch cleanly (the zero-length chunk), as the server's timeout does.
    package func endWatches() {
        let open = lock.withLock { () -> [WatchStream] in
            defer { watchers = [:] }
            return Array(watchers.values)
        }
        for stream in open { stream.end() }
    }

    /// Sends an `ERROR` event with a 410 `Status` to every open watch, then ends it.
    package func expireWatches() {
        let open = lock.withLock { () -> [WatchStream] in
            defer { watchers = [:] }
            compactedBelow = resourceVersion + 1
            return Array(watchers.values)
        }
        for stream in open {
            stream.send([Self.goneEventLine(resourceVersion: "0")], chunking: .onePerChunk)
            stream.end()
        }
    }

    // MARK: - Internals

    private func recordLocked(type: String, path: String, uid: String, object: [String: Any]) -> [UInt8] {
        resourceVersion += 1
        var object = object
        var metadata = object["metadata"] as? [String: Any] ?? [:]
        metadata["resourceVersion"] = String(resourceVersion)
        object["metadata"] = metadata
        if type == "DELETED" {
            collections[path]?[uid] = nil
            order[path]?.removeAll { $0 == uid }
        } else {
            if collections[path]?[uid] == nil { order[path, default: []].append(uid) }
            collections[path]?[uid] = object
        }
        history.append((resourceVersion, path, type, object))
        return Self.line(["type": type, "object": object])
    }

    private func broadcastLocked(_ lines: [[UInt8]], path: String) {
        guard !lines.isEmpty else { return }
        for stream in watchers.values where stream.path == path { stream.send(lines, chunking: _chunking) }
    }

    static func line(_ object: [String: Any]) -> [UInt8] {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Array(data) + [UInt8(ascii: "\n")]
    }

    static func statusBody(code: Int, reason: String, message: String) -> [UInt8] {
        line([
            "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure", "message": message,
            "reason": reason, "code": code,
        ])
    }

    static func goneEventLine(resourceVersion: String) -> [UInt8] {
        line([
            "type": "ERROR",
            "object": [
                "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure",
                "message": "too old resource version: \(resourceVersion)", "reason": "Expired", "code": 410,
            ],
        ])
    }

    /// What to answer a request with.
    enum Answer {
        case body(status: Int, headers: [(String, String)], [UInt8])
        case watch(initial: [[UInt8]], chunking: Chunking, reset: Bool, bookmarks: Bool, timeout: Int?)
    }

    fileprivate func answer(_ head: HTTPRequestHead, stream: WatchStream) -> Answer {
        let (path, query) = Self.split(uri: head.uri)
        let request = Request(path: path, query: query, authorization: head.headers.first(name: "Authorization"))
        return lock.withLock { () -> Answer in
            requestLog.append(request)
            guard request.authorization == "Bearer \(token)" else {
                return .body(status: 401, headers: [], Self.statusBody(code: 401, reason: "Unauthorized", message: "Unauthorized"))
            }
            guard head.method == .GET, let collection = collections[path] else {
                return .body(status: 404, headers: [], Self.statusBody(code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
            }
            // The two field selectors the agent sends: pods of a node, and the node itself.
            let fields = ["spec.nodeName=": ("spec", "nodeName"), "metadata.name=": ("metadata", "name")]
            var field: (parent: String, key: String, value: String)?
            if let selector = query["fieldSelector"] {
                guard let (prefix, at) = fields.first(where: { selector.hasPrefix($0.key) }) else {
                    return .body(status: 400, headers: [], Self.statusBody(code: 400, reason: "BadRequest", message: "unsupported field selector \(selector)"))
                }
                field = (at.0, at.1, String(selector.dropFirst(prefix.count)))
            }
            let node = field?.parent == "spec" ? field?.value : nil
            func onNode(_ object: [String: Any]) -> Bool {
                guard let field else { return true }
                return ((object[field.parent] as? [String: Any])?[field.key] as? String) == field.value
            }
            if request.isWatch {
                var reset = false
                if !watchFaults.isEmpty {
                    switch watchFaults.removeFirst() {
                    case .status(let code, let retryAfter):
                        return Self.faultAnswer(code: code, retryAfter: retryAfter)
                    case .resetMidEvent:
                        reset = true
                    }
                }
                let from = Int(query["resourceVersion"] ?? "") ?? 0
                var initial: [[UInt8]] = []
                if from == 0 {
                    initial = (order[path] ?? []).compactMap { collection[$0] }.filter(onNode).map { Self.line(["type": "ADDED", "object": $0]) }
                } else if from < compactedBelow - 1 {
                    return .watch(
                        initial: [Self.goneEventLine(resourceVersion: String(from))], chunking: .onePerChunk, reset: false,
                        bookmarks: false, timeout: 0)
                } else {
                    initial = history.filter { $0.rv > from && $0.path == path && onNode($0.object) }
                        .map { Self.line(["type": $0.type, "object": $0.object]) }
                }
                stream.bookmarks = query["allowWatchBookmarks"] == "true"
                stream.path = path
                stream.node = node
                watchers[ObjectIdentifier(stream)] = stream
                return .watch(
                    initial: initial, chunking: _chunking, reset: reset, bookmarks: stream.bookmarks,
                    timeout: query["timeoutSeconds"].flatMap(Int.init))
            }
            if !listFaults.isEmpty, case .status(let code, let retryAfter) = listFaults.removeFirst() {
                return Self.faultAnswer(code: code, retryAfter: retryAfter)
            }
            let all = (order[path] ?? []).compactMap { collection[$0] }.filter(onNode)
            let limit = Int(query["limit"] ?? "") ?? all.count
            var offset = 0
            var listRV = resourceVersion
            if let token = query["continue"] {
                let parts = token.split(separator: ":")
                guard parts.count == 2, let rv = Int(parts[0]), let at = Int(parts[1]) else {
                    return .body(status: 400, headers: [], Self.statusBody(code: 400, reason: "BadRequest", message: "bad continue token"))
                }
                guard rv >= compactedBelow - 1 else {
                    return .body(status: 410, headers: [], Self.statusBody(code: 410, reason: "Expired", message: "continue token expired"))
                }
                offset = at
                listRV = rv
            }
            let page = Array(all.dropFirst(offset).prefix(max(limit, 1)))
            var metadata: [String: Any] = ["resourceVersion": String(listRV)]
            if offset + page.count < all.count { metadata["continue"] = "\(listRV):\(offset + page.count)" }
            let listKind = path == Self.podsPath ? "PodList" : "List"
            let body = Self.line(["kind": listKind, "apiVersion": "v1", "metadata": metadata, "items": page])
            return .body(status: 200, headers: [("Content-Type", "application/json")], body)
        }
    }

    private static func faultAnswer(code: Int, retryAfter: Int?) -> Answer {
        let reason = code == 429 ? "TooManyRequests" : code == 410 ? "Expired" : "InternalError"
        return .body(
            status: code, headers: retryAfter.map { [("Retry-After", String($0))] } ?? [],
            statusBody(code: code, reason: reason, message: "injected fault \(code)"))
    }

    fileprivate func forget(_ stream: WatchStream) {
        lock.withLock { _ = watchers.removeValue(forKey: ObjectIdentifier(stream)) }
    }

    static func split(uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            query[key] = value
        }
        return (String(uri[..<mark]), query)
    }

    /// One open watch response; writes happen on its channel's event loop, in call order.
    final class WatchStream: @unchecked Sendable {
        let channel: any Channel
        var bookmarks = false
        var node: String?
        var path = ""
        /// Set by a `.resetMidEvent` fault: the next event is cut in half and the connection closed.
        var resetPending = false
        private var finished = false

        init(channel: any Channel) { self.channel = channel }

        func send(_ lines: [[UInt8]], chunking: Chunking) {
            channel.eventLoop.execute { [self] in
                guard !finished else { return }
                if resetPending, let first = lines.first {
                    finished = true
                    write(Array(first.prefix(first.count / 2)))
                    channel.flush()
                    channel.close(promise: nil)
                    return
                }
                switch chunking {
                case .onePerChunk:
                    for line in lines { write(line) }
                case .coalesced:
                    write(lines.flatMap { $0 })
                case .split:
                    for line in lines {
                        write(Array(line.prefix(line.count / 2)))
                        channel.flush()
                        write(Array(line.dropFirst(line.count / 2)))
                    }
                }
                channel.flush()
            }
        }

        func end() {
            channel.eventLoop.execute { [self] in
                guard !finished else { return }
                finished = true
                channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
            }
        }

        func close() {
            channel.eventLoop.execute { [self] in
                finished = true
                channel.close(promise: nil)
            }
        }

        private func write(_ bytes: [UInt8]) {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
        }
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: FixtureAPIServer
        var head: HTTPRequestHead?
        var stream: WatchStream?

        init(server: FixtureAPIServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let head else { return }
                self.head = nil
                respond(context: context, head: head)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if let stream { server.forget(stream) }
            context.fireChannelInactive()
        }

        private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
            let stream = WatchStream(channel: context.channel)
            switch server.answer(head, stream: stream) {
            case .body(let status, let headers, let bytes):
                var h = HTTPHeaders(headers)
                h.add(name: "Content-Length", value: String(bytes.count))
                if h.first(name: "Content-Type") == nil { h.add(name: "Content-Type", value: "application/json") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: h))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .watch(let initial, let chunking, let reset, _, let timeout):
                self.stream = stream
                stream.resetPending = reset
                var h = HTTPHeaders()
                h.add(name: "Content-Type", value: "application/json")
                h.add(name: "Transfer-Encoding", value: "chunked")
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: h))), promise: nil)
                stream.send(initial, chunking: chunking)
                if timeout == 0 {
                    server.forget(stream)
                    stream.end()
                } else if let timeout {
                    context.eventLoop.scheduleTask(in: .seconds(Int64(timeout))) { [server] in
                        server.forget(stream)
                        stream.end()
                    }
                }
            }
        }
    }
}

extension FixtureAPIServer {
    package static let nodesPath = "/api/v1/nodes"

    /// A Node object named `name` with `labels` (the uid stays the same per name, so a second
    /// call with other labels is a MODIFIED event of the same node).
    package static func node(name: String, labels: [String: String]) -> [String: Any] {
        ["apiVersion": "v1", "kind": "Node", "metadata": ["name": name, "uid": "node-\(name)", "labels": labels]]
    }
}

/// Pod objects shaped like a real cluster's (see reference/kubernetes.md).
package enum FixturePods {
    /// A running pod with one container, owned by a ReplicaSet of a Deployment.
    package static func pod(
        name: String, namespace: String = "shop", uid: String = UUID().uuidString.lowercased(), node: String,
        labels: [String: String] = ["app": "cart"], containerName: String = "cart",
        containerID: String? = nil, image: String = "registry.example.com/shop/cart:2.4.1",
        deployment: String? = "cart", templateHash: String = "5b9f7c6d8"
    ) -> [String: Any] {
        var labels = labels
        var metadata: [String: Any] = [
            "name": name, "namespace": namespace, "uid": uid, "creationTimestamp": "2026-11-20T09:14:02Z",
        ]
        if let deployment {
            labels["pod-template-hash"] = templateHash
            metadata["generateName"] = "\(deployment)-\(templateHash)-"
            metadata["ownerReferences"] = [[
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "\(deployment)-\(templateHash)",
                "uid": UUID().uuidString.lowercased(), "controller": true, "blockOwnerDeletion": true,
            ]]
        }
        metadata["labels"] = labels
        let repository = image.split(separator: ":").dropLast().joined(separator: ":")
        var status: [String: Any] = [
            "name": containerName, "ready": true, "started": true, "restartCount": 0, "image": image,
            "imageID": "\(repository.isEmpty ? image : repository)@sha256:1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a",
            "state": ["running": ["startedAt": "2026-11-21T07:02:19Z"]],
        ]
        status["containerID"] = containerID.map { "containerd://\($0)" } ?? ""
        return [
            "kind": "Pod", "apiVersion": "v1", "metadata": metadata,
            "spec": [
                "nodeName": node, "serviceAccountName": "default", "restartPolicy": "Always",
                "containers": [["name": containerName, "image": image, "securityContext": ["privileged": false]]],
            ],
            "status": [
                "phase": "Running", "qosClass": "BestEffort", "podIP": "10.244.1.31", "startTime": "2026-11-21T07:02:10Z",
                "containerStatuses": [status],
            ],
        ]
    }
}
