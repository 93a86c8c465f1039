// SPDX-License-Identifier: Apache-2.0

import ControlAPI
import Testing
@testable import tracectl

@Suite("tracectl text output")
struct TextOutputTests {
    @Test("status")
    func status() async {
        let text = TextOutput.status(await FakeAgent().status())
        #expect(text.hasPrefix("version:      0.0.0-test\nnode:         test-node\nkernel:       6.18.0\nuptime:       1h2m3s\n"))
        #expect(text.contains("  HOOK        MECHANISM    OBSERVE  KILL  DENY\n  tracepoint  tracepoint   yes      yes   no\n"))
        #expect(text.contains("counters:\n  client_drops     0\n  events_exported  42\n"))
    }

    @Test("policy list")
    func policies() {
        let text = TextOutput.policies(FakeAgent.filePolicies)
        #expect(text == """
            NAME                  NAMESPACE  STATE   MODE     SOURCE  HOOKS  ACTIONS
            sensitive-file-reads  -          loaded  enforce  file    1      post=12
            uses-lsm              -          error   enforce  file    0      -
              error: lsm.yaml:9:3: spec.lsmhooks: BPF-LSM is not available on this kernel

            """)
        #expect(TextOutput.policies([]) == "no policies\n")
    }

    @Test("policy list shows a pod scope")
    func scopedPolicy() {
        let policy = PolicyInfo(
            name: "no-curl", namespace: "shop", source: .kubernetes, state: .loaded, hooks: [],
            scope: PolicyScopeInfo(selector: "namespace=shop pods{app=cart}", cgroups: 2, unresolved: 1))
        #expect(TextOutput.policies([policy]) == """
            NAME     NAMESPACE  STATE   MODE     SOURCE      HOOKS  ACTIONS
            no-curl  shop       loaded  enforce  kubernetes  0      -
              scope: namespace=shop pods{app=cart} (2 cgroups, 1 not found yet)

            """)
    }

    @Test("durations")
    func durations() {
        #expect(TextOutput.duration(5.9) == "5s")
        #expect(TextOutput.duration(65) == "1m5s")
        #expect(TextOutput.duration(90_061) == "1d1h1m1s")
    }
}
