// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// Real policy files: ours must compile; Tetragon's examples compile or are refused with a
/// positioned reason, never a crash or a silent empty refusal.
@Suite struct CorpusTests {
    static let policiesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("policies").path
    static let examplesDirectory = "/work/shared/reference/tetragon-examples"

    /// `*.yaml` / `*.yml` under `directory`, recursively, as paths relative to it, sorted.
    static func yamlFiles(in directory: String, recursive: Bool) -> [String] {
        let manager = FileManager.default
        let names: [String]
        if recursive {
            names = (manager.enumerator(atPath: directory)?.compactMap { $0 as? String }) ?? []
        } else {
            names = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
        }
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    }

    static var havePolicies: Bool { !yamlFiles(in: policiesDirectory, recursive: false).isEmpty }
    static var haveExamples: Bool { FileManager.default.fileExists(atPath: examplesDirectory) }

    /// Parses and compiles every document of a file; a problem of either stage refuses it.
    static func compileFile(_ path: String, environment: CompileEnvironment) -> (compiled: [CompiledPolicy], errors: [String]) {
        let parsed = PolicyParser.parse(fileAt: path)
        var errors = parsed.errors.map(\.description)
        var compiled: [CompiledPolicy] = []
        var sets = SetIDAllocator(first: 1)
        for document in parsed.documents {
            switch compile(document, environment: environment, sets: &sets) {
            case .success(let policy): compiled.append(policy)
            case .failure(let refusal): errors += refusal.errors
            }
        }
        return (compiled, errors)
    }

    /// `path:line:column: ` followed by a non-empty reason.
    static func isPositioned(_ description: String, file path: String) -> Bool {
        guard description.hasPrefix(path + ":") else { return false }
        let rest = description.dropFirst(path.count + 1)
        let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let line = Int(parts[0]), let column = Int(parts[1]), line > 0, column > 0 else {
            return false
        }
        return !parts[2].trimmingCharacters(in: .whitespaces).isEmpty
    }

    @Test(
        .enabled(if: CorpusTests.havePolicies, "no policies/*.yaml yet"),
        .enabled(if: Fixture.liveTracefsReadable, "tracefs is not readable at /sys/kernel/tracing"))
    func ourPoliciesCompile() throws {
        let files = Self.yamlFiles(in: Self.policiesDirectory, recursive: false)
        for name in files {
            let path = Self.policiesDirectory + "/" + name
            let (compiled, errors) = Self.compileFile(path, environment: Fixture.liveEnvironment)
            #expect(errors == [], "\(name)")
            #expect(!compiled.isEmpty, "\(name) holds no policy")
            #expect(compiled.allSatisfy { !$0.hooks.isEmpty }, "\(name)")
        }
    }

    /// The detection library (policies/library/, docs/detections.md) compiles here, except the
    /// kernel module policy on a kernel without loadable modules, refused naming its tracepoint.
    @Test(.enabled(if: Fixture.liveTracefsReadable, "tracefs is not readable at /sys/kernel/tracing"))
    func libraryPoliciesCompile() throws {
        let library = Self.policiesDirectory + "/library"
        let files = Self.yamlFiles(in: library, recursive: false)
        #expect(files.count == 25)
        let modules = FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls/sys_enter_init_module")
        for name in files {
            let (compiled, errors) = Self.compileFile(library + "/" + name, environment: Fixture.liveEnvironment)
            if name == "linux-kernel-module-injection-detected.yaml" && !modules {
                #expect(compiled.isEmpty)
                #expect(errors.contains { $0.contains("sys_enter_init_module does not exist on this kernel") }, "\(errors)")
                continue
            }
            #expect(errors == [], "\(name)")
            #expect(compiled.count == 1 && compiled.allSatisfy { !$0.hooks.isEmpty }, "\(name)")
        }
    }

    @Test(.enabled(if: CorpusTests.haveExamples, "\(CorpusTests.examplesDirectory) is absent"))
    func everyExampleCompilesOrIsRefusedWithAPosition() throws {
        let environment = Fixture.bestEnvironment
        let files = Self.yamlFiles(in: Self.examplesDirectory, recursive: true)
        #expect(files.count >= 70)
        var compiledFiles: Set<String> = []
        for relative in files {
            let path = Self.examplesDirectory + "/" + relative
            let (compiled, errors) = Self.compileFile(path, environment: environment)
            if errors.isEmpty {
                #expect(!compiled.isEmpty, "\(relative): neither compiled nor refused")
                #expect(compiled.allSatisfy { !$0.hooks.isEmpty }, "\(relative): compiled to nothing")
                compiledFiles.insert(relative)
            } else {
                for error in errors {
                    #expect(Self.isPositioned(error, file: path), "\(relative): \(error)")
                }
            }
        }
        // The tracepoint-only examples, and the syscall kprobes that run on tracepoints.
        var mustCompile: Set<String> = [
            "raw_syscalls.yaml", "list-syscalls-tracepoint.yaml", "list-syscalls.yaml", "write.yaml",
            "sys_setuid.yaml", "sys_ptrace.yaml", "sys_mount.yaml", "sys_clock_settime.yaml", "sys_pivot_root.yaml",
        ]
        // bash's readline and main, with and without matchPIDs, where uprobes run and bash is there.
        if environment.uprobeRefusal == nil && FileManager.default.fileExists(atPath: "/bin/bash") {
            mustCompile.formUnion(["uprobe.yaml", "uprobe-pid.yaml"])
        }
        #expect(mustCompile.subtracting(compiledFiles).isEmpty, "not compiled: \(mustCompile.subtracting(compiledFiles).sorted())")
    }

    /// Tetragon's uprobe examples against this machine's files (compiled, nothing attached):
    /// bash's `readline` and `main` load, with or without matchPIDs; Tetragon's `/procRoot` path
    /// is refused naming the node's path, and `/lib64/libc.so.6` loads where the file exists and
    /// is refused naming it where it does not (Debian keeps libc under /lib/x86_64-linux-gnu).
    @Test(
        .enabled(if: CorpusTests.haveExamples, "\(CorpusTests.examplesDirectory) is absent"),
        .enabled(if: CompileEnvironment.uprobePMURefusal() == nil, "this kernel has no uprobe PMU"),
        .enabled(if: FileManager.default.fileExists(atPath: "/bin/bash"), "no /bin/bash here"))
    func uprobeExamples() throws {
        let environment = CompileEnvironment.live(
            tracefsRoot: Fixture.liveTracefsRoot, kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Fixture.hostNamespaces))
        let bash = Self.compileFile(Self.examplesDirectory + "/uprobe.yaml", environment: environment)
        #expect(bash.errors == [])
        let hooks = try #require(bash.compiled.first?.hooks)
        #expect(hooks.map(\.name) == ["readline", "main"])
        #expect(hooks.allSatisfy { $0.mechanism == .uprobe && $0.uprobe?.offset != nil })
        #expect(Self.compileFile(Self.examplesDirectory + "/uprobe-pid.yaml", environment: environment).errors == [])
        let host = Self.compileFile(Self.examplesDirectory + "/uprobe-host.yaml", environment: environment)
        #expect(host.errors.count == 1 && host.errors.first?.contains("here: /proc/1/root/usr/bin/bash") == true, "\(host.errors)")
        let libc = Self.compileFile(Self.examplesDirectory + "/uprobe-binaries.yaml", environment: environment)
        if FileManager.default.fileExists(atPath: "/lib64/libc.so.6") {
            #expect(libc.errors == [])
        } else {
            #expect(libc.errors.count == 1, "\(libc.errors)")
            #expect(libc.errors.first?.contains("spec.uprobes[0].path: /lib64/libc.so.6: No such file or directory on this node") == true, "\(libc.errors)")
        }
    }

    /// The two tracepoint-only examples, in detail.
    @Test(.enabled(if: CorpusTests.haveExamples, "\(CorpusTests.examplesDirectory) is absent"))
    func tracepointExamples() throws {
        let environment = Fixture.bestEnvironment
        let raw = Self.compileFile(Self.examplesDirectory + "/raw_syscalls.yaml", environment: environment)
        #expect(raw.errors == [])
        let rawHook = try #require(raw.compiled.first?.hooks.first)
        #expect(rawHook.event == .tracepoint(subsystem: "raw_syscalls", event: "sys_enter"))
        #expect(rawHook.args.map(\.kind) == [.syscall64])

        let list = Self.compileFile(Self.examplesDirectory + "/list-syscalls-tracepoint.yaml", environment: environment)
        #expect(list.errors == [])
        let policy = try #require(list.compiled.first)
        #expect(policy.setEntries.map(\.description) == [
            "integerSet key=010000000000000020 value=01",  // sys_dup
            "integerSet key=010000000000000021 value=01",  // sys_dup2
        ])
    }
}
