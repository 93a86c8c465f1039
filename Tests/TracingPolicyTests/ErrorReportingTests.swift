// SPDX-License-Identifier: Apache-2.0

import Testing
import TracingPolicy

/// Errors carry file:line:column, the field path and a precise reason.
@Suite struct ErrorReportingTests {
    /// A policy with ten different mistakes, one per commented line.
    static let tenMistakes = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: "Deny_Writes"                 # 1: not a DNS subdomain
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: strng                     # 2: unknown argument type
            - index: 7
              type: int32
            selectors:
            - matchArgs:
              - index: 6
                operator: Equl                # 3: unknown operator
                values: ["/etc/shadow"]
            - matchArgs:
              - index: 7
                operator: Equal
                values: ["1", "2", "0x40", "zero"]   # 4: not an integer
              - index: 9                      # 5: no such argument
                operator: Prefix
                values: ["/tmp"]
              matchBinaries:
              - operator: In
                values: "/usr/bin/cat"        # 6: a string where a list is expected
              matchActions:
              - action: Sigkil                # 7: unknown action
              - action: Post
                rateLimit: 5x                 # 8: bad rate limit
            - matchPIDs:
              - operator: NotIn
                values: [1]
                followforks: true             # 9: unknown key (case)
          kprobes:
          - call: sys_write
            syscall: true
            return: true                      # 10: return without returnArg
            args:
            - {index: 0, type: int}
        """

    @Test func tenMistakesGiveTenPreciseErrors() {
        let result = PolicyParser.parse(yaml: Self.tenMistakes, file: "deny.yaml")
        #expect(result.documents.isEmpty)
        #expect(result.warnings.isEmpty)
        let expected = [
            "deny.yaml:4:9: metadata.name: invalid name \"Deny_Writes\": must be a lowercase RFC 1123 subdomain "
                + "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
                + "characters)",
            "deny.yaml:11:13: spec.tracepoints[0].args[0].type: unknown argument type \"strng\" (did you mean "
                + "\"string\"?)",
            "deny.yaml:17:19: spec.tracepoints[0].selectors[0].matchArgs[0].operator: unknown operator \"Equl\" (did "
                + "you mean \"Equal\"?)",
            "deny.yaml:22:36: spec.tracepoints[0].selectors[1].matchArgs[0].values[3]: invalid integer \"zero\" for "
                + "type int32 (use decimal, 0x hex or 0 octal)",
            "deny.yaml:23:16: spec.tracepoints[0].selectors[1].matchArgs[1].index: index 9 refers neither to a "
                + "configured argument index (6, 7) nor to a position in args (0-1)",
            "deny.yaml:28:17: spec.tracepoints[0].selectors[1].matchBinaries[0].values: expected a list, got the "
                + "string \"/usr/bin/cat\"",
            "deny.yaml:30:17: spec.tracepoints[0].selectors[1].matchActions[0].action: unknown action \"Sigkil\" "
                + "(did you mean \"Sigkill\"?)",
            "deny.yaml:32:20: spec.tracepoints[0].selectors[1].matchActions[1].rateLimit: invalid rateLimit \"5x\": "
                + "expected a whole number of seconds, optionally with an s, m or h suffix (e.g. \"30\", \"30s\", "
                + "\"5m\", \"1h\")",
            "deny.yaml:36:9: spec.tracepoints[0].selectors[2].matchPIDs[0].followforks: unknown field "
                + "\"followforks\" (did you mean \"followForks\"?); allowed fields: operator, values, followForks, "
                + "isNamespacePID",
            "deny.yaml:40:13: spec.kprobes[0].return: returnArg must be set when return is true (Tetragon: "
                + "\"ReturnArg not specified with Return=true.\")",
        ]
        #expect(result.errors.count == 10)
        #expect(result.errors.map(\.description) == expected)
        // The parts are available separately too.
        let operatorError = result.errors[2]
        #expect(operatorError.location == SourceLocation(file: "deny.yaml", line: 17, column: 19))
        #expect(operatorError.path == "spec.tracepoints[0].selectors[0].matchArgs[0].operator")
        #expect(operatorError.message == "unknown operator \"Equl\" (did you mean \"Equal\"?)")
    }

    private func errors(_ yaml: String) -> [String] {
        PolicyParser.parse(yaml: yaml, file: "p.yaml").errors.map(\.description)
    }

    /// A minimal valid envelope around `spec` lines (spec starts at line 4).
    private func policy(_ spec: String) -> String {
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec:\n" + spec
    }

    @Test func didYouMeanForOperatorActionAndArgType() {
        let yaml = policy("""
              kprobes:
              - call: security_file_open
                syscall: false
                args:
                - {index: 0, type: fiel}
                - {index: 1, type: Int}
                selectors:
                - matchArgs:
                  - {index: 0, operator: NotPrefx, values: [/etc]}
                  - {index: 1, operator: GreaterThen, values: ["3"]}
                  matchActions:
                  - {action: Overide, argError: -1}
                  - {action: dnslookp, argFqdn: example.com}
            """)
        #expect(errors(yaml) == [
            "p.yaml:9:24: spec.kprobes[0].args[0].type: unknown argument type \"fiel\" (did you mean \"file\"?)",
            "p.yaml:10:24: spec.kprobes[0].args[1].type: unknown argument type \"Int\" (did you mean \"int\"?)",
            "p.yaml:13:30: spec.kprobes[0].selectors[0].matchArgs[0].operator: unknown operator \"NotPrefx\" (did you "
                + "mean \"NotPrefix\"?)",
            "p.yaml:14:30: spec.kprobes[0].selectors[0].matchArgs[1].operator: unknown operator \"GreaterThen\" (did "
                + "you mean \"GreaterThan\"?)",
            "p.yaml:16:18: spec.kprobes[0].selectors[0].matchActions[0].action: unknown action \"Overide\" (did you "
                + "mean \"Override\"?)",
            "p.yaml:17:18: spec.kprobes[0].selectors[0].matchActions[1].action: unknown action \"dnslookp\" (did you "
                + "mean \"DnsLookup\"?)",
        ])
    }

    @Test func unknownValueWithoutSuggestionListsSupportedValues() {
        let yaml = policy("""
              kprobes:
              - call: fd_install
                syscall: false
                args: [{index: 0, type: int}]
                selectors:
                - matchActions: [{action: Explode}]
            """)
        #expect(errors(yaml) == [
            "p.yaml:10:31: spec.kprobes[0].selectors[0].matchActions[0].action: unknown action \"Explode\"; supported: "
                + "Post, Sigkill, Override, GetUrl, DnsLookup, NoPost, Signal, TrackSock, UntrackSock, NotifyEnforcer, "
                + "CleanupEnforcerNotification, Set",
        ])
    }

    @Test func suggestionsIgnoreCaseAndCountSwaps() {
        #expect(Suggestions.closest(to: "equl", among: ["Equal", "NotEqual"]) == "Equal")
        #expect(Suggestions.closest(to: "IPPROTO_TPC", among: ["IPPROTO_TCP", "IPPROTO_TP", "IPPROTO_UDP"])
            == "IPPROTO_TCP")
        #expect(Suggestions.closest(to: "SubStringIgnoreCase", among: SelectorOperator.allCases.map(\.rawValue))
            == "SubStringIgnCase")
        #expect(Suggestions.closest(to: "xyz", among: ["Equal", "Mask"]) == nil)
        #expect(Suggestions.editDistance("kitten", "sitting") == 3)
        #expect(Suggestions.editDistance("ab", "ba") == 1)
    }

    @Test func removedActionsAreRefusedWithAReason() {
        let yaml = policy("""
              kprobes:
              - call: fd_install
                syscall: false
                args: [{index: 0, type: int}, {index: 1, type: file}]
                selectors:
                - matchActions: [{action: followfd, argFd: 0, argName: 1}]
            """)
        #expect(errors(yaml) == [
            "p.yaml:10:31: spec.kprobes[0].selectors[0].matchActions[0].action: action \"FollowFD\" was removed from "
                + "Tetragon (fd arguments are now resolved directly: use an fd or file argument type instead)",
        ])
    }

    @Test func wrongYAMLTypesAreNamed() {
        let yaml = policy("""
              loader: "true"
              kprobes:
                call: sys_write
              tracepoints:
              - subsystem: raw_syscalls
                event: sys_enter
                raw: yes please
                args: [{index: "4", type: syscall64}]
            """)
        #expect(errors(yaml) == [
            "p.yaml:5:11: spec.loader: expected a boolean (true or false), got the string \"true\" (remove the quotes)",
            "p.yaml:7:5: spec.kprobes: expected a list, got a mapping",
            "p.yaml:11:10: spec.tracepoints[0].raw: expected a boolean (true or false), got the string \"yes please\"",
            "p.yaml:12:20: spec.tracepoints[0].args[0].index: expected an integer, got the string \"4\" (remove the "
                + "quotes)",
        ])
    }

    @Test func envelopeProblems() {
        let yaml = """
            apiVersion: cilium.io/v1
            kind: TracingPolcy
            metadata:
              labels: {app: x}
            spec: {}
            status: {}
            """
        #expect(errors(yaml) == [
            "p.yaml:1:13: apiVersion: unsupported apiVersion \"cilium.io/v1\" (did you mean \"cilium.io/v1alpha1\"?); "
                + "supported: cilium.io/v1alpha1, vigil.dev/v1alpha1",
            "p.yaml:2:7: kind: unknown kind \"TracingPolcy\" (did you mean \"TracingPolicy\"?)",
            "p.yaml:4:3: metadata.name: missing required field \"name\"",
            "p.yaml:6:1: status: unknown field \"status\"; allowed fields: apiVersion, kind, metadata, spec",
        ])
    }

    @Test func yamlSyntaxErrorsArePositioned() {
        let unterminated = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: x
            spec:
              kprobes:
              - call: "sys_write
                syscall: true
            """
        let result = PolicyParser.parse(yaml: unterminated, file: "broken.yaml")
        #expect(result.documents.isEmpty)
        #expect(result.errors.map(\.description) == [
            "broken.yaml:8:18: invalid YAML: found unexpected end of stream (while scanning a quoted scalar at line 7, "
                + "column 11)",
        ])
        #expect(result.errors[0].path == "")

        let badIndent = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: x
             spec: {}
            """
        #expect(errors(badIndent) == [
            "p.yaml:5:2: invalid YAML: did not find expected key (while parsing a block mapping at line 1, column 1)",
        ])

        let duplicate = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: x
              name: y
            spec: {}
            """
        #expect(errors(duplicate) == ["p.yaml:4:3: invalid YAML: duplicate key \"name\" in one mapping"])
    }

    @Test func aSyntaxErrorLosesOnlyItsDocument() {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: first}
            spec: {loader: true}
            ---
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: [second}
            spec: {loader: true}
            ---
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: third}
            spec: {loader: true}
            """
        let result = PolicyParser.parse(yaml: yaml, file: "three.yaml")
        #expect(result.documents.map(\.name) == ["first", "third"])
        #expect(result.documents.map(\.documentIndex) == [0, 2])
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.location.line == 8)
    }

    @Test func descriptionWithoutPathOrPosition() {
        let error = ValidationError(location: .wholeFile("/etc/x.yaml"), path: "", message: "cannot read")
        #expect(error.description == "/etc/x.yaml: cannot read")
        let located = ValidationError(location: SourceLocation(file: "a.yaml", line: 3, column: 7), path: "spec",
                                      message: "bad")
        #expect(located.description == "a.yaml:3:7: spec: bad")
    }
}
