// SPDX-License-Identifier: Apache-2.0
import CSandboxProbe
import CVigilSandbox
import Foundation
import Glibc
import Sandbox
import Testing

/// The agent's seccomp filter, installed in a forked child (the test process stays as it is):
/// what the agent must never do fails there, and what it does at run time still works.
@Suite struct SelfSandboxTests {
    func probe(_ mode: Int32) throws -> sandbox_probe_result {
        var template = Array("/tmp/vigil-sandbox-\(getpid())-XXXXXX".utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        mkdir("\(dir)/mnt", 0o700)
        var result = sandbox_probe_result()
        try #require(sandbox_probe(mode, dir, &result) == 0, "the probe child failed")
        return result
    }

    @Test func theDenyListNamesWhatTheIssueForbids() {
        let names = Set(SelfSandbox.deniedSyscalls)
        for name in [
            "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
            "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "keyctl",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        for runtime in ["bpf", "perf_event_open", "fanotify_init", "fanotify_mark", "inotify_init1", "openat", "renameat2"] {
            #expect(!names.contains(runtime), "\(runtime) is needed at run time")
        }
    }

    @Test func enforceRefusesWhatTheAgentNeverDoes() throws {
        let r = try probe(Int32(VIGIL_SANDBOX_ENFORCE.rawValue))
        #expect(r.install_rc == 0)
        #expect(r.rules >= 50)
        #expect(r.seccomp_status == 2)
        #expect(r.execve_errno == EPERM)
        #expect(r.execveat_errno == EPERM)
        #expect(r.ptrace_errno == EPERM)
        #expect(r.mount_errno == EPERM)
        #expect(r.unshare_errno == EPERM)
        #expect(r.clone_newns_errno == EPERM)
        #expect(r.clone3_errno == ENOSYS)
        #expect(r.finit_module_errno == EPERM)
        #expect(r.setuid_errno == EPERM)
        // Still working: threads (clone3 -> clone fallback), files and renames, sockets, inotify.
        #expect(r.thread_errno == 0)
        #expect(r.file_errno == 0)
        #expect(r.inotify_errno == 0)
        #expect(r.socket_errno == 0)
        if geteuid() == 0 {
            #expect(r.bpf_map_errno == 0)
            #expect(r.fanotify_errno == 0)
        }
    }

    @Test func logModeDeniesNothing() throws {
        let r = try probe(Int32(VIGIL_SANDBOX_LOG.rawValue))
        #expect(r.install_rc == 0)
        #expect(r.seccomp_status == 2)
        #expect(r.execve_errno == 0)
        #expect(r.clone3_errno != ENOSYS)
        #expect(r.thread_errno == 0 && r.file_errno == 0)
        if geteuid() == 0 {
            #expect(r.unshare_errno == 0 && r.mount_errno == 0)
            #expect(r.bpf_map_errno == 0)
        }
    }

    @Test func withoutTheFilterTheProbeSucceeds() throws {
        // The control: the same probe without a filter, so the EPERMs above are the filter's.
        let r = try probe(0)
        #expect(Int(r.seccomp_status) == SelfSandbox.seccompStatus())
        #expect(r.execve_errno == 0 && r.execveat_errno == 0)
        #expect(r.clone3_errno != ENOSYS)
        if geteuid() == 0 {
            #expect(r.ptrace_errno == 0)
            #expect(r.unshare_errno == 0 && r.mount_errno == 0)
            #expect(r.clone_newns_errno == 0)
            #expect(r.setuid_errno == 0)
        }
    }

    @Test func offInstallsNothing() throws {
        let before = SelfSandbox.seccompStatus()
        #expect(try SelfSandbox.install(.off) == 0)
        #expect(SelfSandbox.seccompStatus() == before)
    }
}
