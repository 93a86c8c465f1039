// SPDX-License-Identifier: Apache-2.0

import Testing
@testable import tracectl

@Suite("tracectl events -o compact")
struct CompactFormatterTests {
    let parent = #""parent":{"exec_id":"p","pid":1,"binary":"/usr/bin/bash"}"#

    @Test("process_exec")
    func exec() {
        let line = #"{"process_exec":{"process":{"exec_id":"a","pid":22649,"uid":0,"cwd":"/tmp","binary":"/usr/bin/ls","arguments":"-la \"/tmp/cw d\"","flags":"execve clone"},"# + parent + #"},"node_name":"vm","time":"2026-11-26T00:46:08.393050667Z"}"#
        #expect(CompactFormatter.format(line) == #"🚀 process  /usr/bin/ls -la "/tmp/cw d""#)
    }

    @Test("process_exec in a pod")
    func execInPod() {
        let line = #"{"process_exec":{"process":{"binary":"/usr/bin/curl","arguments":"https://example.com","pod":{"namespace":"default","name":"xwing"}}},"time":"t"}"#
        #expect(CompactFormatter.format(line) == "🚀 process  default/xwing /usr/bin/curl https://example.com")
    }

    @Test("process_exit with a signal, with a status, and clean")
    func exit() {
        let signal = #"{"process_exit":{"process":{"binary":"/usr/bin/sleep","arguments":"100"},"# + parent + #","signal":"SIGKILL","time":"t"},"node_name":"vm","time":"t"}"#
        #expect(CompactFormatter.format(signal) == "💥 exit     /usr/bin/sleep 100 SIGKILL")
        let status = #"{"process_exit":{"process":{"binary":"/usr/bin/false"},"status":1,"time":"t"},"time":"t"}"#
        #expect(CompactFormatter.format(status) == "💥 exit     /usr/bin/false 1")
        let clean = #"{"process_exit":{"process":{"binary":"/usr/bin/true"},"time":"t"},"time":"t"}"#
        #expect(CompactFormatter.format(clean) == "💥 exit     /usr/bin/true")
    }

    @Test("process_tracepoint: syscall tracepoints by syscall, others by subsystem/event")
    func tracepoint() {
        let open = #"{"process_tracepoint":{"process":{"binary":"/usr/bin/cat","arguments":"/etc/shadow"},"subsys":"syscalls","event":"sys_enter_openat","args":[{"string_arg":"/etc/shadow"},{"int_arg":0}],"policy_name":"sensitive-file-reads","action":"KPROBE_ACTION_POST","message":"sensitive file opened"},"node_name":"vm","time":"t"}"#
        #expect(CompactFormatter.format(open) == "📬 open     /usr/bin/cat /etc/shadow 0")
        let sched = #"{"process_tracepoint":{"process":{"binary":"/usr/bin/stress"},"subsys":"sched","event":"sched_process_fork","args":[{"int_arg":42}]},"time":"t"}"#
        #expect(CompactFormatter.format(sched) == "🔍 tracepoint /usr/bin/stress sched/sched_process_fork 42")
    }

    @Test("process_uprobe: Tetragon's 🕵️ uprobe with the binary, the symbol (or +offset) and the args")
    func uprobe() {
        let symbol = #"{"process_uprobe":{"process":{"binary":"/usr/bin/bash"},"path":"/usr/bin/bash","symbol":"readline","args":[{"string_arg":"ls"}],"policy_name":"p"},"time":"t"}"#
        #expect(CompactFormatter.format(symbol) == "🕵️ uprobe   /usr/bin/bash /usr/bin/bash readline ls")
        let offset = #"{"process_uprobe":{"process":{"binary":"/opt/app"},"path":"/usr/lib/libssl.so.3","offset":"4660","action":"KPROBE_ACTION_SIGKILL","policy_name":"p"},"time":"t"}"#
        #expect(CompactFormatter.format(offset) == "🕵️ uprobe   /opt/app /usr/lib/libssl.so.3 +4660 💀 SIGKILL")
    }

    @Test("a flow (--enable-flows): both ends, direction, bytes each way, duration")
    func flow() {
        let line = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"tcp_close","args":[{"sock_arg":{"family":"AF_INET6","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":"::1","daddr":"::1","sport":41000,"dport":443,"cookie":"7","state":"TCP_FIN_WAIT2"},"label":"sock"},{"string_arg":"outgoing","label":"direction"},{"size_arg":"517","label":"bytes_sent"},{"size_arg":"4096","label":"bytes_received"},{"size_arg":"250000000","label":"duration_ns"}]},"time":"t"}"#
        #expect(CompactFormatter.format(line) == "🌊 flow     /usr/bin/curl [::1]:41000 -> [::1]:443 outgoing sent 517 received 4096 in 0.250s")
    }

    @Test("a policy's verdict on a connect: pod, binary -> name(address):port, DENIED or ALLOWED and the policy")
    func networkVerdicts() {
        let denied = #"{"process_lsm":{"process":{"binary":"/usr/bin/curl","pod":{"namespace":"shop","name":"web-1"}},"function_name":"socket_connect","args":[{"sockaddr_arg":{"family":"AF_INET","addr":"10.0.0.9","port":443}},{"string_arg":"other.test","label":"destination_names"}],"action":"KPROBE_ACTION_OVERRIDE","policy_name":"egress"},"time":"t"}"#
        #expect(CompactFormatter.format(denied) == "🔌 connect  shop/web-1 /usr/bin/curl -> other.test(10.0.0.9):443 DENIED (policy egress)")
        let monitored = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"tcp_connect","args":[{"sock_arg":{"family":"AF_INET","daddr":"10.0.0.9","dport":80}}],"action":"KPROBE_ACTION_OVERRIDE","policy_name":"egress","vigil":{"policy_mode":"monitor"}},"time":"t"}"#
        #expect(CompactFormatter.format(monitored) == "🔌 connect  /usr/bin/curl -> 10.0.0.9:80 DENIED (policy egress; monitor: not done)")
        let allowed = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"sockaddr_arg":{"family":"AF_INET6","addr":"::1","port":53}}],"action":"KPROBE_ACTION_POST","policy_name":"egress"},"time":"t"}"#
        #expect(CompactFormatter.format(allowed) == "🔌 connect  /usr/bin/curl -> [::1]:53 ALLOWED (policy egress)")
    }

    @Test("process_lsm: the hook's word, or 🔒 lsm and the hook")
    func lsm() {
        let open = #"{"process_lsm":{"process":{"binary":"/usr/bin/cat"},"function_name":"file_open","args":[{"file_arg":{"path":"/etc/shadow"}}],"action":"KPROBE_ACTION_OVERRIDE","policy_name":"files"},"time":"t"}"#
        #expect(CompactFormatter.format(open) == "📬 open     /usr/bin/cat /etc/shadow 🛑 OVERRIDE")
        let other = #"{"process_lsm":{"process":{"binary":"/usr/bin/x"},"function_name":"path_truncate","args":[{"path_arg":{"path":"/tmp/f"}}],"policy_name":"p"},"time":"t"}"#
        #expect(CompactFormatter.format(other) == "🔒 lsm      /usr/bin/x path_truncate /tmp/f")
    }

    @Test("process_kprobe: known syscalls get their word, addresses are addr:port, actions show")
    func kprobe() {
        let connect = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"int_arg":3,"label":"fd"},{"sockaddr_arg":{"family":"AF_INET","addr":"10.0.0.1","port":443}}],"action":"KPROBE_ACTION_SIGKILL","policy_name":"block-egress"},"time":"t"}"#
        #expect(CompactFormatter.format(connect) == "🔌 connect  /usr/bin/curl -> 10.0.0.1:443 💀 SIGKILL (policy block-egress)")
        let v6 = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"sockaddr_arg":{"family":"AF_INET6","addr":"::1","port":80}}],"action":"KPROBE_ACTION_SIGKILL","policy_name":"p","vigil":{"policy_mode":"monitor"}},"time":"t"}"#
        #expect(CompactFormatter.format(v6) == "🔌 connect  /usr/bin/curl -> [::1]:80 💀 SIGKILL (policy p; monitor: not done)")
        let fenced = #"{"process_kprobe":{"process":{"binary":"/usr/bin/curl"},"function_name":"__x64_sys_connect","args":[{"sockaddr_arg":{"family":"AF_INET","addr":"10.0.0.1","port":80}}],"action":"KPROBE_ACTION_SIGKILL","policy_name":"p","vigil":{"fenced":true}},"time":"t"}"#
        #expect(CompactFormatter.format(fenced) == "🔌 connect  /usr/bin/curl -> 10.0.0.1:80 💀 SIGKILL (policy p; fenced: not done)")
        let other = #"{"process_kprobe":{"process":{"binary":"/usr/bin/x"},"function_name":"__x64_sys_personality","args":[{"uint_arg":8},{"bytes_arg":"AAEC"},{"truncated_bytes_arg":{"bytes_arg":"AA==","orig_size":"4096"}}]},"time":"t"}"#
        #expect(CompactFormatter.format(other) == "⁉️ syscall  /usr/bin/x personality 8 <3 bytes> <4096 bytes, truncated>")
    }

    @Test("drop notices and lines that are not events")
    func others() {
        #expect(CompactFormatter.format(#"{"vigil_dropped_events":17}"#) == "⚠️  dropped 17 events: this client read too slowly")
        #expect(CompactFormatter.format("not json") == "not json")
        #expect(CompactFormatter.format(#"{"process_loader":{"process":{"binary":"/x"}},"time":"t"}"#) == "❓ process_loader /x")
    }
}
