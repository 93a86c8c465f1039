// SPDX-License-Identifier: Apache-2.0
import Events

/// What the ``ProcessCache`` exports and how large it may grow.
package struct ProcessCacheConfig: Sendable {
    /// Node name used in every `exec_id` and in `node_name`.
    package var nodeName: String
    /// Fill `ancestors` (grand-parent upwards) on the events the cache builds.
    package var enableAncestors: Bool
    /// Export `process.ns` (`--enable-process-ns`).
    package var exportNamespaces: Bool
    /// Export `process_credentials` (`--enable-process-cred`).
    package var exportCredentials: Bool
    /// Namespaces of the host (PID 1 of the initial namespaces), to compute `is_host`.
    package var hostNamespaces: Namespaces
    /// Most entries the cache keeps; beyond it the oldest dead entries are evicted first.
    package var capacity: Int
    /// Maps a cgroup id to a container id; the cache keeps its first 31 characters as `docker`.
    package var dockerID: (@Sendable (UInt64) -> String?)?
    /// Hosts with no cgroup2 hierarchy (cgroup v1 only): the kernel's cgroup id is the unused
    /// unified root's, so the container id comes from the process's v1 paths
    /// (`/proc/<pid>/cgroup`) instead, read when its record is handled. A process gone by then
    /// keeps what it inherited at fork.
    package var dockerIDOfProcess: (@Sendable (UInt32) -> String?)?
    /// The redaction filters (`--redaction-filters`): given a new process's binary and
    /// arguments, the exported `arguments` text with secrets replaced, or nil when nothing
    /// changed. Applied once per process when the cache makes its entry, so `process`, `parent`
    /// and `ancestors` of every event, and every sink, carry the redacted text.
    package var redactArguments: (@Sendable (_ binary: [UInt8], _ arguments: [[UInt8]]) -> [UInt8]?)?

    /// - Parameters:
    ///   - nodeName: node name for `exec_id` and `node_name`.
    ///   - enableAncestors: fill `ancestors`.
    ///   - exportNamespaces: export `process.ns`.
    ///   - exportCredentials: export `process_credentials`.
    ///   - hostNamespaces: the host's namespaces, unknown ones 0 (``HostNamespaces/knownOrZero``).
    ///   - capacity: most entries kept (at least 1).
    ///   - dockerID: cgroup id to container id, or nil when unknown.
    package init(
        nodeName: String, enableAncestors: Bool = false, exportNamespaces: Bool = false,
        exportCredentials: Bool = false, hostNamespaces: Namespaces = .init(), capacity: Int = 65536,
        dockerID: (@Sendable (UInt64) -> String?)? = nil,
        dockerIDOfProcess: (@Sendable (UInt32) -> String?)? = nil,
        redactArguments: (@Sendable (_ binary: [UInt8], _ arguments: [[UInt8]]) -> [UInt8]?)? = nil
    ) {
        self.redactArguments = redactArguments
        self.nodeName = nodeName
        self.enableAncestors = enableAncestors
        self.exportNamespaces = exportNamespaces
        self.exportCredentials = exportCredentials
        self.hostNamespaces = hostNamespaces
        self.capacity = capacity
        self.dockerID = dockerID
        self.dockerIDOfProcess = dockerIDOfProcess
    }
}
