// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Glibc
import Events
import Foundation
import Logging
import Pipeline
import PolicyCompiler
import Synchronization
import Testing
import TestSupport
import Tracefs
import TracingPolicy
import VigilAgent

/// The engine's transaction (sets, scope, hooks, mode, rollback) and its hook backends, against
/// a ``RecordingKernel``: no root, no BPF.
@Suite struct PolicyEngineTests {
    /// Formats from ``FormatFixtures``; kprobe programs loaded; every kernel function exists,
    /// and those named `btf_*` are described by BTF (so they get trampolines).
    static func environment(trampolines: Bool = false, bpfLSM: Bool = false) -> CompileEnvironment {
        CompileEnvironment(
            loadFormat: { subsystem, event in
                guard let text = FormatFixtures.texts["\(subsystem)/\(event)"] else {
                    throw TracepointFormatError.notFound(tracepoint: "\(subsystem)/\(event)", path: "(no fixture)")
                }
                return try TracepointFormat.parse(text, subsystem: subsystem, event: event)
            }, kprobesAvailable: true,
            hostNamespaces: HostNamespaces(
                known: Namespaces(
                    uts: 4_026_531_838, ipc: 4_026_531_839, mnt: 4_026_531_841, pid: 4_026_531_836,
                    pidForChildren: 4_026_531_836, net: 4_026_531_840, cgroup: 4_026_531_835, user: 4_026_531_837)),
            bpfLSM: bpfLSM, kprobeProgramsLoaded: true, kernelSymbol: { _ in .attachable },
            trampolineRefusal: trampolines ? nil : "disabled by --disable-trampolines",
            kernelFunctionHasBTF: { $0.hasPrefix("btf_") })
    }

    static func engine(_ kernel: RecordingKernel, trampolines: Bool = false, bpfLSM: Bool = false) -> PolicyEngine {
        PolicyEngine(
            kernel: kernel, environment: environment(trampolines: trampolines, bpfLSM: bpfLSM), cgroupRoot: "/sys/fs/cgroup",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func document(_ spec: String, name: String = "hooks") throws -> TracingPolicyDocument {
        let yaml =
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: \(name)\nspec:\n"
            + spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        let parsed = PolicyParser.parse(yaml: yaml, file: "\(name).yaml")
        #expect(parsed.errors.isEmpty, "\(parsed.errors)")
        return try #require(parsed.documents.first)
    }

    /// Kernel-function hooks, each matching a first string argument equal to `path` (a set
    /// entry per hook).
    static func functions(_ calls: [String], path: String = "/etc/shadow", name: String = "hooks") throws -> TracingPolicyDocument {
        try document(
            "kprobes:\n"
                + calls.map { call in
                    """
                    - call: \(call)
                      syscall: false
                      args:
                      - index: 0
                        type: string
                      selectors:
                      - matchArgs:
                        - index: 0
                          operator: Equal
                          values: ["\(path)"]
                    """
                }.joined(separator: "\n"), name: name)
    }

    @Test func installAttachesEveryHookAndSaysWhereItRuns() throws {
        let kernel = RecordingKernel()
        let engine = Self.engine(kernel)
        let loaded = try engine.install(try Self.functions(["first_function", "second_function"]), source: "test")
        #expect(kernel.attached == ["kprobe first_function", "kprobe second_function"])
        #expect(loaded.hooks.map(\.description) == ["first_function (kprobe)", "second_function (kprobe)"])
        #expect(loaded.hooks.map(\.mechanism) == [.kprobe, .kprobe])
        #expect(kernel.maps[.hooks]?.count == 2)
        #expect(kernel.maps[.stringEqual]?.isEmpty == false)
        #expect(engine.slot(0)?.mechanism == .kprobe)
        #expect(engine.slot(0)?.policyName == "hooks")
    }

    /// A kernel without bpf_loop() loads no policy program: every policy is refused with the
    /// reason, and nothing is written or attached.
    @Test func withoutPolicyProgramsEveryPolicyIsRefusedWithTheReason() throws {
        let kernel = RecordingKernel()
        kernel.policyProgramsUnavailableReason = "this kernel lacks the bpf_loop() helper (Linux 5.17+)"
        let engine = Self.engine(kernel)
        let before = kernel.reachableMaps
        #expect {
            try engine.install(try Self.functions(["first_function"]), source: "test")
        } throws: { error in
            "\(error)".contains("bpf_loop() helper (Linux 5.17+)")
        }
        #expect(kernel.attached.isEmpty)
        #expect(kernel.reachableMaps == before)
        #expect(engine.loaded.isEmpty)
    }

    /// The second hook's attach fails: the first is detached again, the set entries deleted,
    /// and nothing a hook could reach is left; the same policy installs once the kernel allows.
    @Test func aFailingAttachInTheSecondHookRollsBackTheFirst() throws {
        let kernel = RecordingKernel()
        let engine = Self.engine(kernel)
        let before = kernel.reachableMaps
        kernel.refuse("kprobe second_function")
        #expect {
            try engine.install(try Self.functions(["first_function", "second_function"]), source: "test")
        } throws: { error in
            "\(error)".contains("kprobe second_function: Operation not supported")
        }
        #expect(kernel.attached.isEmpty)
        #expect(kernel.reachableMaps == before)
        #expect(engine.loaded.isEmpty)
        #expect(engine.slot(0) == nil)

        kernel.refuse("kprobe second_function", false)
        let loaded = try engine.install(try Self.functions(["first_function", "second_function"]), source: "test")
        #expect(kernel.attached == ["kprobe first_function", "kprobe second_function"])
        // Fresh slots first: the failed install's 0 and 1 wait in the freed list.
        #expect(engine.slot(2)?.policyName == loaded.name && engine.slot(0) == nil)
    }

    /// A replacement that fails leaves the old version attached, its sets and lists as they were.
    @Test func aFailedReplacementLeavesTheOldVersionRunning() throws {
        let kernel = RecordingKernel(syscallDispatch: true)
        let engine = Self.engine(kernel)
        let openat = UInt32(Syscalls.number(of: "openat", abi: .x86_64) ?? 0) * 2
        let v1 = try Self.document(
            """
            tracepoints:
            - subsystem: syscalls
              event: sys_enter_openat
            kprobes:
            - call: first_function
              syscall: false
            """)
        let old = try engine.install(v1, source: "v1")
        let maps = kernel.maps
        let attached = kernel.attached
        #expect(kernel.list(.syscallHooks, key: openat) == [0])

        kernel.refuse("kprobe second_function")
        let v2 = try Self.document(
            """
            tracepoints:
            - subsystem: syscalls
              event: sys_enter_openat
            kprobes:
            - call: first_function
              syscall: false
            - call: second_function
              syscall: false
            """)
        #expect(throws: PolicyCompileFailure.self) { try engine.install(v2, source: "v2") }
        #expect(kernel.maps.filter { $0.key != .hooks } == maps.filter { $0.key != .hooks })
        #expect(kernel.attached == attached)
        #expect(kernel.dispatchers == [false])
        #expect(engine.loaded.map(\.hooks) == [old.hooks])
        #expect(engine.loaded.first?.source == "v1")

        kernel.refuse("kprobe second_function", false)
        let new = try engine.install(v2, source: "v2")
        #expect(new.policyID == old.policyID)
        // Fresh slots first (5, after the failed attempt's 2...4): only the new version's is listed.
        #expect(kernel.list(.syscallHooks, key: openat) == [5])
        #expect(kernel.attached == ["kprobe first_function", "kprobe second_function"])
    }

    /// Syscall tracepoints share the dispatcher's list; it is detached with its last hook.
    @Test func syscallHooksRunOnTheDispatcherWhileAnyNeedsIt() throws {
        let kernel = RecordingKernel(syscallDispatch: true)
        let engine = Self.engine(kernel)
        let openat = UInt32(Syscalls.number(of: "openat", abi: .x86_64) ?? 0) * 2
        let spec = "tracepoints:\n- subsystem: syscalls\n  event: sys_enter_openat"
        let a = try engine.install(try Self.document(spec, name: "a"), source: "test")
        try engine.install(try Self.document(spec, name: "b"), source: "test")
        #expect(a.hooks.map(\.description) == ["syscalls/sys_enter_openat (raw sys_enter dispatcher)"])
        #expect(a.hooks.map(\.mechanism) == [.syscallEntryDispatcher])
        #expect(a.hooks.map(\.mechanism.name) == ["tracepoint"])
        #expect(kernel.list(.syscallHooks, key: openat) == [0, 1])
        #expect(kernel.dispatchers == [false])
        #expect(kernel.attached.isEmpty, "no tracepoint attachment of its own")

        #expect(engine.remove(name: "a"))
        #expect(kernel.list(.syscallHooks, key: openat) == [1])
        #expect(kernel.dispatchers == [false])
        #expect(engine.remove(name: "b"))
        #expect(kernel.list(.syscallHooks, key: openat) == [])
        #expect(kernel.dispatchers.isEmpty)

        // Where the dispatcher did not load, the same hook is the tracepoint's own attachment.
        let plain = RecordingKernel()
        let loaded = try Self.engine(plain).install(try Self.document(spec), source: "test")
        #expect(loaded.hooks.map(\.description) == ["syscalls/sys_enter_openat"])
        #expect(plain.attached == ["tracepoint syscalls/sys_enter_openat"])
    }

    /// Exec check hooks run on the exec dispatcher, beyond the 8 a tracepoint's copies allow: a
    /// hook keeps its place while others go (an empty place holds no slot), and the dispatcher
    /// is detached with the last hook. Without the dispatcher, the tracepoint copies.
    @Test func execCheckHooksRunOnTheExecDispatcherAndKeepTheirPlaces() throws {
        let kernel = RecordingKernel(syscallDispatch: true)
        let engine = Self.engine(kernel)
        let spec = "lsmhooks:\n- hook: bprm_check_security\n  args:\n  - index: 0\n    type: linux_binprm"
        for i in 0..<10 { try engine.install(try Self.document(spec, name: "exec-\(i)"), source: "test") }
        let key = UInt32(VIGIL_EXEC_HOOKS_KEY)
        #expect(kernel.list(.syscallHooks, key: key) == Array(0..<8))
        #expect(kernel.list(.syscallHooks, key: key + 1) == [8, 9])
        #expect(kernel.execDispatcher)
        #expect(kernel.attached.isEmpty, "no tracepoint attachment of its own")
        #expect(engine.loaded.first?.hooks.map(\.description) == ["sched/sched_process_exec (exec dispatcher)"])

        #expect(engine.remove(name: "exec-3"))
        #expect(kernel.list(.syscallHooks, key: key) == [0, 1, 2, UInt32.max, 4, 5, 6, 7])
        try engine.install(try Self.document(spec, name: "exec-10"), source: "test")
        #expect(kernel.list(.syscallHooks, key: key) == [0, 1, 2, 10, 4, 5, 6, 7], "the new hook takes the empty place")
        for i in [0, 1, 2, 4, 5, 6, 7, 8, 9, 10] { #expect(engine.remove(name: "exec-\(i)")) }
        #expect(kernel.list(.syscallHooks, key: key) == [])
        #expect(kernel.list(.syscallHooks, key: key + 1) == [])
        #expect(!kernel.execDispatcher)

        let plain = RecordingKernel()
        try Self.engine(plain).install(try Self.document(spec), source: "test")
        #expect(plain.attached == ["tracepoint sched/sched_process_exec"])
    }

    /// A trampoline the kernel refuses at attach time runs on a kprobe; the slot, the listing
    /// and the event say so, and the compiled hook keeps what the compiler chose.
    @Test func aRefusedTrampolineFallsBackToAKprobe() throws {
        let kernel = RecordingKernel()
        let engine = Self.engine(kernel, trampolines: true)
        kernel.refuse("fentry btf_entry")
        kernel.refuse("fexit btf_return")
        let document = try Self.document(
            """
            kprobes:
            - call: btf_entry
              syscall: false
            - call: btf_return
              syscall: false
              return: true
              returnArg:
                index: 0
                type: int
            - call: btf_fine
              syscall: false
            """)
        let loaded = try engine.install(document, source: "test")
        #expect(loaded.hooks.map(\.description) == ["btf_entry (kprobe)", "btf_return (kprobe + kretprobe)", "btf_fine (fentry)"])
        #expect(loaded.hooks.map(\.mechanism.name) == ["kprobe", "kprobe", "fentry"])
        #expect(kernel.attached == ["kprobe btf_entry", "kprobe btf_return", "kretprobe btf_return", "fentry btf_fine"])
        let slot = try #require(engine.slot(1))
        #expect(slot.hook.mechanism == .fexit)
        #expect(slot.mechanism == .kretprobe)
        #expect(slot.mechanism.eventValue(category: slot.hook.category, name: slot.hook.name) == "kretprobe")
    }

    /// No kprobes to fall back to: the refusal is the policy's, and nothing stays attached.
    @Test func aRefusedTrampolineWithoutKprobesRefusesThePolicy() throws {
        let kernel = RecordingKernel(kprobes: false)
        let engine = Self.engine(kernel, trampolines: true)
        kernel.refuse("fentry btf_second")
        #expect(throws: PolicyCompileFailure.self) {
            try engine.install(try Self.document("kprobes:\n- call: btf_first\n  syscall: false\n- call: btf_second\n  syscall: false"), source: "test")
        }
        #expect(kernel.attached.isEmpty)
        #expect(kernel.reachableMaps.isEmpty)
    }

    /// BPF-LSM: the list is written before the program is attached; a refused attach empties it
    /// again, and the program is detached with its last hook.
    @Test func lsmHooksListTheirSlotsAndDetachTheProgramWhenUnused() throws {
        let kernel = RecordingKernel(bpfLSM: true)
        let engine = Self.engine(kernel, bpfLSM: true)
        let spec = """
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
            """
        let key = VIGIL_LSM_FILE_OPEN.rawValue
        kernel.refuse("lsm \(key)")
        #expect(throws: PolicyCompileFailure.self) { try engine.install(try Self.document(spec), source: "test") }
        #expect(kernel.list(.lsmHooks, key: key) == [])
        #expect(kernel.reachableMaps.filter { $0.key != .lsmHooks }.isEmpty)

        kernel.refuse("lsm \(key)", false)
        let loaded = try engine.install(try Self.document(spec), source: "test")
        #expect(loaded.hooks.map(\.description) == ["file_open (BPF-LSM)"])
        #expect(loaded.hooks.map(\.mechanism.name) == ["bpf_lsm"])
        #expect(kernel.list(.lsmHooks, key: key) == [1])
        #expect(kernel.lsmPrograms == [key])
        #expect(engine.remove(name: "hooks"))
        #expect(kernel.list(.lsmHooks, key: key) == [])
        #expect(kernel.lsmPrograms.isEmpty)
    }

    /// `vigil-file-identity: inode` where BPF-LSM runs file_open: the Equal filter is flagged for
    /// the kernel's identity match, the file its path names now is written under the filter's set
    /// as the kernel names it (a path naming nothing is matched by name only), and removing the
    /// policy deletes the entry.
    @Test func fileIdentityOnBPFLSMWritesTheFilesDeviceAndInode() throws {
        var template = Array("/tmp/vigil-identity-XXXXXX".utf8CString)
        let dir = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        defer { _ = unlink("\(dir)/protected"); _ = rmdir(dir) }
        let fd = open("\(dir)/protected", O_CREAT | O_WRONLY, 0o600)
        #expect(fd >= 0)
        close(fd)
        // Foundation's view of stat(2): st_ino and st_dev.
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/protected")
        let inode = try #require((attributes[.systemFileNumber] as? NSNumber)?.uint64Value)
        let device = try #require((attributes[.systemNumber] as? NSNumber)?.uint64Value)
        let spec = """
            options:
            - name: vigil-file-identity
              value: inode
            lsmhooks:
            - hook: file_open
              args:
              - index: 0
                type: file
              selectors:
              - matchArgs:
                - index: 0
                  operator: Equal
                  values: ["\(dir)/protected", "\(dir)/not-there"]
                matchActions:
                - action: Override
                  argError: -1
            """
        let kernel = RecordingKernel(bpfLSM: true)
        let engine = Self.engine(kernel, bpfLSM: true)
        _ = try engine.install(try Self.document(spec), source: "test")
        let hookBytes = try #require(kernel.maps[.hooks]?.values.first)
        let hook = hookBytes.withUnsafeBytes { $0.loadUnaligned(as: vigil_hook.self) }
        let selector = withUnsafeBytes(of: hook.selectors) { $0.loadUnaligned(as: vigil_selector.self) }
        let filter = withUnsafeBytes(of: selector.args) { $0.loadUnaligned(as: vigil_arg_filter.self) }
        #expect(filter.flags == UInt8(VIGIL_ARG_FILTER_F_INODE))
        let keys = try #require(kernel.maps[.fileIdentities]).keys.map { bytes in
            bytes.withUnsafeBytes { $0.loadUnaligned(as: vigil_file_id_key.self) }
        }
        #expect(keys.count == 1)
        #expect(keys.first?.set_id == filter.set_id)
        #expect(keys.first?.ino == inode)
        #expect(keys.first?.dev == FileIdentityEntries.kernelDevice(device))
        #expect(engine.remove(name: "hooks"))
        #expect(kernel.maps[.fileIdentities]?.isEmpty ?? true)
    }

    /// stat(2)'s device numbers (glibc's encoding) as the kernel's super_block names them.
    @Test func deviceNumbersInTheKernelsEncoding() {
        #expect(FileIdentityEntries.kernelDevice(0x801) == 8 << 20 | 1)  // 8:1
        #expect(FileIdentityEntries.kernelDevice(0x11032c) == 259 << 20 | 300)  // 259:300, minor past 255
    }

    /// BPF-LSM socket_connect: the cgroup connect/sendmsg programs are attached beside the LSM
    /// program (they run its list for unconnected sends and TCP fast open, which the LSM hook
    /// never sees), the slot is listed once, for the LSM program. Where they cannot attach, the
    /// LSM deny still loads (connect(2) is denied) and the agent warns.
    @Test func bpfLSMSocketConnectAttachesTheCgroupProgramsBesideIt() throws {
        let spec = """
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
        let key = VIGIL_LSM_SOCKET_CONNECT.rawValue
        let kernel = RecordingKernel(bpfLSM: true)
        let loaded = try Self.engine(kernel, bpfLSM: true).install(try Self.document(spec), source: "test")
        #expect(loaded.hooks.map(\.description) == ["socket_connect (BPF-LSM; sends and TCP fast open: cgroup connect/sendmsg)"])
        #expect(loaded.hooks.map(\.mechanism) == [.bpfLSM])
        #expect(kernel.lsmPrograms == [key])
        #expect(kernel.connectAttached)
        #expect(kernel.list(.lsmHooks, key: key) == [0])
        #expect(kernel.list(.connectHooks, key: 0) == nil, "not listed for the cgroup programs: they read the LSM list")

        let refusing = RecordingKernel(bpfLSM: true)
        refusing.refuse("connect")
        let still = try Self.engine(refusing, bpfLSM: true).install(try Self.document(spec), source: "test")
        #expect(still.hooks.map(\.mechanism) == [.bpfLSM])
        #expect(refusing.lsmPrograms == [key])
        #expect(!refusing.connectAttached)
    }

    /// Without BPF-LSM: socket_connect on the cgroup connect hooks, file_open's deny on fanotify.
    @Test func fallbackMechanismsAreListedByTheirBackends() throws {
        let kernel = RecordingKernel()
        let changes = RuleChanges()
        let engine = PolicyEngine(
            kernel: kernel, environment: Self.environment(), cgroupRoot: "/sys/fs/cgroup",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            fileRulesChanged: { changes.record($0.count) })
        let loaded = try engine.install(
            try Self.document(
                """
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
                """), source: "test")
        #expect(loaded.hooks.map(\.mechanism).contains(.cgroupConnect))
        #expect(loaded.hooks.map(\.description).contains("socket_connect (cgroup connect/sendmsg)"))
        #expect(loaded.hooks.last == PolicyEngine.LoadedHook(description: "file_open deny (fanotify)", mechanism: .fanotify))
        #expect(loaded.hooks.map(\.mechanism.name).contains("cgroup"))
        #expect(kernel.connectAttached)
        #expect(kernel.list(.connectHooks, key: 0) == [0])
        #expect(changes.counts == [1])
        #expect(engine.fileRule(1)?.rule.kind == .open)

        _ = try engine.setMode(name: "hooks", namespace: nil, mode: .monitor)
        #expect(engine.fileRule(1)?.monitor == true)
        #expect(engine.remove(name: "hooks"))
        #expect(kernel.list(.connectHooks, key: 0) == [])
        #expect(changes.counts == [1, 1, 0])
    }
}

/// The file rule counts the engine handed to the file guard, in order.
final class RuleChanges: Sendable {
    private let state = Synchronization.Mutex<[Int]>([])
    func record(_ count: Int) { state.withLock { $0.append(count) } }
    var counts: [Int] { state.withLock { $0 } }
}
