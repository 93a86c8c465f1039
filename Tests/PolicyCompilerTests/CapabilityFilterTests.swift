// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Testing
import TracingPolicy

/// matchCapabilities: one entry per selector becomes the selector's `caps` filter (the set, In /
/// NotIn, the capabilities as a bit mask, and the host's user namespace for
/// isNamespaceCapability), evaluated in the kernel on the task's credentials.
@Suite struct CapabilityFilterTests {
    static func policy(_ selectors: String) -> String {
        RefusalTests.tracepointPolicy(selectors: selectors)
    }

    @Test func capabilitiesBecomeAMaskOnTheNamedSet() throws {
        let policy = try compile(Self.policy("""
            - matchCapabilities:
              - type: Permitted
                operator: NotIn
                values: [CAP_SYS_ADMIN, CAP_NET_RAW]
            """)).get()
        let caps = try #require(policy.hooks.first).hook.selector(0).caps
        #expect(caps.op == u8(VIGIL_OP_NOT_IN))
        #expect(caps.set == UInt8(VIGIL_CAPS_PERMITTED.rawValue))
        #expect(caps.mask == (1 << 21) | (1 << 13))
        #expect(caps.host_user_ns == 0)
    }

    /// Tetragon's default type is Effective; isNamespaceCapability carries the host's user
    /// namespace, whose tasks the kernel then never matches.
    @Test func namespaceCapabilitiesCarryTheHostUserNamespace() throws {
        let policy = try compile(Self.policy("""
            - matchCapabilities:
              - operator: In
                isNamespaceCapability: true
                values: [CAP_SYS_ADMIN]
            """)).get()
        let caps = try #require(policy.hooks.first).hook.selector(0).caps
        #expect(caps.op == u8(VIGIL_OP_IN))
        #expect(caps.set == UInt8(VIGIL_CAPS_EFFECTIVE.rawValue))
        #expect(caps.host_user_ns == Fixture.hostNamespaces.user)
    }

    @Test func anUnknownHostUserNamespaceIsRefused() throws {
        var environment = Fixture.environment
        environment.hostNamespaces = HostNamespaces(unknown: "cannot read /proc/1/ns/user: Permission denied")
        let yaml = Self.policy("""
            - matchCapabilities:
              - operator: In
                isNamespaceCapability: true
                values: [CAP_SYS_ADMIN]
            """)
        guard case .failure(let refusal) = compile(yaml, environment: environment) else {
            Issue.record("isNamespaceCapability compiled without the host's user namespace")
            return
        }
        #expect(refusal.errors.count == 1)
        #expect(refusal.errors.first?.contains("isNamespaceCapability: the host's user namespace is unknown") == true, "\(refusal.errors)")
    }

    /// Tetragon's kernel side reads one entry; a second is refused rather than dropped.
    @Test func aSecondEntryIsRefused() throws {
        let errors = refusal(Self.policy("""
            - matchCapabilities:
              - operator: In
                values: [CAP_SYS_ADMIN]
              - type: Permitted
                operator: In
                values: [CAP_NET_RAW]
            """))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("one matchCapabilities entry per selector is supported") == true, "\(errors)")
    }

    /// A deny decided by fanotify in user space cannot see the task's capabilities.
    @Test func fanotifyDeniesRefuseIt() throws {
        let errors = refusal("""
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: caps-deny
            spec:
              lsmhooks:
              - hook: file_open
                args:
                - index: 0
                  type: file
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["/etc/shadow"]
                  matchCapabilities:
                  - operator: NotIn
                    values: [CAP_SYS_ADMIN]
                  matchActions:
                  - action: Override
                    argError: -1
            """)
        #expect(errors.contains { $0.contains("matchCapabilities is not supported with Override on this hook") }, "\(errors)")
    }
}
