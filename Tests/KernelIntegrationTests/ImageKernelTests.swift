// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// The agent's OCI image, built by scripts/build-image.sh (`make image`) with buildah from the
/// binary under test, run by podman as the DaemonSet runs it (privileged, the host's pid
/// namespace, network and cgroups, bpffs, BTF, /proc at /procRoot, the export directory mounted):
/// an exec on the host appears in the mounted export file with its binary, the detection library
/// the image carries in the default policy directory loads (every policy, or refused naming what
/// this kernel lacks), SIGTERM (podman stop) ends it with status 0, and nothing it loaded or
/// attached is left in the kernel. The image and
/// container carry names of this run; both are removed at the end. `make test` installs buildah
/// and podman (scripts/install-deps.sh); without them the test skips and says so.
@Suite(.requiresRoot, .serialized, .timeLimit(.minutes(3)))
struct ImageKernelTests {
    static let buildah = "/usr/bin/buildah"
    static let podman = "/usr/bin/podman"
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    static func run(_ argv: [String], in directory: String) throws -> (status: Int32, output: String) {
        try Spawn.capture(argv, in: directory)
    }

    @Test func theImageRunsTheAgentAsTheDaemonSetDoes() throws {
        guard access(Self.buildah, X_OK) == 0, access(Self.podman, X_OK) == 0 else {
            print("ImageKernelTests: skipped: buildah and podman are not installed (make test installs them: scripts/install-deps.sh buildah podman)")
            return
        }
        let dir = try TempDir()
        defer { dir.remove() }
        let tag = "vigil-test-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
        let image = "localhost/\(tag):latest"
        let build = try Self.run(
            ["/usr/bin/env", "IMAGE=\(image)", Self.root.appendingPathComponent("scripts/build-image.sh").path, AgentHarness.binaryPath],
            in: dir.path)
        #expect(build.status == 0, "\(build.output)")
        defer { _ = try? Self.run([Self.podman, "rmi", "-f", image], in: dir.path) }
        guard build.status == 0 else { return }

        // The enforcement fence, as every kernel test's agent has one (this one loads no policy).
        let fence = try TestCgroup("image")
        defer { fence.remove() }
        let export = "\(dir.path)/export"
        try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true)
        let target = try dir.copy("/bin/true", as: "image-exec-\(tag)")
        // This machine's session may not raise its own limits (podman asks for more open files
        // and processes than it holds by default): the container gets what the session has.
        var files = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &files)
        let started = try Self.run(
            [Self.podman, "run", "-d", "--name", tag, "--privileged", "--pid=host", "--network=host", "--cgroupns=host",
             "--ulimit", "nofile=\(files.rlim_max):\(files.rlim_max)", "--ulimit", "nproc=4096:4096",
             "-v", "/sys/fs/bpf:/sys/fs/bpf", "-v", "/sys/kernel/btf:/sys/kernel/btf:ro", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
             "-v", "/proc:/procRoot:ro", "-v", "\(export):/var/log/vigil",
             image, "--node-name", "image-test", "--export-filename=/var/log/vigil/events.log", "--procfs=/procRoot",
             "--server-address", "", "--enforcement-cgroup", fence.path],
            in: dir.path)
        defer { _ = try? Self.run([Self.podman, "rm", "-f", tag], in: dir.path) }
        #expect(started.status == 0, "\(started.output)")
        guard started.status == 0 else { return }

        // Exec the copy until its process_exec is in the export (the first may precede the attach).
        let events = "\(export)/events.log"
        var seen: String?
        let deadline = Date().addingTimeInterval(60)
        while seen == nil && Date() < deadline {
            Spawn.wait(try Spawn.start(target, []))
            usleep(300_000)
            seen = (try? String(contentsOfFile: events, encoding: .utf8))?.split(separator: "\n")
                .first { $0.contains("\"process_exec\"") && $0.contains("\"binary\":\"\(target)\"") }.map(String.init)
        }
        var logs = try Self.run([Self.podman, "logs", tag], in: dir.path).output
        #expect(seen != nil, "no process_exec of \(target) in the mounted export; agent log: \(logs.suffix(2000))")

        // The library (monitor-only: Post) from the image's /etc/vigil/tracing-policies/library.
        let library = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("policies/library").path)
            .filter { $0.hasSuffix(".yaml") }
        // One "policy loaded" line per policy; a refused file has a line per mistake, each naming it.
        func loaded(_ text: String) -> Int { text.components(separatedBy: "policy loaded").count - 1 }
        func refusedFiles(_ text: String) -> Set<String> {
            Set(text.split(separator: "\n").compactMap { line in
                line.range(of: "policy refused: ").map { String(line[$0.upperBound...].prefix { $0 != ":" }) }
            })
        }
        let libraryDeadline = Date().addingTimeInterval(60)
        while loaded(logs) + refusedFiles(logs).count < library.count && Date() < libraryDeadline {
            usleep(300_000)
            logs = try Self.run([Self.podman, "logs", tag], in: dir.path).output
        }
        #expect(loaded(logs) + refusedFiles(logs).count == library.count, "\(logs.suffix(3000))")
        #expect(refusedFiles(logs).allSatisfy { $0.hasPrefix("/etc/vigil/tracing-policies/library/") })
        // This kernel has no loadable modules: that one policy may be refused, the rest load.
        #expect(loaded(logs) >= library.count - 1, "\(logs.suffix(3000))")

        // What the agent holds, then SIGTERM: status 0, its "vigil stopped" line, nothing left.
        let pid = Int32(try Self.run([Self.podman, "inspect", "--format", "{{.State.Pid}}", tag], in: dir.path).output
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(pid > 0)
        let held = AgentKillResilienceKernelTests.BPFObjects.held(by: pid)
        #expect(!held.programs.isEmpty, "the agent in the container holds no BPF program")
        let stopped = try Self.run([Self.podman, "stop", "-t", "20", tag], in: dir.path)
        #expect(stopped.status == 0, "\(stopped.output)")
        let exitCode = try Self.run([Self.podman, "inspect", "--format", "{{.State.ExitCode}}", tag], in: dir.path).output
        #expect(exitCode.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(try Self.run([Self.podman, "logs", tag], in: dir.path).output.contains("vigil stopped"))
        // The kernel frees detached links and programs asynchronously: up to 5 s.
        var left = held.alive
        for _ in 0..<50 where !(left.links.isEmpty && left.programs.isEmpty) {
            usleep(100_000)
            left = held.alive
        }
        #expect(left.links.isEmpty && left.programs.isEmpty, "left in the kernel after the container stopped: \(left)")
    }
}
