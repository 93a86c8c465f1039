// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import BPFKit
import ExportFilters
import Glibc
import Logging
import Sandbox
import VigilAgent

/// `vigil`: the node agent. Flag names follow Tetragon's where the meaning is the same.
struct VigilCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Runtime security agent: every exec and exit on this node as Tetragon-schema JSON lines.",
        discussion: """
            Needs root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF and BPF ring buffers \
            (Linux 5.8+); TracingPolicies need bpf_loop (Linux 5.17+), without which exec, fork \
            and exit are observed and policies refused. Events go to stdout unless --export-filename is given; give \
            both --export-filename and --export-stdout for both. TracingPolicies (Tetragon's \
            format) load from --tracing-policy and --tracing-policy-dir; a bad policy is refused \
            with file:line:column and the rest load. SIGHUP reloads them; SIGTERM or SIGINT \
            flushes the export and detaches every BPF program.
            """)

    @Option(help: "Node name in every event and exec_id (default: $NODE_NAME, else the host name).")
    var nodeName: String?

    @Option(help: ArgumentHelp("JSON lines export file; rotated by size.", valueName: "path"))
    var exportFilename: String?

    @Flag(help: "Also write events to stdout when --export-filename is set.")
    var exportStdout = false

    @Option(help: "Rotate the export file when it reaches this size.")
    var exportFileMaxSizeMb: Int = 10

    @Option(help: "Rotated export files kept.")
    var exportFileMaxBackups: Int = 5

    @Option(help: ArgumentHelp(
        "Also rotate the export file this often (Tetragon's flag), e.g. 30s, 15m, 1h30m; 0s: by size only.",
        valueName: "duration"))
    var exportFileRotationInterval: String = "0s"

    @Flag(help: "gzip rotated export files.")
    var exportFileCompress = false

    @Option(help: ArgumentHelp("Mode of the export file, octal.", valueName: "mode"))
    var exportFilePerm: String = "600"

    @Flag(
        help: """
            Add Vigil's own fields to exported events, under `vigil` keys (mechanism, policy_mode, fenced, \
            a file's inode/device/open_flags; docs/events.md). Without it every line is strictly Tetragon's schema.
            """)
    var enableVigilFields = false

    @Option(
        help: ArgumentHelp(
            "Export only events one of these Tetragon Filter JSON lines matches (event_set, binary_regex, namespace, pod_regex, labels, policy_names, ...; docs/events.md).",
            valueName: "json-lines"))
    var exportAllowlist: String = ""

    @Option(
        help: ArgumentHelp(
            "Do not export events one of these Tetragon Filter JSON lines matches; wins over the allowlist.",
            valueName: "json-lines"))
    var exportDenylist: String = ""

    @Option(
        help: ArgumentHelp(
            "Tetragon FieldFilter JSON lines: {\"fields\":\"process.binary,parent.binary\",\"action\":\"INCLUDE\",\"event_set\":[...]}.",
            valueName: "json-lines"))
    var fieldFilters: String = ""

    @Option(
        help: ArgumentHelp(
            "Tetragon RedactionFilter JSON lines: capture groups of \"redact\" regexes become ***** in arguments (optional \"binary_regex\"), before any sink.",
            valueName: "json-lines"))
    var redactionFilters: String = ""

    @Option(help: "Events exported per minute; -1 unlimited, 0 none. Drops are reported as rate_limit_info events.")
    var exportRateLimit: Int = -1

    @Flag(help: "Allow pid_set in --export-allowlist/--export-denylist (descendants followed best-effort).")
    var enablePidSetFilter = false

    @Option(
        help: ArgumentHelp(
            "Comma-separated event types whose events carry `ancestors`: base (process_exec, process_exit).",
            valueName: "types"))
    var enableAncestors: String = ""

    @Flag(help: "Export process.ns (namespace inode numbers and is_host).")
    var enableProcessNs = false

    @Flag(help: "Export process_credentials (uids, gids, capabilities).")
    var enableProcessCred = false

    @Flag(
        help: """
            Export one event per TCP flow (IPv4 and IPv6) at its close: a process_kprobe tcp_close with the socket, \
            direction, payload bytes each way and duration, owned by the process that connected or accepted (docs/events.md). Needs tp_btf.
            """)
    var enableFlows = false

    @Option(help: "Open TCP flows tracked at once with --enable-flows; flows beyond are counted (vigil_flows_total{result=\"untracked\"}), not reported.")
    var flowMapEntries: Int = 65536

    @Flag(
        help: """
            Learn names from the DNS answers (UDP from port 53) each cgroup's sockets receive, and add destination_names \
            to connect policy events and flows to an address the process's cgroup resolved (docs/events.md). Attaches a \
            cgroup_skb ingress program, which passes every packet, to the cgroup2 root while the agent runs. Linux 5.17+.
            """)
    var enableDnsNames = false

    @Option(help: "(cgroup, address) entries the DNS name cache holds with --enable-dns-names; the oldest learnt is evicted beyond (vigil_dns_cache_evictions_total).")
    var dnsCacheEntries: Int = 65536

    @Option(help: "Argument bytes captured per exec (1 to 32767); longer argument lists are flagged truncArgs.")
    var argsMaxBytes: Int = 4096

    @Option(help: ArgumentHelp("BPF ring buffer size, power of two; K and M suffixes.", valueName: "size"))
    var rbSize: String = "8M"

    @Option(help: "Record batches queued between the ring-buffer reader and the pipeline before drops are counted.")
    var rbQueueSize: Int = 4096

    @Option(help: "Decoded events waiting for the pipeline (export) before the reader drops and counts them; bounds memory under a slow export sink.")
    var eventQueueSize: Int = 65536

    @Option(help: "Processes the cache keeps before evicting exited ones.")
    var processCacheSize: Int = 65536

    @Option(help: ArgumentHelp("procfs mount to scan at start (a host's /proc seen from a container).", valueName: "path"))
    var procfs: String = "/proc"

    @Option(help: ArgumentHelp("Hook family for exec/fork/exit: auto, tp_btf or raw_tp.", valueName: "mode"))
    var attachMode: String = "auto"

    @Option(help: ArgumentHelp("TracingPolicy file to load; repeat for more.", valueName: "file"))
    var tracingPolicy: [String] = []

    @Option(help: ArgumentHelp("Directory of TracingPolicy files (*.yaml, *.yml; one level of sub-directories). SIGHUP re-reads it.", valueName: "dir"))
    var tracingPolicyDir: String = "/etc/vigil/tracing-policies"

    @Option(help: ArgumentHelp("UNIX socket of the control API that tracectl talks to; \"\" turns it off.", valueName: "path"))
    var serverAddress: String = "/var/run/vigil/vigil.sock"

    @Option(help: ArgumentHelp("Group allowed to use the control socket (mode 0660); default: root only (0600).", valueName: "group"))
    var serverGroup: String?

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:2112.", valueName: "host:port"))
    var metricsServer: String?

    @Option(
        help: ArgumentHelp(
            "Serve liveness at http://ADDR/livez and readiness at http://ADDR/readyz (503 with the reason when not OK), e.g. :6789 (Tetragon's port). Default: off.",
            valueName: "host:port"))
    var healthServerAddress: String?

    @Option(help: ArgumentHelp("Liveness fails when the pipeline has not drained the ring buffer for this long (a blocked export sink).", valueName: "seconds"))
    var healthDrainTimeout: Double = 30

    @Option(help: ArgumentHelp("Keep policies added with tracectl in this directory and load them at start.", valueName: "dir"))
    var persistPolicies: String?

    @Flag(help: "Keep connect enforcement (programs, links, policy maps), tracepoint hooks and the exec tracking binary selectors read pinned in --bpf-dir when the agent exits or dies; the next start replaces it without a gap.")
    var keepSensorsOnExit = false

    @Option(
        help: ArgumentHelp(
            "With --keep-sensors-on-exit, what policies without the vigil-while-agent-down option do while no agent runs where they cannot stay exact: fail-open (pods started meanwhile are outside pod-scoped policies; hooks that are not pinned stop) or fail-closed (pod-scoped policies cover every cgroup made after the agent's last scan; a policy that would kill or deny on a hook that is not pinned is refused).",
            valueName: "fail-open|fail-closed"))
    var whileAgentDown = "fail-open"

    @Option(
        help: ArgumentHelp(
            "Staged enforcement: Sigkill, Signal and Override act only on processes in this cgroup2 directory or below it; elsewhere the event is exported with the action not taken. Default: the whole node.",
            valueName: "path"))
    var enforcementCgroup: String?

    @Flag(help: "Run spec.kprobes on kernel functions as kprobes even where BPF trampolines (fentry/fexit/fmod_ret) load; Override on them is then refused.")
    var disableTrampolines = false

    @Option(help: ArgumentHelp("bpffs directory for pinned enforcement.", valueName: "dir"))
    var bpfDir: String = "/sys/fs/bpf/vigil"

    @Option(
        help: ArgumentHelp(
            "The agent's own seccomp filter after start-up: enforce (exec, ptrace, mount, module loading... fail with EPERM), log (allowed, logged by the kernel) or off.",
            valueName: "mode"))
    var seccomp: String = "enforce"

    @Flag(help: "Watch this node's pods (spec.nodeName = --node-name) and add `pod` to events of containerised processes.")
    var enableK8sApi = false

    @Option(help: ArgumentHelp("kubeconfig to reach the API server with (default: the in-cluster service account).", valueName: "path"))
    var k8sKubeconfigPath: String?

    @Option(help: ArgumentHelp("Seconds an event waits for its pod to appear in the watch before it goes out without one.", valueName: "seconds"))
    var podWaitTimeout: Double = 3

    @Option(help: ArgumentHelp("trace, debug, info, warning or error.", valueName: "level"))
    var logLevel: String = "info"

    mutating func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: unknown level '\(logLevel)' (trace, debug, info, warning, error)")
        }
        guard exportFileMaxSizeMb > 0 else { throw ValidationError("--export-file-max-size-mb must be at least 1") }
        guard exportFileMaxBackups >= 0 else { throw ValidationError("--export-file-max-backups must be 0 or more") }
        guard let rotation = Self.parseDuration(exportFileRotationInterval) else {
            throw ValidationError(
                "--export-file-rotation-interval: '\(exportFileRotationInterval)' is not a duration like 30s, 15m or 1h30m")
        }
        guard rotation == .zero || rotation >= .seconds(1) else {
            throw ValidationError("--export-file-rotation-interval must be 0s or at least 1s, got \(exportFileRotationInterval)")
        }
        guard mode_t(exportFilePerm, radix: 8).map({ $0 <= 0o777 }) == true else {
            throw ValidationError("--export-file-perm: '\(exportFilePerm)' is not an octal mode like 600")
        }
        guard (1...32767).contains(argsMaxBytes) else {
            throw ValidationError("--args-max-bytes must be between 1 and 32767, got \(argsMaxBytes)")
        }
        guard let size = Self.parseSize(rbSize), size >= 4096, size <= 1 << 30, size & (size - 1) == 0 else {
            throw ValidationError("--rb-size: '\(rbSize)' is not a power of two between 4K and 1G")
        }
        guard rbQueueSize > 0 else { throw ValidationError("--rb-queue-size must be at least 1") }
        guard eventQueueSize > 0 else { throw ValidationError("--event-queue-size must be at least 1") }
        guard processCacheSize >= 1024 else { throw ValidationError("--process-cache-size must be at least 1024") }
        guard ["auto", "tp_btf", "raw_tp"].contains(attachMode) else {
            throw ValidationError("--attach-mode: '\(attachMode)' is not auto, tp_btf or raw_tp")
        }
        guard bpfDir.hasPrefix("/"), bpfDir.count > 1 else { throw ValidationError("--bpf-dir must be an absolute path") }
        guard ["fail-open", "fail-closed"].contains(whileAgentDown) else {
            throw ValidationError("--while-agent-down: '\(whileAgentDown)' is not fail-open or fail-closed")
        }
        guard whileAgentDown == "fail-open" || keepSensorsOnExit else {
            throw ValidationError(
                "--while-agent-down=fail-closed needs --keep-sensors-on-exit: without it every hook detaches when the agent exits, so nothing would deny while no agent runs")
        }
        guard SeccompMode(rawValue: seccomp) != nil else {
            throw ValidationError("--seccomp: '\(seccomp)' is not off, log or enforce")
        }
        guard podWaitTimeout >= 0, podWaitTimeout <= 600 else {
            throw ValidationError("--pod-wait-timeout must be between 0 and 600 seconds, got \(podWaitTimeout)")
        }
        guard flowMapEntries >= 1, flowMapEntries <= 1 << 22 else {
            throw ValidationError("--flow-map-entries must be between 1 and 4194304, got \(flowMapEntries)")
        }
        guard dnsCacheEntries >= 1, dnsCacheEntries <= 1 << 22 else {
            throw ValidationError("--dns-cache-entries must be between 1 and 4194304, got \(dnsCacheEntries)")
        }
        guard healthDrainTimeout >= 1, healthDrainTimeout <= 3600 else {
            throw ValidationError("--health-drain-timeout must be between 1 and 3600 seconds, got \(healthDrainTimeout)")
        }
        for type in enableAncestors.split(separator: ",") where type != "base" {
            throw ValidationError("--enable-ancestors: unknown event type '\(type)' (supported: base)")
        }
        guard exportRateLimit >= -1 else {
            throw ValidationError("--export-rate-limit must be -1 (unlimited), 0 or more, got \(exportRateLimit)")
        }
        // Every filter is compiled here: a refused one stops the agent before anything loads.
        do {
            _ = try ExportFilters(
                allowlist: exportAllowlist, denylist: exportDenylist,
                context: ExportFilterContext(
                    ancestorsOnBase: enableAncestors.split(separator: ",").contains("base"),
                    pidSetEnabled: enablePidSetFilter))
            _ = try FieldFilters(fieldFilters)
            _ = try RedactionFilters(redactionFilters)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// A Go duration as Tetragon's flags take it: one or more number-unit pairs (`h`, `m`, `s`,
    /// `ms`), e.g. `1h30m`, `90s`, `0.5h`; a bare `0`. Nil when it is not one, or negative.
    static func parseDuration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        let units: [(String, Double)] = [("ms", 0.001), ("h", 3600), ("m", 60), ("s", 1)]
        var rest = Substring(text)
        var seconds = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            seconds += value * scale
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// "8M" -> 8388608. Plain numbers are bytes.
    static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30, "g": 1 << 30]
        if let last = text.last, let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }

    func agentConfiguration() -> AgentConfiguration {
        var config = AgentConfiguration(nodeName: nodeName ?? Self.defaultNodeName())
        config.procRoot = procfs
        config.export.filename = exportFilename
        config.export.stdout = exportStdout || exportFilename == nil
        config.export.maxSizeMB = exportFileMaxSizeMb
        config.export.maxBackups = exportFileMaxBackups
        if let rotation = Self.parseDuration(exportFileRotationInterval), rotation > .zero {
            config.export.rotationInterval = rotation
        }
        config.export.compress = exportFileCompress
        config.export.permissions = mode_t(exportFilePerm, radix: 8) ?? 0o600
        config.export.vigilFields = enableVigilFields
        config.export.allowlist = exportAllowlist
        config.export.denylist = exportDenylist
        config.export.fieldFilters = fieldFilters
        config.export.redactionFilters = redactionFilters
        config.export.rateLimit = exportRateLimit
        config.export.pidSetFilter = enablePidSetFilter
        config.enableAncestors = enableAncestors.split(separator: ",").contains("base")
        config.exportNamespaces = enableProcessNs
        config.exportCredentials = enableProcessCred
        config.processCacheSize = processCacheSize
        config.sensor.argsMaxBytes = UInt32(argsMaxBytes)
        config.sensor.flows = enableFlows
        config.sensor.flowMapEntries = UInt32(flowMapEntries)
        config.sensor.dnsNames = enableDnsNames
        config.dnsCacheEntries = dnsCacheEntries
        config.sensor.ringBufferBytes = UInt32(Self.parseSize(rbSize) ?? 8 << 20)
        config.sensor.attachMode = attachMode == "auto" ? nil : (attachMode == "tp_btf" ? .tpBTF : .rawTP)
        config.reader.queueBatches = rbQueueSize
        config.reader.maxQueuedRecords = eventQueueSize
        config.policies = PolicySources(files: tracingPolicy, directory: tracingPolicyDir)
        config.serverAddress = serverAddress.isEmpty ? nil : serverAddress
        config.serverGroup = serverGroup
        config.metricsAddress = metricsServer
        config.healthAddress = healthServerAddress
        config.healthDrainTimeout = .milliseconds(Int64(healthDrainTimeout * 1000))
        config.persistPolicies = persistPolicies
        config.seccomp = SeccompMode(rawValue: seccomp) ?? .enforce
        config.keepSensorsOnExit = keepSensorsOnExit
        _ = config.setWhileAgentDown(whileAgentDown)  // checked in validate()
        config.enforcementCgroup = enforcementCgroup
        config.disableTrampolines = disableTrampolines
        config.bpfDirectory = bpfDir.hasSuffix("/") ? String(bpfDir.dropLast()) : bpfDir
        if enableK8sApi {
            var kubernetes = KubernetesOptions()
            kubernetes.kubeconfig = k8sKubeconfigPath
            kubernetes.podWait = .milliseconds(Int64(podWaitTimeout * 1000))
            config.kubernetes = kubernetes
        }
        return config
    }

    static func defaultNodeName() -> String {
        if let env = getenv("NODE_NAME"), env.pointee != 0 { return String(cString: env) }
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
