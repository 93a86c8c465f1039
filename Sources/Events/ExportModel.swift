// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// Tetragon's `process.flags` words, in the order Tetragon prints them.
package struct ProcessFlags: OptionSet, Sendable, Hashable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let execve = ProcessFlags(rawValue: 1 << 0)
    package static let procFS = ProcessFlags(rawValue: 1 << 1)
    package static let truncArgs = ProcessFlags(rawValue: 1 << 2)
    package static let miss = ProcessFlags(rawValue: 1 << 3)
    package static let errorFilename = ProcessFlags(rawValue: 1 << 4)
    package static let errorArgs = ProcessFlags(rawValue: 1 << 5)
    package static let nocwd = ProcessFlags(rawValue: 1 << 6)
    package static let rootcwd = ProcessFlags(rawValue: 1 << 7)
    package static let errorCWD = ProcessFlags(rawValue: 1 << 8)
    package static let clone = ProcessFlags(rawValue: 1 << 9)
    /// Vigil's own: the binary path was longer or deeper than the kernel buffer.
    package static let truncFilename = ProcessFlags(rawValue: 1 << 10)
    /// Vigil's own: the working directory was longer or deeper than the kernel buffer.
    package static let truncCWD = ProcessFlags(rawValue: 1 << 11)
    /// Vigil's own: the executed file had no link left (deleted file, memfd).
    package static let deletedBinary = ProcessFlags(rawValue: 1 << 12)

    /// Names in Tetragon's order (Vigil's own words last).
    package static let names: [(ProcessFlags, String)] = [
        (.execve, "execve"), (.procFS, "procFS"), (.truncArgs, "truncArgs"), (.miss, "miss"),
        (.errorFilename, "errorFilename"), (.errorArgs, "errorArgs"), (.nocwd, "nocwd"), (.rootcwd, "rootcwd"),
        (.errorCWD, "errorCWD"), (.clone, "clone"), (.truncFilename, "truncFilename"), (.truncCWD, "truncCWD"),
        (.deletedBinary, "deletedBinary"),
    ]

    /// Space-separated, as in Tetragon's JSON.
    package var tetragonString: String {
        Self.names.filter { contains($0.0) }.map(\.1).joined(separator: " ")
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
package struct WallTime: Sendable, Hashable, Comparable {
    package var nanosecondsSinceEpoch: UInt64
    package init(nanosecondsSinceEpoch: UInt64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }
    package static func < (a: WallTime, b: WallTime) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }
}

/// One namespace as exported: inode number and whether it is the host's.
package struct ExportedNamespace: Sendable, Hashable {
    package var inum: UInt32
    package var isHost: Bool
    package init(inum: UInt32, isHost: Bool) {
        self.inum = inum
        self.isHost = isHost
    }
}

/// Tetragon's `process.ns` object.
package struct ExportedNamespaces: Sendable, Hashable {
    package var uts, ipc, mnt, pid, pidForChildren, net, cgroup, user: ExportedNamespace
    package init(
        uts: ExportedNamespace, ipc: ExportedNamespace, mnt: ExportedNamespace, pid: ExportedNamespace,
        pidForChildren: ExportedNamespace, net: ExportedNamespace, cgroup: ExportedNamespace, user: ExportedNamespace
    ) {
        self.uts = uts
        self.ipc = ipc
        self.mnt = mnt
        self.pid = pid
        self.pidForChildren = pidForChildren
        self.net = net
        self.cgroup = cgroup
        self.user = user
    }
}

/// The fields of a `process` object that stay the same for every event naming one process,
/// immutable and shared: the process cache keeps one per entry and every ``ExportedProcess``
/// made from that entry holds a reference to it instead of copies of its strings and arrays.
///
/// Why: an event names two or more processes and is copied a few times on its way to the
/// encoder; with the fields inline each copy retained and released seven strings and arrays
/// and moved ~150 bytes (the largest items of the pipeline profile, docs/benchmarks.md).
///
/// The core is also the slot of the encoder's rendering of these fields (``RenderedProcessSlot``),
/// which is used only while an ``ExportedProcess`` says its extras are the cache's (see
/// ``ExportedProcess/rendered``).
package final class ProcessCore: RenderedProcessSlot, @unchecked Sendable {
    // @unchecked: `fields` is immutable; the slot's state is atomic (see RenderedProcessSlot).
    package struct Fields: Sendable, Hashable {
        package var execID: String
        package var pid: UInt32
        package var uid: UInt32
        package var auid: UInt32
        package var cwd: [UInt8]
        package var binary: [UInt8]
        package var arguments: [[UInt8]]
        package var flags: ProcessFlags
        package var startTime: WallTime
        package var docker: String?
        package var parentExecID: String?
        package var cgroupID: UInt64
        /// The exported `arguments` text after a redaction filter (`--redaction-filters`)
        /// replaced part of it; `arguments` is then empty, so the secret is not kept anywhere.
        /// Nil: `arguments` is exported as it is.
        package var redactedArguments: [UInt8]? = nil
    }

    package let fields: Fields

    /// The export filters' verdicts on this process's fixed fields (binary, arguments,
    /// container id), computed once per process instead of once per event: written and read
    /// only by `ExportFilters`, which owns its layout. Relaxed atomics: each value is a whole
    /// verdict word; a lost race only computes the same verdicts again.
    package let filterMemo = Atomic<UInt64>(0)

    package init(_ fields: Fields) { self.fields = fields }

    package convenience init(
        execID: String, pid: UInt32, uid: UInt32, auid: UInt32, cwd: [UInt8], binary: [UInt8],
        arguments: [[UInt8]], flags: ProcessFlags, startTime: WallTime, docker: String? = nil,
        parentExecID: String? = nil, cgroupID: UInt64 = 0, redactedArguments: [UInt8]? = nil
    ) {
        self.init(
            Fields(
                execID: execID, pid: pid, uid: uid, auid: auid, cwd: cwd, binary: binary, arguments: arguments,
                flags: flags, startTime: startTime, docker: docker, parentExecID: parentExecID, cgroupID: cgroupID,
                redactedArguments: redactedArguments))
    }
}

/// Tetragon's `arguments` text, unescaped: argv[1...] joined by single spaces, an argument
/// containing a space (or empty) wrapped in double quotes. What the export filters'
/// `arguments_regex` and the redaction filters read; the encoder writes the same text, escaped.
package enum ArgumentsText {
    package static func join(_ arguments: [[UInt8]]) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(arguments.reduce(0) { $0 + $1.count + 3 })
        for (i, arg) in arguments.enumerated() {
            if i > 0 { text.append(UInt8(ascii: " ")) }
            let quoted = arg.isEmpty || arg.contains(UInt8(ascii: " "))
            if quoted { text.append(UInt8(ascii: "\"")) }
            text.append(contentsOf: arg)
            if quoted { text.append(UInt8(ascii: "\"")) }
        }
        return text
    }
}

/// The `process` object of Tetragon's schema (also `parent` and each of `ancestors`).
///
/// The fields that never change for one process live in a shared ``ProcessCore``; setting one
/// of them gives this value a core of its own (copy on write) and drops the link to the cached
/// rendering (``RenderedProcess``), so a cached rendering never outlives a change; `tid`,
/// `refcnt`, `pod` and `namespacePID` are written per event and are not covered.
package struct ExportedProcess: Sendable, Hashable {
    /// The shared fixed fields.
    package private(set) var core: ProcessCore

    /// Changes one fixed field: a new core, and no cached rendering.
    @inline(__always)
    private mutating func change(_ body: (inout ProcessCore.Fields) -> Void) {
        var fields = core.fields
        body(&fields)
        core = ProcessCore(fields)
        usesCoreRendering = false
    }

    package var execID: String {
        get { core.fields.execID }
        set { change { $0.execID = newValue } }
    }
    package var pid: UInt32 {
        get { core.fields.pid }
        set { change { $0.pid = newValue } }
    }
    package var tid: UInt32
    package var uid: UInt32 {
        get { core.fields.uid }
        set { change { $0.uid = newValue } }
    }
    package var auid: UInt32 {
        get { core.fields.auid }
        set { change { $0.auid = newValue } }
    }
    /// Absolute working directory, raw bytes.
    package var cwd: [UInt8] {
        get { core.fields.cwd }
        set { change { $0.cwd = newValue } }
    }
    /// Absolute path of the executed file, raw bytes.
    package var binary: [UInt8] {
        get { core.fields.binary }
        set { change { $0.binary = newValue } }
    }
    /// argv[1...], raw bytes; the encoder joins and quotes them as Tetragon does. Empty when a
    /// redaction filter rewrote them (``redactedArguments``).
    package var arguments: [[UInt8]] {
        get { core.fields.arguments }
        set { change { $0.arguments = newValue } }
    }
    /// The `arguments` text after redaction (`--redaction-filters`), nil when not redacted.
    package var redactedArguments: [UInt8]? {
        get { core.fields.redactedArguments }
        set { change { $0.redactedArguments = newValue } }
    }
    /// The exported `arguments` text, unescaped (``ArgumentsText``), redaction applied.
    package var argumentsText: [UInt8] { core.fields.redactedArguments ?? ArgumentsText.join(core.fields.arguments) }
    package var flags: ProcessFlags {
        get { core.fields.flags }
        set { change { $0.flags = newValue } }
    }
    package var startTime: WallTime {
        get { core.fields.startTime }
        set { change { $0.startTime = newValue } }
    }
    /// First 31 characters of the container id, Tetragon's `docker` field.
    package var docker: String? {
        get { core.fields.docker }
        set { change { $0.docker = newValue } }
    }
    /// The Kubernetes pod and container of a containerised process, when the pod is known.
    package var pod: ExportedPod? {
        get { extras?.pod }
        set { extras = .make(pod: newValue, namespaces: namespaces, credentials: credentials) }
    }
    /// Pid in the process's own pid namespace (the container's `pid`); 0 when unknown.
    package var namespacePID: UInt32 = 0
    package var parentExecID: String? {
        get { core.fields.parentExecID }
        set { change { $0.parentExecID = newValue } }
    }
    /// Reference count in the process cache (debug aid, exported as `refcnt` when non-zero).
    package var refcnt: UInt32
    /// Exported only with `--enable-process-ns`.
    package var namespaces: ExportedNamespaces? {
        get { extras?.namespaces }
        set {
            extras = .make(pod: pod, namespaces: newValue, credentials: credentials)
            usesCoreRendering = false
        }
    }
    /// Exported only with `--enable-process-cred`.
    package var credentials: Credentials? {
        get { extras?.credentials }
        set {
            extras = .make(pod: pod, namespaces: namespaces, credentials: newValue)
            usesCoreRendering = false
        }
    }
    /// `pod`, `namespaces` and `credentials`, out of line: they are rarely set but several
    /// hundred bytes inline, and an `ExportedProcess` is copied several times per event (cache
    /// -> context -> event -> encoder), so inline they made most of the copying (memmove).
    private var extras: ProcessExtras?
    /// The out-of-line fields as their shared box: the process cache keeps one per entry and
    /// hands it to every copy, instead of boxing the same values again per event.
    package var extrasBox: ProcessExtras? {
        get { extras }
        set {
            extras = newValue
            usesCoreRendering = false
        }
    }
    package var cgroupID: UInt64 {
        get { core.fields.cgroupID }
        set { change { $0.cgroupID = newValue } }
    }
    /// Whether the encoder may use (and fill) the rendering kept in `core`: set by the process
    /// cache, whose cores and extras boxes belong together; cleared by any change it covers.
    private var usesCoreRendering = false
    /// The process cache entry's rendered JSON of the fields above (nil: render them). Can be
    /// set to nil (render afresh), or to this process's own core's slot.
    package var rendered: RenderedProcessLink {
        get { RenderedProcessLink(usesCoreRendering ? core : nil) }
        set { usesCoreRendering = newValue.slot != nil && newValue.slot === core }
    }

    package init(
        execID: String, pid: UInt32, tid: UInt32, uid: UInt32, auid: UInt32, cwd: [UInt8], binary: [UInt8],
        arguments: [[UInt8]], flags: ProcessFlags, startTime: WallTime, docker: String? = nil,
        parentExecID: String? = nil, refcnt: UInt32 = 0, namespaces: ExportedNamespaces? = nil,
        credentials: Credentials? = nil, cgroupID: UInt64 = 0
    ) {
        self.core = ProcessCore(
            execID: execID, pid: pid, uid: uid, auid: auid, cwd: cwd, binary: binary, arguments: arguments,
            flags: flags, startTime: startTime, docker: docker, parentExecID: parentExecID, cgroupID: cgroupID)
        self.tid = tid
        self.refcnt = refcnt
        self.extras = .make(pod: nil, namespaces: namespaces, credentials: credentials)
    }

    /// A process from a shared core (the process cache's), with the per-event fields and the
    /// shared extras box; nothing is copied but references. `cachedRendering`: the encoder may
    /// keep its rendering in `core` (the core and the extras box always go together).
    package init(
        core: ProcessCore, tid: UInt32, refcnt: UInt32, namespacePID: UInt32, extrasBox: ProcessExtras?,
        cachedRendering: Bool
    ) {
        self.core = core
        self.tid = tid
        self.refcnt = refcnt
        self.namespacePID = namespacePID
        self.extras = extrasBox
        self.usesCoreRendering = cachedRendering
    }

    package static func == (a: ExportedProcess, b: ExportedProcess) -> Bool {
        (a.core === b.core || a.core.fields == b.core.fields) && a.tid == b.tid && a.refcnt == b.refcnt
            && a.namespacePID == b.namespacePID && a.extras == b.extras
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(core.fields)
        hasher.combine(tid)
        hasher.combine(refcnt)
        hasher.combine(namespacePID)
        hasher.combine(extras)
    }
}

/// The rarely set fields of ``ExportedProcess``, immutable and shared between copies (a change
/// makes a new one); nil in the process when all are nil.
package final class ProcessExtras: Sendable, Hashable {
    package let pod: ExportedPod?
    package let namespaces: ExportedNamespaces?
    package let credentials: Credentials?

    private init(pod: ExportedPod?, namespaces: ExportedNamespaces?, credentials: Credentials?) {
        self.pod = pod
        self.namespaces = namespaces
        self.credentials = credentials
    }

    package static func make(pod: ExportedPod?, namespaces: ExportedNamespaces?, credentials: Credentials?) -> ProcessExtras? {
        pod == nil && namespaces == nil && credentials == nil
            ? nil : ProcessExtras(pod: pod, namespaces: namespaces, credentials: credentials)
    }

    package static func == (a: ProcessExtras, b: ProcessExtras) -> Bool {
        a === b || (a.pod == b.pod && a.namespaces == b.namespaces && a.credentials == b.credentials)
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(pod)
        hasher.combine(namespaces)
        hasher.combine(credentials)
    }
}

/// Tetragon's `pod` object: the pod of a containerised process and its container.
package struct ExportedPod: Sendable, Hashable {
    package struct Container: Sendable, Hashable {
        /// As in the pod status, with the runtime scheme: `containerd://<64 hex>`.
        package var id: String
        package var name: String
        /// `image.id` (`repo@sha256:...`) and `image.name` (`repo:tag`).
        package var imageID: String?
        package var imageName: String?
        /// When the container started running (RFC 3339, as the API reports it).
        package var startTime: String?
        package var privileged: Bool

        package init(id: String, name: String, imageID: String?, imageName: String?, startTime: String?, privileged: Bool) {
            self.id = id
            self.name = name
            self.imageID = imageID
            self.imageName = imageName
            self.startTime = startTime
            self.privileged = privileged
        }
    }

    package var namespace: String
    package var name: String
    package var uid: String
    package var container: Container?
    /// Sorted by key, so lines are stable.
    package var labels: [(key: String, value: String)]
    package var workload: String
    package var workloadKind: String

    package init(
        namespace: String, name: String, uid: String, container: Container?, labels: [(key: String, value: String)],
        workload: String, workloadKind: String
    ) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.container = container
        self.labels = labels
        self.workload = workload
        self.workloadKind = workloadKind
    }

    package static func == (a: ExportedPod, b: ExportedPod) -> Bool {
        a.namespace == b.namespace && a.name == b.name && a.uid == b.uid && a.container == b.container
            && a.labels.elementsEqual(b.labels, by: { $0 == $1 }) && a.workload == b.workload && a.workloadKind == b.workloadKind
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(uid)
        hasher.combine(container)
    }
}

/// What happened, with the fields that belong to that kind only.
///
/// The policy cases are `indirect` (their payload lives in a box): inline, their arguments and
/// outcome made every `ExportEvent` several hundred bytes, moved with each copy of every event
/// (exec and exit included) and destroyed through a switch over all argument kinds.
package enum ExportEventKind: Sendable, Hashable {
    /// `process_exec`.
    case exec
    /// `process_exit`: signal name (e.g. "SIGKILL") or nil, exit status, exit time.
    case exit(signal: String?, status: UInt32, time: WallTime)
    /// `process_tracepoint`: a `spec.tracepoints` hook matched.
    indirect case tracepoint(subsystem: String, event: String, args: [Argument], outcome: PolicyOutcome)
    /// `process_kprobe`: a `spec.kprobes` hook matched (syscalls run on their tracepoint here);
    /// `functionName` keeps the arch prefix, e.g. `__x64_sys_write`.
    indirect case kprobe(functionName: String, args: [Argument], outcome: PolicyOutcome)
    /// `process_lsm`: a `spec.lsmhooks` hook matched; `functionName` is the hook name.
    indirect case lsm(functionName: String, args: [Argument], outcome: PolicyOutcome)
    /// `process_uprobe`: a `spec.uprobes` hook matched in `path` at `symbol` (or at the file
    /// `offset` the policy gave; 0 for a symbol).
    indirect case uprobe(path: String, symbol: String, offset: UInt64, args: [Argument], outcome: PolicyOutcome)
}

/// One line of export: a `GetEventsResponse` in Tetragon's schema.
package struct ExportEvent: Sendable, Hashable {
    package var kind: ExportEventKind
    package var process: ExportedProcess
    package var parent: ExportedProcess?
    /// Grand-parent upwards; empty unless `--enable-ancestors` asks for them.
    package var ancestors: [ExportedProcess]
    package var nodeName: String
    package var time: WallTime

    package init(
        kind: ExportEventKind, process: ExportedProcess, parent: ExportedProcess?, ancestors: [ExportedProcess] = [],
        nodeName: String, time: WallTime
    ) {
        self.kind = kind
        self.process = process
        self.parent = parent
        self.ancestors = ancestors
        self.nodeName = nodeName
        self.time = time
    }
}

/// One rendered argument of a policy event (Tetragon's `KprobeArgument`).
package enum ArgumentValue: Sendable, Hashable {
    /// `int_arg`: signed 32-bit and narrower.
    case int(Int32)
    /// `uint_arg`: unsigned 32-bit and narrower.
    case uint(UInt32)
    /// `long_arg`: signed 64-bit, a JSON string.
    case long(Int64)
    /// `size_arg`: unsigned 64-bit, a JSON string.
    case size(UInt64)
    /// `string_arg`: raw bytes, escaped like paths when not UTF-8.
    case string([UInt8])
    /// `bytes_arg`: base64.
    case bytes([UInt8])
    /// `truncated_bytes_arg`: the captured prefix and the size the caller passed.
    case truncatedBytes([UInt8], originalSize: UInt64)
    /// `sockaddr_arg`: family name ("AF_INET"), address text, port.
    case sockaddr(family: String, address: String, port: UInt32)
    /// `file_arg`: path and `ls -l`-style permission (e.g. `-rw-r--r--`), with Vigil's inode,
    /// device and open flags when the kernel side read them.
    case file(path: [UInt8], permission: String, details: FileDetails? = nil)
    /// `linux_binprm_arg`: the executed file's path and permission.
    case binprm(path: [UInt8], permission: String, details: FileDetails? = nil)
    /// `sock_arg`: family, type and protocol names, destination address and port.
    case sock(family: String, type: String, protocol: String, daddr: String, dport: UInt32)
    /// `sock_arg` of a kprobe's socket: every field Tetragon writes that the kernel side read.
    case socket(SocketArgument)
    /// `path_arg`: a `struct path *` (or `dentry`), same shape as `file_arg`.
    case path(path: [UInt8], permission: String, details: FileDetails? = nil)
    /// `process_credentials_arg`: a `struct cred *`.
    case credentials(Credentials)
    /// `syscall_id`: number and ABI ("x64", "i386").
    case syscallID(id: UInt32, abi: String)
    /// `error_arg`: the argument could not be read.
    case error(String)
}

/// What the kernel side knew of an opened file beyond Tetragon's `file_arg` fields, written as
/// Vigil's `inode`, `device` and `open_flags` keys.
package struct FileDetails: Sendable, Hashable {
    package var inode: UInt64
    /// Kernel dev_t encoding (major << 20 | minor).
    package var device: UInt32
    /// `O_*` open flags as the file holds them (f_flags); nil for an exec.
    package var openFlags: UInt32?

    package init(inode: UInt64, device: UInt32, openFlags: UInt32?) {
        self.inode = inode
        self.device = device
        self.openFlags = openFlags
    }

    /// `major:minor`.
    package var deviceText: String { "\(device >> 20):\(device & 0xfffff)" }

    /// `O_RDONLY|O_CLOEXEC` style; the kernel drops O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC once
    /// the file is open, and sets O_LARGEFILE on 64-bit.
    package static func openFlagsText(_ flags: UInt32) -> String {
        var words: [String] = [["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][Int(flags & 3)]]
        let names: [(UInt32, String)] = [
            (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
            (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "FASYNC"), (0o40000, "O_DIRECT"),
            (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
            (0o2000000, "O_CLOEXEC"), (0o4000000, "O_SYNC"), (0o10000000, "O_PATH"), (0o20000000, "O_TMPFILE"),
        ]
        for (bit, name) in names where flags & bit != 0 { words.append(name) }
        return words.joined(separator: "|")
    }
}

package struct Argument: Sendable, Hashable {
    package var value: ArgumentValue
    /// The spec's `label`; Tetragon leaves it out on tracepoint events.
    package var label: String?
    package init(_ value: ArgumentValue, label: String? = nil) {
        self.value = value
        self.label = label
    }
}

/// What a matching policy selector decided, as Tetragon reports it.
package struct PolicyOutcome: Sendable, Hashable {
    package var policyName: String
    package var action: PolicyAction
    package var message: String?
    package var tags: [String]
    /// The policy runs in monitor mode: `action` says what would have been done; nothing was.
    package var monitor: Bool
    /// The process was outside the enforcement fence (`--enforcement-cgroup`): `action` says what
    /// was due; nothing was done. Vigil's `fenced` key.
    package var fenced: Bool = false
    /// What the hooked call returned (Tetragon's `return`), when known: a connect's 0 or -errno.
    package var returnValue: ArgumentValue? = nil
    /// How Vigil observed or enforced this hook here (`cgroup_sock_addr`, `fanotify`,
    /// `tracepoint`, ...): Vigil's `mechanism` key, since the same policy runs on different
    /// kernel mechanisms per kernel.
    package var mechanism: String? = nil
    /// The hook's fixed keys (`subsys`, `event`, `function_name`, `policy_name`, `message`,
    /// `tags`) rendered once for its slot, which the encoder copies instead of writing the
    /// fields above again; nil: the encoder writes them. Must have been rendered from the same
    /// kind of event, event name and outcome fields.
    package var renderedKeys = RenderedPolicyKeysLink()

    package init(policyName: String, action: PolicyAction, message: String? = nil, tags: [String] = [], monitor: Bool = false) {
        self.policyName = policyName
        self.action = action
        self.message = message
        self.tags = tags
        self.monitor = monitor
    }
}

extension ExportEventKind {
    /// An event's kind without its fields: what counters and the export's observers need of a
    /// policy event that is not rendered into an ``ExportEvent``.
    package enum Tag: Sendable, Hashable {
        case exec, exit, tracepoint, kprobe, lsm, uprobe

        /// The JSON key of events of this kind.
        package var jsonKey: String {
            switch self {
            case .exec: "process_exec"
            case .exit: "process_exit"
            case .tracepoint: "process_tracepoint"
            case .kprobe: "process_kprobe"
            case .lsm: "process_lsm"
            case .uprobe: "process_uprobe"
            }
        }
    }

    /// This kind's ``Tag``.
    package var tag: Tag {
        switch self {
        case .exec: .exec
        case .exit: .exit
        case .tracepoint: .tracepoint
        case .kprobe: .kprobe
        case .lsm: .lsm
        case .uprobe: .uprobe
        }
    }

    /// Convenience for callers that switch on the JSON key.
    package var jsonKey: String {
        switch self {
        case .exec: "process_exec"
        case .exit: "process_exit"
        case .tracepoint: "process_tracepoint"
        case .kprobe: "process_kprobe"
        case .lsm: "process_lsm"
        case .uprobe: "process_uprobe"
        }
    }
}

/// Tetragon's `KprobeSock` (`sock_arg`) as far as the kernel side reads it.
package struct SocketArgument: Sendable, Hashable {
    package var family: String
    package var type: String
    package var `protocol`: String
    package var mark: UInt32
    package var saddr: String
    package var daddr: String
    package var sport: UInt32
    package var dport: UInt32
    /// `TCP_ESTABLISHED`, `TCP_SYN_SENT`, ...
    package var state: String
    /// The socket's cookie (flow events); 0: not read, left out.
    package var cookie: UInt64

    package init(
        family: String, type: String, protocol: String, mark: UInt32, saddr: String, daddr: String, sport: UInt32,
        dport: UInt32, state: String, cookie: UInt64 = 0
    ) {
        self.cookie = cookie
        self.family = family
        self.type = type
        self.protocol = `protocol`
        self.mark = mark
        self.saddr = saddr
        self.daddr = daddr
        self.sport = sport
        self.dport = dport
        self.state = state
    }
}
