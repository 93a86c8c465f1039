// SPDX-License-Identifier: Apache-2.0

import Testing
import TracingPolicy

/// Tetragon's hard limits are reported with a message naming the limit.
@Suite struct LimitsTests {
    /// A kprobe on sys_openat(int dfd, const char *name, int flags) with `selectors` below.
    private func errors(selectors: String, args: String = "[{index: 0, type: int}, {index: 1, type: string}]")
        -> [String] {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: limits}
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                args: \(args)
                selectors:
            \(selectors)
            """
        return PolicyParser.parse(yaml: yaml, file: "l.yaml").errors.map(\.description)
    }

    @Test func sixSelectors() {
        let six = String(repeating: "    - matchActions: [{action: Post}]\n", count: 6)
        #expect(errors(selectors: six) == [
            "l.yaml:10:5: spec.kprobes[0].selectors: too many selectors: 6 (Tetragon allows at most 5 selectors per "
                + "hook)",
        ])
        let five = String(repeating: "    - matchActions: [{action: Post}]\n", count: 5)
        #expect(errors(selectors: five) == [])
    }

    @Test func fiveIntegerValues() {
        let selectors = """
                - matchArgs:
                  - {index: 0, operator: Equal, values: ["1", "2", "3", "4", "5"]}
            """
        #expect(errors(selectors: selectors) == [
            "l.yaml:11:45: spec.kprobes[0].selectors[0].matchArgs[0].values: too many values for an integer "
                + "comparison: 5 (at most 4 per matchArgs entry; use operator InMap or NotInMap for larger sets)",
        ])
        // Strings have no such cap, and InMap is the way out for integers.
        let fine = """
                - matchArgs:
                  - {index: 1, operator: Equal, values: [a, b, c, d, e, f]}
                  - {index: 0, operator: InMap, values: ["1", "2", "3", "4", "5", "10:20"]}
            """
        #expect(errors(selectors: fine) == [])
    }

    @Test func twoMatchBinaries() {
        let selectors = """
                - matchBinaries:
                  - {operator: In, values: [/usr/bin/cat]}
                  - {operator: In, values: [/usr/bin/less]}
            """
        #expect(errors(selectors: selectors) == [
            "l.yaml:11:7: spec.kprobes[0].selectors[0].matchBinaries: too many matchBinaries entries: 2 (at most 1 per "
                + "selector; put all paths in the values of one entry)",
        ])
    }

    @Test func fourActions() {
        let selectors = """
                - matchActions:
                  - {action: Post, rateLimit: 1m}
                  - {action: Signal, argSig: 10}
                  - {action: NoPost}
                  - {action: Sigkill}
            """
        #expect(errors(selectors: selectors) == [
            "l.yaml:11:7: spec.kprobes[0].selectors[0].matchActions: too many actions: 4 (at most 3 actions per "
                + "selector)",
        ])
    }

    @Test func otherLimits() {
        let longPath = "/" + String(repeating: "a", count: 255)
        let longPostfix = String(repeating: "b", count: 128)
        let selectors = """
                - matchArgs:
                  - {index: 0, operator: Equal, values: ["1"]}
                  - {index: 0, operator: Equal, values: ["2"]}
                  - {index: 0, operator: Equal, values: ["3"]}
                  - {index: 0, operator: Equal, values: ["4"]}
                  - {index: 0, operator: Equal, values: ["5"]}
                  - {index: 0, operator: Equal, values: ["6"]}
                  matchBinaries:
                  - {operator: In, values: [\(longPath)]}
                  matchPIDs:
                  - {operator: In, values: [1, 2, 3, 4, 5]}
                  matchNamespaces:
                  - {namespace: Pid, operator: In, values: ["1", "2", "3", "4", "5"]}
                - matchBinaries:
                  - {operator: Postfix, values: [\(longPostfix)]}
            """
        #expect(errors(selectors: selectors) == [
            "l.yaml:11:7: spec.kprobes[0].selectors[0].matchArgs: too many matchArgs entries: 6 (at most 5 per "
                + "selector)",
            "l.yaml:18:33: spec.kprobes[0].selectors[0].matchBinaries[0].values[0]: binary path is too long: 256 bytes "
                + "(at most 255)",
            "l.yaml:20:32: spec.kprobes[0].selectors[0].matchPIDs[0].values: too many PIDs: 5 (at most 4 per matchPIDs "
                + "entry)",
            "l.yaml:22:48: spec.kprobes[0].selectors[0].matchNamespaces[0].values: too many namespace values: 5 (at "
                + "most 4 per matchNamespaces entry)",
            "l.yaml:24:38: spec.kprobes[0].selectors[1].matchBinaries[0].values[0]: postfix is too long: 128 bytes (at "
                + "most 127)",
        ])
    }

    @Test func argsMessageTagsAndEnforcers() {
        let tags = (1...17).map { "t\($0)" }.joined(separator: ", ")
        let message = String(repeating: "m", count: 257)
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: limits}
            spec:
              enforcers:
              - calls: [sys_dup]
              - calls: [sys_dup2]
              kprobes:
              - call: do_sys_open
                syscall: false
                message: \(message)
                tags: [\(tags)]
                args: [{index: 0, type: int}, {index: 1, type: int}, {index: 2, type: int}, {index: 3, type: int}]
                data: [{index: 0, type: int, source: current_task, resolve: pid}, {index: 1, type: int, source: pt_regs, resolve: rax}]
            """
        #expect(PolicyParser.parse(yaml: yaml, file: "l.yaml").errors.map(\.description) == [
            "l.yaml:6:3: spec.enforcers: too many enforcers: 2 (only one enforcer is allowed per policy)",
            "l.yaml:11:14: spec.kprobes[0].message: message is too long: 257 characters (at most 256)",
            "l.yaml:12:11: spec.kprobes[0].tags: too many tags: 17 (at most 16)",
            "l.yaml:14:11: spec.kprobes[0].data: too many arguments (args + data): 6 (Tetragon reads at most 5 args "
                + "and data entries per hook)",
        ])
    }
}
