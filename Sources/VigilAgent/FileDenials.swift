// SPDX-License-Identifier: Apache-2.0
import FileGuard
import Foundation
import Logging
import PolicyCompiler
import Synchronization

/// Runs the fanotify guard for the policies' file deny rules (created when the first rule
/// appears) and queues its decisions for the pipeline, which turns them into events.
final class FileDenials: Sendable {
    private let guardian = Mutex<FanotifyGuard?>(nil)
    private let pending = DecisionQueue()
    private let logger: Logger
    /// Pod scopes of the policies, for rules of pod-scoped policies.
    private let scopes: PodScopes?
    /// `--enforcement-cgroup`: whether a deny may reach a pid; nil: every process.
    private let enforcementFence: (@Sendable (Int32) -> Bool)?

    init(logger: Logger, scopes: PodScopes? = nil, enforcementFence: (@Sendable (Int32) -> Bool)? = nil) {
        self.logger = logger
        self.scopes = scopes
        self.enforcementFence = enforcementFence
    }

    /// Replaces the rules (called by the policy engine after each change, in order).
    func apply(_ rules: [UInt32: PolicyEngine.FileRuleInfo]) {
        let set = FileRuleSet(rules.sorted { $0.key < $1.key }.map { id, info in Self.fileRule(id: id, info, scopes: scopes) })
        guardian.withLock { current in
            do {
                if current == nil {
                    guard !rules.isEmpty else { return }
                    let created = try FanotifyGuard(
                        rules: set, logger: logger, options: FanotifyGuard.Options(enforcementFence: enforcementFence))
                    let result = try created.start { [pending] event in pending.append(event) }
                    current = created
                    logger.info("file deny rules active", metadata: ["marks": "\(result)"])
                } else {
                    let result = current!.apply(rules: set)
                    logger.info("file deny rules updated", metadata: ["rules": "\(rules.count)", "marks": "\(result)"])
                }
            } catch {
                logger.error("file deny rules could not be applied: \(error)")
            }
        }
    }

    /// Decisions since the last call.
    func drain() -> [FileDecisionEvent] {
        pending.drain()
    }

    func stop() {
        guardian.withLock { current in
            current?.stop()
            current = nil
        }
    }

    static func fileRule(id: UInt32, _ info: PolicyEngine.FileRuleInfo, scopes: PodScopes? = nil) -> FileRule {
        let rule = info.rule
        let paths = rule.paths.map { Array($0.utf8) }
        let match: PathMatch =
            switch rule.pathOperator {
            case .exact: .exact(paths)
            case .prefix: .prefix(paths)
            case .postfix: .postfix(paths)
            case .notExact: .notExact(paths)
            case .notPrefix: .notPrefix(paths)
            case .notPostfix: .notPostfix(paths)
            }
        let binaries = rule.binaries.map { Array($0.utf8) }
        let binaryMatch: BinaryMatch? = rule.binaryOperator.map { op in
            switch op {
            case .in: .in(binaries)
            case .notIn: .notIn(binaries)
            case .prefix: .prefix(binaries)
            case .notPrefix: .notPrefix(binaries)
            }
        }
        let pids: PidMatch? = rule.pidsIn.map { isIn in
            let set = Set(rule.pids.map { Int32(bitPattern: $0) })
            return isIn ? .in(set) : .notIn(set)
        }
        // The same pod scope the kernel hooks honour: fanotify gives the pid, /proc its cgroup.
        let policyID = info.policyID
        let scope = info.scoped
            ? ProcessScope(id: policyID) { pid in scopes?.contains(pid: pid, policyID: policyID) ?? false } : nil
        var fileRule = FileRule(
            id: id, kind: rule.kind == .open ? .open : .exec, match: match, binaries: binaryMatch, pids: pids,
            scope: scope, action: .deny(errno: rule.errno == 0 ? 1 : rule.errno), monitor: info.monitor)
        // vigil-file-identity: inode: the files the paths name now, under any name. A path that
        // names nothing yet is matched by name only.
        if rule.matchInode {
            for path in rule.paths {
                var st = stat()
                if stat(path, &st) == 0 {
                    fileRule.identities.insert(FileIdentity(st))
                }
            }
        }
        return fileRule
    }
}

/// Decisions from the guard's reporter thread, waiting for the pipeline.
final class DecisionQueue: Sendable {
    private let queue = Mutex<[FileDecisionEvent]>([])

    func append(_ event: FileDecisionEvent) {
        queue.withLock { $0.append(event) }
    }

    func drain() -> [FileDecisionEvent] {
        queue.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }
}
