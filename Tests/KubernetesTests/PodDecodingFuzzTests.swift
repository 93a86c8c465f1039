// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import Foundation
import Testing
import TestSupport
@testable import Kubernetes

/// Pod JSON comes from the API server, which a compromised or buggy control plane (or a pod's own
/// labels and image names, chosen by whoever deploys it) can fill with anything. Properties:
/// decoding never crashes; a decoded pod goes through the store and the enricher; the event
/// line it ends up in is one valid JSON object whose pod strings survive the round trip.
/// Seeded and bounded (`VIGIL_FUZZ_ITERATIONS`, `VIGIL_FUZZ_SEED`, as the other fuzz suites).
@Suite struct PodDecodingFuzzTests {
    static let id = String(repeating: "c3", count: 32)

    /// A decodable pod whose names, labels and images are hostile text.
    static func hostilePod(_ rng: inout SplitMix64) -> [String: Any] {
        func text() -> String {
            String(decoding: Fuzz.hostileBytes(&rng, maxLength: 300), as: UTF8.self)
        }
        var pod = FixturePods.pod(
            name: text(), namespace: text(), uid: "uid-\(rng.next())", node: "n",
            labels: [text(): text(), "app": text()], containerName: text(), containerID: id, image: text(),
            deployment: Bool.random(using: &rng) ? text() : nil)
        if Bool.random(using: &rng) { pod["extra"] = ["nested": [text(): [1, 2, text()]]] }
        return pod
    }

    @Test func hostilePodStringsExportAsValidJSON() throws {
        var rng = SplitMix64(seed: Fuzz.seed)
        let encoder = JSONLineEncoder()
        for iteration in 0..<Fuzz.iterations(300) {
            let object = Self.hostilePod(&rng)
            let data = try JSONSerialization.data(withJSONObject: object)
            let pod = try JSONDecoder().decode(Pod.self, from: data)
            let store = PodStore()
            store.upsert(pod)
            let enricher = PodEnricher(store: store)
            let out = enricher.submit(PodEnricherTests.event("x", container: Self.id))
            try #require(out.count == 1, "seed \(Fuzz.seed) iteration \(iteration)")
            let line = encoder.encode(out[0])
            #expect(line.last == UInt8(ascii: "\n") && line.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil,
                    "seed \(Fuzz.seed) iteration \(iteration): not one line")
            let json = try #require(
                try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                "seed \(Fuzz.seed) iteration \(iteration): not JSON: \(String(decoding: line, as: UTF8.self))")
            let exported = ((json["process_exec"] as? [String: Any])?["process"] as? [String: Any])?["pod"] as? [String: Any]
            // Foundation's JSONSerialization drops U+FEFF inside strings when it parses (checked
            // apart); the line itself carries it. Compare without it.
            func plain(_ s: String?) -> String? { s.map { String($0.unicodeScalars.filter { $0 != "\u{feff}" }) } }
            #expect(plain(exported?["name"] as? String) == plain(pod.metadata.name), "seed \(Fuzz.seed) iteration \(iteration)")
            #expect(plain(exported?["namespace"] as? String) == plain(pod.metadata.namespace))
        }
    }

    @Test func mutatedPodJSONNeverCrashesTheDecoderOrTheStore() throws {
        var rng = SplitMix64(seed: Fuzz.seed &+ 1)
        let base = try JSONSerialization.data(withJSONObject: FixturePods.pod(name: "p", node: "n", containerID: Self.id))
        var bytes = Array(base)
        var decoded = 0
        for _ in 0..<Fuzz.iterations(2000) {
            bytes = Fuzz.mutate(Bool.random(using: &rng) ? Array(base) : bytes, &rng)
            guard let pod = try? JSONDecoder().decode(Pod.self, from: Data(bytes)) else { continue }
            decoded += 1
            let store = PodStore()
            store.upsert(pod)
            for status in pod.allContainerStatuses {
                if let id = PodStore.strippedID(status.containerID), let match = store.lookup(containerID: id) {
                    _ = PodEnricher.exported(match)
                }
            }
            _ = store.replace(with: [])
        }
        // Mutations keep many inputs decodable: the store side was exercised, not only the parser.
        #expect(decoded > 0)
    }
}
