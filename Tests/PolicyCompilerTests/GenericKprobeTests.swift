// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Foundation
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// Kprobes on kernel functions, on a kernel where the agent's kprobe programs loaded: the
/// generic kprobe program reads the argument registers with Tetragon's types.
@Suite struct GenericKprobeTests {
    static func policy(_ kprobes: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: functions
        spec:
          kprobes:
        \(indent(kprobes, by: 2))
        """
    }

    /// Kprobes usable; every symbol exists except `missing_function`, `kprobe_blacklisted` is
    /// on the blacklist.
    static let environment: CompileEnvironment = {
        var environment = Fixture.environment
        environment.kprobesAvailable = true
        environment.kprobeProgramsLoaded = true
        environment.kernelSymbol = { symbol in
            switch symbol {
            case "missing_function": .missing
            case "kprobe_blacklisted": .blacklisted
            default: .attachable
            }
        }
        return environment
    }()

    static func hook(_ yaml: String) throws -> CompiledHook {
        let policy = try compile(yaml, environment: environment).get()
        #expect(policy.hooks.count == 1)
        return try #require(policy.hooks.first)
    }

    static func messages(_ yaml: String, environment: CompileEnvironment = Self.environment) -> [String] {
        guard case .failure(let refusal) = compile(yaml, environment: environment) else {
            Issue.record("the policy compiled but should have been refused")
            return []
        }
        return refusal.errors
    }

    @Test func tetragonArgumentTypesBecomeKernelReads() throws {
        let hook = try Self.hook(Self.policy("""
            - call: some_function
              syscall: false
              args:
              - index: 0
                type: file
              - index: 1
                type: path
              - index: 2
                type: string
              - index: 3
                type: cred
              - index: 4
                type: uint32
            """))
        #expect(hook.mechanism == .kprobe)
        #expect(hook.category == "kprobe")
        #expect(hook.name == "some_function")
        #expect(hook.event == .kprobe(functionName: "some_function"))
        // Register i sits at 8 * i in the copied registers.
        #expect(hook.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_KFILE, size: 8, offset: 0, metaSize: 0),
            ArgSpec(VIGIL_ARG_KFILE, size: 8, offset: 8, metaSize: 1),
            ArgSpec(VIGIL_ARG_KSTRING, size: 8, offset: 16),
            ArgSpec(VIGIL_ARG_CRED, size: 8, offset: 24),
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: false, offset: 32),
        ])
        #expect(hook.hook.ctx_size == 0)
        #expect(hook.args.map(\.declaredType) == [.file, .path, .string, .cred, .uint32])
    }

    @Test func socketsBinprmAndSignedIntegers() throws {
        let hook = try Self.hook(Self.policy("""
            - call: another_function
              syscall: false
              args:
              - index: 0
                type: sock
              - index: 1
                type: socket
              - index: 2
                type: linux_binprm
              - index: 3
                type: sockaddr
              - index: 4
                type: int64
            """))
        #expect(hook.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_KSOCK, size: 8, offset: 0, metaSize: 0),
            ArgSpec(VIGIL_ARG_KSOCK, size: 8, offset: 8, metaSize: 1),
            ArgSpec(VIGIL_ARG_KFILE, size: 8, offset: 16, metaSize: 2),
            ArgSpec(VIGIL_ARG_KSOCKADDR, size: 8, offset: 24),
            ArgSpec(VIGIL_ARG_INT, size: 8, signed: true, offset: 32),
        ])
    }

    /// tcp_connect is a real kprobe here, with the sock's selectors in the kernel (no implicit
    /// protocol check: the function only ever sees TCP).
    @Test func tcpConnectIsARealKprobeWhereKprobesRun() throws {
        let hook = try Self.hook(Self.policy("""
            - call: tcp_connect
              syscall: false
              args:
              - index: 0
                type: sock
              selectors:
              - matchArgs:
                - index: 0
                  operator: DPort
                  values: ["443"]
            """))
        #expect(hook.mechanism == .kprobe)
        #expect(hook.hook.argSpecs == [ArgSpec(VIGIL_ARG_KSOCK, size: 8, offset: 0)])
        let selector = element(hook.hook.selectors, 0, as: vigil_selector.self)
        #expect(selector.nargs == 1)
        let filter = element(selector.args, 0, as: vigil_arg_filter.self)
        #expect(filter.op == UInt8(VIGIL_OP_DPORT.rawValue))
        #expect(element(filter.values, 0, as: UInt64.self) == 443 << 16 | 443)
    }

    /// Without usable kprobes the same policy runs on the cgroup connect hooks.
    @Test func tcpConnectIsEmulatedWithoutKprobes() throws {
        let policy = try compile(Self.policy("""
            - call: tcp_connect
              syscall: false
              args:
              - index: 0
                type: sock
            """)).get()
        #expect(policy.hooks.first?.mechanism == .cgroupConnect)
    }

    @Test func fileArgumentsTakeStringOperators() throws {
        let policy = try compile(Self.policy("""
            - call: security_file_permission
              syscall: false
              args:
              - index: 0
                type: file
              - index: 1
                type: int
              selectors:
              - matchArgs:
                - index: 0
                  operator: Prefix
                  values: ["/etc/"]
                - index: 1
                  operator: Equal
                  values: ["4"]
            """), environment: Self.environment).get()
        let hook = try #require(policy.hooks.first)
        let selector = element(hook.hook.selectors, 0, as: vigil_selector.self)
        #expect(selector.nargs == 2)
        #expect(element(selector.args, 0, as: vigil_arg_filter.self).op == UInt8(VIGIL_OP_PREFIX.rawValue))
        #expect(!policy.setEntries.isEmpty)
    }

    @Test func returnProbesAttachTwice() throws {
        let hook = try Self.hook(Self.policy("""
            - call: some_function
              syscall: false
              return: true
              returnArg:
                index: 0
                type: int
              args:
              - index: 0
                type: file
            """))
        #expect(hook.mechanism == .kretprobe)
    }

    @Test func missingAndBlacklistedSymbolsAreRefused() {
        let missing = Self.policy("""
            - call: missing_function
              syscall: false
            """)
        let errors = Self.messages(missing)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix(position(of: "missing_function", in: missing) + ": spec.kprobes[0].call: ") == true, "\(errors)")
        #expect(errors.first?.contains("no such function in /proc/kallsyms") == true, "\(errors)")
        let blacklisted = Self.messages(Self.policy("""
            - call: kprobe_blacklisted
              syscall: false
            """))
        #expect(blacklisted.first?.contains("kprobes/blacklist") == true, "\(blacklisted)")
    }

    /// Tetragon's `ignore: {callNotFound: true}`: a missing function is left out with a warning.
    @Test func ignoreCallNotFoundLeavesTheHookOut() throws {
        let policy = try compile(Self.policy("""
            - call: missing_function
              syscall: false
              ignore:
                callNotFound: true
            - call: some_function
              syscall: false
            """), environment: Self.environment).get()
        #expect(policy.hooks.map(\.name) == ["some_function"])
        #expect(policy.warnings.contains { $0.contains("missing_function left out") }, "\(policy.warnings)")
    }

    @Test func unsupportedTypesAndIndexesAreRefusedWithTheReason() {
        let yaml = Self.policy("""
            - call: some_function
              syscall: false
              args:
              - index: 0
                type: skb
              - index: 1
                type: char_buf
                sizeArgIndex: 3
              - index: 2
                type: auto
            """)
        let errors = Self.messages(yaml)
        #expect(errors.count == 3, "\(errors)")
        #expect(errors.first?.hasPrefix(position(of: "skb", in: yaml) + ": spec.kprobes[0].args[0].type: ") == true, "\(errors)")
        #expect(errors.contains { $0.contains("type skb of a kernel function argument is not supported") })
        #expect(errors.contains { $0.contains("type char_buf") })
        #expect(errors.contains { $0.contains("type auto") && $0.contains("BTF types are not resolved") })
    }

    /// Override on a kernel function runs as fmod_ret; without trampolines it is refused,
    /// naming what is missing.
    @Test func overrideWithoutTrampolinesIsRefusedWithTheReason() {
        let yaml = Self.policy("""
            - call: security_inode_mkdir
              syscall: false
              selectors:
              - matchActions:
                - action: Override
                  argError: -1
            """)
        let errors = Self.messages(yaml)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("runs as an fmod_ret program (a BPF trampoline), which this kernel does not allow (BPF trampolines were not probed)") == true, "\(errors)")
        #expect(errors.first?.hasPrefix(position(of: "Override", in: yaml) + ": spec.kprobes[0].selectors[0].matchActions[0].action: ") == true, "\(errors)")
    }

    /// Where trampolines run: every function with BTF gets one; no BTF falls back to a kprobe.
    static let trampolineEnvironment: CompileEnvironment = {
        var environment = Self.environment
        environment.trampolineRefusal = nil
        environment.kernelFunctionHasBTF = { $0 != "no_btf_function" }
        return environment
    }()

    @Test func trampolinesServeFunctionsWithBTF() throws {
        func mechanism(_ entry: String, _ environment: CompileEnvironment = Self.trampolineEnvironment) throws -> Mechanism? {
            try compile(Self.policy(entry), environment: environment).get().hooks.first?.mechanism
        }
        #expect(try mechanism("- call: some_function\n  syscall: false") == .fentry)
        #expect(try mechanism("- call: some_function\n  syscall: false\n  return: true\n  returnArg:\n    index: 0\n    type: int") == .fexit)
        #expect(try mechanism("- call: no_btf_function\n  syscall: false") == .kprobe)
        // --disable-trampolines (or a refusal) keeps kprobes.
        #expect(try mechanism("- call: some_function\n  syscall: false", Self.environment) == .kprobe)
        // spec.fentries: trampolines only.
        let fentries = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: f
            spec:
              fentries:
              - call: some_function
            """
        #expect(try compile(fentries, environment: Self.trampolineEnvironment).get().hooks.first?.mechanism == .fentry)
        let refused = Self.messages(fentries, environment: Self.environment)
        #expect(refused.count == 1 && refused[0].contains("fentries need BPF trampolines"), "\(refused)")
    }

    /// Tetragon's rule for Override on kernel functions: security_* functions (fmod_ret) and
    /// what the kernel's error-injection list allows; anything else is refused with the reason.
    @Test func overrideRunsAsFmodRetOnSecurityFunctionsOnly() throws {
        let override = """
              selectors:
              - matchActions:
                - action: Override
                  argError: -13
            """
        let hook = try #require(
            try compile(Self.policy("- call: security_inode_mkdir\n  syscall: false\n" + override), environment: Self.trampolineEnvironment)
                .get().hooks.first)
        #expect(hook.mechanism == .fmodRet)
        #expect(hook.hook.selector(0).action(0).error == 13)

        let plain = Self.messages(Self.policy("- call: vfs_mkdir\n  syscall: false\n" + override), environment: Self.trampolineEnvironment)
        #expect(plain.count == 1 && plain[0].contains("only security_* functions and those on its error-injection list; this kernel has no error-injection list"), "\(plain)")

        var injectable = Self.trampolineEnvironment
        injectable.errorInjectable = { $0 == "should_fail_alloc_page" }
        #expect(try compile(Self.policy("- call: should_fail_alloc_page\n  syscall: false\n" + override), environment: injectable).get()
            .hooks.first?.mechanism == .fmodRet)
        let notListed = Self.messages(Self.policy("- call: vfs_mkdir\n  syscall: false\n" + override), environment: injectable)
        #expect(notListed.count == 1 && notListed[0].contains("vfs_mkdir is not on /sys/kernel/debug/error_injection/list"), "\(notListed)")

        let withReturn = Self.messages(
            Self.policy("- call: security_inode_mkdir\n  syscall: false\n  return: true\n  returnArg:\n    index: 0\n    type: int\n" + override), environment: Self.trampolineEnvironment)
        #expect(withReturn.count == 1 && withReturn[0].contains("return: true cannot go with Override"), "\(withReturn)")
    }

    /// Credentials cannot be matched with matchArgs (Tetragon has no operator for them).
    @Test func credentialsAreNotMatchable() {
        let errors = Self.messages(Self.policy("""
            - call: commit_creds
              syscall: false
              args:
              - index: 0
                type: cred
              selectors:
              - matchArgs:
                - index: 0
                  operator: Equal
                  values: ["0"]
            """))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("cannot be matched") == true, "\(errors)")
    }

    /// Kprobes present but the programs did not load: this build's state, not the kernel, is named.
    @Test func kprobesPresentButProgramsNotLoaded() {
        var environment = Self.environment
        environment.kprobeProgramsLoaded = false
        let errors = Self.messages(Self.policy("""
            - call: some_function
              syscall: false
            """), environment: environment)
        #expect(errors.first?.contains("this kernel has kprobes, but the agent's kprobe programs did not load here") == true, "\(errors)")
    }

    @Test func kernelSymbolTablesAreSearched() {
        let kallsyms = Array("""
            ffffffff81a2c3d0 T tcp_connect
            ffffffff81a2c4d0 T tcp_connect_init
            ffffffffc0a01000 t nf_hook\t[nf_tables]
            ffffffff82a00000 D some_data
            ffffffff81000000 T do_int3
            """.utf8)
        let blacklist = Array("0xffffffff81000000-0xffffffff81000010\tdo_int3\n".utf8)
        func status(_ name: String) -> KernelSymbolStatus {
            KernelSymbols.status(of: name, kallsyms: kallsyms, blacklist: blacklist)
        }
        #expect(status("tcp_connect") == .attachable)
        #expect(status("tcp_connect_init") == .attachable)
        #expect(status("tcp_conn") == .missing)
        #expect(status("nf_hook") == .attachable)
        #expect(status("some_data") == .missing)
        #expect(status("do_int3") == .blacklisted)
    }

    /// The error-injection list: first word of each line; no file means no list (nil).
    @Test func errorInjectionListIsRead() throws {
        let path = "/tmp/vigil-error-injection-\(getpid())"
        try "should_failslab\tERRNO\n__x64_sys_symlinkat\tERRNO\nbtrfs_should_cancel_balance [btrfs]\tERRNO\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let list = ErrorInjectionList(path: path)
        #expect(list.contains("should_failslab") == true)
        #expect(list.contains("__x64_sys_symlinkat") == true)
        #expect(list.contains("btrfs_should_cancel_balance") == true)
        #expect(list.contains("vfs_open") == false)
        #expect(ErrorInjectionList(path: path + "-missing").contains("should_failslab") == nil)
    }

    /// deploy/examples/deny-raw-sockets.yaml: an fmod_ret Override where trampolines run,
    /// refused with the reason where they do not.
    @Test func denyRawSocketsExampleRunsAsFmodRet() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/examples/deny-raw-sockets.yaml").path
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        let hook = try #require(try compile(yaml, environment: Self.trampolineEnvironment).get().hooks.first)
        #expect(hook.mechanism == .fmodRet)
        #expect(hook.name == "security_socket_create")
        let refused = Self.messages(yaml)
        #expect(refused.count == 1 && refused[0].contains("runs as an fmod_ret program"), "\(refused)")
    }
}

