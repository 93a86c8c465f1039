// SPDX-License-Identifier: Apache-2.0

import Foundation
import Testing
import TracingPolicy

/// Every policy in Tetragon's examples directory is a valid Tetragon policy and must load.
@Suite struct ExamplesTests {
    static let directory = "/work/shared/reference/tetragon-examples"

    /// All `*.yaml` / `*.yml` files under the examples directory, recursively.
    static func exampleFiles() -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        return enumerator.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
    }

    @Test func everyExampleParsesWithoutErrors() throws {
        guard FileManager.default.fileExists(atPath: Self.directory) else {
            print("skipping: \(Self.directory) is absent")
            return
        }
        let files = Self.exampleFiles()
        #expect(files.count >= 70)
        var warnings: [String] = []
        for relative in files {
            let result = PolicyParser.parse(fileAt: Self.directory + "/" + relative)
            #expect(result.errors.map(\.description) == [], "\(relative)")
            #expect(result.documents.count == 1, "\(relative)")
            warnings += result.warnings.map { $0.description.replacingOccurrences(of: Self.directory + "/", with: "") }
        }
        // None needed special handling; one has a returnArg without `return: true`, which Tetragon ignores.
        #expect(warnings == [
            "security_bprm_check.yaml:12:5: spec.kprobes[0].returnArg: returnArg has no effect unless return is true",
        ])
    }

    /// Spot checks that the corpus is read faithfully, not just without errors.
    @Test func examplesAreReadFaithfully() throws {
        guard FileManager.default.fileExists(atPath: Self.directory) else {
            print("skipping: \(Self.directory) is absent")
            return
        }
        let killer = try #require(PolicyParser.parse(fileAt: Self.directory + "/killer.yaml").documents.first)
        #expect(killer.spec.enforcers.first?.calls == ["list:dups"])
        let action = try #require(killer.spec.tracepoints.first?.selectors.first?.matchActions.first)
        #expect(action.action == .notifyEnforcer)
        #expect(action.argError == -1)
        #expect(action.argSig == 9)

        let cve = try #require(
            PolicyParser.parse(fileAt: Self.directory + "/cves/cve-2023-2640-overlayfs-ubuntu.yaml").documents.first)
        // A double-quoted "\0" escape is a NUL character in the value.
        #expect(cve.spec.kprobes.first?.selectors.first?.matchArgs.first?.values == ["security.capability\0"])

        let write = try #require(PolicyParser.parse(fileAt: Self.directory + "/write.yaml").documents.first)
        #expect(write.spec.kprobes.first?.args[1].sizeArgIndex == 3)
        #expect(write.spec.kprobes.first?.selectors.first?.matchPIDs.first?.values == [1])

        let usdt = try #require(PolicyParser.parse(fileAt: Self.directory + "/usdt-set.yaml").documents.first)
        #expect(usdt.spec.usdts.first?.selectors.first?.matchActions.first?.argValue == 32)

        let datagram = try #require(PolicyParser.parse(fileAt: Self.directory + "/datagram_518.yaml").documents.first)
        #expect(datagram.spec.kprobes.first?.returnArgAction == .trackSock)
    }
}
