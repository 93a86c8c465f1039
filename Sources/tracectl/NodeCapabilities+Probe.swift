// SPDX-License-Identifier: Apache-2.0
import Events
import Foundation
import KernelFeatures
import PolicyCompiler
import Tracefs

/// The facts `tracectl policy validate` compiles against on this machine, and the ones
/// `tracectl probe -o json` writes for another: from ``KernelProbe`` (what `tracectl probe`
/// prints) and the files the agent itself reads.
struct MachineFacts {
    var probe: KernelProbe
    var tracefsRoot: String?
    /// Checks that cannot run here, with the reason.
    var unchecked: [String]

    static func collect() -> MachineFacts {
        var facts = MachineFacts(probe: KernelProbe.run(), tracefsRoot: Tracefs.root(), unchecked: [])
        let root = facts.tracefsRoot
        var unchecked: [String] = []
        for (name, check) in [
            ("BPF-LSM", "whether lsmhooks run in BPF-LSM programs"), ("fentry", "BPF trampolines (fentries, Override)"),
            ("tp_btf", "Sigkill/Signal on connect hooks"),
        ] where facts.fact(name).available == nil {
            unchecked.append("\(check): \(facts.fact(name).detail)\(geteuid() == 0 ? "" : " (run as root)")")
        }
        if root == nil {
            unchecked.append(
                "tracepoint formats: tracefs is not mounted here (the agent mounts it at \(Tracefs.standardPath))")
        } else if let root, access(root + "/events", R_OK | X_OK) != 0 {
            unchecked.append("tracepoint formats: \(root)/events is not readable (\(String(cString: strerror(errno)))): run as root")
        }
        for (path, check) in [
            ("/sys/kernel/debug/kprobes/blacklist", "the kprobe blacklist"),
            ("/sys/kernel/debug/error_injection/list", "the error-injection list (Override on non-security_* functions)"),
        ] where access(path, R_OK) != 0 && errno == EACCES {
            unchecked.append("\(check): \(path) is not readable without root")
        }
        facts.unchecked = unchecked
        return facts
    }

    /// A feature of the probe as the agent would find it: the agent mounts securityfs before it
    /// reads the active LSMs, so an unmounted securityfs leaves BPF-LSM unknown, not absent.
    func fact(_ name: String) -> NodeCapabilities.Fact {
        let feature = probe.features.first { $0.name == name }
        if name == "BPF-LSM", let feature, feature.detail.hasPrefix("securityfs not mounted") {
            return .init(available: nil, detail: feature.detail)
        }
        return .init(available: feature?.available, detail: feature?.detail ?? "not probed")
    }

    /// The agent's environment on this machine: the files it reads, with the facts of its
    /// sensor taken from the probe. What could not be probed passes and is in ``unchecked``;
    /// a format tracefs would not give is a ``NotChecked`` problem.
    func environment(podScopesAvailable: Bool) -> CompileEnvironment {
        let root = tracefsRoot
        let kprobes = fact("kprobes").available ?? false
        let fentry = fact("fentry")
        var environment = CompileEnvironment.live(
            tracefsRoot: root ?? Tracefs.standardPath, kprobesAvailable: kprobes, hostNamespaces: .resolvedAtLoad,
            connectSignalsAvailable: fact("tp_btf").available ?? true,
            syscallExitArgumentsAvailable: fact("tp_btf").available ?? true, podScopesAvailable: podScopesAvailable,
            bpfLSM: fact("BPF-LSM").available ?? true, kprobeProgramsLoaded: kprobes,
            trampolineRefusal: fentry.available == false ? fentry.detail : nil,
            kernelFunctionHasBTF: { KernelBTF.hasFunction($0) })
        if fact("bpf_loop").available == false { environment.policyProgramsUnavailable = KernelProbe.noBPFLoopReason }
        environment.rawTracepointArguments = { RawTracepointLookup(btfArguments: KernelBTF.rawTracepointArguments($0)) }
        environment.overlayUpperLayerRefusal = { KernelBTF.overlayUpperLayerRefusal() }
        environment.loadFormat = { subsystem, event in
            guard let root else {
                throw NotChecked("tracepoint \(subsystem)/\(event): tracefs is not mounted here")
            }
            do {
                return try TracepointFormat.load(tracefsRoot: root, subsystem: subsystem, event: event)
            } catch let error as TracepointFormatError {
                switch error {
                case .unreadable(let path, let code):
                    throw NotChecked(
                        "tracepoint \(subsystem)/\(event): \(path) is not readable here (\(String(cString: strerror(code))))")
                case .notFound(let tracepoint, let path) where access(root + "/events", R_OK | X_OK) != 0:
                    throw NotChecked("tracepoint \(tracepoint): \(path) is not readable here")
                default:
                    throw error
                }
            }
        }
        return environment
    }

    /// What `tracectl probe -o json` writes for `validate --node-probe` elsewhere.
    func capabilities() -> NodeCapabilities {
        let root = tracefsRoot ?? Tracefs.standardPath
        var tracepoints: [String]?
        var formats: [String: String] = [:]
        let files = FileManager.default
        if let subsystems = try? files.contentsOfDirectory(atPath: root + "/events") {
            var names: [String] = []
            for subsystem in subsystems.sorted() {
                guard let events = try? files.contentsOfDirectory(atPath: "\(root)/events/\(subsystem)") else { continue }
                for event in events.sorted() where files.fileExists(atPath: "\(root)/events/\(subsystem)/\(event)/format") {
                    names.append("\(subsystem)/\(event)")
                    if NodeCapabilities.commonFormatSubsystems.contains(subsystem),
                        let text = try? String(contentsOfFile: "\(root)/events/\(subsystem)/\(event)/format", encoding: .utf8)
                    {
                        formats["\(subsystem)/\(event)"] = text
                    }
                }
            }
            tracepoints = names
        }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return NodeCapabilities(
            kernel: release, tracefsRoot: root, kprobes: fact("kprobes"), bpfLSM: fact("BPF-LSM"),
            trampolines: fact("fentry"), connectSignals: fact("tp_btf"), tracepoints: tracepoints, formats: formats,
            formatSubsystems: NodeCapabilities.commonFormatSubsystems,
            kernelFunctions: Self.words("/proc/kallsyms") { fields in
                fields.count >= 3 && (fields[1] == "t" || fields[1] == "T") ? fields[2] : nil
            },
            kprobeBlacklist: Self.words("/sys/kernel/debug/kprobes/blacklist") { $0.count >= 2 ? $0[1] : nil },
            btfFunctions: KernelBTF.functionNames(),
            errorInjection: Self.words("/sys/kernel/debug/error_injection/list") { $0.first },
            unchecked: unchecked, uprobes: fact("uprobes"), bpfLoop: fact("bpf_loop"))
    }

    /// One word of each line of `path`, deduplicated and sorted; nil when the file cannot be read
    /// (the same reading the agent's ``KernelSymbols`` and ``ErrorInjectionList`` do).
    private static func words(_ path: String, _ pick: ([Substring]) -> Substring?) -> [String]? {
        KernelSymbols.lineFields(path).map { lines in Set(lines.compactMap(pick).map(String.init)).sorted() }
    }
}
