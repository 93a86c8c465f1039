// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler
import Testing

/// The printed spellings of every mechanism: tests, docs, the kernel matrix and users' queries
/// rely on them, so a change here is a change of the exported JSON and the control API.
@Suite struct MechanismTests {
    @Test func everyMechanismPrintsAsBefore() {
        let rows: [(Mechanism, status: String, event: String, hook: String)] = [
            (.tracepoint, "tracepoint", "tracepoint sched/sched_process_exec", "sched/sched_process_exec"),
            (.rawTracepoint, "raw_tracepoint", "raw_tracepoint sched/sched_process_exec", "sched/sched_process_exec (raw tracepoint)"),
            (.syscallEntryDispatcher, "tracepoint", "tracepoint sched/sched_process_exec", "sched/sched_process_exec (raw sys_enter dispatcher)"),
            (.syscallExitDispatcher, "tracepoint", "tracepoint sched/sched_process_exec", "sched/sched_process_exec (raw sys_exit dispatcher)"),
            (.execDispatcher, "tracepoint", "tracepoint sched/sched_process_exec", "sched/sched_process_exec (exec dispatcher)"),
            (.cgroupConnect, "cgroup", "cgroup_sock_addr", "sched_process_exec (cgroup connect/sendmsg)"),
            (.bpfLSM, "bpf_lsm", "bpf_lsm sched_process_exec", "sched_process_exec (BPF-LSM)"),
            (.kprobe, "kprobe", "kprobe", "sched_process_exec (kprobe)"),
            (.kretprobe, "kprobe", "kretprobe", "sched_process_exec (kprobe + kretprobe)"),
            (.fentry, "fentry", "fentry", "sched_process_exec (fentry)"),
            (.fexit, "fexit", "fexit", "sched_process_exec (fexit)"),
            (.fmodRet, "fmod_ret", "fmod_ret", "sched_process_exec (fmod_ret)"),
            (.fanotify, "fanotify", "fanotify", "sched_process_exec (fanotify)"),
            // A uprobe hook's category is its binary.
            (.uprobe, "uprobe", "uprobe", "sched:sched_process_exec (uprobe)"),
            (.uretprobe, "uprobe", "uretprobe", "sched:sched_process_exec (uprobe + uretprobe)"),
        ]
        #expect(rows.count == Mechanism.allCases.count)
        for (mechanism, status, event, hook) in rows {
            #expect(mechanism.name == status)
            #expect(mechanism.eventValue(category: "sched", name: "sched_process_exec") == event)
            #expect(mechanism.hookDescription(category: "sched", name: "sched_process_exec") == hook)
        }
        // socket_connect on BPF-LSM says what decides the sends the LSM hook never sees.
        #expect(
            Mechanism.bpfLSM.hookDescription(category: "", name: "socket_connect")
                == "socket_connect (BPF-LSM; sends and TCP fast open: cgroup connect/sendmsg)")
    }
}
