// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import PolicyCompiler
import Testing

/// `raw: true` tracepoints: arguments by their TP_PROTO index, checked against what the kernel's
/// BTF declares (here a fixed sched_process_exec signature), read as kernel function arguments.
@Suite struct RawTracepointTests {
    static var environment: CompileEnvironment {
        var environment = Fixture.environment
        environment.rawTracepointArguments = { event in
            event == "sched_process_exec"
                ? .arguments(["struct task_struct *", "pid_t", "struct linux_binprm *"]) : .missing
        }
        return environment
    }

    static func policy(_ tracepoint: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: rawtp
        spec:
          tracepoints:
        \(tracepoint)
        """
    }

    /// Tetragon's rawtp.yaml, with an int argument and a Sigkill added.
    @Test func tetragonsExampleCompilesToARawTracepointHook() throws {
        let yaml = Self.policy("""
              - subsystem: sched
                event: sched_process_exec
                raw: true
                args:
                  - index: 1
                    type: int
                  - index: 2
                    type: linux_binprm
                selectors:
                  - matchArgs:
                      - index: 2
                        operator: Prefix
                        values: ["/tmp/"]
                    matchActions:
                      - action: Sigkill
            """)
        let compiled = try compile(yaml, environment: Self.environment).get()
        let hook = try #require(compiled.hooks.first)
        #expect(hook.mechanism == .rawTracepoint)
        #expect(hook.event == .tracepoint(subsystem: "sched", event: "sched_process_exec"))
        #expect(hook.category == "sched" && hook.name == "sched_process_exec")
        // Read at 8 * index from the copied arguments, as a kernel function's.
        let specs = withUnsafeBytes(of: hook.hook.args) { Array($0.bindMemory(to: vigil_arg_spec.self).prefix(2)) }
        #expect(specs.map(\.offset) == [8, 16])
        #expect(specs.map(\.kind) == [UInt8(VIGIL_ARG_INT.rawValue), UInt8(VIGIL_ARG_KFILE.rawValue)])
    }

    @Test func argumentsTheKernelDoesNotDeclareAreRefusedWithItsSignature() {
        let yaml = Self.policy("""
              - subsystem: sched
                event: sched_process_exec
                raw: true
                args:
                  - index: 1
                    type: file
                  - index: 3
                    type: int
              - subsystem: raw_syscalls
                event: sys_enter
                raw: true
            """)
        guard case .failure(let refusal) = compile(yaml, environment: Self.environment) else {
            Issue.record("compiled")
            return
        }
        #expect(refusal.errors == [
            "policy.yaml:12:15: spec.tracepoints[0].args[0].type: argument 1 of sched_process_exec is pid_t, not struct file * (type file)",
            "policy.yaml:13:16: spec.tracepoints[0].args[1].index: index 3: sched_process_exec has 3 arguments (struct task_struct *, pid_t, struct linux_binprm *)",
            "policy.yaml:16:12: spec.tracepoints[1].event: raw tracepoint sys_enter: the kernel's BTF does not declare it (no btf_trace_sys_enter), so its arguments cannot be known; drop `raw` to read the tracefs record",
        ], "\(refusal.errors)")
    }

    /// Override cannot fail a tracepoint: refused as on tracefs hooks.
    @Test func overrideIsRefused() {
        let yaml = Self.policy("""
              - subsystem: sched
                event: sched_process_exec
                raw: true
                args:
                  - index: 2
                    type: linux_binprm
                selectors:
                  - matchActions:
                      - action: Override
                        argError: -1
            """)
        guard case .failure(let refusal) = compile(yaml, environment: Self.environment) else {
            Issue.record("compiled")
            return
        }
        #expect(refusal.errors.count == 1 && refusal.errors[0].contains("matchActions[0].action"), "\(refusal.errors)")
    }
}
