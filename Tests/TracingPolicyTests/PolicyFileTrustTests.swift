// SPDX-License-Identifier: Apache-2.0

import Foundation
import Glibc
import Testing
import TracingPolicy

/// Policy files another user could have written are refused, with the file and the reason.
@Suite struct PolicyFileTrustTests {
    private let trust = PolicyFileTrust(trustedOwners: [0, geteuid()])

    private func makeDirectory(_ files: [String: String]) throws -> String {
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-trust-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        chmod(base.path, 0o755)
        for (relative, text) in files {
            let url = base.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
            chmod(url.deletingLastPathComponent().path, 0o755)
            chmod(url.path, 0o644)
        }
        return base.path
    }

    private func policy(_ name: String) -> String {
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: \(name)}\nspec: {loader: true}\n"
    }

    @Test func ownFilesWithoutGroupOrOtherWriteLoad() throws {
        let directory = try makeDirectory(["a.yaml": policy("a"), "sub/b.yaml": policy("b")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = PolicyParser.loadDirectory(directory, trust: trust)
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.documents.map(\.name) == ["a", "b"])
    }

    @Test(arguments: [(0o664 as mode_t, "its group", "664"), (0o646, "others", "646"), (0o666, "others", "666")])
    func writableByGroupOrOthersIsRefused(mode: mode_t, who: String, octal: String) throws {
        let directory = try makeDirectory(["a.yaml": policy("a"), "open.yaml": policy("open")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod("\(directory)/open.yaml", mode)
        let result = PolicyParser.loadDirectory(directory, trust: trust)
        #expect(result.documents.map(\.name) == ["a"])
        #expect(result.errors.map(\.description) == [
            "\(directory)/open.yaml: policy file refused: the file is writable by \(who) (mode \(octal)); chmod go-w it"
        ])
    }

    @Test func aSubdirectoryWritableByOthersRefusesItsFiles() throws {
        let directory = try makeDirectory(["a.yaml": policy("a"), "shared/b.yaml": policy("b")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod("\(directory)/shared", 0o777)
        let result = PolicyParser.loadDirectory(directory, trust: trust)
        #expect(result.documents.map(\.name) == ["a"])
        #expect(result.errors.map(\.description) == [
            "\(directory)/shared/b.yaml: policy file refused: the directory \(directory)/shared is writable by others "
                + "(mode 777); chmod go-w it"
        ])
    }

    @Test func aSymbolicLinkIsJudgedByItsTarget() throws {
        // Kubernetes ConfigMap volumes: name.yaml -> ..data/name.yaml, links are mode 777.
        let directory = try makeDirectory(["..data/a.yaml": policy("a")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/a.yaml", withDestinationPath: "..data/a.yaml")
        #expect(PolicyParser.loadDirectory(directory, trust: trust).documents.map(\.name) == ["a"])
        chmod("\(directory)/..data/a.yaml", 0o666)
        let result = PolicyParser.loadDirectory(directory, trust: trust)
        #expect(result.documents.isEmpty)
        #expect(result.errors.first?.message.contains("writable by others") == true)
    }

    @Test func singleFileIsCheckedToo() throws {
        let directory = try makeDirectory(["a.yaml": policy("a")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod("\(directory)/a.yaml", 0o620)
        let result = PolicyParser.parse(fileAt: "\(directory)/a.yaml", trust: trust)
        #expect(result.documents.isEmpty)
        #expect(result.errors.map(\.description) == [
            "\(directory)/a.yaml: policy file refused: the file is writable by its group (mode 620); chmod go-w it"
        ])
        // Without a trust check (tracectl policy validate) it parses.
        #expect(PolicyParser.parse(fileAt: "\(directory)/a.yaml").documents.count == 1)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a file to another user"))
    func aFileOwnedByAnotherUserIsRefused() throws {
        let directory = try makeDirectory(["a.yaml": policy("a"), "theirs.yaml": policy("theirs")])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chown("\(directory)/theirs.yaml", 65534, 65534) == 0)
        let result = PolicyParser.loadDirectory(directory, trust: trust)
        #expect(result.documents.map(\.name) == ["a"])
        #expect(result.errors.map(\.description) == [
            "\(directory)/theirs.yaml: policy file refused: the file is owned by uid 65534, not root; chown root it"
        ])
    }

    @Test func aMissingFileIsNamed() {
        #expect(trust.problem(file: "/nonexistent/vigil/a.yaml") == "cannot check the file: No such file or directory")
    }
}
