// SPDX-License-Identifier: Apache-2.0
import CSpawn
import Foundation
import Glibc

/// A real busybox container run by `runc` (Debian packages `runc`, `busybox-static`) in a
/// kubelet-shaped cgroup path, so the agent sees what it would see on a Kubernetes node.
///
/// Isolation: runc's state lives in the container's own temporary directory (`runc --root`), the
/// cgroup path starts with a unique top-level directory (the kubelet's `--cgroup-root` may be
/// anything, and the parsers do not anchor at `/`), and ``remove()`` kills the container by its
/// id, deletes it, removes the cgroup directories it created bottom-up in every hierarchy and
/// deletes the temporary directory.
package final class RuncContainer: @unchecked Sendable {
    /// How the pod and container cgroups are named.
    package enum Layout: Sendable {
        /// kubelet cgroupfs driver + containerd: `/kubepods/besteffort/pod<uid>/<id>`.
        case cgroupfs
        /// The on-disk shape of the systemd driver (made through runc's cgroupfs driver, as no
        /// systemd runs here): `/kubepods.slice/kubepods-besteffort.slice/
        /// kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope`.
        case systemd
    }

    /// Why a container could not be started here (runc or busybox missing, not root).
    package static var unavailableReason: String? {
        if geteuid() != 0 { return "needs root to run containers" }
        if runcPath == nil { return "runc is not installed (Debian package runc)" }
        if busyboxPath == nil { return "busybox-static is not installed (Debian package busybox-static)" }
        return nil
    }

    package static var runcPath: String? {
        ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"].first { access($0, X_OK) == 0 }
    }

    package static var busyboxPath: String? {
        ["/bin/busybox", "/usr/bin/busybox"].first { access($0, X_OK) == 0 }
    }

    /// 64 lowercase hex characters, as containerd names containers.
    package let id: String
    /// The pod UID written into the cgroup path (dashes).
    package let podUID: String
    /// The container's cgroup path relative to each hierarchy's root.
    package let cgroupPath: String
    /// A copy of busybox in the container whose name is unique to this container: run it with
    /// ``exec(_:)`` and match events on its path (`/bin/<uniqueBinaryName>` inside the container).
    package let uniqueBinaryName: String
    /// Pid (host view) of the container's init (`sleep`).
    package private(set) var initPid: pid_t = 0

    private let directory: TempDir
    private let top: String
    /// The fence cgroup's path the container's cgroups are made under ("" for the root): its
    /// cgroup2 directory is the fence's to remove, not the container's.
    private let fencePrefix: String
    private let runc: String
    private var removed = false

    /// Starts `sleep 600` as the container's init; with `fence`, its cgroups below the fence's
    /// (the agent's `--enforcement-cgroup`), so the test's kills and denies can reach it.
    package init(layout: Layout = .cgroupfs, podUID: String = UUID().uuidString.lowercased(), fence: TestCgroup? = nil) throws {
        if let reason = Self.unavailableReason { throw Spawn.Failure(description: reason) }
        runc = Self.runcPath!
        let busybox = Self.busyboxPath!
        self.podUID = podUID
        id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let tag = String(id.prefix(12))
        uniqueBinaryName = "busybox-vigil-\(tag)"  // busybox runs as its multiplexer for names starting "busybox"
        fencePrefix = fence.map { String($0.path.dropFirst($0.mount.count)) } ?? ""
        top = "\(fencePrefix)/vigil-runc-\(getpid())-\(tag)"
        switch layout {
        case .cgroupfs:
            cgroupPath = "\(top)/kubepods/besteffort/pod\(podUID)/\(id)"
        case .systemd:
            let underscored = podUID.replacingOccurrences(of: "-", with: "_")
            cgroupPath =
                "\(top)/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscored).slice/cri-containerd-\(id).scope"
        }
        directory = try TempDir("vigil-runc")
        do {
            try prepareBundle(busybox: busybox)
            try runcCommand(["run", "-d", "--pid-file", "\(directory.path)/init.pid", id])
            let pidText = try String(contentsOfFile: "\(directory.path)/init.pid", encoding: .utf8)
            initPid = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Runs `args` (argv[0] is a path inside the container) with `runc exec` and waits for it;
    /// returns runc's exit status.
    @discardableResult
    package func exec(_ args: [String]) throws -> Int32 {
        let status = try Spawn.run(runc, argv: ([runc, "--root", stateDir, "exec", id] + args).map { Array($0.utf8) })
        return (status >> 8) & 0xff
    }

    /// Runs the unique busybox copy with `args` (e.g. `["true"]`).
    @discardableResult
    package func execUnique(_ args: [String]) throws -> Int32 {
        try exec(["/bin/\(uniqueBinaryName)"] + args)
    }

    /// Kills and deletes the container, removes its cgroups and files. Safe to call twice.
    package func remove() {
        guard !removed else { return }
        removed = true
        if initPid > 0 {
            _ = try? Spawn.run(runc, argv: [runc, "--root", stateDir, "kill", id, "KILL"].map { Array($0.utf8) })
            // `delete --force` waits for the processes and removes the container's own cgroup.
            _ = try? Spawn.run(runc, argv: [runc, "--root", stateDir, "delete", "--force", id].map { Array($0.utf8) })
        }
        removeCgroupDirectories()
        directory.remove()
    }

    /// The container's root directory on the host: a file copied under it (say into `bin/`)
    /// is at once visible inside, so a test can run its own binaries in the container.
    package var rootfs: String { "\(directory.path)/bundle/rootfs" }

    // MARK: - Internals

    private var stateDir: String { "\(directory.path)/state" }

    private func prepareBundle(busybox: String) throws {
        let rootfs = "\(directory.path)/bundle/rootfs"
        let fm = FileManager.default
        for dir in ["bin", "proc", "dev", "sys", "tmp"] {
            try fm.createDirectory(atPath: "\(rootfs)/\(dir)", withIntermediateDirectories: true)
        }
        try fm.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        try fm.copyItem(atPath: busybox, toPath: "\(rootfs)/bin/busybox")
        try fm.copyItem(atPath: busybox, toPath: "\(rootfs)/bin/\(uniqueBinaryName)")
        for applet in ["sh", "sleep", "true", "cat"] {
            try fm.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
        let bundle = "\(directory.path)/bundle"
        let status = try Spawn.run(runc, argv: [runc, "spec", "--bundle", bundle].map { Array($0.utf8) })
        guard status == 0 else { throw Spawn.Failure(description: "runc spec failed (wait status \(status))") }
        let configPath = "\(bundle)/config.json"
        let data = try Data(contentsOf: URL(fileURLWithPath: configPath))
        guard var config = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            var process = config["process"] as? [String: Any],
            var linux = config["linux"] as? [String: Any]
        else { throw Spawn.Failure(description: "runc spec wrote an unexpected config.json") }
        process["terminal"] = false
        process["args"] = ["/bin/sleep", "600"]
        config["process"] = process
        config["root"] = ["path": "rootfs", "readonly": false]
        linux["cgroupsPath"] = cgroupPath
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    }

    private func runcCommand(_ args: [String]) throws {
        let argv = [runc, "--root", stateDir] + args
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let log = "\(directory.path)/runc.log"
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        // runc reads the bundle from its working directory.
        _ = cspawn_addchdir(&actions, "\(directory.path)/bundle")
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, runc, &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw Spawn.Failure(description: "posix_spawn runc: \(String(cString: strerror(rc)))") }
        let status = Spawn.wait(pid)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Spawn.Failure(description: "runc \(args.joined(separator: " ")) failed (wait status \(status)): \(text)")
        }
    }

    /// Removes the directories below `top` (and `top`) in every cgroup hierarchy, deepest first.
    private func removeCgroupDirectories() {
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
        var levels: [String] = []
        var path = ""
        for component in cgroupPath.split(separator: "/") {
            path += "/\(component)"
            levels.append(path)
        }
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4,
                fields[dash + 1] == "cgroup" || fields[dash + 1] == "cgroup2"
            else { continue }
            let mountPoint = String(fields[4])
            let isCgroup2 = fields[dash + 1] == "cgroup2"
            // In cgroup v1 hierarchies runc made the fence's levels too; in cgroup2 they are the fence's.
            for level in levels.reversed() where !(isCgroup2 && fencePrefix.hasPrefix(level)) { _ = rmdir(mountPoint + level) }
        }
    }
}
