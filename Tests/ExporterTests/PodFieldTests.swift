// SPDX-License-Identifier: Apache-2.0
import Events
import Testing

@testable import Exporter

/// `pod` as Tetragon writes it: the reference `process_exec` example's pod object, byte for byte.
@Suite struct PodFieldTests {
    static let referencePod =
        #""pod":{"namespace":"shop","name":"payments-api-7d9c6b5f4-x2kqp","uid":"2f0c1a8e-5b7d-4c3e-9a61-0d4f8e2b7c11","container":{"id":"containerd://3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b","name":"api","image":{"id":"registry.example.com/shop/api@sha256:9d39d9c6637c61c124369f89f682f7dd907378b5ba93939d3756ce3acfe2c39e","name":"registry.example.com/shop/api:1.4.2"},"start_time":"2026-03-14T07:02:55Z","pid":57,"security_context":{}},"pod_labels":{"app":"payments-api","tier":"backend"},"workload":"payments-api","workload_kind":"Deployment"},"docker":"3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7""#

    static func pod(privileged: Bool = false) -> ExportedPod {
        ExportedPod(
            namespace: "shop", name: "payments-api-7d9c6b5f4-x2kqp", uid: "2f0c1a8e-5b7d-4c3e-9a61-0d4f8e2b7c11",
            container: .init(
                id: "containerd://3b9f2c7d1e0a4f6b8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b", name: "api",
                imageID: "registry.example.com/shop/api@sha256:9d39d9c6637c61c124369f89f682f7dd907378b5ba93939d3756ce3acfe2c39e",
                imageName: "registry.example.com/shop/api:1.4.2", startTime: "2026-03-14T07:02:55Z", privileged: privileged),
            labels: [("app", "payments-api"), ("tier", "backend")], workload: "payments-api", workloadKind: "Deployment")
    }

    @Test func podIsWrittenBeforeDockerInTetragonsOrder() throws {
        var process = curlProcess()
        process.pod = Self.pod()
        process.namespacePID = 57
        let line = encodeLine(ExportEvent(kind: .exec, process: process, parent: shellProcess(), nodeName: "worker-2", time: wall(exampleSecond)))
        #expect(line.contains(Self.referencePod))
        _ = try parseJSONObject(line)
    }

    @Test func privilegedAndUnknownPidAndNoContainer() throws {
        var process = curlProcess()
        process.pod = Self.pod(privileged: true)
        var line = encodeLine(ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "n", time: wall(exampleSecond)))
        #expect(line.contains(#""start_time":"2026-03-14T07:02:55Z","security_context":{"privileged":true}}"#))
        process.pod?.container = nil
        process.pod?.labels = []
        line = encodeLine(ExportEvent(kind: .exec, process: process, parent: nil, nodeName: "n", time: wall(exampleSecond)))
        #expect(line.contains(#""uid":"2f0c1a8e-5b7d-4c3e-9a61-0d4f8e2b7c11","workload":"payments-api""#))
        _ = try parseJSONObject(line)
    }
}
