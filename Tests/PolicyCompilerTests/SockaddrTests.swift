// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Foundation
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// sockaddr args (connect's `uservaddr`): family, address sets and port ranges.
///
/// Tetragon matches a sockaddr's one address and port with SAddr / SPort (it refuses DAddr /
/// DPort there, and so does the parser); the kernel side has one operator for "the sockaddr's
/// address" (VIGIL_OP_DADDR) and one for its port (VIGIL_OP_DPORT).
@Suite struct SockaddrTests {
    static func policy(_ matchArgs: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: connect
        spec:
          kprobes:
          - call: sys_connect
            syscall: true
            args:
            - index: 0
              type: int
            - index: 1
              type: sockaddr
            selectors:
            - matchArgs:
        \(indent(matchArgs, by: 6))
        """
    }

    static let yaml = policy("""
        - index: 1
          operator: Family
          values:
          - AF_INET
        - index: 1
          operator: SAddr
          values:
          - 10.1.2.0/24
          - 2001:db8::/32
        - index: 1
          operator: SPort
          values:
          - "8000:8080"
          - "443"
        """)

    static let expectedEntries = [
        // vigil_addr_key: prefixlen 32 + 96 + 24 = 152 (0x98), set 1, ::ffff:10.1.2.0
        "address key=980000000100000000000000000000000000ffff0a0102 value=01",
        // prefixlen 32 + 32 = 64 (0x40), set 1, 2001:db8::
        "address key=400000000100000020010db8 value=01",
    ]

    static let expectedFilters = [
        ArgFilter(arg: 1, VIGIL_OP_FAMILY, values: [2]),
        ArgFilter(arg: 1, VIGIL_OP_DADDR, set: 1),
        ArgFilter(arg: 1, VIGIL_OP_DPORT, values: [8000 << 16 | 8080, 443 << 16 | 443]),
    ]

    @Test func familyAddressesAndPorts() throws {
        let policy = try compile(Self.yaml).get()
        let compiled = try #require(policy.hooks.first)
        #expect(compiled.name == "sys_enter_connect")
        #expect(compiled.event == .kprobe(functionName: "__x64_sys_connect"))
        #expect(compiled.args.map(\.kind) == [.int(size: 4, signed: true), .sockaddr])
        #expect(compiled.hook.argSpecs == [
            ArgSpec(VIGIL_ARG_INT, size: 4, signed: true, offset: 16),
            ArgSpec(VIGIL_ARG_SOCKADDR, offset: 24),
        ])
        #expect(compiled.hook.ctx_size == 32)
        #expect(compiled.hook.selector(0).filters == Self.expectedFilters)
        #expect(policy.setEntries.map(\.description) == Self.expectedEntries)
        #expect(policy.setEntries.allSatisfy { $0.key.count == MemoryLayout<vigil_addr_key>.size })
        #expect(policy.setIDs == [1])
    }

    /// DAddr / DPort on a sockaddr (Vigil accepts them: a connect's sockaddr is its destination)
    /// compile to the same filters as SAddr / SPort.
    @Test func destinationOperatorsCompileTheSame() throws {
        var document = try #require(PolicyParser.parse(yaml: Self.yaml, file: "policy.yaml").documents.first)
        document.spec.kprobes[0].selectors[0].matchArgs[1].operator = .dAddr
        document.spec.kprobes[0].selectors[0].matchArgs[2].operator = .dPort
        var sets = SetIDAllocator(first: 1)
        let policy = try compile(document, sets: &sets).get()
        #expect(policy.hooks.first?.hook.selector(0).filters == Self.expectedFilters)
        #expect(policy.setEntries.map(\.description) == Self.expectedEntries)

        // The parser takes them too (Tetragon refuses them on sockaddr).
        let parsed = PolicyParser.parse(yaml: Self.yaml.replacingOccurrences(of: "SAddr", with: "DAddr"), file: "p.yaml")
        #expect(parsed.errors.isEmpty, "\(parsed.errors)")
    }

    @Test func negatedAndPrivilegedPorts() throws {
        let yaml = Self.policy("""
            - index: 1
              operator: NotSAddr
              values:
              - 127.0.0.1
              - "::1"
            - index: 1
              operator: NotSPort
              values:
              - "22"
            - index: 1
              operator: SPortPriv
            - index: 1
              operator: Family
              values:
              - AF_INET
              - AF_INET6
            """)
        let policy = try compile(yaml).get()
        #expect(policy.hooks.first?.hook.selector(0).filters == [
            ArgFilter(arg: 1, VIGIL_OP_NOT_DADDR, set: 1),
            ArgFilter(arg: 1, VIGIL_OP_NOT_DPORT, values: [22 << 16 | 22]),
            ArgFilter(arg: 1, VIGIL_OP_DPORT, values: [0 << 16 | 1023]),
            ArgFilter(arg: 1, VIGIL_OP_FAMILY, values: [2, 10]),
        ])
        #expect(policy.setEntries.map(\.description) == [
            // /32 -> 32 + 96 + 32 = 160 (0xa0)
            "address key=a00000000100000000000000000000000000ffff7f000001 value=01",
            // /128 -> 32 + 128 = 160
            "address key=a00000000100000000000000000000000000000000000001 value=01",
        ])
    }

    @Test func operatorsThatDoNotApplyToSockaddr() throws {
        // String operators on a sockaddr: refused by the compiler with the operators that apply.
        var document = try #require(PolicyParser.parse(yaml: Self.yaml, file: "policy.yaml").documents.first)
        document.spec.kprobes[0].selectors[0].matchArgs[0].operator = .prefix
        var sets = SetIDAllocator(first: 1)
        let refusal = try #require(compile(document, sets: &sets).failure)
        #expect(refusal.messages == [
            "operator Prefix does not apply to sockaddr arguments (Family, SAddr/DAddr, SPort/DPort and their Not and Priv forms, DNSName and NotDNSName do)",
        ])
        #expect(refusal.errors.first?.hasPrefix(position(of: "Family", in: Self.yaml)) == true, "\(refusal)")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
