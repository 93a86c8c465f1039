// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// `--enable-dns-names`: a real DNS server (Debian's dnsmasq) answers `api.test.` and
/// `other.test.` on 127.0.0.1 in a network namespace of the test's own, a client in that
/// namespace (and in the agent's fence cgroup) resolves them with raw UDP queries and connects
/// to each address; the connect policy events and the flows carry the names, the address no
/// answer named carries none, and after the answers' TTL (dnsmasq's --local-ttl, 1 s) the same
/// address is no longer named. Every event is scoped to the client's pid and a port of its own.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct DNSNamesKernelTests {
    static let dnsmasq = "/usr/sbin/dnsmasq"

    /// Resolves with a raw UDP query (A, one question) and connects to a listener of its own on
    /// every address, at the given port: api.test, other.test, 127.0.0.4 (never resolved), then
    /// after argv[3] seconds api.test's address again without asking. Writes the steps as JSON.
    static let client = """
        import json, socket, struct, sys, time
        port, out = int(sys.argv[1]), sys.argv[2]
        def query(name):
            q = struct.pack('!HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
            q += b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\\0' + struct.pack('!HH', 1, 1)
            for _ in range(40):  # until dnsmasq listens
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.25)
                try:
                    s.sendto(q, ('127.0.0.1', 53)); data = s.recv(2048); return socket.inet_ntoa(data[-4:])
                except OSError: time.sleep(0.05)
                finally: s.close()
            raise SystemExit('no answer for ' + name)
        listener = socket.socket(); listener.bind(('0.0.0.0', port)); listener.listen(16)
        def connect(addr):
            c = socket.create_connection((addr, port)); a, _ = listener.accept(); c.close(); a.close()
        steps = []
        api = query('api.test'); connect(api); steps.append(['api', api])
        other = query('other.test'); connect(other); steps.append(['other', other])
        connect('127.0.0.4'); steps.append(['unresolved', '127.0.0.4'])
        time.sleep(float(sys.argv[3]))
        connect(api); steps.append(['expired', api])
        json.dump(steps, open(out, 'w'))
        """

    /// Run under `unshare -n`: loopback up, dnsmasq in the foreground in the background (its pid
    /// file in the test's directory, killed on the way out), then the client.
    static let script = """
        set -e
        ip link set lo up
        \(dnsmasq) --conf-file=/dev/null -k --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \\
          --port=53 --address=/api.test/127.0.0.2 --address=/other.test/127.0.0.3 --local-ttl=1 \\
          --pid-file="$1/dnsmasq.pid" --user=root &
        trap 'kill $!' EXIT
        /usr/bin/python3 "$1/client.py" "$2" "$1/steps.json" 1.5
        """

    static func policy(port: UInt16) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: observe-dns-test-connects
        spec:
          lsmhooks:
          - hook: socket_connect
            args:
            - index: 1
              type: sockaddr
              label: address
            selectors:
            - matchArgs:
              - index: 1
                operator: DPort
                values: ["\(port)"]
        """
    }

    static func names(_ event: ExportedEvent) -> String? {
        event.args.first { $0["label"] as? String == "destination_names" }?["string_arg"] as? String
    }

    @Test func connectsAndFlowsCarryTheNamesTheirCgroupResolvedUntilTheTTL() throws {
        try #require(access(Self.dnsmasq, X_OK) == 0, "dnsmasq missing: apt-get install dnsmasq-base (make test-kernel does)")
        let dir = try TempDir("vigil-dns")
        defer { dir.remove() }
        let port = UInt16.random(in: 40000...49999)
        try FileManager.default.createDirectory(atPath: "\(dir.path)/policies", withIntermediateDirectories: true)
        try Self.policy(port: port).write(toFile: "\(dir.path)/policies/observe.yaml", atomically: true, encoding: .utf8)
        try Self.client.write(toFile: "\(dir.path)/client.py", atomically: true, encoding: .utf8)
        try Self.script.write(toFile: "\(dir.path)/run.sh", atomically: true, encoding: .utf8)
        // Strictly Tetragon's schema (no --enable-vigil-fields): the names are a labelled argument.
        let agent = try AgentHarness(
            arguments: ["--enable-dns-names", "--enable-flows", "--tracing-policy-dir", "\(dir.path)/policies"], vigilFields: false)
        defer { agent.cleanUp() }
        var stopped = false
        defer { if !stopped { agent.stop() } }
        try agent.waitForLog("policy=observe-dns-test-connects")
        try agent.waitForLog("DNS answers attached")

        let started = Date()
        let shell = try agent.spawn("/usr/bin/unshare", ["-n", "/bin/sh", "\(dir.path)/run.sh", dir.path, "\(port)"])
        let status = Spawn.wait(shell)
        // dnsmasq goes with the script's trap; by its pid file if the script did not get there.
        if let text = try? String(contentsOfFile: "\(dir.path)/dnsmasq.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        #expect(status == 0, "client and dnsmasq ran")
        let steps = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/steps.json"))) as? [[String]]
        #expect(steps?.map { $0[1] } == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"], "dnsmasq's answers")

        // The four connects, as the policy saw them, in order.
        let connects = try agent.waitFor(count: 4, "the client's four socket_connect events") {
            $0.type == "process_lsm" && ($0.args.first?["sockaddr_arg"] as? [String: Any])?["port"] as? Int == Int(port)
        }
        let addresses = connects.map { ($0.args.first?["sockaddr_arg"] as? [String: Any])?["addr"] as? String }
        #expect(addresses == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"])
        #expect(connects.map(Self.names) == ["api.test", "other.test", nil, nil], "\(connects.map(\.line))")
        #expect(connects.first?.args.last?["label"] as? String == "destination_names", "the names come last")

        // The client's outgoing flows to the same addresses, in the order they closed.
        let flows = try agent.waitFor(count: 4, "the client's four outgoing flows") {
            let sock = $0.args.first?["sock_arg"] as? [String: Any]
            return $0.body["function_name"] as? String == "tcp_close" && sock?["dport"] as? Int == Int(port)
        }
        let byAddress = flows.map { (($0.args.first?["sock_arg"] as? [String: Any])?["daddr"] as? String ?? "", Self.names($0)) }
        #expect(byAddress.map(\.0) == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"])
        #expect(byAddress.map(\.1) == ["api.test", "other.test", nil, nil], "\(flows.map(\.line))")

        // Each named line is still strictly Tetragon's schema.
        let schema = try TetragonSchema.load()
        for event in [connects[0], flows[0]] {
            #expect(schema.problems(line: event.line).isEmpty, "\(schema.problems(line: event.line)) in \(event.line)")
        }
        #expect(Date().timeIntervalSince(started) < 20)

        let log = agent.stop()
        stopped = true
        #expect(log.contains("dns_drops=0"), "\(log.suffix(1500))")
    }
}
