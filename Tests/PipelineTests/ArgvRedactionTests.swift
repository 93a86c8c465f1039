// SPDX-License-Identifier: Apache-2.0
import Events
import Pipeline
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// vigil_argv carries the process's own arguments, so `--redaction-filters` rewrite it as they
/// rewrite the process's `arguments` (with the hook's binary for `binary_regex`).
@Suite struct ArgvRedactionTests {
    @Test func argvIsRedactedAsTheProcessArguments() throws {
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
        let parsed = PolicyParser.parse(yaml: yaml, file: "argv.yaml")
        let document = try #require(parsed.documents.first)
        let environment = CompileEnvironment(
            loadFormat: { subsystem, event in throw TracepointFormatError.notFound(tracepoint: "\(subsystem)/\(event)", path: "none") },
            kprobesAvailable: false, hostNamespaces: HostNamespaces(known: Namespaces()))
        var sets = SetIDAllocator(first: 1)
        let hook = try #require(try PolicyCompiler(environment: environment).compile(document, sets: &sets).get().hooks.first)
        let argv = Array("-u\u{0}root\u{0}--password=hunter2\u{0}".utf8)
        let record = GenericRecord(
            ktime: 1, cgroupID: 0, pid: 1, tid: 1, processKtime: 1, hookSlot: 0, policyID: 1, selector: 0, action: 0,
            signal: 0, monitor: false,
            args: [.file(path: Array("/usr/bin/mysql".utf8), flags: 0, mode: 0o100755, truncated: false),
                   .buffer(argv, size: UInt64(argv.count), truncated: false)])
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
}
