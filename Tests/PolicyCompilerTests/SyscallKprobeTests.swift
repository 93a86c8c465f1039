// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Testing
import TestSupport
import Tracefs
import TracingPolicy

/// Syscall kprobes run on their syscalls/sys_enter_* tracepoints (this kernel has no kprobes).
@Suite struct SyscallKprobeTests {
    static func policy(_ kprobes: String, lists: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: syscalls
        spec:
        \(indent(lists, by: 2))
          kprobes:
        \(indent(kprobes, by: 2))
        """
    }

    @Test func sysWriteRunsOnItsTracepoint() throws {
        let yaml = Self.policy("""
            - call: sys_write
              syscall: true
              args:
              - index: 0
                type: int
              - index: 2
                type: size_t
            """)
        let policy = try compile(yaml).get()
        #expect(policy.hooks.count == 1)
        let compiled = try #require(policy.hooks.first)
        #expect(compiled.category == "syscalls")
        #expect(compiled.name == "sys_enter_write")
        #expect(compiled.event == .kprobe(functionName: "__x64_sys_write"))
        #expect(compiled.args.map(\.kind) == [.int(size: 4, signed: true), .int(size: 8, signed: false)])
        // Prototype positions 0 and 2 are the format's `fd` and `count` fields.
        let write = try Fixture.format("syscalls/sys_enter_write")
        let fd = try #require(write.fields.first { $0.name == "fd" })
        let count = try #require(write.fields.first { $0.name == "count" })
        #expect((fd.offset, count.offset) == (16, 32))
        #expect(compiled.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: UInt16(fd.offset)),
            ArgSpec(VIGIL_ARG_INT, size: 8, signed: false, offset: UInt16(count.offset)),
        ])
        #expect(compiled.hook.ctx_size == 40)
        #expect(compiled.hook.nselectors == 0)
        #expect(policy.setEntries.isEmpty)
    }

    /// execve's filename is a user string; argv (`const char *const *`) is not one.
    @Test func execveFilenameAndArgv() throws {
        let good = Self.policy("""
            - call: sys_execve
              args:
              - index: 0
                type: string
            """)
        let compiled = try #require(try compile(good).get().hooks.first)
        #expect(compiled.name == "sys_enter_execve")
        #expect(compiled.hook.argSpecs == [ArgSpec(VIGIL_ARG_STRING, offset: 16)])

        let bad = Self.policy("""
            - call: sys_execve
              args:
              - index: 1
                type: string
            """)
        let errors = refusal(bad)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "string", in: bad) + ": spec.kprobes[0].args[0].type: ") == true, "\(errors)")
        #expect(errors.first?.contains("field 6 'argv'") == true, "\(errors)")
    }

    /// Tetragon's write.yaml: a char_buf whose length is the third argument (sizeArgIndex is
    /// 1-based in the prototype; the compiler moves it to the format's `count` field).
    @Test func charBufTakesItsSizeFromTheCountField() throws {
        let yaml = Self.policy("""
            - call: sys_write
              args:
              - index: 0
                type: int
              - index: 1
                type: char_buf
                sizeArgIndex: 3
              selectors:
              - matchPIDs:
                - operator: NotIn
                  followForks: true
                  isNamespacePID: true
                  values:
                  - 1
                matchArgs:
                - index: 0
                  operator: Equal
                  values:
                  - "1"
            """)
        let compiled = try #require(try compile(yaml).get().hooks.first)
        #expect(compiled.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 16),
            ArgSpec(VIGIL_ARG_CHAR_BUF, offset: 24, metaSize: 8, metaOffset: 32),
        ])
        #expect(compiled.hook.ctx_size == 40)
        let selector = compiled.hook.selector(0)
        #expect(selector.pid.op == u8(VIGIL_OP_NOT_IN))
        #expect(selector.pid.follow_forks == 1)
        #expect(selector.pid.ns_pid == 1)
        #expect(selector.pid.valueList == [1])
        #expect(selector.filters == [ArgFilter(arg: 0, VIGIL_OP_EQUAL, values: [1])])
    }

    /// Tetragon's sys_clock_settime.yaml: two AND-ed NotIn entries are one NotIn of both pids.
    @Test func notInPIDEntriesAreMerged() throws {
        let yaml = Self.policy("""
            - call: sys_clock_settime
              args:
              - index: 0
                type: int
              selectors:
              - matchPIDs:
                - operator: NotIn
                  followForks: true
                  isNamespacePID: true
                  values:
                  - 1
                - operator: NotIn
                  followForks: true
                  isNamespacePID: true
                  values:
                  - 0
                  - 1
            """)
        let pid = try #require(try compile(yaml).get().hooks.first).hook.selector(0).pid
        #expect(pid.op == u8(VIGIL_OP_NOT_IN))
        #expect(pid.valueList == [1, 0])
        #expect(pid.follow_forks == 1)
        #expect(pid.ns_pid == 1)
    }

    /// In entries (or NotIn entries with different flags) cannot be folded into one.
    @Test(arguments: [("In", "NotIn", "true"), ("NotIn", "NotIn", "false")])
    func pidEntriesThatCannotBeMerged(first: String, second: String, followForks: String) throws {
        let yaml = Self.policy("""
            - call: sys_dup
              selectors:
              - matchPIDs:
                - operator: \(first)
                  followForks: true
                  values:
                  - 100
                - operator: \(second)
                  followForks: \(followForks)
                  values:
                  - 1
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "- operator: \(first)", in: yaml) + ": spec.kprobes[0].selectors[0].matchPIDs: ") == true, "\(errors)")
        #expect(errors.first?.contains("one matchPIDs entry per selector is supported (2 given)") == true)
    }

    @Test func listCallExpandsToOneHookPerSyscall() throws {
        let yaml = Self.policy(
            """
            - call: list:dups
              args:
              - index: 0
                type: int
            """,
            lists: """
                lists:
                - name: dups
                  type: syscalls
                  values:
                  - sys_dup
                  - sys_dup2
                """)
        let policy = try compile(yaml).get()
        #expect(policy.hooks.map(\.name) == ["sys_enter_dup", "sys_enter_dup2"])
        #expect(policy.hooks.map(\.event) == [.kprobe(functionName: "__x64_sys_dup"), .kprobe(functionName: "__x64_sys_dup2")])
        // Argument 0 is `fildes` / `oldfd`, both at offset 16.
        #expect(policy.hooks.map(\.hook.argSpecs) == [
            [ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 16)],
            [ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 16)],
        ])
    }

    /// `generated_syscalls`: every syscall that has a tracepoint here (in the fixtures: a few).
    @Test func generatedListCallExpandsToTheSyscallsThatExist() throws {
        let yaml = Self.policy(
            """
            - call: list:all
            """,
            lists: """
                lists:
                - name: all
                  type: generated_syscalls
                """)
        let policy = try compile(yaml).get()
        let expected = FormatFixtures.texts.keys.filter { $0.hasPrefix("syscalls/sys_enter_") }
            .map { String($0.dropFirst("syscalls/".count)) }
        #expect(Set(policy.hooks.map(\.name)) == Set(expected))
        #expect(policy.hooks.contains { $0.event == .kprobe(functionName: "__x64_sys_openat") })
    }

    @Test func kernelFunctionNeedsKprobes() throws {
        let yaml = Self.policy("""
            - call: security_file_permission
              syscall: false
              args:
              - index: 0
                type: file
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "security_file_permission", in: yaml) + ": spec.kprobes[0].call: ") == true, "\(errors)")
        #expect(errors.first?.contains("kprobes") == true)
    }

    @Test func generatedFtraceListNeedsKprobes() throws {
        let yaml = Self.policy(
            """
            - call: list:funcs
              syscall: false
            """,
            lists: """
                lists:
                - name: funcs
                  type: generated_ftrace
                  pattern: ^vfs_.*
                """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "list:funcs", in: yaml)) == true, "\(errors)")
        #expect(errors.first?.contains("kprobes") == true)
    }

    /// `return: true` on a syscall runs at its exit, on the exit dispatcher: the hook is on
    /// sys_exit_*, its arguments 8 bytes further (ret first), flagged so ret is the result.
    @Test func returnProbesRunAtTheSyscallExit() throws {
        let yaml = Self.policy("""
            - call: sys_openat
              return: true
              args:
              - index: 1
                type: string
              returnArg:
                index: 0
                type: int
            """)
        let policy = try compile(yaml).get()
        let hook = try #require(policy.hooks.first)
        #expect(hook.name == "sys_exit_openat")
        #expect(hook.hook.flags & UInt32(VIGIL_HOOK_F_SYSCALL_RETURN.rawValue) != 0)
        let arg = hook.hook.arg(0)
        #expect(arg.offset == 24 + 8)  // filename: the second argument after ret
        #expect(hook.hook.ctx_size >= 40)
    }

    /// Where the exit dispatcher does not run (raw_tp mode), sys_exit_* has ret only: refused.
    @Test func returnProbesWithoutTheExitDispatcherAreRefused() throws {
        let yaml = Self.policy("""
            - call: sys_openat
              return: true
              args:
              - index: 1
                type: string
              returnArg:
                index: 0
                type: int
            """)
        var environment = Fixture.environment
        environment.syscallExitArgumentsAvailable = false
        let errors: [String]
        switch compile(yaml, environment: environment) {
        case .success: errors = []
        case .failure(let refusal): errors = refusal.errors
        }
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "true", in: yaml) + ": spec.kprobes[0].return: ") == true, "\(errors)")
        #expect(errors.first?.contains("sys_exit dispatcher") == true, "\(errors)")
    }

    /// A kernel function with `return: true` is refused for needing kprobes, not for sys_exit.
    @Test func returnProbeOnKernelFunctionNeedsKprobes() throws {
        let yaml = Self.policy("""
            - call: security_file_permission
              syscall: false
              return: true
              args:
              - index: 0
                type: file
              returnArg:
                index: 0
                type: int
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "security_file_permission", in: yaml) + ": spec.kprobes[0].call: ") == true, "\(errors)")
        #expect(errors.first?.contains("kprobes are needed, and this kernel has none") == true)
    }

    /// Where the kernel has kprobes but the agent's kprobe programs did not load, the refusal
    /// says so rather than blaming the kernel.
    @Test func kernelFunctionOnAKernelWithKprobesNamesTheBuildAsTheGap() throws {
        let yaml = Self.policy("""
            - call: security_file_permission
              syscall: false
              args:
              - index: 0
                type: file
            """)
        var environment = Fixture.environment
        environment.kprobesAvailable = true
        guard case .failure(let refusal) = compile(yaml, environment: environment) else {
            Issue.record("a kprobe on a kernel function compiled")
            return
        }
        #expect(refusal.errors.count == 1)
        #expect(refusal.errors.first?.contains("this kernel has kprobes, but the agent's kprobe programs did not load here") == true, "\(refusal.errors)")
    }

    @Test func compatSyscallsAreRefused() throws {
        let yaml = Self.policy("""
            - call: __ia32_sys_dup
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "__ia32_sys_dup", in: yaml)) == true, "\(errors)")
        #expect(errors.first?.contains("32-bit") == true)
    }

    @Test func argumentBeyondThePrototypeIsRefused() throws {
        let yaml = Self.policy("""
            - call: sys_dup
              args:
              - index: 3
                type: int
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "3", in: yaml) + ": spec.kprobes[0].args[0].index: ") == true, "\(errors)")
        #expect(errors.first?.contains("dup has no argument 3 (its tracepoint has 1 arguments)") == true)
    }

    @Test func unknownSyscallSaysItsTracepointIsMissing() throws {
        let yaml = Self.policy("""
            - call: sys_frobnicate
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "sys_frobnicate", in: yaml)) == true, "\(errors)")
        #expect(errors.first?.contains("tracepoint syscalls/sys_enter_frobnicate does not exist on this kernel") == true)
    }
}
