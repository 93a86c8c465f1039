// SPDX-License-Identifier: Apache-2.0

import Foundation
import Testing
import TracingPolicy

/// Loading files and directories.
@Suite struct DirectoryTests {
    private func makeDirectory(_ files: [String: String]) throws -> String {
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-policy-tests-\(UUID().uuidString)")
        for (relative, text) in files {
            let url = base.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return base.path
    }

    private func policy(_ name: String) -> String {
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: \(name)}\nspec: {loader: true}\n"
    }

    @Test func loadsOneLevelOfSubdirectoriesSortedByName() throws {
        let directory = try makeDirectory([
            "b.yaml": policy("b"),
            "a.yml": policy("a"),
            "notes.txt": "not a policy",
            "sub/c.yaml": policy("c"),
            "sub/deeper/d.yaml": policy("d"),
            ".hidden.yaml": policy("hidden"),
            "..data/e.yaml": policy("e"),
            "bad.yaml": "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: bad}\nspec: {lodaer: true}\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = PolicyParser.loadDirectory(directory)
        #expect(result.documents.map(\.name) == ["a", "b", "c"])
        #expect(result.documents.map { URL(fileURLWithPath: $0.source.file).lastPathComponent }
            == ["a.yml", "b.yaml", "c.yaml"])
        #expect(result.errors.map(\.description) == [
            "\(directory)/bad.yaml:4:8: spec.lodaer: unknown field \"lodaer\" (did you mean \"loader\"?); allowed "
                + "fields: kprobes, tracepoints, lsmhooks, uprobes, usdts, fentries, lists, enforcers, options, "
                + "selectorsMacros, podSelector, containerSelector, hostSelector, nodeSelector, loader",
        ])
    }

    @Test func missingFileAndDirectory() {
        let file = PolicyParser.parse(fileAt: "/nonexistent/policy.yaml")
        #expect(file.documents.isEmpty)
        #expect(file.errors.count == 1)
        #expect(file.errors.first?.description.hasPrefix("/nonexistent/policy.yaml: cannot read policy file: ") == true)
        let directory = PolicyParser.loadDirectory("/nonexistent")
        #expect(directory.errors.map(\.description) == ["/nonexistent: cannot read policy directory: not a directory"])
    }

    @Test func loadsTheExamplesDirectory() {
        let examples = ExamplesTests.directory
        guard FileManager.default.fileExists(atPath: examples) else {
            print("skipping: \(examples) is absent")
            return
        }
        let result = PolicyParser.loadDirectory(examples)
        #expect(result.errors.map(\.description) == [])
        // Files two levels down (sandbox/linux-namespaces/) are not read, as in Tetragon.
        let shallow = ExamplesTests.exampleFiles().filter { $0.split(separator: "/").count <= 2 }
        #expect(result.documents.count == shallow.count)
        #expect(!result.documents.contains { $0.source.file.contains("/sandbox/") })
    }
}
