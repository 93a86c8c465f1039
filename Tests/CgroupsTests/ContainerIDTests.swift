// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Cgroups

/// Sample identities from reference/kubernetes.md §1.
enum Sample {
    static let uid = "8f2c4b1e-3d5a-4e6f-9a7b-1c2d3e4f5a6b"
    static let uidSystemd = "8f2c4b1e_3d5a_4e6f_9a7b_1c2d3e4f5a6b"
    static let staticPodHash = "6a1f0c3e9b2d4f5a8c7e1d0b3a9f2e4c"
    static let containerdSystemd = "44753991fc5d531e19493407cb7ba78f93c9a2ed78b05f42de2c10f6a266c853"
    static let containerdCgroupfs = "ac96bab84b785c768e4e0c5becf3c8e5e6302a47f10be46c5cef25380231a356"
    static let guaranteed = "8c32106875403bdd6811dac1caa62dbbf0217b14e2ed5dd76a28ed85f305bc1f"
    static let crio = "6d715840489cf7124a834f1bc053646101d44a43fd33c7fdfb7b3c022cdf09ae"
    static let docker = "9ef23a1bd6bc08f568ab33f472536db7fefb8568101591bdda06c97d506d8d17"
    static let mismatch = "fa01b62a967f8e343bcba5f8a0badf9994d1541807a506b22d1f37c66531fe9d"

    static let burstableSlice =
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice"
    static let besteffortSlice =
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice"
}

struct ParseCase: Sendable, CustomTestStringConvertible {
    var name: String
    var path: String
    var expected: ContainerRef?
    var testDescription: String { name }

    init(_ name: String, _ path: String, _ expected: ContainerRef?) {
        self.name = name
        self.path = path
        self.expected = expected
    }
}

private typealias S = Sample
private func ref(_ runtime: ContainerRuntime, _ id: String, _ pod: String? = S.uid) -> ContainerRef {
    ContainerRef(runtime: runtime, id: id, podUID: pod)
}

/// One case per row of the table in kubernetes.md §1, plus variants.
let tableCases: [ParseCase] = [
    ParseCase("1 containerd systemd v2",
              "0::\(S.burstableSlice)/cri-containerd-\(S.containerdSystemd).scope",
              ref(.containerd, S.containerdSystemd)),
    ParseCase("1 without the 0:: prefix",
              "\(S.burstableSlice)/cri-containerd-\(S.containerdSystemd).scope",
              ref(.containerd, S.containerdSystemd)),
    ParseCase("2 containerd cgroupfs v2",
              "0::/kubepods/burstable/pod\(S.uid)/\(S.containerdCgroupfs)",
              ref(.unknown, S.containerdCgroupfs)),
    ParseCase("3 containerd cgroupfs v1",
              "4:memory:/kubepods/besteffort/pod\(S.uid)/\(S.containerdCgroupfs)",
              ref(.unknown, S.containerdCgroupfs)),
    ParseCase("4 containerd systemd v1",
              "4:memory:\(S.besteffortSlice)/cri-containerd-\(S.containerdSystemd).scope",
              ref(.containerd, S.containerdSystemd)),
    ParseCase("5 guaranteed QoS, systemd",
              "0::/kubepods.slice/kubepods-pod\(S.uidSystemd).slice/cri-containerd-\(S.guaranteed).scope",
              ref(.containerd, S.guaranteed)),
    ParseCase("5 guaranteed QoS, cgroupfs",
              "0::/kubepods/pod\(S.uid)/\(S.guaranteed)",
              ref(.unknown, S.guaranteed)),
    ParseCase("6 CRI-O systemd v2",
              "0::\(S.burstableSlice)/crio-\(S.crio).scope",
              ref(.crio, S.crio)),
    ParseCase("7 CRI-O + crun container subgroup",
              "0::\(S.burstableSlice)/crio-\(S.crio).scope/container",
              ref(.crio, S.crio)),
    ParseCase("8 CRI-O cgroupfs v2",
              "0::/kubepods/burstable/pod\(S.uid)/crio-\(S.crio)",
              ref(.crio, S.crio)),
    ParseCase("8 CRI-O cgroupfs v1",
              "7:pids:/kubepods/burstable/pod\(S.uid)/crio-\(S.crio)",
              ref(.crio, S.crio)),
    ParseCase("9 CRI-O conmon is not the workload",
              "0::\(S.burstableSlice)/crio-conmon-\(S.crio).scope",
              nil),
    ParseCase("9 CRI-O conmon, cgroupfs",
              "0::/kubepods/burstable/pod\(S.uid)/crio-conmon-\(S.crio)",
              nil),
    ParseCase("10 cri-dockerd systemd",
              "0::\(S.besteffortSlice)/docker-\(S.docker).scope",
              ref(.docker, S.docker)),
    ParseCase("11 cri-dockerd cgroupfs (runtime not visible)",
              "4:memory:/kubepods/besteffort/pod\(S.uid)/\(S.docker)",
              ref(.unknown, S.docker)),
    ParseCase("12 containerd driver mismatch literal",
              "0::/kubepods-burstable-pod\(S.uidSystemd).slice:cri-containerd:\(S.mismatch)",
              ref(.containerd, S.mismatch)),
    ParseCase("12 mismatch under the caller's v1 cgroup",
              "4:memory:/process_api/x/kubepods-besteffort-pod\(S.uidSystemd).slice:cri-containerd:\(S.mismatch)",
              ref(.containerd, S.mismatch)),
    ParseCase("13 kind / --cgroup-root=/kubelet",
              "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(S.uidSystemd).slice/cri-containerd-\(S.containerdSystemd).scope",
              ref(.containerd, S.containerdSystemd)),
    ParseCase("14 static pod hash",
              "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(S.staticPodHash).slice/cri-containerd-\(S.containerdCgroupfs).scope",
              ref(.containerd, S.containerdCgroupfs, S.staticPodHash)),
    ParseCase("14 static pod hash, cgroupfs",
              "/kubepods/burstable/pod\(S.staticPodHash)/\(S.containerdCgroupfs)",
              ref(.unknown, S.containerdCgroupfs, S.staticPodHash)),
    ParseCase("15 docker systemd outside kubernetes",
              "0::/system.slice/docker-\(S.docker).scope",
              ref(.docker, S.docker, nil)),
    ParseCase("15 docker cgroupfs v1 outside kubernetes",
              "4:memory:/docker/\(S.docker)",
              ref(.docker, S.docker, nil)),
    ParseCase("15 docker cgroupfs path",
              "/docker/\(S.docker)",
              ref(.docker, S.docker, nil)),
    ParseCase("16 private cgroup namespace", "0::/", nil),

    // Variants beyond the table rows.
    ParseCase("relative path, no leading slash",
              "kubepods/burstable/pod\(S.uid)/\(S.containerdCgroupfs)",
              ref(.unknown, S.containerdCgroupfs)),
    ParseCase("relative systemd path",
              "kubepods.slice/kubepods-pod\(S.uidSystemd).slice/cri-containerd-\(S.guaranteed).scope",
              ref(.containerd, S.guaranteed)),
    ParseCase("custom cgroup root, cgroupfs",
              "/custom/root/kubepods/besteffort/pod\(S.uid)/\(S.containerdCgroupfs)",
              ref(.unknown, S.containerdCgroupfs)),
    ParseCase("trailing newline from a /proc read",
              "0::/system.slice/docker-\(S.docker).scope\n",
              ref(.docker, S.docker, nil)),
    ParseCase("sub-cgroup created inside a container",
              "0::/system.slice/docker-\(S.docker).scope/init.scope",
              ref(.docker, S.docker, nil)),
    ParseCase(".service below a CRI-O scope",
              "0::\(S.burstableSlice)/crio-\(S.crio).scope/system.slice/foo.service",
              ref(.crio, S.crio)),
    ParseCase("kind node inside a pod: innermost container and pod win",
              "0::/kubepods/burstable/pod\(S.uid)/\(S.docker)/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod\(S.staticPodHash).slice/cri-containerd-\(S.guaranteed).scope",
              ref(.containerd, S.guaranteed, S.staticPodHash)),
    ParseCase("nerdctl", "0::/system.slice/nerdctl-\(S.docker).scope", ref(.containerd, S.docker, nil)),
    ParseCase("podman libpod", "0::/machine.slice/libpod-\(S.docker).scope", ref(.unknown, S.docker, nil)),
    ParseCase("podman conmon is not a container", "0::/machine.slice/libpod-conmon-\(S.docker).scope", nil),

    // Host and malformed paths.
    ParseCase("empty", "", nil),
    ParseCase("root", "/", nil),
    ParseCase("init.scope", "0::/init.scope", nil),
    ParseCase("user session", "0::/user.slice/user-1000.slice/session-3.scope", nil),
    ParseCase("user manager", "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service", nil),
    ParseCase("containerd daemon", "0::/system.slice/containerd.service", nil),
    ParseCase("this machine's v1 memory cgroup",
              "4:memory:/process_api/3437fac1ca4e463ecd26d9d28426270a", nil),
    ParseCase("pod-level cgroup only", "0::/kubepods/burstable/pod\(S.uid)", nil),
    ParseCase("QoS slice only", "0::/kubepods.slice/kubepods-burstable.slice", nil),
    ParseCase("63 hex chars", "/docker/\(S.docker.dropLast())", nil),
    ParseCase("65 hex chars", "/docker/\(S.docker)0", nil),
    ParseCase("uppercase id", "/docker/\(S.docker.uppercased())", nil),
    ParseCase("non-hex id", "/docker/\(S.docker.dropLast())g", nil),
    ParseCase("unknown scope prefix", "0::/system.slice/foo-\(S.docker).scope", nil),
    ParseCase("bare docker dir", "/docker", nil),
]

@Suite struct ContainerIDParseTests {
    @Test(arguments: tableCases)
    func parse(_ c: ParseCase) {
        #expect(ContainerID.parse(cgroupPath: c.path) == c.expected, "\(c.path)")
    }

    @Test func podUIDOfPodLevelCgroups() {
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/burstable/pod\(S.uid)") == S.uid)
        #expect(ContainerID.podUID(cgroupPath: S.burstableSlice) == S.uid)
        #expect(ContainerID.podUID(cgroupPath: "/kubepods.slice/kubepods-pod\(S.uidSystemd).slice") == S.uid)
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/pod\(S.staticPodHash)") == S.staticPodHash)
        // The conmon cgroup has no container but still sits in the pod.
        #expect(ContainerID.podUID(cgroupPath: "\(S.burstableSlice)/crio-conmon-\(S.crio).scope") == S.uid)
    }

    @Test func podUIDRejectsLookalikes() {
        // Mixed separators.
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/pod8f2c4b1e-3d5a_4e6f-9a7b-1c2d3e4f5a6b") == nil)
        // "pod" must start the name or follow a '-'.
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/xpod\(S.uid)") == nil)
        // Trailing junk.
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/pod\(S.uid)x") == nil)
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/pod\(S.staticPodHash).scope") == nil)
        // Too short.
        #expect(ContainerID.podUID(cgroupPath: "/kubepods/pod\(S.staticPodHash.dropLast())") == nil)
        #expect(ContainerID.podUID(cgroupPath: "/kubepods.slice") == nil)
        #expect(ContainerID.podUID(cgroupPath: "") == nil)
    }

    @Test func cgroupPathFromProcCgroupOnThisHybridHost() {
        let text = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/3437fac1ca4e463ecd26d9d28426270a
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/

        """
        #expect(ContainerID.cgroupPath(procCgroup: text) == "/process_api/3437fac1ca4e463ecd26d9d28426270a")
    }

    @Test func cgroupPathFromProcCgroupPrefersUnified() {
        let path = "/kubepods/besteffort/pod\(S.uid)/\(S.containerdCgroupfs)"
        let text = "9:name=systemd:\(path)\n4:memory:\(path)\n0::\(path)\n"
        #expect(ContainerID.cgroupPath(procCgroup: text) == path)
        #expect(ContainerID.cgroupPath(procCgroup: "0::\(path)\n") == path)
        #expect(ContainerID.cgroupPath(procCgroup: "0::/\n") == "/")
        #expect(ContainerID.cgroupPath(procCgroup: "8:pids:/a\n3:cpuset:/b\n0::/\n") == "/a")
        #expect(ContainerID.cgroupPath(procCgroup: "3:cpu,cpuacct:/x\n") == nil)
        #expect(ContainerID.cgroupPath(procCgroup: "") == nil)
        // A ':' inside the path (driver mismatch directory) survives.
        let literal = "/kubepods-burstable-pod\(S.uidSystemd).slice:cri-containerd:\(S.mismatch)"
        #expect(ContainerID.cgroupPath(procCgroup: "0::\(literal)\n") == literal)
    }
}
