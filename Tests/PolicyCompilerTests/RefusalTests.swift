// SPDX-License-Identifier: Apache-2.0
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// What this kernel cannot run is refused, with the reason, at the key that asks for it.
@Suite struct RefusalTests {
    static func tracepointPolicy(args: String = "- index: 6\n  type: string", selectors: String = "", extra: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: refused
        spec:
        \(indent(extra, by: 2))
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
        \(indent(args, by: 4))
        \(selectors.isEmpty ? "" : "    selectors:\n" + indent(selectors, by: 4))
        """
    }

    @Test func overridePointsToDenyCapableHooks() throws {
        let yaml = Self.tracepointPolicy(selectors: """
            - matchArgs:
              - index: 6
                operator: Equal
                values:
                - /etc/shadow
              matchActions:
              - action: Override
                argError: -1
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "Override", in: yaml) + ": spec.tracepoints[0].selectors[0].matchActions[0].action: "), "\(error)")
        #expect(error.contains("Override (deny) needs a hook that can fail the operation"))
        #expect(error.contains("lsmhooks file_open / bprm_check_security / socket_connect"))
        #expect(error.contains("Sigkill"))
    }

    /// Tetragon's symlink-override example: Override on a syscall kprobe names the missing
    /// kernel feature (error injection on the syscall's wrapper) and the hooks that can deny.
    @Test func overrideOnASyscallKprobeNamesErrorInjection() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: sys-symlink-passwd
            spec:
              kprobes:
              - call: sys_symlinkat
                syscall: true
                args:
                - index: 0
                  type: string
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values:
                    - /etc/passwd
                  matchActions:
                  - action: Override
                    argError: -1
            """
        let errors = refusal(yaml)
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "Override", in: yaml) + ": spec.kprobes[0].selectors[0].matchActions[0].action: "), "\(error)")
        #expect(error.contains("Override on syscall symlinkat needs error injection on __x64_sys_symlinkat"), "\(error)")
        #expect(error.contains("CONFIG_FUNCTION_ERROR_INJECTION off"), "\(error)")
        #expect(error.contains("security_* kprobe (fmod_ret)"), "\(error)")
    }

    @Test func lsmhooksAreRefused() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: lsm
            spec:
              lsmhooks:
              - hook: path_truncate
                args:
                - index: 0
                  type: path
            """
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "path_truncate", in: yaml) + ": spec.lsmhooks[0].hook: "), "\(error)")
        #expect(error.contains("lsmhooks path_truncate needs BPF-LSM"))
    }

    @Test func podSelectorNeedsThePodWatch() throws {
        let yaml = Self.tracepointPolicy(extra: """
            podSelector:
              matchLabels:
                app: web
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "matchLabels", in: yaml) + ": spec.podSelector: "), "\(error)")
        #expect(error.contains("podSelector selects pods, which needs the pod watch: start vigil with --enable-k8s-api"))
    }

    @Test func matchCapabilityChangesIsRefused() throws {
        let yaml = Self.tracepointPolicy(selectors: """
            - matchCapabilityChanges:
              - type: Effective
                operator: In
                values:
                - CAP_SYS_ADMIN
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "- type: Effective", in: yaml) + ": spec.tracepoints[0].selectors[0].matchCapabilityChanges: "), "\(error)")
        #expect(error.contains("matchCapabilityChanges is not supported by this build"))
    }

    @Test func unknownTracepointDoesNotExist() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: nope
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_nope
            """
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "sys_enter_nope", in: yaml) + ": spec.tracepoints[0].event: "), "\(error)")
        #expect(error.contains("tracepoint syscalls/sys_enter_nope does not exist on this kernel"))
        // The same message the real loader gives.
        let loaderMessage: String
        do {
            _ = try TracepointFormat.load(tracefsRoot: Fixture.tracefsRoot, subsystem: "syscalls", event: "sys_enter_nope")
            loaderMessage = "loaded"
        } catch {
            loaderMessage = "\(error)"
        }
        #expect(error.hasSuffix(": " + loaderMessage), "\(error)")
    }

    @Test func argIndexBeyondTheFormat() throws {
        // sys_enter_openat has fields 0-8.
        let yaml = Self.tracepointPolicy(args: """
            - index: 6
              type: string
            - index: 9
              type: int
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "9", in: yaml) + ": spec.tracepoints[0].args[1].index: "), "\(error)")
        #expect(error.contains("tracepoint syscalls/sys_enter_openat has 9 fields but field 9 was requested in args[1]"))
    }

    @Test func sizeArgIndexBeyondTheFormat() throws {
        let yaml = Self.tracepointPolicy(args: """
            - index: 6
              type: char_buf
              sizeArgIndex: 12
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "12", in: yaml) + ": spec.tracepoints[0].args[0].sizeArgIndex: "), "\(error)")
        #expect(error.contains("sizeArgIndex 12"))
    }

    @Test func typeThatDoesNotFitTheField() throws {
        let yaml = Self.tracepointPolicy(args: """
            - index: 7
              type: string
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "string", in: yaml) + ": spec.tracepoints[0].args[0].type: "), "\(error)")
        #expect(error.contains("type 'string' cannot be read from field 7 'flags'"))
    }

    /// A declared int is caught by the parser; an inferred one by the compiler.
    @Test(arguments: ["int", "auto"])
    func stringOperatorOnIntArg(type: String) throws {
        let yaml = Self.tracepointPolicy(
            args: """
                - index: 7
                  type: \(type)
                """,
            selectors: """
                - matchArgs:
                  - index: 7
                    operator: Prefix
                    values:
                    - /tmp
                """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "Prefix", in: yaml) + ": spec.tracepoints[0].selectors[0].matchArgs[0].operator: "), "\(error)")
        #expect(error.contains("Prefix"))
        #expect(error.contains(type == "int" ? "compares strings" : "does not apply to integer arguments"), "\(error)")
    }

    @Test func integerOperatorOnStringArg() throws {
        let yaml = Self.tracepointPolicy(selectors: """
            - matchArgs:
              - index: 6
                operator: InMap
                values:
                - "1"
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: "InMap", in: yaml) + ": spec.tracepoints[0].selectors[0].matchArgs[0].operator: "), "\(error)")
        #expect(error.contains("does not apply to string arguments"))
    }

    /// Tetragon operators this build has no kernel side for are refused as such, not as a
    /// mismatch with the argument (SubString once read "does not apply to string arguments").
    @Test(arguments: [
        ("SubString", "/tmp", "operator SubString is not supported yet"),
        ("SubStringIgnCase", "/tmp", "operator SubStringIgnCase is not supported yet"),
        ("InRange", "1:5", "operator InRange is not supported yet (InMap takes min:max ranges)"),
        ("NotInRange", "1:5", "operator NotInRange is not supported yet (NotInMap takes min:max ranges)"),
        ("CelExpr", "arg0 > 1", "operator CelExpr is not supported yet"),
    ])
    func operatorThisBuildLacks(op: String, value: String, message: String) throws {
        let yaml = Self.tracepointPolicy(
            args: """
                - index: 6
                  type: string
                - index: 7
                  type: int
                """,
            selectors: """
                - matchArgs:
                  - index: \(op.contains("Range") || op == "CelExpr" ? 7 : 6)
                    operator: \(op)
                    values:
                    - "\(value)"
                """)
        let errors = refusal(yaml)
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.hasPrefix(position(of: op, in: yaml) + ": spec.tracepoints[0].selectors[0].matchArgs[0].operator: "), "\(error)")
        #expect(error.hasSuffix(message), "\(error)")
    }

    @Test func everyProblemIsReportedInFileOrder() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: many
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_nope
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
                selectors:
                - matchCapabilityChanges:
                  - operator: In
                    values:
                    - CAP_SYS_ADMIN
                  matchActions:
                  - action: Override
                    argError: -1
              podSelector:
                matchLabels:
                  app: web
            """
        let errors = refusal(yaml)
        #expect(errors.count == 4)
        let positions = errors.map { $0.split(separator: ":").prefix(3).joined(separator: ":") }
        #expect(positions == [
            position(of: "sys_enter_nope", in: yaml), position(of: "- operator: In", in: yaml),
            position(of: "Override", in: yaml), position(of: "matchLabels", in: yaml),
        ])
    }

    @Test func noHookAtAll() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: empty
            spec:
              options:
              - name: policy-mode
                value: monitor
            """
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("the policy has no hook this agent can run") == true, "\(errors)")
        #expect(errors.first?.hasPrefix("policy.yaml:1:1: spec: ") == true, "\(errors)")
    }

    @Test func unsupportedActionsAndFilters() throws {
        let yaml = Self.tracepointPolicy(selectors: """
            - matchArgs:
              - index: 6
                operator: Equal
                values:
                - /etc/passwd
              matchCapabilityChanges:
              - type: Effective
                operator: In
                values:
                - CAP_SYS_ADMIN
              matchActions:
              - action: GetUrl
                argUrl: http://example.com
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 2)
        #expect(errors.contains { $0.contains("matchCapabilityChanges is not supported by this build") }, "\(errors)")
        #expect(errors.contains { $0.contains("action GetUrl is not supported by this build") }, "\(errors)")
    }
}
