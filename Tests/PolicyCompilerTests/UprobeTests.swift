// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Foundation
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// spec.uprobes: one hook per symbol or offset on the generic uprobe program, arguments read from
/// the registers; what the agent cannot honour refused at its key.
@Suite struct UprobeTests {
    static func policy(_ uprobes: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: user-functions
        spec:
          uprobes:
        \(indent(uprobes, by: 2))
        """
    }

    /// Uprobes usable; `/opt/app` has `handle` at file offset 0x1234 and no other function.
    static let environment: CompileEnvironment = {
        var environment = Fixture.environment
        environment.uprobeRefusal = nil
        environment.userFunction = { binary, target in
            switch (binary, target) {
            case ("/opt/app", .symbol("handle")): .offset(0x1234)
            case ("/opt/app", .offset(let offset)): .offset(offset)
            case ("/opt/app", .address(let address)) where address >= 0x401000: .offset(address - 0x400000)
            case ("/opt/app", .address(let address)): .refused("address 0x\(String(address, radix: 16)) is not in an executable segment of /opt/app")
            case ("/opt/app", .symbol(let name)): .refused("/opt/app has no function symbol \(name)")
            default: .unusableBinary("\(binary): No such file or directory on this node")
            }
        }
        return environment
    }()

    func hooks(_ uprobes: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [CompiledHook] {
        switch compile(Self.policy(uprobes), environment: Self.environment) {
        case .success(let policy): return policy.hooks
        case .failure(let refusal):
            Issue.record("refused: \(refusal)", sourceLocation: sourceLocation)
            return []
        }
    }

    func refusal(_ uprobes: String, environment: CompileEnvironment = Self.environment) -> [String] {
        switch compile(Self.policy(uprobes), environment: environment) {
        case .success:
            Issue.record("the policy compiled but should have been refused")
            return []
        case .failure(let refusal): return refusal.errors
        }
    }

    @Test func aSymbolCompilesToAUprobeAtItsFileOffset() throws {
        let hooks = try hooks(
            """
            - path: /opt/app
              symbols: [handle]
              args:
              - index: 0
                type: int
                label: n
              - index: 1
                type: string
              selectors:
              - matchArgs:
                - index: 1
                  operator: Prefix
                  values: ["admin"]
                matchActions:
                - action: Sigkill
            """)
        let hook = try #require(hooks.first)
        #expect(hooks.count == 1)
        #expect(hook.mechanism == .uprobe)
        #expect(hook.uprobe == UprobeTarget(binary: "/opt/app", symbol: "handle", offset: 0x1234))
        #expect(hook.event == .uprobe(path: "/opt/app", symbol: "handle", offset: 0))
        #expect(hook.mechanism.hookDescription(category: hook.category, name: hook.name) == "/opt/app:handle (uprobe)")
        // Registers at 8 * index, as the kprobe program copies them; the string from user memory.
        let int = CTupleRead.arg(hook.hook, 0), string = CTupleRead.arg(hook.hook, 1)
        #expect(int.kind == UInt8(VIGIL_ARG_INT.rawValue) && int.size == 4 && int.is_signed == 1 && int.offset == 0)
        #expect(string.kind == UInt8(VIGIL_ARG_STRING.rawValue) && string.offset == 8)
        #expect(hook.args.map(\.kind) == [.int(size: 4, signed: true), .string])
        #expect(hook.hook.nselectors == 1)
    }

    @Test func offsetsAndReturnProbes() throws {
        let hooks = try hooks(
            """
            - path: /opt/app
              offsets: [0x40, 0x80]
              return: true
              returnArg:
                index: 0
                type: int
            """)
        #expect(hooks.map(\.name) == ["0x40", "0x80"])
        #expect(hooks.map(\.mechanism) == [.uretprobe, .uretprobe])
        #expect(hooks.first?.event == .uprobe(path: "/opt/app", symbol: "", offset: 0x40))
        #expect(hooks.first?.uprobe?.offset == 0x40)
    }

    /// addrs: virtual addresses, probed at the file offset of their byte; the event says which.
    @Test func addressesBecomeFileOffsets() throws {
        let hooks = try hooks("- path: /opt/app\n  addrs: [0x401136]")
        #expect(hooks.map(\.name) == ["0x401136"])
        #expect(hooks.first?.uprobe == UprobeTarget(binary: "/opt/app", symbol: nil, offset: 0x1136))
        #expect(hooks.first?.event == .uprobe(path: "/opt/app", symbol: "", offset: 0x1136))
        let outside = refusal("- path: /opt/app\n  addrs: [0x10]")
        #expect(outside == ["policy.yaml:8:12: spec.uprobes[0].addrs: address 0x10 is not in an executable segment of /opt/app"], "\(outside)")
    }

    /// A binary the compiler cannot read here (validation away from the node): the symbol is
    /// left for libbpf to resolve at attach time.
    @Test func anUncheckedBinaryAttachesByName() throws {
        var environment = Self.environment
        environment.userFunction = { _, _ in .unchecked }
        let compiled = compile(Self.policy("- path: /usr/bin/bash\n  symbols: [readline]"), environment: environment)
        let hook = try #require(try compiled.get().hooks.first)
        #expect(hook.uprobe == UprobeTarget(binary: "/usr/bin/bash", symbol: "readline", offset: nil))
    }

    @Test func whatCannotRunIsRefusedAtItsKey() throws {
        let text = """
            - path: /opt/app
              symbols: [handle, missing]
              btfPath: /opt/app.btf
              binaryDigests: ["sha256:00"]
              resolvePathInContainer: true
              args:
              - index: 0
                type: file
              - index: 1
                type: char_buf
              selectors:
              - matchActions:
                - action: Override
                  argError: -1
            - path: /opt/app
              offsets: [0x1000]
              refCtrOffsets: [0x10]
            - path: /procRoot/1/root/usr/bin/bash
              symbols: [_start]
            """
        let errors = refusal(text)
        let policy = Self.policy(text)
        let expected: [(String, String)] = [
            ("btfPath: /opt", "btfPath is not supported by this build"),
            ("binaryDigests: [", "binaryDigests are not supported by this build"),
            ("resolvePathInContainer: true", "resolvePathInContainer is not supported by this build"),
            ("action: Override", "Override on a uprobe"),
            ("refCtrOffsets: [", "refCtrOffsets (USDT semaphores) are not supported"),
            ("/procRoot/1", "/procRoot is where Tetragon's pod mounts the host's /proc"),
        ]
        for (needle, message) in expected {
            let at = position(of: needle, in: policy)
            // Values are located where they start: after the key.
            #expect(
                errors.contains { $0.contains(message) && $0.hasPrefix(at.split(separator: ":").prefix(2).joined(separator: ":")) },
                "\(message) at \(at): \(errors.joined(separator: "\n"))")
        }
        // Argument types and a missing symbol, once the keys above are fixed.
        let args = refusal(
            """
            - path: /opt/app
              symbols: [missing]
              args:
              - index: 0
                type: file
              - index: 1
                type: char_buf
            """)
        #expect(args.contains { $0.contains("type file is not read from a uprobe by this build") }, "\(args)")
        #expect(args.contains { $0.contains("char_buf needs sizeArgIndex") })
        let elsewhere = refusal("- path: /opt/other\n  symbols: [a, b]")
        #expect(elsewhere == ["policy.yaml:7:11: spec.uprobes[0].path: /opt/other: No such file or directory on this node"])
        let missing = refusal("- path: /opt/app\n  symbols: [missing]")
        #expect(missing.count == 1 && missing.first?.contains("spec.uprobes[0].symbols: /opt/app has no function symbol missing") == true, "\(missing)")
    }

    @Test func aKernelWithoutUprobesRefusesThem() {
        var environment = Self.environment
        environment.uprobeRefusal = "this kernel has no uprobe PMU"
        let errors = refusal("- path: /opt/app\n  symbols: [handle]", environment: environment)
        #expect(errors == ["policy.yaml:7:11: spec.uprobes[0].path: uprobes cannot run here: this kernel has no uprobe PMU"])
    }

    /// The ELF reader against real files: a function of this machine's bash (Tetragon's example
    /// symbol), a name it lacks, and files that are not ELF.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/bin/bash"), "no /bin/bash"))
    func elfLookupFindsFunctionsAndRefusesTheRest() {
        guard case .offset(let offset) = ELFFunctions.lookup(.symbol("readline"), in: "/bin/bash") else {
            Issue.record("readline not found in /bin/bash")
            return
        }
        #expect(offset > 0)
        #expect(ELFFunctions.lookup(.offset(offset), in: "/bin/bash") == .offset(offset))
        // Addresses: the ELF header (offset 0x10) is in no executable segment. (Debian's bash
        // maps its text at the address equal to its file offset, so readline's address is its offset.)
        if case .offset = ELFFunctions.lookup(.address(0x10), in: "/bin/bash") {
            Issue.record("address 0x10 (the ELF header) resolved to an executable offset")
        }
        #expect(ELFFunctions.lookup(.address(offset), in: "/bin/bash") == .offset(offset))
        guard case .refused(let why) = ELFFunctions.lookup(.symbol("vigil_no_such_function"), in: "/bin/bash") else {
            Issue.record("a missing symbol was found")
            return
        }
        #expect(why.contains("has no function symbol vigil_no_such_function"))
        #expect(ELFFunctions.lookup(.symbol("main"), in: "/nonexistent/app") == .unusableBinary("/nonexistent/app: No such file or directory on this node"))
        #expect(ELFFunctions.lookup(.symbol("main"), in: "/etc") == .unusableBinary("/etc is not a regular file"))
        guard case .unusableBinary(let notELF) = ELFFunctions.lookup(.symbol("main"), in: "/etc/passwd") else {
            Issue.record("/etc/passwd read as ELF")
            return
        }
        #expect(notELF.contains("is not a 64-bit little-endian ELF file"))
    }

    /// Files no binary is: a FIFO (opening it must not wait for a writer) and an ELF cut short
    /// after its header (its tables point past the end: nothing is read there).
    @Test func oddFilesAreRefusedWithoutHangingOrReadingPastTheEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-elf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        #expect(ELFFunctions.lookup(.symbol("main"), in: dir + "/fifo") == .unusableBinary("\(dir)/fifo is not a regular file"))
        if let bash = FileManager.default.contents(atPath: "/bin/bash") {
            try bash.prefix(64).write(to: URL(fileURLWithPath: dir + "/short"))
            guard case .refused(let why) = ELFFunctions.lookup(.symbol("readline"), in: dir + "/short") else {
                Issue.record("a 64-byte ELF header gave a function")
                return
            }
            #expect(why.contains("has no function symbol readline"))
            #expect(ELFFunctions.lookup(.offset(0x10), in: dir + "/short") == .refused("offset 0x10 of \(dir)/short is not in an executable segment"))
        }
    }
}

/// Reads a hook's argument specs (C arrays are tuples in Swift).
enum CTupleRead {
    static func arg(_ hook: vigil_hook, _ i: Int) -> vigil_arg_spec {
        withUnsafeBytes(of: hook.args) { $0.loadUnaligned(fromByteOffset: i * MemoryLayout<vigil_arg_spec>.stride, as: vigil_arg_spec.self) }
    }
}
