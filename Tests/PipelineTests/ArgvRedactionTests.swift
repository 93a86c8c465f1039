// SPDX-License-Identifier: Apache-2.0
import Events
import Exporter
import Pipeline
import ProcessCache
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// vigil_argv carries the process's own arguments, so `--redaction-filters` rewrite it as they
/// rewrite the process's `arguments` (with the hook's binary for `binary_regex`).
@Suite struct ArgvRedactionTests {
    /// bprm_check_security with the binary and vigil_argv, compiled.
    static func argvHook() throws -> CompiledHook {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: argv
            spec:
              lsmhooks:
              - hook: bprm_check_security
                args:
                - index: 0
                  type: linux_binprm
                - index: 1
                  type: vigil_argv
            """
        let document = try #require(PolicyParser.parse(yaml: yaml, file: "argv.yaml").documents.first)
        let environment = CompileEnvironment(
            loadFormat: { subsystem, event in throw TracepointFormatError.notFound(tracepoint: "\(subsystem)/\(event)", path: "none") },
            kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Namespaces()))
        var sets = SetIDAllocator(first: 1)
        return try #require(try PolicyCompiler(environment: environment).compile(document, sets: &sets).get().hooks.first)
    }

    /// A record of that hook: mysql run with a password among its arguments.
    static func record(slot: UInt32) -> GenericRecord {
        let argv = Array("-u\u{0}root\u{0}--password=hunter2\u{0}".utf8)
        return GenericRecord(
            ktime: 1, cgroupID: 0, pid: 1, tid: 1, processKtime: 1, hookSlot: slot, policyID: 1, selector: 0, action: 0,
            signal: 0, monitor: false,
            args: [.file(path: Array("/usr/bin/mysql".utf8), flags: 0, mode: 0o100755, truncated: false),
                   .buffer(argv, size: UInt64(argv.count), truncated: false)])
    }

    @Test func argvIsRedactedAsTheProcessArguments() throws {
        let hook = try Self.argvHook()
        let record = Self.record(slot: 0)
        var args: [Argument] = []
        for (raw, arg) in zip(record.args, hook.args) { ArgumentRenderer.render(raw, as: arg, into: &args) }
        #expect(args[1].value == .string(Array("-u root --password=hunter2".utf8)))
        var seen: [String] = []
        PolicyEvents.redactArgv(record, hook: hook, redact: { binary, arguments in
            seen.append(String(decoding: binary, as: UTF8.self))
            return arguments.count == 3 ? Array("-u root --password=*****".utf8) : nil
        }, &args)
        #expect(seen == ["/usr/bin/mysql"])
        #expect(args[1].value == .string(Array("-u root --password=*****".utf8)))
    }

    /// Through the pipeline, whose policy events are otherwise encoded from the record as the
    /// kernel read it: with a redactor the argv hook's event is rendered and redacted; without
    /// one it is encoded as read.
    @Test func thePipelineRedactsArgvEventsWhenRedactionIsConfigured() throws {
        let hook = try Self.argvHook()
        let record = Self.record(slot: 4)
        func exported(redact: (@Sendable ([UInt8], [[UInt8]]) -> [UInt8]?)?) -> [String] {
            let exporter = Exporter(stdout: nil, file: nil)
            var lines: [String] = []
            exporter.lineObserver = { _, line in lines.append(String(decoding: line, as: UTF8.self)) }
            let slot = PolicyHookSlot(policyName: "argv", hook: hook, mechanism: hook.mechanism)
            let pipeline = Pipeline(
                cache: ProcessCache(
                    config: ProcessCacheConfig(nodeName: "n", redactArguments: redact), clock: KtimeClock(bootWallNanoseconds: 0)),
                exporter: exporter, nodeName: "n", clock: KtimeClock(bootWallNanoseconds: 0),
                policies: Pipeline.Policies(hookSlot: { $0 == 4 ? slot : nil }))
            pipeline.handle(.generic(record))
            pipeline.endBatch()
            return lines
        }
        let plain = exported(redact: nil)
        #expect(plain.count == 1 && plain[0].contains("--password=hunter2"), "\(plain)")
        let redacted = exported(redact: { _, arguments in arguments.count == 3 ? Array("-u root --password=*****".utf8) : nil })
        #expect(redacted.count == 1, "\(redacted)")
        #expect(redacted.first?.contains("--password=*****") == true && redacted.first?.contains("hunter2") == false, "\(redacted)")
    }
}
