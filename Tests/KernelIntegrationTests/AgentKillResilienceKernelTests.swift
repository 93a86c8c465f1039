// SPDX-License-Identifier: Apache-2.0
import CLibbpf
import Foundation
import Glibc
import Testing
import TestSupport

/// The agent-kill resilience figure (issue 19 part 3): with `--keep-sensors-on-exit`, twenty
/// generations of the agent, each killed with SIGKILL at a random moment around a policy reload
/// while an open/connect storm runs in the fence. After every kill the connect denies the docs
/// say survive (port only; port and `matchBinaries`) still refuse; after every restart the
/// agent lists exactly the policies on disk, the pins in `--bpf-dir` are the same set, and no
/// link, program or map of the killed agent is left in the kernel except what the new agent
/// took over. One fence and one bpf directory for all generations; everything removed at the end.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(5)))
struct AgentKillResilienceKernelTests {
    /// SIGKILLs; `VIGIL_KILL_GENERATIONS` scales a longer soak.
    static var generations: Int {
        ProcessInfo.processInfo.environment["VIGIL_KILL_GENERATIONS"].flatMap(Int.init) ?? 20
    }

    /// The kill moments are drawn from this seed, printed so that `VIGIL_KILL_SEED` replays a run.
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["VIGIL_KILL_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1...UInt64(UInt32.max))
    }

    /// BPF links, programs and maps by kernel id.
    struct BPFObjects: CustomStringConvertible {
        var links: Set<UInt32> = []
        var programs: Set<UInt32> = []
        var maps: Set<UInt32> = []

        var isEmpty: Bool { links.isEmpty && programs.isEmpty && maps.isEmpty }
        var description: String { "links \(links.sorted()), programs \(programs.sorted()), maps \(maps.sorted())" }

        /// Adds what the descriptor described by `fdinfo` (a /proc/PID/fdinfo file) refers to:
        /// a link and its program, a program, or a map.
        mutating func add(fdinfo path: String) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
            for line in text.split(separator: "\n") {
                let field = line.split(separator: ":", maxSplits: 1)
                guard field.count == 2, let id = UInt32(field[1].trimmingCharacters(in: .whitespaces)) else { continue }
                switch field[0] {
                case "link_id": links.insert(id)
                case "prog_id": programs.insert(id)
                case "map_id": maps.insert(id)
                default: break
                }
            }
        }

        /// Everything a process holds a descriptor of: what it loaded and attached.
        static func held(by pid: pid_t) -> BPFObjects {
            var objects = BPFObjects()
            let dir = "/proc/\(pid)/fdinfo"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] { objects.add(fdinfo: "\(dir)/\(fd)") }
            return objects
        }

        /// Everything pinned in `directory` and in its `previous-*` subdirectories.
        static func pinned(in directory: String) -> BPFObjects {
            var objects = BPFObjects()
            for path in pinPaths(in: directory) {
                let fd = bpf_obj_get(path)
                guard fd >= 0 else { continue }
                objects.add(fdinfo: "/proc/self/fdinfo/\(fd)")
                close(fd)
            }
            return objects
        }

        static func pinPaths(in directory: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).flatMap { name -> [String] in
                let path = "\(directory)/\(name)"
                guard name.hasPrefix("previous-") else { return [path] }
                return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).map { "\(path)/\($0)" }
            }
        }

        /// Those of them the kernel still has (a get-fd-by-id that does not fail with ENOENT).
        var alive: BPFObjects {
            func exists(_ id: UInt32, _ open: (UInt32) -> Int32) -> Bool {
                let fd = open(id)
                if fd >= 0 { close(fd) }
                return fd >= 0 || (fd != -ENOENT && errno != ENOENT)
            }
            return BPFObjects(
                links: links.filter { exists($0, bpf_link_get_fd_by_id) },
                programs: programs.filter { exists($0, bpf_prog_get_fd_by_id) },
                maps: maps.filter { exists($0, bpf_map_get_fd_by_id) })
        }

        func union(_ other: BPFObjects) -> BPFObjects {
            BPFObjects(links: links.union(other.links), programs: programs.union(other.programs), maps: maps.union(other.maps))
        }

        func subtracting(_ other: BPFObjects) -> BPFObjects {
            BPFObjects(
                links: links.subtracting(other.links), programs: programs.subtracting(other.programs),
                maps: maps.subtracting(other.maps))
        }
    }

    /// Accepts what reached `listener`, waiting up to `milliseconds` for the first connection;
    /// returns how many did.
    func drain(_ listener: ConnectKernelTests.Listener, waiting milliseconds: Int32 = 0) -> Int {
        var count = 0
        while true {
            var pfd = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, count == 0 ? milliseconds : 0) > 0 else { return count }
            let connection = accept(listener.fd, nil, nil)
            guard connection >= 0 else { return count }
            close(connection)
            count += 1
        }
    }

    static func denyPort(name: String, port: UInt16, binary: String? = nil) -> String {
        let binaries = binary.map { "\n      matchBinaries:\n      - operator: In\n        values: [\"\($0)\"]" } ?? ""
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: \(name)
            spec:
              lsmhooks:
              - hook: socket_connect
                args:
                - index: 1
                  type: sockaddr
                selectors:
                - matchArgs:
                  - index: 1
                    operator: DPort
                    values: ["\(port)"]\(binaries)
                  matchActions:
                  - action: Override
                    argError: -1
            """
    }

    /// The policy each reload adds under a new name (and the one it replaces is removed): it
    /// observes the storm's opens, so every reload attaches and detaches hooks too.
    static func churn(name: String, path: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
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
                values: ["\(path)"]
              matchActions:
              - action: Post
        """
    }

    /// `metadata.name` of every policy file in `directory`, by file name, as read from disk now.
    static func policiesOnDisk(_ directory: String) -> [String: String] {
        var names: [String: String] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".yaml") {
            let text = (try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n")
            guard let metadata = lines.firstIndex(of: "metadata:"),
                let name = lines[metadata...].first(where: { $0.hasPrefix("  name: ") })
            else { continue }
            names[file] = String(name.dropFirst("  name: ".count))
        }
        return names
    }

    /// Loaded policies as `tracectl policy list -o json` shows them, by file name; the others
    /// (refused, disabled, not from a file) under their name with their state.
    static func policiesListed(_ agent: AgentHarness) throws -> [String: String] {
        let output = try agent.tracectl(["policy", "list", "-o", "json"]).output
        guard let data = output.data(using: .utf8),
            let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let policies = root["policies"] as? [[String: Any]]
        else { throw Spawn.Failure(description: "tracectl policy list: \(output)") }
        var listed: [String: String] = [:]
        for policy in policies {
            let name = policy["name"] as? String ?? "?"
            if policy["state"] as? String == "loaded", let file = policy["file"] as? String {
                listed[(file as NSString).lastPathComponent] = name
            } else {
                listed["\(name) (\(policy["state"] as? String ?? "?"), \(policy["file"] as? String ?? "no file"))"] = name
            }
        }
        return listed
    }

    @Test func twentySIGKILLsAroundPolicyReloadsUnderAStormLeaveTheDenyThePoliciesOnDiskAndNoLeftovers() throws {
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        print("AgentKillResilienceKernelTests: seed \(seed) (VIGIL_KILL_SEED=\(seed) replays the kill moments)")
        let dir = try TempDir("vigil-kill")
        defer { dir.remove() }
        let bpfDir = "/sys/fs/bpf/vigil-test-\(UUID().uuidString.prefix(8).lowercased())"
        defer { TestPins.remove(bpfDir) }
        let portListener = try ConnectKernelTests.Listener()
        defer { portListener.close() }
        let binaryListener = try ConnectKernelTests.Listener()
        defer { binaryListener.close() }
        let fence = try TestCgroup("kill-resilience")
        defer { fence.remove() }
        let bash = try dir.copy("/bin/bash", as: "bash-\(UUID().uuidString.prefix(8))")
        let policies = "\(dir.path)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        // Port only: every process in the fence. Port and binary: the copy of bash only.
        try Self.denyPort(name: "kill-resilience-port", port: portListener.port)
            .write(toFile: "\(policies)/deny-port.yaml", atomically: true, encoding: .utf8)
        try Self.denyPort(name: "kill-resilience-binary", port: binaryListener.port, binary: bash)
            .write(toFile: "\(policies)/deny-binary.yaml", atomically: true, encoding: .utf8)
        let target = "\(dir.path)/opened"
        try "storm\n".write(toFile: target, atomically: true, encoding: .utf8)
        /// A new churn policy, renamed into place (one inotify event: one reload).
        func writeChurn(_ generation: Int) throws {
            let staging = "\(dir.path)/churn.staging"
            let name = "kill-resilience-churn-\(String(format: "%02d", generation))"
            try Self.churn(name: name, path: target).write(toFile: staging, atomically: false, encoding: .utf8)
            guard rename(staging, "\(policies)/churn.yaml") == 0 else {
                throw Spawn.Failure(description: "rename into \(policies): \(String(cString: strerror(errno)))")
            }
        }
        try writeChurn(0)
        let arguments = ["--tracing-policy-dir", policies, "--keep-sensors-on-exit", "--bpf-dir", bpfDir]

        // The storm, started before any agent (its identity comes from the /proc seed, then
        // from the map each start takes over) and let go once the first one enforces: connects on both denied ports from itself, from a
        // fork and from a fresh exec of the copy, opens of the churn policy's file, one tick per
        // round, a short pause (a FIFO nobody writes) so a loaded 2-core machine keeps up. A
        // connect that succeeds is a lapse: written down, and also seen in the listeners' queues.
        let lapses = "\(dir.path)/lapses", ticks = "\(dir.path)/ticks", pause = "\(dir.path)/pause", go = "\(dir.path)/go"
        guard mkfifo(pause, 0o600) == 0 else { throw Spawn.Failure(description: "mkfifo: \(errno)") }
        let (port, binaryPort) = (portListener.port, binaryListener.port)
        let storm = try fence.spawn(bash, [
            "-c",
            """
            lapse() { echo "$1" >>\(lapses); }
            exec 2>/dev/null 8>>\(ticks) 9<>\(pause)
            until [ -e \(go) ]; do read -t 0.02 -u 9 _; done
            while :; do
              : 2>/dev/null 3<>/dev/tcp/127.0.0.1/\(port) && lapse "port only: the storm connected"
              : 2>/dev/null 3<>/dev/tcp/127.0.0.1/\(binaryPort) && lapse "port and binary: the storm connected"
              ( : 2>/dev/null 3<>/dev/tcp/127.0.0.1/\(binaryPort) ) && lapse "port and binary: a fork connected"
              \(bash) -c ': 2>/dev/null 3<>/dev/tcp/127.0.0.1/\(binaryPort)' && lapse "port and binary: an exec connected"
              for i in 1 2 3 4 5; do read -r _ <\(target); done
              printf . >&8
              read -t 0.02 -u 9 _
            done
            """,
        ])
        defer {
            kill(storm, SIGKILL)
            Spawn.wait(storm)
        }
        func stormRounds() -> Int {
            var st = stat()
            return stat(ticks, &st) == 0 ? Int(st.st_size) : 0
        }
        /// A fresh copy of bash started in the fence now: true when its connect was refused.
        func freshCopyDenied() throws -> Bool {
            let lived = "\(dir.path)/fresh-\(UUID().uuidString.prefix(6)).lived"
            let status = Spawn.wait(try fence.spawn(bash, ["-c", "exec 2>/dev/null; exec 3<>/dev/tcp/127.0.0.1/\(binaryPort) && echo > \(lived)"]))
            return status != 0 && !FileManager.default.fileExists(atPath: lived)
        }
        func pinNames() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: bpfDir)) ?? []) }

        // The agent of the generation running now; killed (or stopped) by pid, never twice.
        var current: AgentHarness?
        defer {
            if let current {
                current.kill9()
                current.cleanUp()
            }
        }
        var expectedPins: Set<String> = []
        var heldCounts: (links: Int, programs: Int)?
        var killedAgentObjects = BPFObjects()
        var restartSeconds: [Double] = []
        var moments: [String: Int] = [:]
        var roundsAtKill = 0, roundsWhileDown = 0
        var lapsesAccepted = 0, leftoverTotal = 0
        let generations = Self.generations
        for generation in 0...generations {
            let started = Date()
            let agent = try AgentHarness(arguments: arguments, fence: fence)
            current = agent
            if generation == 0 {
                try agent.waitForLog("connect enforcement pinned")
                try agent.waitForLog("process tracking pinned")
                // Scoped as written: the test's own child (not the copy) reaches the binary port.
                #expect(fence.connectErrno(port: binaryPort) == 0, "the binary-scoped deny refused another binary")
                #expect(drain(binaryListener, waiting: 2000) == 1)
                FileManager.default.createFile(atPath: go, contents: nil)
            } else {
                try agent.waitForLog("pinned enforcement of a previous run replaced")
                try agent.waitForLog("process identities of the previous run taken over")
                restartSeconds.append(Date().timeIntervalSince(started))
                roundsWhileDown += stormRounds() - roundsAtKill
            }
            let label = "generation \(generation) (seed \(seed))"

            // The policy set is the one on disk.
            let onDisk = Self.policiesOnDisk(policies)
            #expect(try Self.policiesListed(agent) == onDisk, "\(label): listed policies differ from \(onDisk)")

            // The same pins as in every generation, none of a previous run left.
            let pins = pinNames()
            if generation == 0 {
                expectedPins = pins
                let required = Set(PinnedEnforcementKernelTests.linkNames + PinnedEnforcementKernelTests.processPins)
                // Beside them, the syscall dispatcher the churn policy's file_open runs on here
                // (tracepoint hooks are pinned too).
                let optional: Set<String> = ["connect_result", "sys_enter", "sys_exit", "io_uring_complete", "sched_process_exec"]
                #expect(
                    required.isSubset(of: pins)
                        && pins.subtracting(required).allSatisfy {
                            optional.contains($0) || $0.hasPrefix("tracepoint_") || $0.hasPrefix("raw_tracepoint_")
                        },
                    "\(label): pins \(pins.sorted())")
            } else {
                #expect(pins == expectedPins, "\(label): pins \(pins.sorted()), expected \(expectedPins.sorted())")
            }
            #expect(!pins.contains { $0.hasPrefix("previous-") }, "\(label): \(pins.sorted())")

            // Nothing of the killed agent stays in the kernel but what this one took over (its
            // process map). Links go when their last pin does, programs and maps after them, the
            // kernel releasing them asynchronously: a few seconds' grace.
            let held = BPFObjects.held(by: agent.pid)
            var leftover = killedAgentObjects.alive.subtracting(held)
            let deadline = Date().addingTimeInterval(10)
            while !leftover.isEmpty && Date() < deadline {
                usleep(100_000)
                leftover = killedAgentObjects.alive.subtracting(BPFObjects.held(by: agent.pid))
            }
            #expect(leftover.isEmpty, "\(label): left by the killed agent: \(leftover)")
            leftoverTotal += leftover.links.count + leftover.programs.count + leftover.maps.count
            // What is pinned is this agent's, and each agent attaches as many links and loads as
            // many programs as the first.
            let pinned = BPFObjects.pinned(in: bpfDir)
            #expect(pinned.subtracting(held).isEmpty, "\(label): pinned but not this agent's: \(pinned.subtracting(held))")
            if let heldCounts {
                #expect(held.links.count == heldCounts.links && held.programs.count == heldCounts.programs,
                        "\(label): \(held.links.count) links, \(held.programs.count) programs; the first agent had \(heldCounts)")
            } else {
                heldCounts = (held.links.count, held.programs.count)
            }

            // The denies hold with the agent up.
            #expect(fence.connectErrno(port: port) == EPERM, "\(label): port-only deny with the agent up")
            #expect(try freshCopyDenied(), "\(label): binary deny with the agent up")
            lapsesAccepted += drain(portListener) + drain(binaryListener)
            if generation == generations { break }

            // A reload (the watch sees the churn file renamed once it settles, 0.2 s), SIGKILL 0
            // to 1.5 s later; or, half the time, SIGHUP starts one at once (the watch another
            // after it) and SIGKILL comes within 30 ms, close to the reload it started.
            // What the agent holds is read before (reading every fdinfo takes longer than a
            // reload); what it makes meanwhile either is pinned, and read from the pins after
            // the kill, or goes with its descriptors.
            let beforeKill = BPFObjects.held(by: agent.pid)
            try writeChurn(generation + 1)
            let hangUp = Bool.random(using: &rng)
            if hangUp { agent.send(SIGHUP) }
            let delay = Double.random(in: 0...(hangUp ? 0.03 : 1.5), using: &rng)
            usleep(UInt32(delay * 1_000_000))
            agent.kill9()
            current = nil
            roundsAtKill = stormRounds()
            killedAgentObjects = beforeKill.union(BPFObjects.pinned(in: bpfDir))
            moments[hangUp ? "SIGHUP" : "rename", default: 0] += 1
            print(
                "AgentKillResilienceKernelTests: generation \(generation): \(hangUp ? "rename + SIGHUP" : "rename"), "
                    + "SIGKILL after \(String(format: "%.3f", delay)) s"
                    + (restartSeconds.last.map { ", started in \(String(format: "%.2f", $0)) s" } ?? ""))
            agent.cleanUp()

            // No agent: both denies hold, for a process started now too; the pins stay as they were.
            #expect(fence.connectErrno(port: port) == EPERM, "\(label): port-only deny after SIGKILL")
            #expect(try freshCopyDenied(), "\(label): binary deny for a copy started after SIGKILL")
            #expect(pinNames() == expectedPins, "\(label): pins after SIGKILL \(pinNames().sorted())")
        }
        if let last = current {
            last.stop()
            last.cleanUp()
            current = nil
        }
        let rounds = stormRounds()
        kill(storm, SIGKILL)
        let written = (try? String(contentsOfFile: lapses, encoding: .utf8)) ?? ""
        let lapseCount = written.split(separator: "\n").count + lapsesAccepted + drain(portListener) + drain(binaryListener)
        #expect(lapseCount == 0, "denies lapsed (seed \(seed)): \(written)")
        #expect(rounds > 0 && roundsWhileDown > 0, "the storm did not run (\(rounds) rounds, \(roundsWhileDown) around the restarts)")
        let sorted = restartSeconds.sorted()
        print(
            """
            AgentKillResilienceKernelTests figure: \(generations) SIGKILLs (seed \(seed); \
            \(moments["SIGHUP", default: 0]) within 30 ms of a SIGHUP reload, \(moments["rename", default: 0]) within 1.5 s of a \
            rename), storm of \(rounds) rounds \
            (\(rounds * 4) connects, \(rounds * 5) opens; \(roundsWhileDown) rounds between a kill and the next agent ready), \
            deny lapses \(lapseCount), pins \(expectedPins.count) in every generation, \
            \(heldCounts.map { "\($0.links) links and \($0.programs) programs" } ?? "?") per agent, \
            objects of killed agents left \(leftoverTotal); restart to ready: max \(String(format: "%.2f", sorted.last ?? 0)) s, \
            median \(String(format: "%.2f", sorted.isEmpty ? 0 : sorted[sorted.count / 2])) s
            """)
    }
}
