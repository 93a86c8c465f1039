// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Foundation
import PolicyCompiler
import Testing
import TestSupport
import Tracefs
import TracingPolicy

/// The kernel the compiler sees in these tests: formats from ``FormatFixtures``, no kprobes,
/// fixed host namespaces. Nothing here needs root or tracefs.
enum Fixture {
    /// Host namespace inode numbers (distinct, so a wrong kind shows).
    static let hostNamespaces = Namespaces(
        uts: 4_026_531_838, ipc: 4_026_531_839, mnt: 4_026_531_841, pid: 4_026_531_836,
        pidForChildren: 4_026_531_836, net: 4_026_531_840, cgroup: 4_026_531_835, user: 4_026_531_837)

    /// A tracefs-like directory holding only the fixture formats, so a missing tracepoint fails
    /// exactly as the real loader fails (same error, same message). One fixed directory, written
    /// again by each test process (the same files; atomic writes, so parallel runs agree), so runs
    /// do not leave one directory each behind.
    static let tracefsRoot: String = {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-policy-compiler-tests-formats-\(getuid())").path
        for (name, text) in FormatFixtures.texts {
            let directory = root + "/events/" + name
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try? (text + "\n").write(toFile: directory + "/format", atomically: true, encoding: .utf8)
        }
        return root
    }()

    /// Formats parsed from the embedded text; anything else is looked up in ``tracefsRoot``,
    /// which only holds the fixtures, so it throws the real loader's `notFound`.
    static let environment = CompileEnvironment(
        loadFormat: { subsystem, event in
            if let text = FormatFixtures.texts["\(subsystem)/\(event)"] {
                return try TracepointFormat.parse(text, subsystem: subsystem, event: event)
            }
            return try TracepointFormat.load(tracefsRoot: tracefsRoot, subsystem: subsystem, event: event)
        }, kprobesAvailable: false, hostNamespaces: HostNamespaces(known: hostNamespaces))

    static let liveTracefsRoot = "/sys/kernel/tracing"

    /// Whether this machine's tracefs can be read (formats of the running kernel).
    static var liveTracefsReadable: Bool {
        FileManager.default.isReadableFile(atPath: liveTracefsRoot + "/events/raw_syscalls/sys_enter/format")
    }

    /// The running kernel's formats, still without kprobes and with the fixed namespaces.
    static let liveEnvironment = CompileEnvironment.live(
        tracefsRoot: liveTracefsRoot, kprobesAvailable: false, hostNamespaces: HostNamespaces(known: hostNamespaces))

    /// The live environment when tracefs is readable, the fixtures otherwise.
    static var bestEnvironment: CompileEnvironment { liveTracefsReadable ? liveEnvironment : environment }

    static func format(_ name: String) throws -> TracepointFormat {
        let parts = name.split(separator: "/").map(String.init)
        return try environment.loadFormat(parts[0], parts[1])
    }
}

/// A policy refused by the parser or by the compiler: every problem's description.
struct Refusal: Error, CustomStringConvertible {
    var errors: [String]
    /// The messages only (after `file:line:column: path: `).
    var messages: [String]
    var description: String { errors.joined(separator: "\n") }
}

/// Parses and compiles one single-document policy text.
func compile(
    _ yaml: String, file: String = "policy.yaml", environment: CompileEnvironment = Fixture.environment,
    sets: inout SetIDAllocator
) -> Result<CompiledPolicy, Refusal> {
    let parsed = PolicyParser.parse(yaml: yaml, file: file)
    guard parsed.errors.isEmpty else {
        return .failure(Refusal(errors: parsed.errors.map(\.description), messages: parsed.errors.map(\.message)))
    }
    guard let document = parsed.documents.first, parsed.documents.count == 1 else {
        return .failure(Refusal(errors: ["expected one document, got \(parsed.documents.count)"], messages: []))
    }
    return compile(document, environment: environment, sets: &sets)
}

func compile(
    _ document: TracingPolicyDocument, environment: CompileEnvironment = Fixture.environment,
    sets: inout SetIDAllocator
) -> Result<CompiledPolicy, Refusal> {
    switch PolicyCompiler(environment: environment).compile(document, sets: &sets) {
    case .success(let policy): return .success(policy)
    case .failure(let failure):
        return .failure(Refusal(errors: failure.errors.map(\.description), messages: failure.errors.map(\.message)))
    }
}

func compile(
    _ yaml: String, file: String = "policy.yaml", environment: CompileEnvironment = Fixture.environment
) -> Result<CompiledPolicy, Refusal> {
    var sets = SetIDAllocator(first: 1)
    return compile(yaml, file: file, environment: environment, sets: &sets)
}

/// The errors of a policy that must be refused; records an issue when it compiled.
func refusal(
    _ yaml: String, file: String = "policy.yaml", sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> [String] {
    switch compile(yaml, file: file) {
    case .success:
        Issue.record("the policy compiled but should have been refused", sourceLocation: sourceLocation)
        return []
    case .failure(let refusal):
        return refusal.errors
    }
}

/// `file:line:column` of the first character of the `occurrence`-th (1-based) `needle` in
/// `text`, as the parser counts (1-based lines and columns).
func position(of needle: String, in text: String, occurrence: Int = 1, file: String = "policy.yaml") -> String {
    var seen = 0
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        var searchStart = line.startIndex
        while let range = line[searchStart...].range(of: needle) {
            seen += 1
            if seen == occurrence {
                return "\(file):\(number + 1):\(line.distance(from: line.startIndex, to: range.lowerBound) + 1)"
            }
            searchStart = range.upperBound
        }
    }
    return "\(file): \(needle) not found"
}

// MARK: - Reading the C structs

/// Element `index` of a C fixed-size array imported as a tuple.
func element<Tuple, Element>(_ tuple: Tuple, _ index: Int, as _: Element.Type = Element.self) -> Element {
    withUnsafeBytes(of: tuple) { raw in
        precondition((index + 1) * MemoryLayout<Element>.stride <= raw.count, "index \(index) out of range")
        return raw.loadUnaligned(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self)
    }
}

/// Whether every byte of a value is zero (unused slots must be).
func isZero<T>(_ value: T) -> Bool {
    withUnsafeBytes(of: value) { $0.allSatisfy { $0 == 0 } }
}

/// `struct vigil_arg_spec`, comparable.
struct ArgSpec: Equatable, CustomStringConvertible {
    var kind: vigil_arg_kind
    var size: UInt8 = 0
    var isSigned: Bool = false
    var offset: UInt16
    var metaSize: UInt8 = 0
    var metaOffset: UInt16 = 0

    init(_ kind: vigil_arg_kind, size: UInt8 = 0, signed: Bool = false, offset: UInt16, metaSize: UInt8 = 0, metaOffset: UInt16 = 0) {
        self.kind = kind
        self.size = size
        self.isSigned = signed
        self.offset = offset
        self.metaSize = metaSize
        self.metaOffset = metaOffset
    }

    init(_ spec: vigil_arg_spec) {
        self.init(
            vigil_arg_kind(rawValue: UInt32(spec.kind)), size: spec.size, signed: spec.is_signed != 0, offset: spec.offset,
            metaSize: spec.meta_size, metaOffset: spec.meta_offset)
    }

    var description: String {
        "kind \(kind.rawValue) size \(size) signed \(isSigned) offset \(offset) meta \(metaOffset)/\(metaSize)"
    }
}

/// `struct vigil_arg_filter`, comparable.
struct ArgFilter: Equatable {
    var arg: UInt8
    var op: vigil_op
    var setID: UInt32 = 0
    var values: [UInt64] = []

    init(arg: UInt8, _ op: vigil_op, set setID: UInt32 = 0, values: [UInt64] = []) {
        self.arg = arg
        self.op = op
        self.setID = setID
        self.values = values
    }

    init(_ f: vigil_arg_filter) {
        self.init(
            arg: f.arg, vigil_op(rawValue: UInt32(f.op)), set: f.set_id,
            values: (0..<Int(f.nvalues)).map { element(f.values, $0, as: UInt64.self) })
    }
}

extension vigil_hook {
    func arg(_ i: Int) -> vigil_arg_spec { element(args, i) }
    func selector(_ i: Int) -> vigil_selector { element(selectors, i) }
    /// The specs of the hook's `nargs` args.
    var argSpecs: [ArgSpec] { (0..<Int(nargs)).map { ArgSpec(arg($0)) } }
}

extension vigil_selector {
    func filter(_ j: Int) -> vigil_arg_filter { element(args, j) }
    func namespace(_ j: Int) -> vigil_ns_filter { element(ns, j) }
    func action(_ j: Int) -> vigil_action { element(actions, j) }
    /// The selector's `nargs` matchArgs filters.
    var filters: [ArgFilter] { (0..<Int(nargs)).map { ArgFilter(filter($0)) } }
}

extension vigil_pid_filter {
    var valueList: [UInt32] { (0..<Int(nvalues)).map { element(values, $0, as: UInt32.self) } }
}

extension vigil_ns_filter {
    var valueList: [UInt32] { (0..<Int(nvalues)).map { element(values, $0, as: UInt32.self) } }
}

/// `UInt8(ENUM.rawValue)`, as the structs store enum values.
func u8(_ op: vigil_op) -> UInt8 { UInt8(op.rawValue) }

/// `text` with every non-empty line indented by `n` spaces (to splice YAML fragments).
func indent(_ text: String, by n: Int) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.isEmpty ? "" : String(repeating: " ", count: n) + $0 }
        .joined(separator: "\n")
}
