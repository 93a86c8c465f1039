// SPDX-License-Identifier: Apache-2.0
import Events
@testable import Pipeline
import Testing

/// The per-batch action counts: runs of one hook are counted without the dictionary, and what is
/// reported is the same as counting each record in it.
@Suite struct PolicyActionTallyTests {
    @Test func runsAndInterleavedKeysReportTheSameTotals() {
        var tally = PolicyActionTally()
        var reported: [String] = []
        let report: (String, PolicyAction, Int) -> Void = { reported.append("\($0) \($1.rawValue) \($2)") }
        for _ in 0..<5 { tally.add(slot: 1, action: .post, policy: "a", report: report) }
        for _ in 0..<2 { tally.add(slot: 2, action: .post, policy: "a", report: report) }
        for _ in 0..<3 { tally.add(slot: 1, action: .post, policy: "a", report: report) }
        tally.add(slot: 1, action: .sigkill, policy: "a", report: report)
        tally.add(slot: 2, action: .post, policy: "a", report: report)
        #expect(reported.isEmpty, "nothing is reported before the flush")
        tally.flush(report)
        #expect(reported.sorted() == ["a KPROBE_ACTION_POST 3", "a KPROBE_ACTION_POST 8", "a KPROBE_ACTION_SIGKILL 1"])
        reported.removeAll()
        tally.flush(report)
        #expect(reported.isEmpty, "a flush clears the counts")
    }

    @Test func aSlotReusedByAnotherPolicyReportsTheOldPolicyFirst() {
        var tally = PolicyActionTally()
        var reported: [String] = []
        let report: (String, PolicyAction, Int) -> Void = { reported.append("\($0) \($1.rawValue) \($2)") }
        for _ in 0..<2 { tally.add(slot: 1, action: .post, policy: "old", report: report) }
        tally.add(slot: 2, action: .post, policy: "other", report: report)
        for _ in 0..<3 { tally.add(slot: 1, action: .post, policy: "new", report: report) }
        tally.flush(report)
        #expect(reported.first == "old KPROBE_ACTION_POST 2")
        #expect(reported.sorted() == ["new KPROBE_ACTION_POST 3", "old KPROBE_ACTION_POST 2", "other KPROBE_ACTION_POST 1"])
    }
}
