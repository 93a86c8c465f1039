// SPDX-License-Identifier: Apache-2.0
import BPFKit
import Glibc
import Sandbox
import TracingPolicy

/// Everything `vigil` was told on its command line, built once and passed down.
package struct AgentConfiguration: Sendable {
    /// Where events go.
    package struct Export: Sendable {
        package var stdout = true
        package var filename: String?
        package var maxSizeMB = 10
        package var maxBackups = 5
        /// Rotate this often besides by size (`--export-file-rotation-interval`); nil: by size only.
        package var rotationInterval: Duration?
        package var compress = false
        package var permissions: mode_t = 0o600
        /// Vigil's own `vigil` objects in exported lines (`--enable-vigil-fields`); without it
        /// every line is strictly Tetragon's schema (docs/events.md).
        package var vigilFields = false
        /// `--export-allowlist`, `--export-denylist`: Tetragon's `Filter` JSON lines.
        package var allowlist = ""
        package var denylist = ""
        /// `--field-filters`: Tetragon's `FieldFilter` JSON lines.
        package var fieldFilters = ""
        /// `--redaction-filters`: Tetragon's `RedactionFilter` JSON lines.
        package var redactionFilters = ""
        /// `--export-rate-limit`: events per minute; -1 unlimited.
        package var rateLimit = -1
        /// `--enable-pid-set-filter`: `pid_set` in the allow and deny lists.
        package var pidSetFilter = false
        package init() {}
    }

    package var nodeName: String
    package var procRoot = "/proc"
    package var export = Export()
    package var enableAncestors = false
    package var exportNamespaces = false
    package var exportCredentials = false
    package var processCacheSize = 65536
    /// (cgroup, address) entries of the DNS name cache (`--enable-dns-names`, `--dns-cache-entries`).
    package var dnsCacheEntries = 65536
    package var sensor = ProcessSensor.Options()
    package var reader = RingBufferReader.Configuration()
    /// cgroup2 mount; nil finds it in /proc/self/mountinfo.
    package var cgroup2Root: String?
    /// `--tracing-policy` files and `--tracing-policy-dir`.
    package var policies = PolicySources()
    /// Control API UNIX socket (`--server-address`); nil turns the API off.
    package var serverAddress: String? = "/var/run/vigil/vigil.sock"
    /// Group allowed to use the socket (`--server-group`).
    package var serverGroup: String?
    /// Prometheus `/metrics` on host:port (`--metrics-server`); nil: off.
    package var metricsAddress: String?
    /// `/livez` and `/readyz` on host:port (`--health-server-address`); nil: off.
    package var healthAddress: String?
    /// Liveness fails when the pipeline has not drained the ring for this long (`--health-drain-timeout`).
    package var healthDrainTimeout: Duration = .seconds(30)
    /// Where policies added through the API are kept across restarts (`--persist-policies`).
    package var persistPolicies: String?
    /// Pin the connect enforcement so that it outlives the agent (`--keep-sensors-on-exit`).
    package var keepSensorsOnExit = false
    /// `--while-agent-down`: what policies without `vigil-while-agent-down` do where they cannot
    /// stay exact while no agent runs.
    package var whileAgentDown: AgentDownMode = .failOpen

    /// Sets ``whileAgentDown`` from its flag's spelling; false when it is neither value.
    package mutating func setWhileAgentDown(_ text: String) -> Bool {
        guard let mode = AgentDownMode(rawValue: text) else { return false }
        whileAgentDown = mode
        return true
    }
    /// `--enforcement-cgroup`: kills and denies reach only processes in this cgroup2 directory
    /// or below it (staged enforcement); nil: the whole node.
    package var enforcementCgroup: String?
    /// Kernel-function hooks on kprobes only, never on BPF trampolines (`--disable-trampolines`).
    package var disableTrampolines = false
    /// bpffs directory for pins (`--bpf-dir`).
    package var bpfDirectory = "/sys/fs/bpf/vigil"
    /// The agent's own seccomp filter once start-up is done (`--seccomp`).
    package var seccomp: SeccompMode = .enforce
    /// Pod metadata from the API server (`--enable-k8s-api`); nil: off.
    package var kubernetes: KubernetesOptions?

    package init(nodeName: String) {
        self.nodeName = nodeName
    }
}
