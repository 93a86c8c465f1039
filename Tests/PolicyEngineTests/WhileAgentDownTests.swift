// SPDX-License-Identifier: Apache-2.0
import Logging
import PolicyCompiler
import Testing
import TracingPolicy
import VigilAgent

/// `vigil-while-agent-down` / `--while-agent-down`: a policy that says fail-closed is accepted
/// only where what it enforces outlives the agent (pinned connect, BPF-LSM and tracepoint hooks), and refused
/// at the option's place otherwise; fail-open keeps today's behaviour.
@Suite struct WhileAgentDownTests {
    static let option = "options:\n- name: vigil-while-agent-down\n  value: fail-closed\n"

    static func engine(
        _ kernel: RecordingKernel = RecordingKernel(), pinned: Bool = true, bpfLSM: Bool = false,
        default mode: AgentDownMode = .failOpen
    ) -> PolicyEngine {
        PolicyEngine(
            kernel: kernel, environment: PolicyEngineTests.environment(bpfLSM: bpfLSM), cgroupRoot: "/sys/fs/cgroup",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            pinDirectory: pinned ? "/sys/fs/bpf/vigil-unit-test" : nil, whileAgentDown: mode)
    }

    static let sigkillOnOpenat = """
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_openat
          selectors:
          - matchActions:
            - action: Sigkill
        """
    /// A kprobe on a kernel function: not pinned.
    static let sigkillOnAFunction = """
        kprobes:
        - call: some_function
          syscall: false
          selectors:
          - matchActions:
            - action: Sigkill
        """
    static let connectDeny = """
        lsmhooks:
        - hook: socket_connect
          args:
          - index: 1
            type: sockaddr
          selectors:
          - matchArgs:
            - index: 1
              operator: DPort
              values: ["443"]
            matchActions:
            - action: Override
              argError: -1
        """
    static let fileOpenDeny = """
        lsmhooks:
        - hook: file_open
          args:
          - index: 0
            type: file
          selectors:
          - matchArgs:
            - index: 0
              operator: Prefix
              values: ["/tmp/secret"]
            matchActions:
            - action: Override
              argError: -1
        """

    /// The refusal's errors, or nil when `engine` installs the policy.
    static func refusal(_ engine: PolicyEngine, _ spec: String) throws -> PolicyCompileFailure? {
        let document = try PolicyEngineTests.document(spec)
        let checked = engine.check(document)
        do {
            try engine.install(document, source: "test")
            #expect(checked == nil, "check refused what install accepted: \(checked?.description ?? "")")
            return nil
        } catch let failure as PolicyCompileFailure {
            #expect(checked == failure, "check and install disagree")
            return failure
        }
    }

    @Test func anUnknownValueIsRefusedWithTheSupportedOnes() {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: p
            spec:
              options:
              - name: vigil-while-agent-down
                value: fail-sideways
            """
        let parsed = PolicyParser.parse(yaml: yaml, file: "p.yaml")
        #expect(parsed.errors.map(\.description).contains { $0.hasPrefix("p.yaml:8:") && $0.contains("fail-open") && $0.contains("fail-closed") }, "\(parsed.errors)")
    }

    @Test func failClosedKeepsPinnedConnectDeniesTracepointKillsAndHooksThatOnlyPost() throws {
        #expect(try Self.refusal(Self.engine(), Self.option + Self.connectDeny) == nil)
        #expect(try Self.refusal(Self.engine(), Self.option + Self.sigkillOnOpenat) == nil)
        #expect(try Self.refusal(Self.engine(), Self.option + "kprobes:\n- call: some_function\n  syscall: false") == nil)
        #expect(try Self.refusal(Self.engine(RecordingKernel(bpfLSM: true), bpfLSM: true), Self.option + Self.fileOpenDeny) == nil)
    }

    @Test func failClosedRefusesAKillOnAHookThatIsNotPinnedAtTheOption() throws {
        let failure = try #require(try Self.refusal(Self.engine(), Self.option + Self.sigkillOnAFunction))
        let error = try #require(failure.errors.first)
        // The option's place: its mapping starts on line 7 (the spec's first line is 6).
        #expect(error.location.file == "hooks.yaml" && error.location.line == 7, "\(failure)")
        #expect(error.message.contains("vigil-while-agent-down: fail-closed"), "\(failure)")
        #expect(error.message.contains("spec.kprobes[0]") && error.message.contains("kprobe hook, which is not pinned"), "\(failure)")
    }

    /// --keep-sensors-on-exit pins tracepoint hooks and the syscall dispatcher; one that cannot
    /// be pinned refuses the policy (and is released) rather than silently stopping with the agent.
    @Test func aTracepointHookThatCannotBePinnedRefusesThePolicy() throws {
        let kernel = RecordingKernel(syscallDispatch: true)
        kernel.refuse("pin dispatcher enter")
        let engine = Self.engine(kernel)
        #expect(throws: PolicyCompileFailure.self) { try engine.install(try PolicyEngineTests.document(Self.sigkillOnOpenat), source: "test") }
        #expect(engine.loaded.isEmpty)
        kernel.refuse("pin dispatcher enter", false)
        #expect(try Self.refusal(engine, Self.sigkillOnOpenat) == nil)
    }

    @Test func failClosedRefusesAFanotifyDeny() throws {
        let failure = try #require(try Self.refusal(Self.engine(), Self.option + Self.fileOpenDeny))
        #expect(failure.errors.count == 1)
        #expect(failure.errors.first?.message.contains("fanotify") == true, "\(failure)")
        #expect(failure.errors.first?.location.line == 7)
    }

    @Test func failClosedWithoutKeepSensorsOnExitIsRefused() throws {
        let failure = try #require(try Self.refusal(Self.engine(pinned: false), Self.option + Self.connectDeny))
        #expect(failure.errors.first?.message.contains("needs --keep-sensors-on-exit") == true, "\(failure)")
        #expect(failure.errors.first?.location.line == 7)
        // Fail-open (the default) without the flag: loaded as ever.
        #expect(try Self.refusal(Self.engine(pinned: false), Self.sigkillOnAFunction) == nil)
    }

    @Test func theAgentsDefaultAppliesWhereThePolicySaysNothing() throws {
        // --while-agent-down=fail-closed: refused at the hook, naming the flag.
        let failure = try #require(try Self.refusal(Self.engine(default: .failClosed), Self.sigkillOnAFunction))
        let error = try #require(failure.errors.first)
        #expect(error.path == "spec.kprobes[0]" && error.location.file == "hooks.yaml" && error.location.line > 5, "\(failure)")
        #expect(error.message.contains("--while-agent-down=fail-closed"), "\(failure)")
        // The policy's own fail-open wins over the agent's default.
        let open = "options:\n- name: vigil-while-agent-down\n  value: fail-open\n" + Self.sigkillOnAFunction
        #expect(try Self.refusal(Self.engine(default: .failClosed), open) == nil)
    }
}
