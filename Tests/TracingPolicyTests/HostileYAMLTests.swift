// SPDX-License-Identifier: Apache-2.0

import Foundation
import Testing
import TestSupport
import TracingPolicy

#if canImport(Glibc)
import Glibc
#endif

/// Inputs that once crashed, stalled or ballooned the parser (YAML anchors and aliases), each
/// refused at a position naming the limit, fast and small, and the limits' margin over real
/// policies.
@Suite struct HostileYAMLTests {
    /// `(errors, seconds)` of parsing `yaml`.
    func parse(_ yaml: String) -> ([String], Double) {
        let start = Date()
        let result = PolicyParser.parse(yaml: yaml, file: "h.yaml")
        return (result.errors.map(\.description), Date().timeIntervalSince(start))
    }

    @Test func deepNestingThroughAliasesIsRefusedWithThePosition() {
        let (errors, seconds) = parse(HostilePolicies.nestedAliases(levels: 900))
        #expect(errors == ["h.yaml:2:72: YAML refused: nests more than 64 levels deep (limit 64)"])
        #expect(seconds < 1)
        // Each anchor within the limit, only their chain past it.
        let (chained, _) = parse(HostilePolicies.nestedAliases(levels: 40, anchors: 2))
        #expect(chained == ["h.yaml:3:49: YAML refused: nests 82 levels deep with aliases expanded (limit 64)"])
    }

    @Test func mergeKeysThatDoubleEachLevelAreRefused() {
        let (errors, seconds) = parse(HostilePolicies.doublingMerges())
        #expect(errors.count == 1)
        #expect(errors.first?.contains("YAML refused: merge keys (<<) pull in more than 10000 nodes (limit 10000)") == true, "\(errors)")
        #expect(errors.first?.hasPrefix("h.yaml:10:23:") == true, "\(errors)")
        #expect(seconds < 1)
    }

    @Test func billionLaughsIsRefused() {
        let (errors, seconds) = parse(HostilePolicies.billionLaughs())
        #expect(errors.count == 1)
        #expect(errors.first?.contains("expands to more than 50000 nodes") == true, "\(errors)")
        #expect(errors.first?.hasPrefix("h.yaml:5:") == true, "\(errors)")
        #expect(seconds < 1)
    }

    @Test func tooManyAliasesAreRefused() {
        let yaml = "a: &a x\nb: [" + Array(repeating: "*a", count: 1001).joined(separator: ", ") + "]\n"
        let (errors, _) = parse(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("more than 1000 aliases in one document (limit 1000)") == true, "\(errors)")
    }

    @Test func oversizedTextIsRefused() {
        let yaml = "# " + String(repeating: "x", count: 1 << 20) + "\n"
        let (errors, _) = parse(yaml)
        #expect(errors == ["h.yaml:1:1: policy text of \((1 << 20) + 3) bytes refused (limit 1048576 bytes)"])
    }

    /// Only the document past a limit is lost; the next one in the file still loads.
    @Test func otherDocumentsOfTheFileStillLoad() {
        let good = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: good}
            spec:
              tracepoints:
              - {subsystem: syscalls, event: sys_enter_openat}
            """
        let result = PolicyParser.parse(yaml: HostilePolicies.nestedAliases(levels: 70, anchors: 1) + "---\n" + good, file: "h.yaml")
        #expect(result.documents.map(\.name) == ["good"])
        #expect(result.errors.count == 1)
    }

    @Test func invalidUTF8IsRefusedWithItsPosition() throws {
        let dir = NSTemporaryDirectory() + "vigil-utf8-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/bad.yaml"
        try Data(HostilePolicies.invalidUTF8).write(to: URL(fileURLWithPath: path))
        let errors = PolicyParser.parse(fileAt: path).errors.map(\.description)
        #expect(errors == ["\(path):2:9: not valid UTF-8 (byte offset 23, byte 0xff)"])
    }

    @Test(arguments: ["/dev/null", "/tmp"])
    func aFileThatIsNotRegularIsRefusedWithThatReason(path: String) {
        let errors = PolicyParser.parse(fileAt: path).errors.map(\.description)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("not a regular file") == true, "\(errors)")
    }

    /// The limits are generous: every policy users start from (Tetragon's examples, `policies/`)
    /// still loads with all of them a quarter of their size.
    @Test func realPoliciesLoadWithAQuarterOfTheLimits() throws {
        var quarter = YAMLLimits.standard
        quarter.maxBytes /= 4
        quarter.maxDepth /= 4
        quarter.maxAliases /= 4
        quarter.maxNodes /= 4
        quarter.maxMergedNodes /= 4
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let files = ExamplesTests.exampleFiles().map { ExamplesTests.directory + "/" + $0 }
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(repo)/policies")) ?? [])
            .filter { $0.hasSuffix(".yaml") }.map { "\(repo)/policies/\($0)" }
        #expect(files.count > 70)
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let refused = PolicyParser.parse(yaml: text, file: file, limits: quarter).errors.filter {
                $0.message.contains("refused")
            }
            #expect(refused.isEmpty, "\(refused)")
        }
    }

    /// What `make fuzz` found (and the inputs that started this), kept in Fuzz/regressions: each
    /// is refused with a position, within a second.
    @Test func everyFuzzRegressionIsRefusedFast() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let directory = "\(repo)/Fuzz/regressions"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files.count >= 4)
        for name in files {
            let start = Date()
            let result = PolicyParser.parse(fileAt: "\(directory)/\(name)")
            #expect(Date().timeIntervalSince(start) < 1, "\(name)")
            #expect(result.errors.first.map { $0.location.line > 0 } == true, "\(name): \(result.errors)")
        }
    }
}
