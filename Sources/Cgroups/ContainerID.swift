// SPDX-License-Identifier: Apache-2.0

/// The container runtime a cgroup name points to.
package enum ContainerRuntime: String, Sendable, Hashable, CaseIterable {
    /// containerd (CRI plugin `cri-containerd-<id>.scope`, nerdctl `nerdctl-<id>.scope`).
    case containerd
    /// CRI-O (`crio-<id>.scope`, `crio-<id>`).
    case crio
    /// Docker (`docker-<id>.scope`, `/docker/<id>`), also behind cri-dockerd.
    case docker
    /// The name carries no runtime marker: a bare `<id>` directory, as containerd and
    /// cri-dockerd both create with the cgroupfs driver, or podman's `libpod-<id>`.
    case unknown
}

/// A container identified from a cgroup path.
package struct ContainerRef: Sendable, Hashable {
    /// The runtime, as far as the cgroup name tells it.
    package var runtime: ContainerRuntime
    /// The full container id: 64 lowercase hex characters. Compare with
    /// `status.containerStatuses[].containerID` after stripping its `<runtime>://` scheme.
    package var id: String
    /// The pod UID if the path runs through a kubelet pod cgroup: a UUID with dashes
    /// (normalised from the systemd driver's underscores), or for static pods the 32-hex
    /// config hash that the mirror pod carries in its `kubernetes.io/config.mirror` annotation.
    package var podUID: String?

    package init(runtime: ContainerRuntime, id: String, podUID: String? = nil) {
        self.runtime = runtime
        self.id = id
        self.podUID = podUID
    }
}

/// Extracts container and pod identity from cgroup paths.
///
/// Covers the kubelet's cgroupfs and systemd drivers (with or without a QoS level, any
/// `--cgroup-root`), containerd, CRI-O (including crun's `container` sub-cgroup; CRI-O's
/// `crio-conmon-<id>` monitor is rejected), cri-dockerd, the driver-mismatch literal
/// `slice:cri-containerd:<id>` directory, and plain Docker outside Kubernetes
/// (`/docker/<id>`, `/system.slice/docker-<id>.scope`). Works on cgroup v1 and v2 paths alike.
///
/// The container is the nearest component, from the leaf upwards, whose name is a
/// container cgroup name. That covers crun's `.../crio-<id>.scope/container` and also cgroups
/// a container creates below its own (systemd or nested runtimes inside a container): their
/// processes are attributed to the enclosing container. The pod UID is taken from the nearest
/// pod cgroup above that container (or from the slice part of a `slice:prefix:id` name).
package enum ContainerID {
    /// Parses a cgroup path as shown in `/proc/<pid>/cgroup` or relative to a cgroup mount.
    ///
    /// Accepts a path with or without the leading `/`, and also a whole `/proc/<pid>/cgroup`
    /// line (`0::/path`, `4:memory:/path`), whose `hierarchy:controllers:` prefix is dropped.
    /// Returns nil for host cgroups (`/`, `/init.scope`, `/user.slice/...`,
    /// `/system.slice/containerd.service`), pod-level cgroups without a container below, and
    /// CRI-O's conmon cgroup.
    package static func parse(cgroupPath: String) -> ContainerRef? {
        let components = pathComponents(cgroupPath)
        var index = components.count
        while index > 0 {
            index -= 1
            switch classify(components[index]) {
            case .other:
                continue
            case .monitor:
                return nil
            case .container(var runtime, let id):
                if runtime == .unknown, index > 0, components[index - 1] == "docker" {
                    runtime = .docker
                }
                // The literal `slice:prefix:id` name carries the pod slice in front of the id.
                let component = components[index]
                let slicePart = component.firstIndex(of: ":").map { component[..<$0] }
                let uid = slicePart.flatMap { podUID(component: $0) } ?? podUID(in: components[..<index])
                return ContainerRef(runtime: runtime, id: id, podUID: uid)
            }
        }
        return nil
    }

    /// The pod UID in a cgroup path (the nearest `pod<uid>` component to the leaf), normalised
    /// to dashes; nil if there is none. Also answers for pod-level cgroups that have no
    /// container below them.
    package static func podUID(cgroupPath: String) -> String? {
        podUID(in: pathComponents(cgroupPath)[...])
    }

    /// Chooses the line of a `/proc/<pid>/cgroup` file that names the process's cgroup.
    ///
    /// The cgroup v2 line (`0::/path`) wins unless its path is `/` (on hybrid hosts the
    /// unified tree may be unused); otherwise the first v1 line for `memory`, then `pids`, then
    /// `cpuset` (Tetragon's order; runc puts the same path in every hierarchy); otherwise the v2
    /// path even if it is `/`. Returns nil if the text has no usable line.
    package static func cgroupPath(procCgroup text: String) -> String? {
        var unified: String?
        var v1: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            // hierarchy-id:controller-list:path (the path itself may contain ':')
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0", parts[1].isEmpty {
                unified = path
            } else {
                for controller in parts[1].split(separator: ",") where v1[String(controller)] == nil {
                    v1[String(controller)] = path
                }
            }
        }
        if let unified, unified != "/" { return unified }
        for controller in ["memory", "pids", "cpuset"] {
            if let path = v1[controller] { return path }
        }
        return unified
    }

    // MARK: - Internals

    enum Component: Equatable {
        case container(ContainerRuntime, String)
        /// CRI-O's `crio-conmon-<id>`: a monitor process, not the workload.
        case monitor
        case other
    }

    /// Name prefixes of container scopes, checked in order (`crio-conmon-` is handled first).
    static let prefixes: [(String, ContainerRuntime)] = [
        ("cri-containerd-", .containerd),
        ("crio-", .crio),
        ("docker-", .docker),
        ("nerdctl-", .containerd),
        ("libpod-", .unknown),
    ]

    /// Splits a cgroup path into its components, dropping a `/proc/<pid>/cgroup` line prefix.
    static func pathComponents(_ raw: String) -> [Substring] {
        var path = Substring(raw)
        while let last = path.last, last == "\n" || last == "\r" || last == " " { path = path.dropLast() }
        path = dropProcCgroupPrefix(path)
        return path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// Drops `N:controllers:` when the text starts with a decimal hierarchy id and a colon.
    /// A relative path never starts that way: kubelet and runtime names begin with a letter,
    /// and a bare container id component ends in `/`, not `:`, after its digits.
    static func dropProcCgroupPrefix(_ path: Substring) -> Substring {
        guard let firstColon = path.firstIndex(of: ":") else { return path }
        let head = path[..<firstColon]
        guard !head.isEmpty, head.allSatisfy({ $0.isASCII && $0.isNumber }) else { return path }
        let rest = path[path.index(after: firstColon)...]
        guard let secondColon = rest.firstIndex(of: ":"),
              !rest[..<secondColon].contains("/")
        else { return path }
        return rest[rest.index(after: secondColon)...]
    }

    /// Classifies one path component.
    static func classify(_ component: Substring) -> Component {
        var name = component
        var runtime = ContainerRuntime.unknown
        var hinted = false
        // The systemd triple `slice:prefix:id` used as a literal directory name (containerd
        // with SystemdCgroup=false under a systemd-driver kubelet): the id follows the last ':'.
        if let lastColon = name.lastIndex(of: ":") {
            let head = name[..<lastColon]
            let prefix = head.lastIndex(of: ":").map { head[head.index(after: $0)...] } ?? head
            switch prefix {
            case "cri-containerd", "nerdctl": runtime = .containerd; hinted = true
            case "crio": runtime = .crio; hinted = true
            case "docker": runtime = .docker; hinted = true
            case "crio-conmon": return .monitor
            default: break
            }
            name = name[name.index(after: lastColon)...]
        }
        if name.hasSuffix(".scope") { name = name.dropLast(".scope".count) }
        if name.hasPrefix("crio-conmon-") { return .monitor }
        for (prefix, prefixRuntime) in prefixes where name.hasPrefix(prefix) {
            name = name.dropFirst(prefix.count)
            if !hinted { runtime = prefixRuntime }
            break
        }
        guard isContainerID(name) else { return .other }
        return .container(runtime, String(name))
    }

    /// 64 lowercase hex characters.
    static func isContainerID(_ s: Substring) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy(isLowerHex)
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
    }

    static func isHex(_ c: UInt8) -> Bool {
        isLowerHex(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    /// The nearest pod UID in `components`, searching from the end.
    static func podUID(in components: ArraySlice<Substring>) -> String? {
        for component in components.reversed() {
            if let uid = podUID(component: component) { return uid }
        }
        return nil
    }

    /// A pod cgroup name: `pod<uid>` (cgroupfs) or `<parents>-pod<uid>.slice` (systemd), where
    /// `<uid>` is a UUID with `-` or `_` separators or 32 hex characters (static pods).
    static func podUID(component: Substring) -> String? {
        var bytes = Array(component.utf8)
        let slice = Array(".slice".utf8)
        if bytes.count > slice.count, Array(bytes.suffix(slice.count)) == slice {
            bytes.removeLast(slice.count)
        }
        let pod = Array("pod".utf8)
        for length in [36, 32] {
            guard bytes.count >= length + pod.count else { continue }
            let uid = Array(bytes.suffix(length))
            let markerStart = bytes.count - length - pod.count
            guard Array(bytes[markerStart..<(markerStart + pod.count)]) == pod,
                  markerStart == 0 || bytes[markerStart - 1] == UInt8(ascii: "-")
            else { continue }
            if length == 36, let normalised = normaliseUUID(uid) { return normalised }
            if length == 32, uid.allSatisfy(isHex) { return String(decoding: uid, as: UTF8.self) }
        }
        return nil
    }

    /// Checks an 8-4-4-4-12 UUID whose separators are all `-` or all `_`; returns it with `-`.
    static func normaliseUUID(_ uid: [UInt8]) -> String? {
        let separators = [8, 13, 18, 23]
        let sep = uid[8]
        guard sep == UInt8(ascii: "-") || sep == UInt8(ascii: "_") else { return nil }
        for (i, c) in uid.enumerated() {
            if separators.contains(i) {
                guard c == sep else { return nil }
            } else {
                guard isHex(c) else { return nil }
            }
        }
        return String(decoding: uid.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
    }
}
