// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// TracingPolicy objects served by the fixture API server's CRD collection: applied by the agent
/// (its hook posts events), refused with the reason in the log when they do not compile, and
/// removed when the object is DELETED.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ClusterPolicyKernelTests {
    static let collection = "/apis/vigil.dev/v1alpha1/tracingpolicies"

    static func policy(name: String, uid: String, watched: String, event: String = "sys_enter_openat") -> [String: Any] {
        [
            "apiVersion": "vigil.dev/v1alpha1", "kind": "TracingPolicy",
            "metadata": ["name": name, "uid": uid, "creationTimestamp": "2026-11-26T03:00:00Z", "generation": 1],
            "spec": [
                "tracepoints": [[
                    "subsystem": "syscalls", "event": event,
                    "args": [["index": 6, "type": "string"], ["index": 7, "type": "int32"]],
                    "selectors": [["matchArgs": [["index": 6, "operator": "Prefix", "values": [watched]]]]],
                ]]
            ],
        ]
    }

    @Test func crdPolicyIsAppliedThenRemovedWhenDeleted() throws {
        let server = try FixtureAPIServer()
        server.serveCollection(Self.collection)
        let dir = try TempDir("vigil-crd")
        let watched = "\(dir.path)/watched/"
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: false)
        let name = "crd-opens-\(UUID().uuidString.prefix(8).lowercased())"
        server.addObjects([Self.policy(name: name, uid: "uid-\(name)", watched: watched)], path: Self.collection)
        let agent = try AgentHarness(arguments: [
            "--enable-k8s-api", "--k8s-kubeconfig-path", try server.writeKubeconfig(), "--tracing-policy-dir", "/nonexistent",
        ])
        defer {
            agent.stop()
            agent.cleanUp()
            server.stop()
            dir.remove()
        }
        try agent.waitForLog("policy loaded")

        func openWatched() -> String {
            let path = "\(watched)file-\(UUID().uuidString.prefix(8))"
            let fd = open(path, O_CREAT | O_WRONLY, 0o600)
            if fd >= 0 { close(fd) }
            return path
        }
        func posted(_ path: String) -> (ExportedEvent) -> Bool {
            { $0.type == "process_tracepoint" && $0.policyName == name && ($0.args.first?["string_arg"] as? String) == path }
        }
        let first = openWatched()
        try agent.waitFor("event of the CRD policy", posted(first))
        let listed = try TracectlKernelTests().tracectl(agent, ["policy", "list", "-o", "json"]).output
        #expect(listed.contains(#""kubernetes""#), "\(listed)")
        #expect(listed.contains("\(Self.collection)/\(name)"), "\(listed)")

        // A version that does not compile: refused with its reason, the running one stays.
        server.addObjects([Self.policy(name: name, uid: "uid-\(name)", watched: watched, event: "no_such_tracepoint")], path: Self.collection)
        try agent.waitForLog("cluster policy refused")
        let second = openWatched()
        try agent.waitFor("event of the previous version", posted(second))

        server.deleteObject(uid: "uid-\(name)", path: Self.collection)
        try agent.waitForLog("policy removed")
        let third = openWatched()
        // A sentinel exec after the open: once it is exported, the open would have been too.
        let sentinel = try dir.copy("/bin/true", as: "sentinel-\(UUID().uuidString.prefix(8))")
        _ = try Spawn.run(sentinel, argv: [Array(sentinel.utf8)])
        try agent.waitFor("sentinel exec") { $0.type == "process_exec" && $0.binary == sentinel }
        usleep(300_000)
        agent.poll()
        #expect(!agent.events.contains(where: posted(third)))
    }
}
