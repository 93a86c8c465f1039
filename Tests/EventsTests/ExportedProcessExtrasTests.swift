// SPDX-License-Identifier: Apache-2.0
import Events
import Testing

/// `pod`, `namespaces` and `credentials` live out of line in `ExportedProcess` (shared,
/// immutable); they must still behave as plain value fields.
@Suite struct ExportedProcessExtrasTests {
    private static func process() -> ExportedProcess {
        ExportedProcess(
            execID: "e", pid: 1, tid: 1, uid: 0, auid: 0, cwd: [], binary: Array("/bin/x".utf8), arguments: [],
            flags: [], startTime: WallTime(nanosecondsSinceEpoch: 1))
    }

    @Test func copiesAreIndependentValues() {
        var a = Self.process()
        #expect(a.pod == nil && a.namespaces == nil && a.credentials == nil)
        var credentials = Credentials()
        credentials.uid = 1000
        a.credentials = credentials
        let b = a
        a.credentials?.uid = 7  // in-place change of the copy a
        a.pod = ExportedPod(namespace: "ns", name: "p", uid: "u", container: nil, labels: [], workload: "w", workloadKind: "Pod")
        #expect(b.credentials?.uid == 1000)
        #expect(b.pod == nil)
        #expect(a.credentials?.uid == 7)
        #expect(a.pod?.name == "p")
        // Setting one keeps the others.
        a.namespaces = nil
        #expect(a.credentials?.uid == 7 && a.pod?.name == "p")
    }

    @Test func equalityAndHashingSeeTheFields() {
        var a = Self.process()
        var b = Self.process()
        var credentials = Credentials()
        credentials.gid = 5
        a.credentials = credentials
        #expect(a != b)
        b.credentials = credentials  // a different box with the same contents
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        a.credentials = nil
        b.credentials = nil
        #expect(a == Self.process())
    }
}
