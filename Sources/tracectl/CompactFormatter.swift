// SPDX-License-Identifier: Apache-2.0

import Foundation

/// `tracectl events -o compact`: one readable line per event, in the spirit of Tetragon's
/// compact output: emoji and kind, `namespace/pod` when there is one, binary, what happened
/// (arguments, path, address), and the action when it is more than reporting.
///
/// ```
/// 🚀 process  /usr/bin/curl https://example.com
/// 💥 exit     /usr/bin/curl https://example.com SIGKILL
/// 📬 open     default/web /usr/bin/cat /etc/shadow
/// 🔌 connect  shop/web-7d9 /usr/bin/curl -> api.example.com(10.0.0.1):443 DENIED (policy egress)
/// 🌊 flow     /usr/bin/curl 10.0.0.5:41000 -> 10.0.0.1:443 outgoing sent 517 received 4096 in 0.250s
/// ```
package enum CompactFormatter {
    /// The compact line of one exported JSON line (the line itself when it is not JSON).
    package static func format(_ line: String) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return line
        }
        if let dropped = object["vigil_dropped_events"] {
            return "⚠️  dropped \(dropped) events: this client read too slowly"
        }
        guard let type = object.keys.sorted().first(where: { $0 != "node_name" && $0 != "time" }),
              let body = object[type] as? [String: Any]
        else { return line }
        let process = body["process"] as? [String: Any] ?? [:]
        let binary = process["binary"] as? String ?? "<unknown>"
        let arguments = process["arguments"] as? String ?? ""

        let kind: String
        var details: [String] = []
        switch type {
        case "process_exec":
            kind = "🚀 process"
            details.append(arguments)
        case "process_exit":
            kind = "💥 exit"
            details.append(arguments)
            if let signal = body["signal"] as? String, !signal.isEmpty {
                details.append(signal)
            } else if let status = body["status"] {
                details.append("\(status)")
            }
        case "process_kprobe" where body["function_name"] as? String == "tcp_close" && body["policy_name"] == nil:
            // A flow (--enable-flows): both ends, direction, bytes each way, how long.
            kind = "🌊 flow"
            details.append(flowText(body["args"]))
        case "process_kprobe":
            let function = body["function_name"] as? String ?? ""
            let syscall = syscallName(function)
            let (emoji, word) = syscallKind(syscall) ?? ("⁉️", "syscall")
            kind = "\(emoji) \(word)"
            if syscallKind(syscall) == nil { details.append(syscall.isEmpty ? function : syscall) }
            details += renderArgs(body["args"])
        case "process_tracepoint":
            let subsystem = body["subsys"] as? String ?? ""
            let event = body["event"] as? String ?? ""
            if subsystem == "syscalls", event.hasPrefix("sys_enter_"),
               let (emoji, word) = syscallKind(String(event.dropFirst("sys_enter_".count))) {
                kind = "\(emoji) \(word)"
            } else {
                kind = "🔍 tracepoint"
                details.append("\(subsystem)/\(event)")
            }
            details += renderArgs(body["args"])
        case "process_lsm":
            // lsmhooks: the hook says what happened (Tetragon's compact line: `🔒 lsm <hook>`).
            let hook = body["function_name"] as? String ?? ""
            switch hook {
            case "socket_connect": kind = "🔌 connect"
            case "file_open": kind = "📬 open"
            case "bprm_check_security": kind = "🚀 execve"
            default:
                kind = "🔒 lsm"
                details.append(hook)
            }
            details += renderArgs(body["args"])
        case "process_uprobe":
            // Tetragon's compact line: `🕵️ uprobe <path> <symbol>`.
            kind = "🕵️ uprobe"
            details.append(body["path"] as? String ?? "")
            details.append(body["symbol"] as? String ?? (body["offset"] as? String).map { "+" + $0 } ?? "")
            details += renderArgs(body["args"])
        default:
            kind = "❓ \(type)"
        }

        var parts = [pad(kind)]
        if let pod = process["pod"] as? [String: Any], let name = pod["name"] as? String, !name.isEmpty {
            let namespace = pod["namespace"] as? String ?? ""
            parts.append(namespace.isEmpty ? name : "\(namespace)/\(name)")
        }
        parts.append(binary)
        // A policy's verdict on a network operation: where it went and what the policy decided,
        // the line an operator greps for when a connection was cut.
        if let policy = body["policy_name"] as? String, let destination = destinationText(body) {
            parts += ["->", destination, verdictText(body, policy: policy)]
            return parts.joined(separator: " ")
        }
        parts += details.filter { !$0.isEmpty }
        if let action = actionText(body) { parts.append(action) }
        return parts.joined(separator: " ")
    }

    /// `name(10.0.0.1):443`, `10.0.0.1:443` or `[::1]:443`: the first socket or socket-address
    /// argument's destination, with the names DNS gave for it (the `destination_names` argument
    /// of `--enable-dns-names`: names joined by commas) when the agent learnt them; nil for an
    /// event without one.
    static func destinationText(_ body: [String: Any]) -> String? {
        let args = body["args"] as? [[String: Any]] ?? []
        for arg in args {
            let sock = (arg["sockaddr_arg"] ?? arg["sock_arg"]) as? [String: Any]
            guard let sock, let address = (sock["addr"] ?? sock["daddr"]) as? String, !address.isEmpty else { continue }
            let names = args.first { $0["label"] as? String == "destination_names" }?["string_arg"] as? String ?? ""
            return endpointText(address, port: sock["port"] ?? sock["dport"], names: names)
        }
        return nil
    }

    /// `10.0.0.1:443`, `[::1]:443` (an IPv6 address in brackets, so the port stays readable),
    /// `name(10.0.0.1):443` with the names DNS gave; without a port, the address alone.
    static func endpointText(_ address: String, port: Any?, names: String = "") -> String {
        let host = address.contains(":") ? "[\(address)]" : address
        let shown = names.isEmpty ? host : "\(names)(\(host))"
        return port.map { "\(shown):\($0)" } ?? shown
    }

    /// `DENIED (policy egress)`, `DENIED (policy egress; monitor: not done)`, `ALLOWED (policy
    /// egress)`, `💀 SIGKILL (policy egress)`.
    private static func verdictText(_ body: [String: Any], policy: String) -> String {
        let action = (body["action"] as? String ?? "").replacingOccurrences(of: "KPROBE_ACTION_", with: "")
        let vigil = body["vigil"] as? [String: Any]
        let note =
            (vigil?["policy_mode"] as? String) == "monitor" ? "; monitor: not done"
            : (vigil?["fenced"] as? Bool) == true ? "; fenced: not done" : ""
        switch action {
        case "OVERRIDE", "DENY": return "DENIED (policy \(policy)\(note))"
        case "SIGKILL": return "💀 SIGKILL (policy \(policy)\(note))"
        case "SIGNAL": return "📣 SIGNAL (policy \(policy)\(note))"
        default: return "ALLOWED (policy \(policy))"
        }
    }

    /// `openat` for `__x64_sys_openat`, `sys_openat`, `openat`.
    static func syscallName(_ function: String) -> String {
        for prefix in ["__x64_sys_", "__arm64_sys_", "__ia32_sys_", "__se_sys_", "sys_"] where function.hasPrefix(prefix) {
            return String(function.dropFirst(prefix.count))
        }
        return function
    }

    /// Emoji and word for the syscalls people write policies for.
    static func syscallKind(_ syscall: String) -> (String, String)? {
        switch syscall {
        case "open", "openat", "openat2", "creat": return ("📬", "open")
        case "read", "readv", "pread64", "preadv": return ("📚", "read")
        case "write", "writev", "pwrite64", "pwritev": return ("📝", "write")
        case "close": return ("📪", "close")
        case "connect", "tcp_connect": return ("🔌", "connect")
        case "accept", "accept4": return ("🔌", "accept")
        case "bind": return ("🔌", "bind")
        case "listen": return ("🔌", "listen")
        case "sendto", "sendmsg": return ("📤", "send")
        case "recvfrom", "recvmsg": return ("📥", "recv")
        case "unlink", "unlinkat", "rmdir": return ("🧹", "unlink")
        case "rename", "renameat", "renameat2": return ("🏷️", "rename")
        case "chmod", "fchmod", "fchmodat": return ("🔐", "chmod")
        case "chown", "fchown", "fchownat", "lchown": return ("🔐", "chown")
        case "mount", "umount2", "fsmount", "move_mount": return ("💾", "mount")
        case "setuid", "setgid", "setreuid", "setresuid", "setresgid", "setregid": return ("🔑", "setuid")
        case "ptrace": return ("🐛", "ptrace")
        case "kill", "tkill", "tgkill": return ("🔫", "kill")
        case "bpf": return ("🐝", "bpf")
        case "init_module", "finit_module", "delete_module": return ("🧩", "module")
        case "execve", "execveat": return ("🚀", "execve")
        case "mmap", "mprotect": return ("🧠", syscall)
        default: return nil
        }
    }

    private static func pad(_ kind: String) -> String {
        // Pad the word after the emoji to 8 columns, as Tetragon aligns its kinds.
        guard let space = kind.firstIndex(of: " ") else { return kind }
        let word = kind[kind.index(after: space)...]
        return kind + String(repeating: " ", count: max(0, 8 - word.count))
    }

    /// ` 💀 SIGKILL`, `🛑 override`, ... for actions other than reporting; monitor mode says
    /// what would have been done.
    private static func actionText(_ body: [String: Any]) -> String? {
        guard let action = body["action"] as? String, !action.isEmpty else { return nil }
        let short = action.hasPrefix("KPROBE_ACTION_") ? String(action.dropFirst("KPROBE_ACTION_".count)) : action
        let emoji: String
        switch short {
        case "POST", "UNKNOWN", "NOPOST", "FOLLOWFD", "UNFOLLOWFD", "COPYFD", "TRACKSOCK", "UNTRACKSOCK": return nil
        case "SIGKILL": emoji = "💀"
        case "OVERRIDE", "DENY": emoji = "🛑"
        case "SIGNAL": emoji = "📣"
        default: emoji = "⚙️"
        }
        // Vigil's own fields (the control API stream always has them; an export only with
        // --enable-vigil-fields): the action was due and not done.
        let vigil = body["vigil"] as? [String: Any]
        if (vigil?["policy_mode"] as? String) == "monitor" { return "\(emoji) \(short) (monitor: not done)" }
        if (vigil?["fenced"] as? Bool) == true { return "\(emoji) \(short) (fenced: not done)" }
        return "\(emoji) \(short)"
    }

    /// `127.0.0.1:41000 -> 10.0.0.1:443 outgoing sent 120 received 4096 in 0.250s`: a flow's
    /// labelled arguments (docs/events.md, Flows).
    static func flowText(_ value: Any?) -> String {
        let args = value as? [[String: Any]] ?? []
        func labelled(_ label: String) -> [String: Any] { args.first { $0["label"] as? String == label } ?? [:] }
        func endpoint(_ address: Any?, _ port: Any?) -> String { endpointText(address as? String ?? "", port: port ?? 0) }
        let sock = labelled("sock")["sock_arg"] as? [String: Any] ?? [:]
        let seconds = Double(labelled("duration_ns")["size_arg"] as? String ?? "") ?? 0
        return [
            endpoint(sock["saddr"], sock["sport"]), "->", endpoint(sock["daddr"], sock["dport"]),
            labelled("direction")["string_arg"] as? String ?? "",
            "sent", labelled("bytes_sent")["size_arg"] as? String ?? "?",
            "received", labelled("bytes_received")["size_arg"] as? String ?? "?",
            "in", String(format: "%.3fs", seconds / 1e9),
        ].filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Arguments as a person reads them: strings as they are, numbers, `addr:port`, paths.
    static func renderArgs(_ value: Any?) -> [String] {
        guard let args = value as? [[String: Any]] else { return [] }
        return args.map(renderArg)
    }

    private static func renderArg(_ arg: [String: Any]) -> String {
        for (key, value) in arg.sorted(by: { $0.key < $1.key }) where key != "label" {
            switch key {
            case "string_arg", "int_arg", "uint_arg", "long_arg", "size_arg":
                return "\(value)"
            case "sockaddr_arg", "sock_arg":
                let sock = value as? [String: Any] ?? [:]
                let address = sock["addr"] as? String ?? sock["daddr"] as? String ?? ""
                if address.isEmpty && sock["port"] == nil && sock["dport"] == nil { return sock["family"] as? String ?? "sockaddr" }
                return endpointText(address, port: sock["port"] ?? sock["dport"])
            case "file_arg", "path_arg":
                return (value as? [String: Any])?["path"] as? String ?? "\(value)"
            case "bytes_arg":
                return "<\(base64Length(value)) bytes>"
            case "truncated_bytes_arg":
                let truncated = value as? [String: Any] ?? [:]
                return "<\(truncated["orig_size"] ?? base64Length(truncated["bytes_arg"])) bytes, truncated>"
            case "syscall_id":
                let id = (value as? [String: Any])?["id"] ?? 0
                return "syscall \(id)"
            case "error_arg":
                return "error: \((value as? [String: Any])?["Message"] ?? "")"
            default:
                return "\(key)=\(value)"
            }
        }
        return ""
    }

    private static func base64Length(_ value: Any?) -> Int {
        guard let text = value as? String else { return 0 }
        return Data(base64Encoded: text)?.count ?? 0
    }
}
