// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Foundation
import PolicyCompiler
import Testing
import TracingPolicy

/// Vigil's exec facts of bprm_check_security (vigil_tty, vigil_uid, vigil_euid, vigil_auid,
/// vigil_exe_upper_layer): integers about the process the new
/// program runs in, read in the kernel at sched_process_exec (bpf/lib/args.h, vg_task_fact) and
/// matched with the integer operators. The readers themselves: bpf/tests (make test-bpf).
@Suite struct ExecFactsTests {
    static func policy(
        type: String = "vigil_tty", index: Int = 1, operator op: String = "NotEqual", values: [String] = ["0"],
        action: String = "Post", hook: String = "lsmhooks:\n- hook: bprm_check_security"
    ) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: facts
        spec:
        \(indent(hook, by: 2))
            args:
            - index: 0
              type: linux_binprm
            - index: \(index)
              type: \(type)
            selectors:
            - matchArgs:
              - index: 0
                operator: Postfix
                values: ["/sh"]
              - index: \(index)
                operator: \(op)
                values: [\(values.map { "\"\($0)\"" }.joined(separator: ", "))]
              matchActions:
              - action: \(action)\(action == "Override" ? "\n        argError: -1" : "")
        """
    }

    @Test(arguments: [false, true])
    func ttyRunsAtSchedProcessExec(bpfLSM: Bool) throws {
        var environment = Fixture.environment
        environment.bpfLSM = bpfLSM
        let compiled = try compile(Self.policy(index: 2), environment: environment).get()
        let hook = try #require(compiled.hooks.first)
        #expect(hook.mechanism != .bpfLSM, "one reader at sched_process_exec for every Vigil exec type")
        #expect(hook.category == "sched" && hook.name == "sched_process_exec")
        #expect(hook.hook.argSpecs.map(\.kind) == [VIGIL_ARG_EXE, VIGIL_ARG_TASK])
        #expect(hook.hook.argSpecs.last?.metaSize == UInt8(VIGIL_TASK_TTY.rawValue))
        #expect(hook.args.map(\.declaredType) == [.linuxBinprm, .vigilTty])
        let filters = hook.hook.selector(0).filters
        #expect(filters.map(\.op) == [VIGIL_OP_POSTFIX, VIGIL_OP_NOT_EQUAL])
        #expect(filters[1].arg == 1 && filters[1].values == [0])
    }

    @Test(arguments: [("vigil_uid", VIGIL_TASK_UID), ("vigil_euid", VIGIL_TASK_EUID), ("vigil_auid", VIGIL_TASK_AUID)])
    func credentialsAreFactsToo(type: String, fact: vigil_task_fact) throws {
        let compiled = try compile(Self.policy(type: type, operator: "LessThan", values: ["1000"])).get()
        let hook = try #require(compiled.hooks.first)
        #expect(hook.hook.argSpecs.map(\.kind) == [VIGIL_ARG_EXE, VIGIL_ARG_TASK])
        #expect(hook.hook.argSpecs.last?.metaSize == UInt8(fact.rawValue))
        #expect(hook.hook.selector(0).filters.last == ArgFilter(arg: 1, VIGIL_OP_LT, values: [1000]))
        // uids are 32 bits: 4294967295 (an unset auid) is one, 4294967296 is not.
        #expect((try? compile(Self.policy(type: type, operator: "Equal", values: ["4294967295"])).get()) != nil)
        #expect(!refusal(Self.policy(type: type, operator: "Equal", values: ["4294967296"])).isEmpty)
    }

    @Test func upperLayerIsZeroOrOneAndRefusedWhereTheKernelPlacesItElsewhere() throws {
        let yaml = Self.policy(type: "vigil_exe_upper_layer", operator: "Equal", values: ["1"])
        let hook = try #require(try compile(yaml).get().hooks.first)
        #expect(hook.hook.argSpecs.last?.metaSize == UInt8(VIGIL_TASK_EXE_UPPER.rawValue))
        #expect(!refusal(Self.policy(type: "vigil_exe_upper_layer", operator: "Equal", values: ["2"])).isEmpty)
        var environment = Fixture.environment
        environment.overlayUpperLayerRefusal = { "struct ovl_inode's __upperdentry is at byte 760" }
        guard case .failure(let refused) = compile(yaml, environment: environment) else {
            Issue.record("compiled where the layout differs")
            return
        }
        #expect(refused.errors.contains {
            $0.hasPrefix(position(of: "vigil_exe_upper_layer", in: yaml)) && $0.contains("byte 760")
        }, "\(refused.errors)")
    }

    @Test func besideTheArguments() throws {
        let yaml = Self.policy().replacingOccurrences(
            of: "    selectors:", with: "    - index: 2\n      type: vigil_argv\n    selectors:")
        let hook = try #require(try compile(yaml).get().hooks.first)
        #expect(hook.hook.argSpecs.map(\.kind) == [VIGIL_ARG_EXE, VIGIL_ARG_TASK, VIGIL_ARG_ARGV])
    }

    @Test func integerOperatorsOnlyAndValuesInRange() {
        #expect(refusal(Self.policy(operator: "Prefix", values: ["1"])).contains { $0.contains("Prefix") })
        #expect(!refusal(Self.policy(values: ["-1"])).isEmpty)
        #expect(!refusal(Self.policy(values: ["tty"])).isEmpty)
    }

    @Test func placesAndActionsItCannotServeAreRefused() {
        let atZero = refusal(Self.policy(index: 0))
        #expect(atZero.contains { $0.contains("vigil_tty is index 1 to 4") }, "\(atZero)")
        let override = Self.policy(action: "Override")
        #expect(refusal(override).contains {
            $0.hasPrefix(position(of: "Override", in: override)) && $0.contains("Override cannot deny an exec on vigil_tty")
        })
        let twice = Self.policy().replacingOccurrences(
            of: "    selectors:", with: "    - index: 2\n      type: vigil_tty\n    selectors:")
        #expect(refusal(twice).contains { $0.contains("vigil_tty is declared twice") })
        let sameIndex = Self.policy().replacingOccurrences(
            of: "    selectors:", with: "    - index: 1\n      type: vigil_uid\n    selectors:")
        #expect(refusal(sameIndex).contains { $0.contains("index 1 is declared twice") })
        let open = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: tty-open
            spec:
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: vigil_tty
            """
        #expect(refusal(open).contains {
            $0.hasPrefix(position(of: "vigil_tty", in: open)) && $0.contains("bprm_check_security only")
        })
    }

    @Test func sigkillIsKept() throws {
        let kill = try compile(Self.policy(action: "Sigkill")).get()
        #expect(kill.hooks.first?.hook.selector(0).action(0).kind == UInt8(VIGIL_ACTION_SIGKILL.rawValue))
    }
}
