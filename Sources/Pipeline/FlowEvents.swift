// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache

/// TCP flow records (`--enable-flows`, bpf/progs/flows.bpf.c) -> policy-free `process_kprobe`
/// events with `function_name` `tcp_close`, the shape of Tetragon's `tcp_close` kprobe events:
/// the socket as `sock_arg` (family, type, protocol, both ends, cookie, state), then the flow's
/// direction, payload bytes each way and duration as labelled arguments of Tetragon's own types,
/// so a line stays inside Tetragon's schema without `--enable-vigil-fields` (docs/events.md);
/// with `--enable-dns-names`, the peer's `destination_names` last (``DestinationNames``).
package enum FlowEvents {
    /// The event's `function_name`: the kernel function Tetragon hooks for the same record.
    package static let functionName = "tcp_close"
    /// The hook that made the record, Vigil's `vigil.mechanism`.
    package static let mechanism = "tp_btf sock/inet_sock_set_state"
    /// The `direction` values' bytes, made once (an array per event otherwise).
    private static let outgoing = Array("outgoing".utf8)
    private static let incoming = Array("incoming".utf8)

    package static func event(
        for record: FlowRecord, cache: inout ProcessCache, nodeName: String, clock: KtimeClock,
        destinationNames: [String] = []
    ) -> ExportEvent {
        let s = record.sock
        let sock = SocketArgument(
            family: ArgumentRenderer.familyName(s.family), type: ArgumentRenderer.socketTypeName(s.type),
            protocol: ArgumentRenderer.protocolName(s.protocol), mark: s.mark,
            saddr: ArgumentRenderer.addressText(family: s.family, s.saddr),
            daddr: ArgumentRenderer.addressText(family: s.family, s.daddr), sport: UInt32(s.sport), dport: UInt32(s.dport),
            state: ArgumentRenderer.tcpStateName(s.state), cookie: record.cookie)
        let direction: [UInt8] =
            switch record.direction {
            case .outgoing: outgoing
            case .incoming: incoming
            case nil: []
            }
        var args = [
            Argument(.socket(sock), label: "sock"),
            Argument(.string(direction), label: "direction"),
            Argument(.size(record.bytesSent), label: "bytes_sent"),
            Argument(.size(record.bytesReceived), label: "bytes_received"),
            Argument(.size(record.durationNanoseconds), label: "duration_ns"),
        ]
        // `--enable-dns-names`: the peer's names, when its address came from an answer the
        // owner's cgroup received.
        if let names = DestinationNames.argument(destinationNames) { args.append(names) }
        var outcome = PolicyOutcome(policyName: "", action: .unknown)
        outcome.mechanism = mechanism
        return PolicyEvents.event(
            kind: .kprobe(functionName: functionName, args: args, outcome: outcome), pid: record.pid, tid: record.tid,
            processKtime: record.processKtime, cgroupID: record.cgroupID, binary: [],
            startTime: clock.wallTime(ktime: record.processKtime), time: clock.wallTime(ktime: record.ktime),
            cache: cache, nodeName: nodeName)
    }
}
