// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import PolicyCompiler
import Testing
import TracingPolicy

/// vigil_argv, Vigil's argument of bprm_check_security (index 1): the new program's arguments,
/// read and matched at sched_process_exec on every kernel, BPF-LSM or not (the LSM hook runs
/// before exec has copied them into the new image). The matcher itself: bpf/tests.
@Suite struct ArgvTests {
    static func policy(
        _ hook: String = "lsmhooks:\n- hook: bprm_check_security", argvIndex: Int = 1, operator op: String = "SubString",
        values: [String] = ["BEGIN RSA PRIVATE", "id_rsa"], action: String = "Post"
    ) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: argv
        spec:
        \(indent(hook, by: 2))
            args:
            - index: 0
              type: linux_binprm
            - index: \(argvIndex)
              type: vigil_argv
              label: arguments
            selectors:
            - matchArgs:
              - index: 0
                operator: Postfix
                values: ["/grep"]
              - index: \(argvIndex)
                operator: \(op)
                values: [\(values.map { "\"\($0)\"" }.joined(separator: ", "))]
              matchActions:
              - action: \(action)\(action == "Override" ? "\n        argError: -1" : "")
        """
    }

    @Test(arguments: [false, true])
    func runsAtSchedProcessExecWithOrWithoutBPFLSM(bpfLSM: Bool) throws {
        var environment = Fixture.environment
        environment.bpfLSM = bpfLSM
        let compiled = try compile(Self.policy(), environment: environment).get()
        let hook = try #require(compiled.hooks.first)
        #expect(compiled.hooks.count == 1)
        #expect(hook.mechanism != .bpfLSM, "the LSM hook runs before the new image holds its argv")
        #expect(hook.category == "sched" && hook.name == "sched_process_exec")
        #expect(hook.event == .lsm(hook: "bprm_check_security"))
        #expect(hook.hook.argSpecs.map(\.kind) == [VIGIL_ARG_EXE, VIGIL_ARG_ARGV])
        #expect(hook.args.map(\.declaredType) == [.linuxBinprm, .vigilArgv])
        let filters = hook.hook.selector(0).filters
        #expect(filters.map(\.op) == [VIGIL_OP_POSTFIX, VIGIL_OP_SUBSTRING])
        #expect(filters[1].arg == 1)
        #expect(filters[1].values == [17], "SubString carries its longest value's length (\"BEGIN RSA PRIVATE\")")
    }

    @Test(arguments: [("Equal", VIGIL_OP_EQUAL), ("Prefix", VIGIL_OP_PREFIX), ("Postfix", VIGIL_OP_POSTFIX)])
    func entryOperatorsCompile(name: String, op: vigil_op) throws {
        let compiled = try compile(Self.policy(operator: name, values: ["--name"])).get()
        #expect(compiled.hooks.first?.hook.selector(0).filters.last?.op == op)
    }

    @Test func theKprobeSpellingTakesItToo() throws {
        let compiled = try compile(Self.policy("kprobes:\n- call: security_bprm_check")).get()
        #expect(compiled.hooks.first?.hook.argSpecs.map(\.kind) == [VIGIL_ARG_EXE, VIGIL_ARG_ARGV])
    }

    @Test func sigkillIsKeptOverrideIsRefused() throws {
        let kill = try compile(Self.policy(action: "Sigkill")).get()
        #expect(kill.hooks.first?.hook.selector(0).action(0).kind == UInt8(VIGIL_ACTION_SIGKILL.rawValue))
        let yaml = Self.policy(action: "Override")
        let errors = refusal(yaml)
        #expect(errors.contains { $0.hasPrefix(position(of: "Override", in: yaml)) && $0.contains("Override cannot deny an exec on its arguments") && $0.contains("Sigkill") }, "\(errors)")
    }

    @Test(arguments: [
        ("NotEqual", "is not offered on vigil_argv"), ("NotPrefix", "is not offered on vigil_argv"),
        ("SubStringIgnCase", "list the spellings with SubString"), ("GreaterThan", "operator"),
    ])
    func otherOperatorsAreRefusedWithTheReason(op: String, reason: String) {
        let yaml = Self.policy(operator: op, values: ["x"])
        let errors = refusal(yaml)
        #expect(errors.contains { $0.contains(reason) }, "\(errors)")
    }

    @Test func valuesAreBoundedByTheKey() {
        let long = String(repeating: "k", count: Int(VIGIL_MATCH_STRING_MAX))
        let errors = refusal(Self.policy(operator: "Prefix", values: [long]))
        #expect(errors.contains { $0.contains("at most \(VIGIL_MATCH_STRING_MAX - 1)") }, "\(errors)")
        #expect(refusal(Self.policy(values: [""])).contains { $0.contains("would match every program's arguments") })
    }

    @Test func indexZeroAndOtherHooksAreRefused() {
        let atZero = refusal(Self.policy(argvIndex: 0))
        #expect(atZero.contains { $0.contains("vigil_argv is index 1 to 4") }, "\(atZero)")
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: argv-open
            spec:
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: vigil_argv
            """
        let errors = refusal(yaml)
        #expect(errors.contains { $0.hasPrefix(position(of: "vigil_argv", in: yaml)) && $0.contains("bprm_check_security only") }, "\(errors)")
    }
}
