// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import PolicyCompiler
import Testing
import TracingPolicy

/// lsmhooks where the agent's BPF-LSM programs loaded: every selector runs in the LSM program
/// (no fanotify rules, no observing tracepoint), Override keeps its errno; elsewhere the same
/// policy falls back as before. The programs themselves run in the kernel matrix (guests with
/// `bpf` in lsm=), since this machine's kernel refuses BPF-LSM.
@Suite struct BPFLSMTests {
    static var lsmEnvironment: CompileEnvironment {
        var environment = Fixture.environment
        environment.bpfLSM = true
        return environment
    }

    static func policy(hook: String, type: String, index: Int = 0, operator op: String = "Equal", value: String, argError: Int = -1) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: lsm-deny
        spec:
          lsmhooks:
          - hook: \(hook)
            args:
            - index: \(index)
              type: \(type)
            selectors:
            - matchArgs:
              - index: \(index)
                operator: \(op)
                values: ["\(value)"]
              matchActions:
              - action: Override
                argError: \(argError)
        """
    }

    @Test(arguments: [
        ("file_open", "file", VIGIL_ARG_FILE_FD, VIGIL_LSM_FILE_OPEN),
        ("bprm_check_security", "linux_binprm", VIGIL_ARG_EXE, VIGIL_LSM_BPRM_CHECK),
    ])
    func fileHooksRunInTheLSMProgram(hook: String, type: String, kind: vigil_arg_kind, program: vigil_lsm_hook) throws {
        let yaml = Self.policy(hook: hook, type: type, value: "/tmp/secret", argError: -13)
        let compiled = try compile(yaml, environment: Self.lsmEnvironment).get()
        #expect(compiled.fileRules.isEmpty, "no fanotify rule where BPF-LSM denies")
        #expect(compiled.hooks.count == 1)
        let hook = try #require(compiled.hooks.first)
        #expect(hook.mechanism == .bpfLSM)
        #expect(hook.bpfLSMProgram == program)
        #expect(hook.event == .lsm(hook: hook.name))
        #expect(hook.hook.argSpecs.map(\.kind) == [kind])
        let selector = hook.hook.selector(0)
        #expect(selector.filters.map(\.op) == [VIGIL_OP_EQUAL])
        let action = selector.action(0)
        #expect(action.kind == UInt8(VIGIL_ACTION_OVERRIDE.rawValue))
        #expect(action.error == 13, "argError -13 is EACCES, returned by the hook itself")
    }

    @Test func connectRunsInTheLSMProgramWithTheConnectFacts() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: lsm-connect
            spec:
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 0
                  type: socket
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["443"]
                  matchActions:
                  - action: Sigkill
                  - action: Override
                    argError: -111
            """
        let compiled = try compile(yaml, environment: Self.lsmEnvironment).get()
        let hook = try #require(compiled.hooks.first)
        #expect(hook.mechanism == .bpfLSM)
        #expect(hook.bpfLSMProgram == VIGIL_LSM_SOCKET_CONNECT)
        #expect(hook.hook.argSpecs.map(\.kind) == [VIGIL_ARG_SOCK, VIGIL_ARG_SOCKADDR])
    }

    @Test func withoutBPFLSMTheSamePolicyFallsBack() throws {
        let open = try compile(Self.policy(hook: "file_open", type: "file", value: "/tmp/secret")).get()
        #expect(open.fileRules.count == 1, "fanotify rule")
        #expect(open.hooks.allSatisfy { $0.mechanism != .bpfLSM })
        let connect = try compile(Self.policy(hook: "socket_connect", type: "sockaddr", index: 1, operator: "DPort", value: "443")).get()
        #expect(connect.hooks.map(\.mechanism) == [.cgroupConnect])
    }

    @Test func kprobeSpellingsKeepTheFallbackMechanisms() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: kprobe-connect
            spec:
              kprobes:
              - call: security_socket_connect
                syscall: false
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["443"]
            """
        let compiled = try compile(yaml, environment: Self.lsmEnvironment).get()
        #expect(compiled.hooks.map(\.mechanism) == [.cgroupConnect])
    }

    @Test func otherLSMHooksAreRefusedWithWhatThisBuildServes() throws {
        let yaml = Self.policy(hook: "path_truncate", type: "path", value: "/tmp/x")
        guard case .failure(let refusal) = compile(yaml, environment: Self.lsmEnvironment) else {
            Issue.record("path_truncate compiled")
            return
        }
        let error = try #require(refusal.errors.first)
        #expect(error.hasPrefix(position(of: "path_truncate", in: yaml) + ": spec.lsmhooks[0].hook: "), "\(error)")
        #expect(error.contains("not served by this build"))
    }
}
