// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// Arg kinds from real formats, actions, binary and namespace filters.
@Suite struct SelectorTests {
    static func tracepoint(_ subsystem: String, _ event: String, args: String, selectors: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: selectors
        spec:
          tracepoints:
          - subsystem: \(subsystem)
            event: \(event)
            args:
        \(indent(args, by: 4))
        \(selectors.isEmpty ? "" : "    selectors:\n" + indent(selectors, by: 4))
        """
    }

    /// sched_process_exec's `__data_loc char[] filename`: the string lives after the fixed
    /// fields, so the whole readable record is copied.
    @Test func dataLocString() throws {
        let yaml = Self.tracepoint("sched", "sched_process_exec", args: """
            - index: 4
              type: string
            - index: 5
            """)
        let compiled = try #require(try compile(yaml).get().hooks.first)
        #expect(compiled.args.map(\.kind) == [.dataLocString, .int(size: 4, signed: true)])
        #expect(compiled.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_DATA_LOC, offset: 8),
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 12),
        ])
        #expect(compiled.hook.ctx_size == UInt16(VIGIL_TP_RAW_MAX))
    }

    /// raw_syscalls' `unsigned long args[6]`: a 48-byte const_buf inside the record.
    @Test func constBufferFromAnArrayField() throws {
        let yaml = Self.tracepoint("raw_syscalls", "sys_enter", args: """
            - index: 4
              type: syscall64
            - index: 5
            """)
        let compiled = try #require(try compile(yaml).get().hooks.first)
        #expect(compiled.args.map(\.kind) == [.syscall64, .constBuf(bytes: 48, elementSize: 8, elementCount: 6)])
        #expect(compiled.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_INT, size: 8, offset: 8),
            ArgSpec(VIGIL_ARG_CONST_BUF, size: 48, offset: 16),
        ])
        #expect(compiled.hook.ctx_size == 64)
    }

    /// A tracepoint char_buf: sizeArgIndex is the 1-based format field (write's count: 8).
    @Test func tracepointCharBufAndStringMatch() throws {
        let yaml = Self.tracepoint(
            "syscalls", "sys_enter_write",
            args: """
                - index: 6
                  type: char_buf
                  sizeArgIndex: 8
                """,
            selectors: """
                - matchArgs:
                  - index: 6
                    operator: Equal
                    values:
                    - hello
                    - world
                  - index: 6
                    operator: NotPrefix
                    values:
                    - "#"
                """)
        var sets = SetIDAllocator(first: 1)
        let policy = try compile(yaml, sets: &sets).get()
        let compiled = try #require(policy.hooks.first)
        #expect(compiled.hook.argSpecs == [ArgSpec(VIGIL_ARG_CHAR_BUF, offset: 24, metaSize: 8, metaOffset: 32)])
        #expect(compiled.hook.ctx_size == 40)
        #expect(compiled.hook.selector(0).filters == [
            ArgFilter(arg: 0, VIGIL_OP_EQUAL, set: 1),
            ArgFilter(arg: 0, VIGIL_OP_NOT_PREFIX, set: 2),
        ])
        #expect(policy.setEntries.map(\.description) == [
            "stringEqual key=0100000068656c6c6f value=01",
            "stringEqual key=01000000776f726c64 value=01",
            "stringPrefix key=280000000200000023 value=01",
        ])
    }

    @Test func actions() throws {
        let yaml = Self.tracepoint(
            "syscalls", "sys_enter_openat",
            args: """
                - index: 6
                  type: string
                """,
            selectors: """
                - matchArgs:
                  - index: 6
                    operator: Equal
                    values:
                    - /a
                  matchActions:
                  - action: Post
                    rateLimit: 1m
                    rateLimitScope: process
                - matchArgs:
                  - index: 6
                    operator: Equal
                    values:
                    - /b
                  matchActions:
                  - action: Signal
                    argSig: 10
                  - action: NoPost
                - matchArgs:
                  - index: 6
                    operator: Equal
                    values:
                    - /c
                  matchActions:
                  - action: Post
                """)
        let hook = try #require(try compile(yaml).get().hooks.first).hook
        #expect(hook.nselectors == 3)
        let post = hook.selector(0)
        #expect(post.nactions == 1)
        #expect(post.action(0).kind == UInt8(VIGIL_ACTION_POST.rawValue))
        #expect(post.action(0).rate_ns == 60_000_000_000)
        #expect(post.action(0).rate_scope == UInt8(VIGIL_RATE_PROCESS.rawValue))
        let signal = hook.selector(1)
        #expect(signal.nactions == 2)
        #expect(signal.action(0).kind == UInt8(VIGIL_ACTION_SIGNAL.rawValue))
        #expect(signal.action(0).signal == 10)
        #expect(signal.action(1).kind == UInt8(VIGIL_ACTION_NOPOST.rawValue))
        let plain = hook.selector(2)
        #expect(plain.action(0).kind == UInt8(VIGIL_ACTION_POST.rawValue))
        #expect(plain.action(0).rate_ns == 0)
        #expect(plain.action(0).rate_scope == UInt8(VIGIL_RATE_THREAD.rawValue))
    }

    @Test(arguments: [
        // vigil_str_key: set 3, "/bin/sh"
        ("NotIn", VIGIL_OP_NOT_IN, "stringEqual key=030000002f62696e2f7368 value=01"),
        // prefixlen 32 + 8 * 7 = 88 (0x58)
        ("Prefix", VIGIL_OP_PREFIX, "stringPrefix key=58000000030000002f62696e2f7368 value=01"),
        // reversed: "hs/nib/"
        ("NotPostfix", VIGIL_OP_NOT_POSTFIX, "stringPostfix key=580000000300000068732f6e69622f value=01"),
    ])
    func binaryOperators(name: String, op: vigil_op, entry: String) throws {
        let yaml = Self.tracepoint(
            "syscalls", "sys_enter_openat",
            args: """
                - index: 6
                  type: string
                """,
            selectors: """
                - matchBinaries:
                  - operator: \(name)
                    values:
                    - /bin/sh
                """)
        var sets = SetIDAllocator(first: 3)
        let policy = try compile(yaml, sets: &sets).get()
        let bin = try #require(policy.hooks.first).hook.selector(0).bin
        #expect(bin.op == u8(op))
        #expect(bin.set_id == 3)
        #expect(policy.setEntries.map(\.description) == [entry])
    }

    @Test func namespaces() throws {
        let yaml = Self.tracepoint(
            "syscalls", "sys_enter_openat",
            args: """
                - index: 6
                  type: string
                """,
            selectors: """
                - matchNamespaces:
                  - namespace: Mnt
                    operator: NotIn
                    values:
                    - host_ns
                  - namespace: Net
                    operator: In
                    values:
                    - "4026532000"
                    - host_ns
                  - namespace: User
                    operator: In
                    values:
                    - host_ns
                """)
        let selector = try #require(try compile(yaml).get().hooks.first).hook.selector(0)
        #expect(selector.nns == 3)
        let host = Fixture.hostNamespaces
        let filters = (0..<3).map { selector.namespace($0) }
        #expect(filters.map(\.ns) == [VIGIL_NS_MNT, VIGIL_NS_NET, VIGIL_NS_USER].map { UInt8($0.rawValue) })
        #expect(filters.map(\.op) == [u8(VIGIL_OP_NOT_IN), u8(VIGIL_OP_IN), u8(VIGIL_OP_IN)])
        #expect(filters.map(\.valueList) == [[host.mnt], [4_026_532_000, host.net], [host.user]])
    }

    /// Where the host's mnt namespace is unknown, host_ns on Mnt is refused with the reason (it
    /// once compiled as 0, so NotIn host_ns matched the host); the kernel's fixed number serves
    /// Pid, and inode numbers need no host.
    @Test func unknownHostNamespaceRefusesHostNs() throws {
        var host = HostNamespaces(unknown: "cannot read /proc/1/ns/mnt: Permission denied")
        host.set(.pid, NamespaceKind.pid.initialInum!, from: .kernelFixed)
        var environment = Fixture.environment
        environment.hostNamespaces = host
        func tracepoint(_ namespace: String, _ value: String) -> String {
            Self.tracepoint(
                "syscalls", "sys_enter_openat",
                args: """
                    - index: 6
                      type: string
                    """,
                selectors: """
                    - matchNamespaces:
                      - namespace: \(namespace)
                        operator: NotIn
                        values:
                        - \(value)
                    """)
        }
        let refused = tracepoint("Mnt", "host_ns")
        guard case .failure(let refusal) = compile(refused, environment: environment) else {
            Issue.record("host_ns on an unknown mnt namespace compiled")
            return
        }
        #expect(refusal.messages == [
            "host_ns: the host's Mnt namespace is unknown: cannot read /proc/1/ns/mnt: Permission denied"
        ])
        #expect(refusal.errors.first?.hasPrefix(position(of: "host_ns", in: refused)) == true, "\(refusal.errors)")

        let pid = try #require(try compile(tracepoint("Pid", "host_ns"), environment: environment).get().hooks.first)
        #expect(pid.hook.selector(0).namespace(0).valueList == [0xEFFF_FFFC])
        let number = try #require(try compile(tracepoint("Mnt", "4026532000"), environment: environment).get().hooks.first)
        #expect(number.hook.selector(0).namespace(0).valueList == [4_026_532_000])
    }

    /// Namespaces the kernel side does not read (time) are refused.
    @Test func timeNamespaceIsRefused() throws {
        let yaml = Self.tracepoint(
            "syscalls", "sys_enter_openat",
            args: """
                - index: 6
                  type: string
                """,
            selectors: """
                - matchNamespaces:
                  - namespace: Time
                    operator: In
                    values:
                    - host_ns
                """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "Time", in: yaml)) == true, "\(errors)")
        #expect(errors.first?.contains("namespace Time is not supported") == true)
    }
}
