// SPDX-License-Identifier: Apache-2.0
import Events
import ProcessCache
import Testing

private typealias F = Fixtures

/// `--redaction-filters` as the process cache applies them: once per process, the redacted
/// text the only one kept, inherited by a fork and carried as the parent of later events.
@Suite struct RedactionCacheTests {
    private func cache() -> ProcessCache {
        var config = ProcessCacheConfig(nodeName: F.node)
        config.redactArguments = { binary, arguments in
            // A stand-in for RedactionFilters: anything after --password.
            guard binary == F.bytes("/usr/bin/mysql"), let i = arguments.firstIndex(of: F.bytes("--password")) else { return nil }
            return ArgumentsText.join(Array(arguments[...i]) + [F.bytes("*****")] + Array(arguments[(i + 2)...]))
        }
        return ProcessCache(config: config, clock: F.clock)
    }

    @Test func execCloneAndParentCarryTheRedactedText() throws {
        var cache = cache()
        let exec = try cache.mustHandle(F.exec(pid: 10, ktime: 100, ppid: 0, argv: ["/usr/bin/mysql", "--password", "hunter2", "-h", "db"]))
        #expect(exec.process.redactedArguments == F.bytes("--password ***** -h db"))
        #expect(exec.process.arguments.isEmpty)  // the secret is not kept
        _ = cache.handle(F.clone(pid: 11, ktime: 150, ppid: 10, parentKtime: 100))
        #expect(cache.process(pid: 11, ktime: 150)?.redactedArguments == F.bytes("--password ***** -h db"))
        let child = try cache.mustHandle(F.exec(pid: 12, ktime: 200, ppid: 10, parentKtime: 100, argv: ["/bin/ls", "--password", "x"]))
        #expect(child.process.redactedArguments == nil)
        #expect(child.process.arguments == [F.bytes("--password"), F.bytes("x")])
        #expect(child.parent?.argumentsText == F.bytes("--password ***** -h db"))
    }

    @Test func seededProcessesAreRedacted() {
        var cache = cache()
        let events = cache.seed([F.proc(pid: 5, ppid: 0, start: 10, argv: ["/usr/bin/mysql", "--password", "s", "x y"])])
        #expect(events.first?.process.redactedArguments == F.bytes("--password ***** \"x y\""))
    }
}
