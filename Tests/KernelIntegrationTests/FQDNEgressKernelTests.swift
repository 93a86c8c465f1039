// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// FQDN egress (matchArgs DNSName / NotDNSName, Vigil's extension): a real DNS server (Debian's
/// dnsmasq) answers `api.test.` and `other.test.` with a 3 s TTL on 127.0.0.1 in a network
/// namespace of the test's own; a client there, born in the agent's fence cgroup, resolves them
/// with raw UDP queries and connects to port 443 of each. Under a policy allowing only api.test
/// on 443 (and DNS on 53), the connect to api's address succeeds because the DNS answer program
/// wrote it to vg_fqdn_allow before the client read the answer, while the same connect from
/// another cgroup fails with EPERM (answers open egress for the cgroup that received them);
/// other's address and one never resolved fail with EPERM; after the TTL api's address fails
/// too, until it is resolved again.
///
/// Machine safety: the Override only acts in the fence (--enforcement-cgroup), where only the
/// client runs, and the selectors also require a network namespace other than the host's; a
/// monitor-mode run of the same policy first shows it denies nothing (every connect succeeds)
/// while its events say what enforcing would do.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(2)))
struct FQDNEgressKernelTests {
    static let dnsmasq = "/usr/sbin/dnsmasq"

    /// Resolves with a raw UDP query (A, one question) and connects to a listener of its own on
    /// port 443: api.test; the same address from a child process moved to the peer cgroup
    /// argv[3], which received no answer; api.test again from the client (still allowed: the
    /// peer's EPERM was its cgroup's, not the TTL's); other.test; 127.0.0.4 (never resolved);
    /// api.test's address again after argv[2] seconds without asking, then after asking again.
    /// Writes its pid and [step, address, errno] per step.
    static let client = """
        import errno, json, os, socket, struct, sys, time
        out = sys.argv[1]
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
        listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('0.0.0.0', 443)); listener.listen(16)
        def connect(addr):
            c = socket.socket()
            try:
                c.connect((addr, 443)); a, _ = listener.accept(); a.close(); return 0
            except OSError as e: return e.errno
            finally: c.close()
        steps = []
        api = query('api.test'); steps.append(['api', api, connect(api)])
        child = os.fork()  # the peer: a child moved to another cgroup, connecting at once
        if child == 0:
            open(sys.argv[3] + '/cgroup.procs', 'w').write('0')
            c = socket.socket()
            try: c.connect((api, 443)); os._exit(0)
            except OSError as e: os._exit(e.errno)
        steps.append(['peer', api, os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])])
        steps.append(['api', api, connect(api)])
        other = query('other.test'); steps.append(['other', other, connect(other)])
        steps.append(['unresolved', '127.0.0.4', connect('127.0.0.4')])
        time.sleep(float(sys.argv[2]))
        steps.append(['expired', api, connect(api)])
        api = query('api.test'); steps.append(['again', api, connect(api)])
        json.dump({'pid': os.getpid(), 'steps': steps}, open(out, 'w'))
        """

    /// Run under `unshare -n`: loopback up, dnsmasq in the background (its pid file in the test's
    /// directory, killed on the way out), then the client.
    static let script = """
        set -e
        ip link set lo up
        \(dnsmasq) --conf-file=/dev/null -k --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \\
          --port=53 --address=/api.test/127.0.0.2 --address=/other.test/127.0.0.3 --local-ttl=3 \\
          --pid-file="$1/dnsmasq.pid" --user=root &
        trap 'kill $!' EXIT
        /usr/bin/python3 "$1/client.py" "$1/steps.json" 3.6 "$2" 2>"$1/client.err"
        """

    /// api.test on 443 and DNS on 53, nothing else, for IPv4/IPv6 connects from processes
    /// outside the host's network namespace; `mode` monitor or enforce. dnsmasq is left out: its
    /// answers are sends from port 53 to the client's port, which a sockaddr cannot tell apart.
    static func policy(mode: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: egress-api-test
        spec:
          options:
          - name: policy-mode
            value: \(mode)
          lsmhooks:
          - hook: socket_connect
            args:
            - index: 1
              type: sockaddr
              label: address
            selectors:
            - matchArgs:
              - index: 1
                operator: Family
                values: ["AF_INET", "AF_INET6"]
              - index: 1
                operator: NotDNSName
                values: ["api.test"]
              - index: 1
                operator: NotDPort
                values: ["53"]
              matchNamespaces:
              - namespace: Net
                operator: NotIn
                values: ["host_ns"]
              matchBinaries:
              - operator: NotIn
                values: ["\(dnsmasq)"]
              matchActions:
              - action: Override
                argError: -1
            - matchArgs:
              - index: 1
                operator: Family
                values: ["AF_INET", "AF_INET6"]
              - index: 1
                operator: NotDPort
                values: ["443", "53"]
              matchNamespaces:
              - namespace: Net
                operator: NotIn
                values: ["host_ns"]
              matchBinaries:
              - operator: NotIn
                values: ["\(dnsmasq)"]
              matchActions:
              - action: Override
                argError: -1
        """
    }

    struct Run {
        var pid: Int
        var steps: [(String, String, Int)]
        var events: [ExportedEvent]
    }

    /// Starts an agent with the policy in `mode`, runs dnsmasq and the client, and returns the
    /// client's steps and the agent's socket_connect events for port 443 (`expected` of them).
    func run(mode: String, expected: Int) throws -> Run {
        try #require(access(Self.dnsmasq, X_OK) == 0, "dnsmasq missing: apt-get install dnsmasq-base (make test-kernel does)")
        let dir = try TempDir("vigil-fqdn")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: "\(dir.path)/policies", withIntermediateDirectories: true)
        try Self.policy(mode: mode).write(toFile: "\(dir.path)/policies/egress.yaml", atomically: true, encoding: .utf8)
        try Self.client.write(toFile: "\(dir.path)/client.py", atomically: true, encoding: .utf8)
        try Self.script.write(toFile: "\(dir.path)/run.sh", atomically: true, encoding: .utf8)
        let agent = try AgentHarness(arguments: ["--enable-dns-names", "--tracing-policy-dir", "\(dir.path)/policies"])
        defer { agent.cleanUp() }
        var stopped = false
        defer { if !stopped { agent.stop() } }
        try agent.waitForLog("policy=egress-api-test")

        // A second cgroup in the fence, for the client's child: it must not reach what the
        // client's own cgroup learnt. Removed with the fence.
        let peer = try #require(try agent.fence?.subdirectory("peer"))
        let shell = try agent.spawn("/usr/bin/unshare", ["-n", "/bin/sh", "\(dir.path)/run.sh", dir.path, peer])
        let status = Spawn.wait(shell)
        if let text = try? String(contentsOfFile: "\(dir.path)/dnsmasq.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        #expect(status == 0, "client and dnsmasq ran: \((try? String(contentsOfFile: "\(dir.path)/client.err", encoding: .utf8)) ?? "")")
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/steps.json"))) as? [String: Any]
        let pid = result?["pid"] as? Int ?? -1
        let steps = (result?["steps"] as? [[Any]] ?? []).map { ($0[0] as? String ?? "", $0[1] as? String ?? "", $0[2] as? Int ?? -1) }
        let events = try agent.waitFor(count: expected, "the client's socket_connect events to 443") {
            $0.type == "process_lsm" && $0.pid == pid && ($0.args.first?["sockaddr_arg"] as? [String: Any])?["port"] as? Int == 443
        }
        let log = agent.stop()
        stopped = true
        // api.test's address, learnt in the kernel at each of its two answers.
        #expect(log.contains("fqdn_learnt=2"), "\(log.suffix(1500))")
        return Run(pid: pid, steps: steps, events: events)
    }

    static func names(_ event: ExportedEvent) -> String? {
        event.args.first { $0["label"] as? String == "destination_names" }?["string_arg"] as? String
    }

    static func address(_ event: ExportedEvent) -> String? {
        (event.args.first?["sockaddr_arg"] as? [String: Any])?["addr"] as? String
    }

    /// Monitor first: nothing is denied, and the events say which connects enforcing would deny.
    @Test func monitorDeniesNothingAndReportsWhatItWouldDeny() throws {
        let run = try run(mode: "monitor", expected: 3)
        #expect(run.steps.map(\.2) == [0, 0, 0, 0, 0, 0, 0], "\(run.steps)")
        // api.test's first connect and its connect after re-resolving match no selector: no event.
        #expect(run.events.map(Self.address) == ["127.0.0.3", "127.0.0.4", "127.0.0.2"], "\(run.events.map(\.line))")
        #expect(run.events.allSatisfy { $0.vigil["policy_mode"] as? String == "monitor" }, "\(run.events.map(\.line))")
        #expect(run.events.allSatisfy { $0.action == "KPROBE_ACTION_OVERRIDE" })
    }

    @Test func onlyTheResolvedNameIsReachableUntilItsTTL() throws {
        let run = try run(mode: "enforce", expected: 3)
        #expect(run.steps.map(\.0) == ["api", "peer", "api", "other", "unresolved", "expired", "again"])
        #expect(run.steps.map(\.1) == ["127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2", "127.0.0.2"], "dnsmasq's answers")
        let eperm = Int(EPERM)
        #expect(run.steps.map(\.2) == [0, eperm, 0, eperm, eperm, eperm, 0], "\(run.steps)")

        let other = run.events[0]
        #expect(Self.address(other) == "127.0.0.3")
        #expect(Self.names(other) == "other.test", "\(other.line)")
        #expect(other.policyName == "egress-api-test")
        #expect(other.action == "KPROBE_ACTION_OVERRIDE")
        #expect(other.pid == run.pid && other.binary?.hasPrefix("/usr/bin/python3") == true, "the client: \(other.line)")
        #expect((other.vigil["return"] as? [String: Any])?["int_arg"] as? Int == -Int(EPERM), "\(other.line)")
        #expect(other.vigil["fenced"] == nil && other.vigil["policy_mode"] == nil, "denied in the fence: \(other.line)")
        #expect(Self.address(run.events[1]) == "127.0.0.4" && Self.names(run.events[1]) == nil, "\(run.steps)")
        // Past the TTL the address is no longer api.test's, for the kernel as for the names.
        #expect(Self.address(run.events[2]) == "127.0.0.2" && Self.names(run.events[2]) == nil, "\(run.events[2].line)")
    }
}
