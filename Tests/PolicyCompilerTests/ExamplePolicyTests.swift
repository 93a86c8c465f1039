// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
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

/// deploy/examples/fqdn-egress.yaml: DNSName's names in the postfix trie as the DNS answer
/// program looks them up, its set in vg_fqdn_sets; refused at the operator without the DNS
/// answer program.
@Suite struct FQDNEgressPolicyTests {
    static var environment: CompileEnvironment {
        var environment = Fixture.environment
        environment.podScopesAvailable = true
        environment.dnsNamesRefusal = nil
        return environment
    }

    @Test func namesAreStoredReversedAndTheSetListed() throws {
        let compiled = try compile(try ExamplePolicyTests.example("fqdn-egress.yaml"), environment: Self.environment).get()
        let hook = try #require(compiled.hooks.first)
        let selector = ExamplePolicyTests.firstSelector(hook)
        let filters = withUnsafeBytes(of: selector.args) { raw in
            (0..<Int(selector.nargs)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<vigil_arg_filter>.stride, as: vigil_arg_filter.self) }
        }
        let names = try #require(filters.first { $0.op == UInt8(VIGIL_OP_NOT_DNS_NAME.rawValue) })
        let postfix = compiled.setEntries.filter { $0.map == .stringPostfix }.map { entry in
            // vigil_str_lpm_key: prefixlen, set id, then the bytes.
            let bits = entry.key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            let set = entry.key.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
            return (set, Array(entry.key[8..<(8 + Int(bits - 32) / 8)]))
        }
        #expect(postfix.allSatisfy { $0.0 == names.set_id })
        #expect(Set(postfix.map(\.1)) == [Array("moc.epirts.ipa".utf8) + [0], Array("moc.elpmaxe.stnemyap.".utf8)])
        let sets = compiled.setEntries.filter { $0.map == .fqdnSets }
        #expect(sets.map { $0.key } == [withUnsafeBytes(of: names.set_id) { Array($0) }])
        #expect(compiled.setIDs.contains(names.set_id), "deleted with the policy")
    }

    @Test func refusedWhereNoDNSAnswerProgramRuns() throws {
        let text = try ExamplePolicyTests.example("fqdn-egress.yaml")
        var environment = Fixture.environment  // the default: no DNS answer program
        environment.podScopesAvailable = true
        guard case .failure(let refusal) = compile(text, environment: environment) else {
            Issue.record("compiled without --enable-dns-names")
            return
        }
        #expect(refusal.errors.count == 1)
        // The second NotDNSName of the file: the first is in its header comment.
        #expect(refusal.errors.first?.hasPrefix(position(of: "NotDNSName", in: text, occurrence: 2)) == true, "\(refusal.errors)")
        #expect(refusal.messages.first?.contains("--enable-dns-names") == true, "\(refusal.messages)")
    }

    @Test func badNamesAreRefusedAtTheirValue() {
        for (value, words) in [("api.*.com", "wildcard"), ("a..b", "empty label"), ("bücher.de", "xn--"), ("*", "wildcard")] {
            let errors = refusal("""
                apiVersion: cilium.io/v1alpha1
                kind: TracingPolicy
                metadata:
                  name: bad-name
                spec:
                  lsmhooks:
                  - hook: socket_connect
                    args:
                    - index: 1
                      type: sockaddr
                    selectors:
                    - matchArgs:
                      - index: 1
                        operator: DNSName
                        values: ["\(value)"]
                """)
            #expect(errors.count == 1 && errors.first?.contains(words) == true, "\(value): \(errors)")
        }
    }
}
