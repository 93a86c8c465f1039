// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// One small policy, compiled to the exact bytes the kernel reads.
@Suite struct GoldenTests {
    static let yaml = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: golden-openat
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 5
              type: int
            - index: 6
              type: string
              label: path
            - index: 7
              type: int
            - index: 8
            selectors:
            - matchArgs:
              - index: 6
                operator: Prefix
                values:
                - /tmp/x/
              - index: 6
                operator: Postfix
                values:
                - .conf
              matchBinaries:
              - operator: In
                values:
                - /usr/bin/cat
              matchPIDs:
              - operator: NotIn
                values:
                - 1
              matchNamespaces:
              - namespace: Pid
                operator: In
                values:
                - host_ns
              matchActions:
              - action: Sigkill
        """

    @Test func mapUpdatesAreExact() throws {
        var sets = SetIDAllocator(first: 1)
        let policy = try compile(Self.yaml, sets: &sets).get()
        // Sets in compile order: matchArgs (Prefix, Postfix), then matchBinaries.
        #expect(policy.setEntries.map(\.description) == [
            // vigil_str_lpm_key: prefixlen 32 + 8 * 7 = 88 (0x58), set 1, "/tmp/x/"
            "stringPrefix key=58000000010000002f746d702f782f value=01",
            // prefixlen 32 + 8 * 5 = 72 (0x48), set 2, ".conf" reversed: "fnoc."
            "stringPostfix key=4800000002000000666e6f632e value=01",
            // vigil_str_key: set 3, "/usr/bin/cat" NUL-padded
            "stringEqual key=030000002f7573722f62696e2f636174 value=01",
        ])
        #expect(policy.setEntries.map(\.key.count) == [
            MemoryLayout<vigil_str_lpm_key>.size, MemoryLayout<vigil_str_lpm_key>.size, MemoryLayout<vigil_str_key>.size,
        ])
        #expect(policy.setEntries.map(\.key.count) == [260, 260, 256])
        #expect(policy.setIDs == [1, 2, 3])
        #expect(sets.next == 4)
        #expect(policy.name == "golden-openat")
        #expect(policy.mode == .enforce)
        #expect(policy.warnings.isEmpty)
    }

    @Test func hookIsExact() throws {
        let policy = try compile(Self.yaml).get()
        #expect(policy.hooks.count == 1)
        let compiled = try #require(policy.hooks.first)
        #expect(compiled.category == "syscalls")
        #expect(compiled.name == "sys_enter_openat")
        #expect(compiled.event == .tracepoint(subsystem: "syscalls", event: "sys_enter_openat"))
        #expect(compiled.args.map(\.kind) == [.int(size: 4, signed: true), .string, .int(size: 4, signed: true), .int(size: 8, signed: false)])
        #expect(compiled.args.map(\.label) == [nil, "path", nil, nil])
        #expect(compiled.args.map(\.declaredType) == [.int, .string, .int, .auto])
        #expect(compiled.path == "spec.tracepoints[0]")

        let hook = compiled.hook
        #expect(hook.policy_id == 0)
        #expect(hook.nargs == 4)
        // Offsets from the real format: dfd 16, filename 24, flags 32, mode 40 (each 8 bytes).
        let openat = try Fixture.format("syscalls/sys_enter_openat")
        #expect(openat.fields[5...8].map(\.offset) == [16, 24, 32, 40])
        #expect(hook.argSpecs == [
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 16),
            ArgSpec(VIGIL_ARG_STRING, offset: 24),
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 32),
            ArgSpec(VIGIL_ARG_INT, size: 8, signed: false, offset: 40),
        ])
        #expect(isZero(hook.arg(4)))
        // The record is copied up to the end of the last field read (mode: 40 + 8).
        #expect(hook.ctx_size == 48)

        #expect(hook.nselectors == 1)
        let selector = hook.selector(0)
        #expect(selector.nargs == 2)
        #expect(selector.filters == [
            ArgFilter(arg: 1, VIGIL_OP_PREFIX, set: 1),
            ArgFilter(arg: 1, VIGIL_OP_POSTFIX, set: 2),
        ])
        #expect(selector.bin.op == u8(VIGIL_OP_IN))
        #expect(selector.bin.set_id == 3)
        #expect(selector.pid.op == u8(VIGIL_OP_NOT_IN))
        #expect(selector.pid.valueList == [1])
        #expect(selector.pid.follow_forks == 0)
        #expect(selector.pid.ns_pid == 0)
        #expect(selector.nns == 1)
        let ns = selector.namespace(0)
        #expect(ns.ns == UInt8(VIGIL_NS_PID.rawValue))
        #expect(ns.op == u8(VIGIL_OP_IN))
        #expect(ns.valueList == [Fixture.hostNamespaces.pid])
        #expect(selector.nactions == 1)
        let action = selector.action(0)
        #expect(action.kind == UInt8(VIGIL_ACTION_SIGKILL.rawValue))
        #expect(action.signal == 9)
        #expect(action.rate_ns == 0)
        for i in 1..<Int(VIGIL_SELECTORS) { #expect(isZero(hook.selector(i)), "selector \(i)") }
        for j in 2..<Int(VIGIL_MATCH_ARGS) { #expect(isZero(selector.filter(j)), "filter \(j)") }

        // The installer's bytes: the same struct with the policy id set.
        let bytes = compiled.hookBytes(policyID: 7)
        #expect(bytes.count == 2576)
        #expect(Array(bytes[0..<4]) == [7, 0, 0, 0])
        #expect(bytes[6] == 4)  // nargs
        #expect(bytes[7] == 1)  // nselectors
    }

    /// The allocator carries over: a second compile uses fresh ids.
    @Test func setIDsAreNeverReused() throws {
        var sets = SetIDAllocator(first: 1)
        _ = try compile(Self.yaml, sets: &sets).get()
        let second = try compile(Self.yaml, sets: &sets).get()
        #expect(second.setIDs == [4, 5, 6])
        #expect(second.hooks.first?.hook.selector(0).bin.set_id == 6)
        #expect(second.setEntries.map(\.description).last == "stringEqual key=060000002f7573722f62696e2f636174 value=01")
    }

    @Test func monitorModeAndNamespacedKind() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicyNamespaced
            metadata:
              name: monitored
              namespace: team-a
            spec:
              options:
              - name: policy-mode
                value: monitor
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
            """
        var environment = Fixture.environment
        environment.podScopesAvailable = true
        let policy = try compile(yaml, environment: environment).get()
        #expect(policy.mode == .monitor)
        #expect(policy.namespace == "team-a")
        #expect(policy.hooks.first?.hook.nselectors == 0)
        #expect(policy.setEntries.isEmpty)
        #expect(policy.warnings.isEmpty)
        #expect(policy.scope == PodScope(namespace: "team-a"))
        // Without the pod watch it would have to apply everywhere: refused instead.
        let refused = refusal(yaml)
        #expect(refused.first?.contains("a TracingPolicyNamespaced applies only to pods of its namespace, which needs the pod watch") == true, "\(refused)")
    }
}
