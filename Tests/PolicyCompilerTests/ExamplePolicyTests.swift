// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Foundation
import PolicyCompiler
import Testing

/// deploy/examples/ policies that show selectors running in the kernel compile to what their
/// comments say.
@Suite struct ExamplePolicyTests {
    static func example(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/examples/\(name)").path
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    static func firstSelector(_ hook: CompiledHook) -> vigil_selector {
        withUnsafeBytes(of: hook.hook.selectors) { $0.loadUnaligned(as: vigil_selector.self) }
    }

    /// followChildren on the server binaries, Equal on the shells: one exec hook.
    @Test func webServerShellsFollowsTheServersLineage() throws {
        let compiled = try compile(try Self.example("web-server-shells.yaml")).get()
        #expect(compiled.hooks.count == 1)
        let hook = try #require(compiled.hooks.first)
        let selector = Self.firstSelector(hook)
        #expect(selector.bin.op == UInt8(VIGIL_OP_IN.rawValue))
        #expect(selector.bin.flags == UInt8(VIGIL_BIN_F_FOLLOW_CHILDREN))
        #expect(compiled.warnings.isEmpty, "\(compiled.warnings)")
    }

    /// matchReturnArgs and matchCapabilities both in the kernel, at the syscall's exit.
    @Test func unprivilegedShadowProbesFiltersOnTheResultAndTheCapabilities() throws {
        let compiled = try compile(try Self.example("unprivileged-shadow-probes.yaml")).get()
        let hook = try #require(compiled.hooks.first)
        let selector = Self.firstSelector(hook)
        let filters = withUnsafeBytes(of: selector.args) { raw in
            (0..<Int(selector.nargs)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<vigil_arg_filter>.stride, as: vigil_arg_filter.self) }
        }
        #expect(filters.contains { $0.arg == UInt8(VIGIL_ARG_SLOT_RESULT) && $0.op == UInt8(VIGIL_OP_EQUAL.rawValue) })
        #expect(selector.caps.op == UInt8(VIGIL_OP_NOT_IN.rawValue))
        #expect(selector.caps.mask == (1 << 1) | (1 << 2), "CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2)")
    }
}
