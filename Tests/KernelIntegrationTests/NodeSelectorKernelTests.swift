// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `spec.nodeSelector` on a running agent with the fixture API server's node object: a policy
/// runs only while this node's labels match (its tracepoint posts events), waits while the
/// labels are unknown, and follows label changes; without `--enable-k8s-api` it is refused.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct NodeSelectorKernelTests {
    static func policy(name: String, role: String, watched: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          nodeSelector:
            matchLabels:
              role: \(role)
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
                values: ["\(watched)"]
        """
    }

    @Test func aPolicyRunsOnlyWhereTheNodesLabelsMatch() throws {
        let server = try FixtureAPIServer()
        server.serveCollection(FixtureAPIServer.nodesPath)
        let dir = try TempDir("vigil-node-selector")
        let policies = "\(dir.path)/policies"
        let watched = "\(dir.path)/watched/"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: false)
        let tag = UUID().uuidString.prefix(8).lowercased()
        let web = "web-\(tag)", db = "db-\(tag)"
        try Self.policy(name: web, role: "web", watched: watched).write(toFile: "\(policies)/web.yaml", atomically: true, encoding: .utf8)
        try Self.policy(name: db, role: "db", watched: watched).write(toFile: "\(policies)/db.yaml", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: [
            "--enable-k8s-api", "--k8s-kubeconfig-path", try server.writeKubeconfig(), "--tracing-policy-dir", policies,
        ])
        defer {
            agent.stop()
            agent.cleanUp()
            server.stop()
            dir.remove()
        }
        func states() throws -> [String: String] {
            let listed = try agent.tracectl(["policy", "list", "-o", "json"]).output
            let object = try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any]
            let array = try #require(object?["policies"] as? [[String: Any]], "\(listed)")
            return Dictionary(uniqueKeysWithValues: array.compactMap { p in
                (p["name"] as? String).map { ($0, "\(p["state"] ?? "")") }
            })
        }
        func openWatched() -> String {
            let path = "\(watched)file-\(UUID().uuidString.prefix(8))"
            let fd = open(path, O_CREAT | O_WRONLY, 0o600)
            if fd >= 0 { close(fd) }
            return path
        }
        func posted(by policy: String, _ path: String) -> (ExportedEvent) -> Bool {
            { $0.type == "process_tracepoint" && $0.policyName == policy && ($0.args.first?["string_arg"] as? String) == path }
        }

        // The API server has no node of this name yet: both wait, neither runs node-wide.
        try agent.waitForLog("node \(agent.nodeName) is not in the API server's node list")
        #expect(try states() == [web: "not_on_this_node", db: "not_on_this_node"])
        let listedText = try agent.tracectl(["policy", "list"]).output
        #expect(listedText.contains("error: nodeSelector {role=web}: waiting for this node's labels from the API server"), "\(listedText)")

        // The node appears with role=web: only the web policy runs.
        server.addObjects([FixtureAPIServer.node(name: agent.nodeName, labels: ["role": "web"])], path: FixtureAPIServer.nodesPath)
        try agent.waitForLog("policy loaded")
        #expect(try states() == [web: "loaded", db: "not_on_this_node"])
        let first = openWatched()
        try agent.waitFor("the web policy's event", posted(by: web, first))

        // The label changes: web leaves the node, db comes.
        server.addObjects([FixtureAPIServer.node(name: agent.nodeName, labels: ["role": "db"])], path: FixtureAPIServer.nodesPath)
        let deadline = Date().addingTimeInterval(10)
        while try states() != [web: "not_on_this_node", db: "loaded"], Date() < deadline { usleep(100_000) }
        #expect(try states() == [web: "not_on_this_node", db: "loaded"])
        let second = openWatched()
        try agent.waitFor("the db policy's event", posted(by: db, second))
        #expect(!agent.events.contains(where: posted(by: web, second)))
    }

    @Test func withoutTheAPIServerANodeSelectorIsRefused() throws {
        let dir = try TempDir("vigil-node-selector")
        let file = "\(dir.path)/web.yaml"
        try Self.policy(name: "web-\(UUID().uuidString.prefix(8).lowercased())", role: "web", watched: "\(dir.path)/watched/")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--tracing-policy", file])
        defer {
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        // file:line:column of the selector, and what to do.
        try agent.waitForLog("\(file):7:5: spec.nodeSelector: nodeSelector runs the policy only on nodes whose labels match")
    }
}
