// SPDX-License-Identifier: Apache-2.0

import Testing
import TracingPolicy

/// The typed model keeps what was written, with positions.
@Suite struct ModelTests {
    private func load(_ yaml: String, file: String = "m.yaml") throws -> TracingPolicyDocument {
        let result = PolicyParser.parse(yaml: yaml, file: file)
        #expect(result.errors.map(\.description) == [])
        return try #require(result.documents.first)
    }

    @Test func tracepointPolicyFromTheDigest() throws {
        let document = try load("""
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: ssl-key-reads, annotations: {author: me}, labels: {team: sec}}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - {index: 6, type: string, label: path}
                - {index: 7, type: int32, label: flags}
                selectors:
                - matchArgs:
                  - {index: 6, operator: Prefix, values: ["/etc/ssl/private/"]}
                  - {index: 1, operator: Mask, values: ["0x3"]}
                  matchBinaries:
                  - {operator: NotIn, values: ["/usr/sbin/nginx"]}
                  matchActions:
                  - {action: post, rateLimit: "1m", rateLimitScope: process}
            """)
        #expect(document.apiVersion == "cilium.io/v1alpha1")
        #expect(document.kind == .tracingPolicy)
        #expect(document.name == "ssl-key-reads")
        #expect(document.namespace == nil)
        #expect(document.annotations == ["author": "me"])
        #expect(document.labels == ["team": "sec"])
        #expect(document.source == SourceLocation(file: "m.yaml", line: 1, column: 1))
        let tracepoint = try #require(document.spec.tracepoints.first)
        #expect(tracepoint.subsystem == "syscalls")
        #expect(tracepoint.event == "sys_enter_openat")
        #expect(tracepoint.raw == false)
        #expect(tracepoint.args.map(\.index) == [6, 7])
        #expect(tracepoint.args.map(\.type) == [.string, .int32])
        #expect(tracepoint.args.map(\.label) == ["path", "flags"])
        let selector = try #require(tracepoint.selectors.first)
        #expect(selector.path.description == "spec.tracepoints[0].selectors[0]")
        let prefix = selector.matchArgs[0]
        #expect(prefix.operator == .prefix)
        #expect(prefix.index == 6)
        #expect(prefix.argPositions == [0])          // the configured field index 6 is args[0]
        #expect(selector.matchArgs[1].argPositions == [1])   // index 1 is taken as a position in args
        #expect(prefix.values == ["/etc/ssl/private/"])
        #expect(prefix.valueLocations == [SourceLocation(file: "m.yaml", line: 13, column: 47)])
        #expect(prefix.location(of: "operator") == SourceLocation(file: "m.yaml", line: 13, column: 30))
        let problem = prefix.problem("prefix filters need kernel 5.3", at: "operator")
        #expect(problem.description
            == "m.yaml:13:30: spec.tracepoints[0].selectors[0].matchArgs[0].operator: prefix filters need kernel 5.3")
        #expect(selector.matchBinaries.first?.operator == .notIn)
        #expect(selector.matchBinaries.first?.values == ["/usr/sbin/nginx"])
        let action = try #require(selector.matchActions.first)
        #expect(action.action == .post)
        #expect(action.rateLimitSeconds == 60)
        #expect(action.rateLimitScope == .process)
        #expect(action.action.kernelID == 0)
    }

    @Test func namespacedKprobePolicyFromTheDigest() throws {
        let document = try load("""
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicyNamespaced
            metadata: {name: no-raw-sockets, namespace: shop}
            spec:
              options:
              - {name: policy-mode, value: monitor}
              - {name: disable-kprobe-multi, value: "1"}
              podSelector: {matchLabels: {tier: backend}, matchExpressions: [{key: env, operator: In, values: [prod]}]}
              kprobes:
              - call: security_socket_create
                syscall: false
                args:
                - {index: 0, type: int, label: family}
                - {index: 1, type: int, label: type}
                selectors:
                - matchArgs: [{index: 1, operator: Equal, values: ["3"]}]
                  matchActions: [{action: Override, argError: -1}]
            """)
        #expect(document.kind == .tracingPolicyNamespaced)
        #expect(document.namespace == "shop")
        #expect(document.spec.policyMode == .monitor)
        #expect(document.spec.parsedOptions.disableKprobeMulti == true)
        #expect(document.spec.podSelector?.matchLabels == ["tier": "backend"])
        #expect(document.spec.podSelector?.matchExpressions.map(\.operator) == [.in])
        #expect(document.spec.hostSelector == nil)
        let kprobe = try #require(document.spec.kprobes.first)
        #expect(kprobe.call == "security_socket_create")
        #expect(kprobe.syscall == false)
        #expect(kprobe.isSyscall == false)
        #expect(kprobe.return == false)
        let action = try #require(kprobe.selectors.first?.matchActions.first)
        #expect(action.action == .override)
        #expect(action.argError == -1)
        #expect(action.action.isEnforcement)
    }

    @Test func listsEnforcersAndRawSyscalls() throws {
        let document = try load("""
            apiVersion: vigil.dev/v1alpha1
            kind: TracingPolicy
            metadata: {name: privesc}
            spec:
              lists: [{name: privesc, type: syscalls, values: [sys_setuid, sys_setresuid, sys_capset]}]
              enforcers: [{calls: ["list:privesc"]}]
              tracepoints:
              - subsystem: raw_syscalls
                event: sys_enter
                args: [{index: 4, type: syscall64}]
                selectors:
                - matchArgs: [{index: 0, operator: InMap, values: ["list:privesc"]}]
                  matchNamespaces: [{namespace: Pid, operator: NotIn, values: [host_ns]}]
                  matchNamespaceChanges: [{operator: In, values: [mnt, Net]}]
                  matchCapabilities: [{operator: In, values: [cap_sys_admin]}]
                  matchActions: [{action: NotifyEnforcer, argError: -1, argSig: 9}]
            """)
        #expect(document.spec.list(named: "privesc")?.type == .syscalls)
        #expect(document.spec.list(named: "privesc")?.values.count == 3)
        #expect(document.spec.enforcers.first?.calls == ["list:privesc"])
        let selector = try #require(document.spec.tracepoints.first?.selectors.first)
        #expect(selector.matchArgs.first?.argPositions == [0])
        #expect(selector.matchNamespaces.first?.namespace == .pid)
        #expect(selector.matchNamespaces.first?.values == ["host_ns"])
        #expect(selector.matchNamespaceChanges.first?.values == [.mnt, .net])
        #expect(selector.matchCapabilities.first?.type == .effective)
        #expect(selector.matchCapabilities.first?.values == [LinuxCapability(name: "CAP_SYS_ADMIN", number: 21)])
        #expect(selector.matchActions.first?.argSig == 9)
    }

    @Test func kprobeDetailsAndUnsupportedHooksKeepPositions() throws {
        let document = try load("""
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: details}
            spec:
              hostSelector: {}
              loader: true
              kprobes:
              - call: sys_read
                return: true
                args:
                - {index: 0, type: fd}
                - {index: 1, type: char_buf, sizeArgIndex: 3, returnCopy: true}
                - {index: 2, type: size_t}
                returnArg: {index: 0, type: size_t}
                data: [{index: 0, type: string, source: current_task, resolve: comm}]
                message: reads
                tags: [observability.filesystem]
                ignore: {callNotFound: true}
                selectors:
                - matchReturnArgs: [{operator: GT, values: ["0"]}]
                  matchData: [{index: 0, operator: Equal, values: [bash]}]
                  macros: [bash-only]
              selectorsMacros:
                bash-only:
                  matchBinaries: [{operator: In, values: [/usr/bin/bash], followChildren: true}]
              uprobes:
              - path: /bin/bash
                symbols: [readline]
              usdts:
              - {path: /usr/bin/python3, provider: python, name: function__entry}
              fentries:
              - {call: vfs_read, syscall: false}
            """)
        let kprobe = try #require(document.spec.kprobes.first)
        #expect(kprobe.syscall == nil)          // not written: Tetragon's CRD default applies
        #expect(kprobe.isSyscall)
        #expect(kprobe.return)
        #expect(kprobe.returnArg?.type == .sizeT)
        #expect(kprobe.args[1].sizeArgIndex == 3)
        #expect(kprobe.args[1].returnCopy)
        #expect(kprobe.data.first?.source == .currentTask)
        #expect(kprobe.data.first?.resolve == "comm")
        #expect(kprobe.message == "reads")
        #expect(kprobe.tags == ["observability.filesystem"])
        #expect(kprobe.ignoreCallNotFound)
        #expect(kprobe.selectors.first?.macros == ["bash-only"])
        #expect(kprobe.selectors.first?.matchReturnArgs.first?.operator == .greaterThan)
        #expect(kprobe.selectors.first?.matchData.first?.argPositions == [0])
        #expect(document.spec.selectorsMacros.first?.name == "bash-only")
        #expect(document.spec.selectorsMacros.first?.selector.matchBinaries.first?.followChildren == true)
        #expect(document.spec.hostSelector?.isEmpty == true)
        #expect(document.spec.loader)
        #expect(document.spec.uprobes.first?.binaryPath == "/bin/bash")
        #expect(document.spec.uprobes.first?.location == SourceLocation(file: "m.yaml", line: 27, column: 5))
        #expect(document.spec.uprobes.first?.path.description == "spec.uprobes[0]")
        #expect(document.spec.usdts.first?.provider == "python")
        #expect(document.spec.usdts.first?.location.line == 30)
        #expect(document.spec.fentries.first?.call == "vfs_read")
    }

    @Test func crossReferencesAreChecked() {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: refs}
            spec:
              lists: [{name: dups, type: syscalls, values: [sys_dup]}]
              selectorsMacros:
                curl: {matchBinaries: [{operator: In, values: [/usr/bin/curl]}]}
              kprobes:
              - call: "list:dup"
                syscall: true
                args: [{index: 0, type: int}, {index: 1, type: char_buf, sizeArgIndex: 2}]
                selectors:
                - matchArgs: [{index: 3, operator: Equal, values: ["1"]}, {args: [0, 2], operator: CapabilitiesGained}]
                  matchBinaries: [{operator: In, values: [/bin/sh]}]
                  macros: [curl, wget]
              lsmhooks:
              - hook: security_file_open
            """
        #expect(PolicyParser.parse(yaml: yaml, file: "r.yaml").errors.map(\.description) == [
            "r.yaml:9:11: spec.kprobes[0].call: unknown list \"dup\" (did you mean \"dups\"?); defined lists: dups",
            "r.yaml:11:76: spec.kprobes[0].args[1].sizeArgIndex: sizeArgIndex 2 points to this argument itself "
                + "(sizeArgIndex is 1-based: use the index of the size argument plus one)",
            "r.yaml:13:27: spec.kprobes[0].selectors[0].matchArgs[0].index: index 3 does not refer to a configured "
                + "argument (configured args have index 0, 1)",
            "r.yaml:13:74: spec.kprobes[0].selectors[0].matchArgs[1].args[1]: args entry 2 is not a position in the "
                + "hook's args (positions 0-1)",
            "r.yaml:15:16: spec.kprobes[0].selectors[0].macros[0]: macro \"curl\" sets matchBinaries, which this "
                + "selector also sets; a filter may come from only one place",
            "r.yaml:15:22: spec.kprobes[0].selectors[0].macros[1]: unknown selector macro \"wget\"; defined macros: "
                + "curl",
            "r.yaml:17:11: spec.lsmhooks[0].hook: LSM hook names are written without the security_ prefix (did you "
                + "mean \"file_open\"?)",
        ])
    }

    @Test func hostSelectorAndNamespaceRules() {
        func errors(_ kind: String, _ metadata: String, _ spec: String) -> [String] {
            let yaml = "apiVersion: cilium.io/v1alpha1\nkind: \(kind)\nmetadata: \(metadata)\nspec: \(spec)\n"
            return PolicyParser.parse(yaml: yaml, file: "h.yaml").errors.map(\.description)
        }
        #expect(errors("TracingPolicy", "{name: a}", "{hostSelector: {}}") == [])
        #expect(errors("TracingPolicy", "{name: a}", "{hostSelector: null}") == [])
        #expect(errors("TracingPolicy", "{name: a}", "{hostSelector: {matchLabels: {}}}") == [
            "h.yaml:4:22: spec.hostSelector: hostSelector must be null or {} (Tetragon: \"The hostSelector should be "
                + "either null or {}.\")",
        ])
        #expect(errors("TracingPolicyNamespaced", "{name: a, namespace: ns}", "{hostSelector: {}}") == [
            "h.yaml:4:22: spec.hostSelector: a TracingPolicyNamespaced must not set hostSelector (it applies only to "
                + "pods of its namespace)",
        ])
        #expect(errors("TracingPolicyNamespaced", "{name: a}", "{}") == [
            "h.yaml:3:11: metadata.namespace: a TracingPolicyNamespaced needs metadata.namespace",
        ])
        #expect(errors("TracingPolicyNamespaced", "{name: a, namespace: Bad_NS}", "{}") == [
            "h.yaml:3:32: metadata.namespace: invalid namespace \"Bad_NS\": must be a lowercase RFC 1123 label "
                + "(lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 "
                + "characters)",
        ])
    }

    @Test func fieldPaths() {
        let path = FieldPath.root["spec"]["tracepoints"][0]["selectors"][1]["matchArgs"][0]["values"][2]
        #expect(path.description == "spec.tracepoints[0].selectors[1].matchArgs[0].values[2]")
        #expect(FieldPath.root["metadata"]["labels"]["app.kubernetes.io/name"].description
            == "metadata.labels[app.kubernetes.io/name]")
        #expect(path.components.count == 9)
        #expect(FieldPath.root.description == "")
        #expect(FieldPath.root["spec"]["options"].lastKey == "options")
    }

    @Test func enumsCoverTetragonsLists() {
        #expect(ArgType.allCases.count == 58)  // Tetragon's 52 and Vigil's vigil_argv, vigil_tty, vigil_uid, vigil_euid, vigil_auid, vigil_exe_upper_layer
        #expect(ArgType.auto.rawValue == "auto")
        #expect(SelectorOperator.allCases.count == 36)  // Tetragon's 34, DNSName and NotDNSName
        #expect(SelectorOperator.parse("eq") == .equal)
        #expect(SelectorOperator.parse("GT") == .greaterThan)
        #expect(SelectorOperator.parse("NotSPortPriv") == .notSPortPriv)
        #expect(SelectorOperator.parse("equal") == nil)
        #expect(ActionType.parse("sigKILL") == .sigkill)
        #expect(ActionType.parse("FollowFD") == nil)
        #expect(NamespaceType.parse("timeforchildren") == .timeForChildren)
        #expect(LinuxCapability.named("cap_bpf")?.number == 39)
        #expect(LinuxCapability.all.count == 41)
    }
}
