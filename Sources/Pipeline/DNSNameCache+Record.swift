// SPDX-License-Identifier: Apache-2.0
import DNSNames
import Events

extension DNSNameCache {
    /// Learns from a DNS answer the kernel captured; one cut at the capture is counted
    /// (``Stats/cut``), not parsed: a partial message cannot be read whole.
    mutating func learn(_ record: DNSRecord) {
        guard record.isComplete else { return countCut() }
        learn(payload: record.payload, cgroup: record.cgroupID, now: record.ktime)
    }
}
