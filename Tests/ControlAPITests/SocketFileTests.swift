// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Foundation
import Logging
import ServiceLifecycle
import Testing
import tracectl

#if canImport(Glibc)
import Glibc
#endif

func fileMode(_ path: String) throws -> (mode: Int, group: Int) {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return ((attributes[.posixPermissions] as! NSNumber).intValue, (attributes[.groupOwnerAccountID] as! NSNumber).intValue)
}

@Suite("Control socket file")
struct SocketFileTests {
    @Test("the parent directory is created and the socket is 0600")
    func createsDirectoryAndRestricts() async throws {
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/run/vigil/vigil.sock"
        let configuration = ControlServerConfiguration(socketPath: path)
        try await withControlServer(agent: FakeAgent(), configuration: configuration) { _, socket in
            #expect(socket == path)
            let mode = try fileMode(path).mode
            #expect(mode == 0o600)
            let type = try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType
            #expect(type == .typeSocket)
        }
        // Removed at shutdown.
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("cancellation stops the server, even with an event stream open, and removes the socket")
    func cancellation() async throws {
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/vigil.sock"
        let agent = FakeAgent()
        let server = try ControlServer(agent: agent, configuration: .init(socketPath: path), logger: quietLogger())
        let running = Task { try await server.run() }
        try await withTimeout(10, "start") { try await server.waitUntilListening() }
        let stream = Task { try await ControlClient(socketPath: path).streamEvents(query: []) { _ in } }
        try await eventually("subscribed") { agent.broadcaster.subscriberCount == 1 }
        running.cancel()
        _ = try? await withTimeout(10, "stop") { try await running.value }
        #expect(!FileManager.default.fileExists(atPath: path))
        _ = try? await withTimeout(10, "stream end") { try await stream.value }
        try await eventually("subscription ended") { agent.broadcaster.subscriberCount == 0 }
    }

    @Test("--server-group: 0660 and the group's id")
    func group() async throws {
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/vigil.sock"
        // A group that exists everywhere ("daemon" is gid 1 on Debian); given by number too.
        let gid = try UnixSocketFile.groupID(named: "daemon")
        #expect(try UnixSocketFile.groupID(named: "\(gid)") == gid)
        let configuration = ControlServerConfiguration(socketPath: path, group: "daemon")
        try await withControlServer(agent: FakeAgent(), configuration: configuration) { _, _ in
            let (mode, group) = try fileMode(path)
            #expect(mode == 0o660)
            #expect(group == Int(gid))
        }
        #expect(throws: ControlServerError("--server-group: no group named \"no-such-group-xyz\"")) {
            _ = try ControlServer(
                agent: FakeAgent(), configuration: .init(socketPath: path, group: "no-such-group-xyz"), logger: quietLogger())
        }
    }

    @Test("a stale socket is replaced; a regular file or a live server at the path is refused")
    func staleAndLive() async throws {
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/vigil.sock"
        try makeStaleSocket(path)
        try await withControlServer(agent: FakeAgent(), configuration: .init(socketPath: path)) { _, socket in
            #expect(try await ControlClient(socketPath: socket).status().nodeName == "test-node")
            // A second agent on the same socket is refused and leaves the first alone.
            let second = try ControlServer(agent: FakeAgent(), configuration: .init(socketPath: path), logger: quietLogger())
            let error = await #expect(throws: ControlServerError.self) { try await second.run() }
            #expect(error?.message.contains("another process is serving") == true)
            #expect(try await ControlClient(socketPath: socket).status().nodeName == "test-node")
        }

        let regular = base + "/not-a-socket"
        try "keep me".write(toFile: regular, atomically: true, encoding: .utf8)
        let server = try ControlServer(agent: FakeAgent(), configuration: .init(socketPath: regular), logger: quietLogger())
        let error = await #expect(throws: ControlServerError.self) { try await server.run() }
        #expect(error?.message.contains("is not a socket") == true)
        #expect(try String(contentsOfFile: regular, encoding: .utf8) == "keep me")
        await #expect(throws: ControlServerError.self) { try await server.waitUntilListening() }

        let relative = try ControlServer(agent: FakeAgent(), configuration: .init(socketPath: "relative.sock"), logger: quietLogger())
        await #expect(throws: ControlServerError.self) { try await relative.run() }
    }
}

/// The built `tracectl` next to the test bundle, when there is one.
func builtTracectl() -> String? {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("tracectl").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}

/// Runs `arguments` and returns exit status and standard error.
func run(_ arguments: [String]) throws -> (status: Int32, stderr: String, stdout: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let errorPipe = Pipe()
    let outputPipe = Pipe()
    process.standardError = errorPipe
    process.standardOutput = outputPipe
    try process.run()
    let errorData = errorPipe.fileHandleForReading.readDataToEndOfFile()
    let outputData = outputPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: errorData, as: UTF8.self), String(decoding: outputData, as: UTF8.self))
}

@Suite("Control socket permissions (root: runs tracectl as nobody)",
       .enabled(if: getuid() == 0, "needs root to run tracectl as another user"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv (util-linux)"),
       .enabled(if: builtTracectl() != nil, "needs the built tracectl next to the tests"))
struct SocketPermissionTests {
    @Test("another user is refused with a message naming the socket; a --server-group member gets in")
    func otherUsers() async throws {
        let tracectl = try #require(builtTracectl())
        let daemonGroup = try UnixSocketFile.groupID(named: "daemon")
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        // 0600: only root.
        try await withControlServer(agent: FakeAgent(), configuration: .init(socketPath: base + "/root.sock")) { _, socket in
            let result = try run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  tracectl, "status", "--server-address", socket])
            #expect(result.status == 1)
            #expect(result.stderr == "permission denied: \(socket) (run as root or a member of the --server-group)\n")
        }
        // 0660 with group daemon: a member can use it, others cannot.
        let configuration = ControlServerConfiguration(socketPath: base + "/group.sock", group: "daemon")
        try await withControlServer(agent: FakeAgent(), configuration: configuration) { _, socket in
            let member = try run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--groups=\(daemonGroup)",
                                  tracectl, "policy", "list", "--server-address", socket])
            #expect(member.status == 0, "\(member.stderr)")
            #expect(member.stdout.contains("sensitive-file-reads"))
            let outsider = try run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                    tracectl, "policy", "list", "--server-address", socket])
            #expect(outsider.status == 1)
            #expect(outsider.stderr.hasPrefix("permission denied: \(socket)"))
        }
    }
}
