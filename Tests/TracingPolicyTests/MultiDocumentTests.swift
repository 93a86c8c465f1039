// SPDX-License-Identifier: Apache-2.0

import Testing
import TracingPolicy

/// Each YAML document is one policy; a bad document is refused alone.
@Suite struct MultiDocumentTests {
    static let threeDocuments = """
        # Three policies in one file.
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: first
        spec:
          tracepoints:
          - subsystem: raw_syscalls
            event: sys_enter
            args: [{index: 4, type: syscall64}]
        ---
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: second
        spec:
          tracepoints:
          - subsystem: raw_syscalls
            event: sys_enter
            args: [{index: 4, type: syscall64}]
            selectors:
            - matchArgs:
              - index: 4
                operator: InMap
                values: ["list:missing"]
              matchNamespaces:
              - namespace: PID
                operator: Not
                values: [host_ns]
        ---
        ---
        apiVersion: vigil.dev/v1alpha1
        kind: TracingPolicy
        metadata:
          name: third
        spec:
          loader: true
        """

    @Test func goodDocumentsLoadAndErrorsPointIntoTheBadOne() {
        let result = PolicyParser.parse(yaml: Self.threeDocuments, file: "multi.yaml")
        #expect(result.documents.map(\.name) == ["first", "third"])
        #expect(result.documents.map(\.apiVersion) == ["cilium.io/v1alpha1", "vigil.dev/v1alpha1"])
        #expect(result.documents.map(\.source.line) == [2, 32])
        // The empty document between the markers counts as document 2 and is skipped.
        #expect(result.documents.map(\.documentIndex) == [0, 3])
        #expect(result.errors.map(\.description) == [
            "multi.yaml:25:18: spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: unknown list \"missing\"; "
                + "spec.lists is empty",
            "multi.yaml:28:19: spec.tracepoints[0].selectors[0].matchNamespaces[0].operator: unknown matchNamespaces "
                + "operator \"Not\" (did you mean \"NotIn\"?)",
        ])
        #expect(result.errors.allSatisfy { (12...29).contains($0.location.line) })
        // `index: 4` is the configured field index, so it is resolved to args[0].
        #expect(result.warnings.isEmpty)
    }

    @Test func namespaceValueCaseIsAccepted() {
        // `PID` is accepted: Tetragon lower-cases namespace names.
        let result = PolicyParser.parse(yaml: Self.threeDocuments, file: "multi.yaml")
        #expect(!result.errors.contains { $0.path.hasSuffix("namespace") })
    }

    @Test func emptyFileAndCommentOnlyDocumentsYieldNothing() {
        for text in ["", "# nothing here\n", "---\n---\n", "\u{FEFF}# bom\n---\n"] {
            let result = PolicyParser.parse(yaml: text, file: "empty.yaml")
            #expect(result.documents.isEmpty)
            #expect(result.errors.isEmpty)
        }
    }

    @Test func documentMarkerWithContentAndDirectives() {
        let yaml = """
            %YAML 1.1
            --- {apiVersion: cilium.io/v1alpha1, kind: TracingPolicy, metadata: {name: a}, spec: {loader: true}}
            --- # second
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: b}
            spec: {loader: true}
            ...
            """
        let result = PolicyParser.parse(yaml: yaml, file: "m.yaml")
        #expect(result.errors.map(\.description) == [])
        #expect(result.documents.map(\.name) == ["a", "b"])
        #expect(result.documents.map(\.source.line) == [2, 4])
    }
}
