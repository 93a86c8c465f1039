// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// spec.uprobes through the real agent: a tiny C program built for the test into its own temp
/// directory, a uprobe on its exported function (an int and a string argument), and the
/// `process_uprobe` events read back from the export. Every policy names only binaries the test
/// built, so nothing else on the machine is probed, let alone killed; the Sigkill case also runs
/// inside the agent's fence cgroup.
@Suite(
    .requiresRoot, .serialized, .timeLimit(.minutes(2)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "cc is needed to build the traced program"),
    .enabled(
        if: FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type"),
        "this kernel has no uprobe PMU"))
struct UprobeKernelTests {
    static let source = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        /* Exported, not inlined: the probe's target keeps its own symbol and calling convention. */
        __attribute__((noinline)) int vigil_uprobe_target(int n, const char *s, unsigned long len)
        {
            __asm__ volatile("" ::: "memory");
            return n + (int)s[0] + (int)(len & 0);
        }

        int main(int argc, char **argv)
        {
            int n = argc > 1 ? atoi(argv[1]) : 0;
            const char *s = argc > 2 ? argv[2] : "";
            printf("%d\\n", vigil_uprobe_target(n, s, strlen(s)));
            return 0;
        }
        """

    /// Builds the program as `name` in `dir`.
    func build(_ name: String, in dir: TempDir) throws -> String {
        let source = "\(dir.path)/target.c"
        try Self.source.write(toFile: source, atomically: true, encoding: .utf8)
        let output = "\(dir.path)/\(name)"
        let status = try Spawn.run("/usr/bin/cc", argv: ["cc", "-O2", "-o", output, source].map { Array($0.utf8) })
        guard status == 0 else { throw Spawn.Failure(description: "cc exited with wait status \(status)") }
        return output
    }

    /// The target's virtual address, as `nm` prints it (the value `addrs` takes).
    func address(of symbol: String, in binary: String) throws -> String {
        let nm = Process()
        nm.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        nm.arguments = [binary]
        let pipe = Pipe()
        nm.standardOutput = pipe
        try nm.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nm.waitUntilExit()
        guard let line = out.split(separator: "\n").first(where: { $0.hasSuffix(" T \(symbol)") }) else {
            throw Spawn.Failure(description: "nm: no \(symbol) in \(binary)")
        }
        return "0x" + line.prefix { $0 != " " }
    }

    func run(_ agent: AgentHarness, _ binary: String, _ n: Int, _ s: String) throws -> Int32 {
        try agent.run(binary, argv: [binary, String(n), s].map { Array($0.utf8) })
    }

    /// Arguments, matchArgs on the string, the uretprobe's return value, the function by its
    /// address (`addrs`) and a Sigkill on a matching int: four policies on two copies of the
    /// program, one agent.
    @Test func uprobeEventsCarryTheArgumentsAndSigkillStopsTheMatchingCall() throws {
        let dir = try TempDir("vigil-uprobe")
        defer { dir.remove() }
        let unique = UUID().uuidString.prefix(8)
        let traced = try build("traced-\(unique)", in: dir)
        let killed = try build("killed-\(unique)", in: dir)
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: uprobe-args
            spec:
              uprobes:
              - path: "\(traced)"
                symbols: ["vigil_uprobe_target"]
                message: "target called"
                tags: ["test"]
                args:
                - index: 0
                  type: int
                  label: n
                - index: 1
                  type: string
                  label: s
                selectors:
                - matchArgs:
                  - index: 1
                    operator: Equal
                    values: ["hello-vigil"]
            """.write(toFile: "\(policies)/args.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: uprobe-return
            spec:
              uprobes:
              - path: "\(traced)"
                symbols: ["vigil_uprobe_target"]
                return: true
                args:
                - index: 1
                  type: string
                returnArg:
                  index: 0
                  type: int
                selectors:
                - matchArgs:
                  - index: 1
                    operator: Equal
                    values: ["ret-check"]
            """.write(toFile: "\(policies)/return.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: uprobe-kill
            spec:
              uprobes:
              - path: "\(killed)"
                symbols: ["vigil_uprobe_target"]
                args:
                - index: 0
                  type: int
                - index: 1
                  type: char_buf
                  sizeArgIndex: 3
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["9"]
                  matchActions:
                  - action: Sigkill
            """.write(toFile: "\(policies)/kill.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: uprobe-addr
            spec:
              uprobes:
              - path: "\(traced)"
                addrs: [\(try address(of: "vigil_uprobe_target", in: traced))]
                args:
                - index: 0
                  type: int
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["41"]
            """.write(toFile: "\(policies)/addr.yaml", atomically: true, encoding: .utf8)

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["uprobe-args", "uprobe-return", "uprobe-kill", "uprobe-addr"] { try agent.waitForLog("policy=\(name)") }
        #expect(agent.log.contains("\(traced):vigil_uprobe_target (uprobe)"), "\(agent.log)")

        #expect(try run(agent, traced, 41, "hello-vigil") == 0)
        #expect(try run(agent, traced, 42, "filtered-out") == 0)
        #expect(try run(agent, traced, 3, "ret-check") == 0)
        #expect(try run(agent, killed, 1, "lives") == 0)
        let status = try run(agent, killed, 9, "dies")
        #expect(status & 0x7f == SIGKILL, "wait status \(status)")

        let event = try agent.waitFor("the uprobe event") { $0.type == "process_uprobe" && $0.policyName == "uprobe-args" }
        #expect(event.body["path"] as? String == traced, "\(event.line)")
        #expect(event.body["symbol"] as? String == "vigil_uprobe_target")
        #expect(event.body["offset"] == nil, "a symbol hook has no offset (Tetragon's are exclusive): \(event.line)")
        #expect(event.binary == traced)
        #expect(event.args.count == 2)
        #expect(event.args.first?["int_arg"] as? Int == 41, "\(event.line)")
        #expect(event.args.first?["label"] as? String == "n")
        #expect(event.args.last?["string_arg"] as? String == "hello-vigil", "\(event.line)")
        #expect(event.args.last?["label"] as? String == "s")
        #expect(event.action == "KPROBE_ACTION_POST")
        #expect(event.body["message"] as? String == "target called")
        #expect(event.body["tags"] as? [String] == ["test"])
        #expect(event.vigil["mechanism"] as? String == "uprobe", "\(event.line)")

        // addrs: the same call through the function's address, reported with the file offset probed.
        let byAddress = try agent.waitFor("the addrs event") { $0.policyName == "uprobe-addr" }
        #expect(byAddress.body["symbol"] == nil, "\(byAddress.line)")
        #expect((byAddress.body["offset"] as? String).flatMap { UInt64($0) }.map { $0 > 0 } == true, "\(byAddress.line)")
        #expect(byAddress.args.first?["int_arg"] as? Int == 41)

        let returned = try agent.waitFor("the uretprobe event") { $0.policyName == "uprobe-return" }
        // vigil_uprobe_target returns n + s[0]: 3 + 'r'.
        #expect((returned.vigil["return"] as? [String: Any])?["int_arg"] as? Int == 3 + 114, "\(returned.line)")
        #expect(returned.vigil["mechanism"] as? String == "uretprobe")

        let kill = try agent.waitFor("the Sigkill event") { $0.policyName == "uprobe-kill" }
        #expect(kill.action == "KPROBE_ACTION_SIGKILL", "\(kill.line)")
        #expect(kill.args.first?["int_arg"] as? Int == 9)
        // char_buf: the string's bytes, as long as the third argument says.
        #expect(kill.args.last?["bytes_arg"] as? String == Data("dies".utf8).base64EncodedString(), "\(kill.line)")

        // The filtered call ran before the uretprobe's and the kill's: it would be exported by now.
        agent.poll()
        let args = agent.events.filter { $0.policyName == "uprobe-args" }
        #expect(args.count == 1, "matchArgs let another call through: \(args.map(\.line))")
        #expect(agent.events.filter { $0.policyName == "uprobe-kill" }.count == 1)
    }

    /// Tetragon's own examples on a copy of bash (never on /bin/bash itself): uprobe.yaml
    /// (readline and main) and uprobe-pid.yaml (matchPIDs with followForks, its pid replaced by
    /// this test's, its readline by main, which `bash -c` calls and readline is not), as written
    /// otherwise. One run of the copy reports main to both.
    @Test(
        .enabled(if: FileManager.default.fileExists(atPath: "/work/shared/reference/tetragon-examples/uprobe.yaml"), "no Tetragon examples here"),
        .enabled(if: FileManager.default.fileExists(atPath: "/bin/bash"), "no /bin/bash here"))
    func tetragonsBashExamplesRunOnACopyOfBash() throws {
        let dir = try TempDir("vigil-uprobe-bash")
        defer { dir.remove() }
        let bash = try dir.copy("/bin/bash", as: "bash-\(UUID().uuidString.prefix(8))")
        let examples = "/work/shared/reference/tetragon-examples"
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        let plain = try String(contentsOfFile: "\(examples)/uprobe.yaml", encoding: .utf8)
            .replacingOccurrences(of: "\"/bin/bash\"", with: "\"\(bash)\"")
            .replacingOccurrences(of: "name: \"uprobe\"", with: "name: \"tetragon-uprobe\"")
        let pid = try String(contentsOfFile: "\(examples)/uprobe-pid.yaml", encoding: .utf8)
            .replacingOccurrences(of: "\"/bin/bash\"", with: "\"\(bash)\"")
            .replacingOccurrences(of: "name: \"uprobe\"", with: "name: \"tetragon-uprobe-pid\"")
            .replacingOccurrences(of: "\"readline\"", with: "\"main\"")
            .replacingOccurrences(of: "- 61697", with: "- \(getpid())")
        #expect(plain.contains(bash) && pid.contains(bash) && pid.contains("\(getpid())"), "the examples changed: \(plain)\n\(pid)")
        try plain.write(toFile: "\(policies)/uprobe.yaml", atomically: true, encoding: .utf8)
        try pid.write(toFile: "\(policies)/uprobe-pid.yaml", atomically: true, encoding: .utf8)

        let agent = try AgentHarness(arguments: ["--tracing-policy-dir", policies])
        defer {
            agent.stop()
            agent.cleanUp()
        }
        for name in ["tetragon-uprobe", "tetragon-uprobe-pid"] { try agent.waitForLog("policy=\(name)") }
        #expect(agent.log.contains("\(bash):readline (uprobe)") && agent.log.contains("\(bash):main (uprobe)"), "\(agent.log)")
        #expect(try agent.run(bash, argv: [bash, "-c", "true"].map { Array($0.utf8) }) == 0)
        for name in ["tetragon-uprobe", "tetragon-uprobe-pid"] {
            let event = try agent.waitFor("main in \(name)") { $0.type == "process_uprobe" && $0.policyName == name }
            #expect(event.body["path"] as? String == bash, "\(event.line)")
            #expect(event.body["symbol"] as? String == "main", "\(event.line)")
            #expect(event.binary == bash)
        }
    }
}
