// SPDX-License-Identifier: Apache-2.0
// The policy parser and compiler under libFuzzer (`make fuzz`): built with -sanitize=fuzzer and
// -DFUZZING, libFuzzer supplies main() and calls LLVMFuzzerTestOneInput with each input, and
// reports a crash, an input slower than -timeout or a process past -rss_limit_mb as a finding.
// Built normally (`swift build`), the same target replays inputs: `vigil-policy-fuzz FILE|DIR...`.
import Events
import Foundation
import PolicyCompiler
import Tracefs
import TracingPolicy

enum PolicyFuzzing {
    /// Formats of the running kernel where tracefs is readable (cached: the fuzzer asks for the
    /// same few again and again), none elsewhere; no kprobes, fixed namespaces.
    static let environment: CompileEnvironment = {
        let root = "/sys/kernel/tracing"
        let cache = FormatCache()
        return CompileEnvironment(
            loadFormat: { subsystem, event in try cache.format(root, subsystem, event) }, kprobesAvailable: false,
            hostNamespaces: HostNamespaces(known: Namespaces(
                uts: 1, ipc: 2, mnt: 3, pid: 4, pidForChildren: 4, net: 5, cgroup: 6, user: 7)))
    }()

    /// Parses `bytes` as a policy file and compiles every document that parses.
    static func run(_ bytes: [UInt8]) {
        let parsed = PolicyParser.parse(bytes: bytes, file: "fuzz.yaml")
        var sets = SetIDAllocator()
        for document in parsed.documents {
            _ = PolicyCompiler(environment: environment).compile(document, sets: &sets)
        }
    }
}

/// Tracepoint formats by name, read once each.
final class FormatCache: @unchecked Sendable {  // the lock guards `formats`
    private var formats: [String: Result<TracepointFormat, any Error>] = [:]
    private let lock = NSLock()

    func format(_ root: String, _ subsystem: String, _ event: String) throws -> TracepointFormat {
        let key = "\(subsystem)/\(event)"
        lock.lock()
        defer { lock.unlock() }
        if let known = formats[key] { return try known.get() }
        let loaded = Result { try TracepointFormat.load(tracefsRoot: root, subsystem: subsystem, event: event) }
        formats[key] = loaded
        return try loaded.get()
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    PolicyFuzzing.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links an executable's entry point as `<module>_main` (and defines `main` as it), so
/// libFuzzer's own main() is never pulled in: this entry point hands over to its driver instead.
@_cdecl("vigil_policy_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzOneInput)
}
#else
/// Replays inputs (files, or every file of directories) through the same path, one line each.
@main
struct PolicyFuzzReplay {
    static func main() {
        var inputs: [String] = []
        for argument in CommandLine.arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                inputs += names.sorted().map { "\(argument)/\($0)" }
            } else {
                inputs.append(argument)
            }
        }
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else { continue }
            let start = Date()
            PolicyFuzzing.run(Array(data))
            print(String(format: "%@: %.3f s", input, Date().timeIntervalSince(start)))
        }
        print("\(inputs.count) inputs replayed")
    }
}
#endif
