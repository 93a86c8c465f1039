// SPDX-License-Identifier: Apache-2.0

import Testing
import TracingPolicy

/// Option parsing, rate limits and value syntax.
@Suite struct ValuesTests {
    private func parse(options: String) -> PolicyParseResult {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: opts}
            spec:
              options:
            \(options)
            """
        return PolicyParser.parse(yaml: yaml, file: "o.yaml")
    }

    @Test(arguments: [
        ("enforce", PolicyMode.enforce), ("monitor", .monitor), ("Monitor", .monitor), ("ENFORCE", .enforce),
    ])
    func policyModeValues(value: String, mode: PolicyMode) throws {
        let result = parse(options: "  - {name: policy-mode, value: \(value)}")
        #expect(result.errors.isEmpty)
        let spec = try #require(result.documents.first?.spec)
        #expect(spec.parsedOptions.policyMode == mode)
        #expect(spec.policyMode == mode)
    }

    @Test(arguments: [
        ("enforcing", "unknown policy-mode \"enforcing\" (did you mean \"enforce\"?)"),
        ("audit", "unknown policy-mode \"audit\"; supported: enforce, monitor"),
        ("\"\"", "unknown policy-mode \"\"; supported: enforce, monitor"),
    ])
    func invalidPolicyModes(value: String, message: String) {
        let result = parse(options: "  - name: policy-mode\n    value: \(value)")
        #expect(result.documents.isEmpty)
        #expect(result.errors.map(\.description) == ["o.yaml:7:12: spec.options[0].value: \(message)"])
    }

    @Test func noPolicyModeMeansEnforce() throws {
        let result = parse(options: "  - {name: disable-kprobe-multi, value: \"1\"}")
        let spec = try #require(result.documents.first?.spec)
        #expect(spec.parsedOptions.policyMode == nil)
        #expect(spec.policyMode == .enforce)
        #expect(spec.parsedOptions.disableKprobeMulti == true)
    }

    @Test func otherOptions() throws {
        let result = parse(options: """
              - {name: disable-uprobe-multi, value: "false"}
              - {name: override-method, value: fmod-ret}
              - {name: sleepable-preload-size, value: "8"}
              - {name: policy_mode, value: monitor}
            """)
        let spec = try #require(result.documents.first?.spec)
        #expect(spec.parsedOptions.disableUprobeMulti == false)
        #expect(spec.parsedOptions.overrideMethod == .fmodRet)
        #expect(spec.parsedOptions.sleepablePreloadSize == 8)
        #expect(spec.parsedOptions.policyMode == nil)
        #expect(spec.options.map(\.name) == [
            "disable-uprobe-multi", "override-method", "sleepable-preload-size", "policy_mode",
        ])
        // Unknown option names load (Tetragon ignores them) but are reported.
        #expect(result.warnings.map(\.description) == [
            "o.yaml:9:12: spec.options[3].name: unknown option \"policy_mode\" is ignored (did you mean "
                + "\"policy-mode\"?); known options: disable-kprobe-multi, disable-uprobe-multi, override-method, "
                + "policy-mode, sleepable-preload-size, vigil-file-identity, vigil-while-agent-down",
        ])
        let bad = parse(options: """
              - {name: disable-kprobe-multi, value: maybe}
              - {name: override-method, value: kprobe}
              - {name: sleepable-preload-size, value: "-1"}
            """)
        #expect(bad.errors.map(\.message) == [
            "invalid value \"maybe\" for option \"disable-kprobe-multi\": expected a boolean (true, false, 1, 0, t, f)",
            "unknown override-method \"kprobe\"; supported: override-return, fmod-ret",
            "invalid value \"-1\" for option \"sleepable-preload-size\": expected a positive integer",
        ])
    }

    @Test(arguments: [
        ("30", UInt64(30)), ("30s", 30), ("30S", 30), ("5m", 300), ("1h", 3600), ("2H", 7200), ("0", 0),
        ("4294967295", 4_294_967_295),
    ])
    func validRateLimits(text: String, seconds: UInt64) throws {
        #expect(PolicyValues.rateLimitSeconds(text) == seconds)
        let result = rateLimitPolicy(text)
        #expect(result.errors.isEmpty)
        let action = try #require(result.documents.first?.spec.kprobes.first?.selectors.first?.matchActions.first)
        #expect(action.rateLimit == text)
        #expect(action.rateLimitSeconds == seconds)
        #expect(action.rateLimitScope == .process)
    }

    @Test(arguments: ["", "s", "5x", "-1", "1.5m", "m5", "1 m", "4294967296", "0x10"])
    func invalidRateLimits(text: String) {
        #expect(PolicyValues.rateLimitSeconds(text) == nil)
        let result = rateLimitPolicy(text)
        #expect(result.documents.isEmpty)
        #expect(result.errors.map(\.description) == [
            "r.yaml:10:48: spec.kprobes[0].selectors[0].matchActions[0].rateLimit: invalid rateLimit \(quote(text)): "
                + "expected a whole number of seconds, optionally with an s, m or h suffix (e.g. \"30\", \"30s\", "
                + "\"5m\", \"1h\")",
        ])
    }

    private func quote(_ text: String) -> String { "\"\(text)\"" }

    private func rateLimitPolicy(_ rateLimit: String) -> PolicyParseResult {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: rate}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchActions: [{action: Post, rateLimit: "\(rateLimit)", rateLimitScope: process}]
            """
        return PolicyParser.parse(yaml: yaml, file: "r.yaml")
    }

    @Test func integers() {
        #expect(PolicyValues.integer("42") == 42)
        #expect(PolicyValues.integer("-1") == -1)
        #expect(PolicyValues.integer("0x40") == 64)
        #expect(PolicyValues.integer("0X1f") == 31)
        #expect(PolicyValues.integer("0755") == 493)
        #expect(PolicyValues.integer("0o17") == 15)
        #expect(PolicyValues.integer("0b101") == 5)
        #expect(PolicyValues.integer("0") == 0)
        #expect(PolicyValues.integer("18446744073709551615") == Int128(UInt64.max))
        #expect(PolicyValues.integer("09") == nil)
        #expect(PolicyValues.integer("0x") == nil)
        #expect(PolicyValues.integer("1e3") == nil)
        #expect(PolicyValues.integer("") == nil)
        #expect(PolicyValues.integer("-") == nil)
        #expect(PolicyValues.integerRange("1:10") == 1...10)
        #expect(PolicyValues.integerRange("10:1") == nil)
    }

    @Test func addressesAndPorts() {
        #expect(PolicyValues.ipPrefix("127.0.0.1/8") == .init(address: [127, 0, 0, 1], prefixLength: 8))
        #expect(PolicyValues.ipPrefix("10.0.0.1")?.prefixLength == 32)
        #expect(PolicyValues.ipPrefix("::1/128")?.address == [UInt8](repeating: 0, count: 15) + [1])
        #expect(PolicyValues.ipPrefix("fe80::1:2/64")?.prefixLength == 64)
        #expect(PolicyValues.ipPrefix("2001:db8:0:0:0:0:0:1")?.isIPv6 == true)
        #expect(PolicyValues.ipPrefix("::ffff:10.1.2.3")?.address.suffix(4) == [10, 1, 2, 3])
        #expect(PolicyValues.ipPrefix("::") != nil)
        for bad in ["10.0.0.0/33", "1.2.3", "256.0.0.1", "1::2::3", "::1/129", "12345::", "1:2:3:4:5:6:7:8:9", "x", ""] {
            #expect(PolicyValues.ipPrefix(bad) == nil, "\(bad)")
        }
        #expect(PolicyValues.portRange("53") == 53...53)
        #expect(PolicyValues.portRange("1024:65535") == 1024...65535)
        for bad in ["70000", "9:1", "-1", "a", "1:2:3", ""] {
            #expect(PolicyValues.portRange(bad) == nil, "\(bad)")
        }
    }

    @Test func socketOperatorValues() {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: net}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}, {index: 1, type: int}, {index: 2, type: sockaddr}, {index: 3, type: skb}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: NotDAddr, values: ["10.0.0.0/8", "fd00::/8", "10.0.0.0/40"]}
                  - {index: 0, operator: DPort, values: ["443", "8000:8080", "99999"]}
                  - {index: 0, operator: Protocol, values: [IPPROTO_TPC, "6"]}
                  - {index: 0, operator: State, values: [TCP_ESTABLISHED]}
                  - {index: 1, operator: DAddr, values: ["1.1.1.1"]}
                - matchArgs:
                  - {index: 2, operator: DPort, values: ["53"]}
                  - {index: 3, operator: State, values: [TCP_LISTEN]}
                  - {index: 2, operator: SAddr, values: ["10.0.0.1"]}
                  - {index: 2, operator: Family, values: [AF_INET6]}
            """
        #expect(PolicyParser.parse(yaml: yaml, file: "n.yaml").errors.map(\.description) == [
            "n.yaml:11:75: spec.kprobes[0].selectors[0].matchArgs[0].values[2]: invalid address \"10.0.0.0/40\": "
                + "expected an IPv4 or IPv6 address or CIDR prefix (e.g. 10.0.0.0/8, fd00::/8)",
            "n.yaml:12:66: spec.kprobes[0].selectors[0].matchArgs[1].values[2]: invalid port \"99999\": expected a "
                + "port (0-65535) or a range \"min:max\"",
            "n.yaml:13:49: spec.kprobes[0].selectors[0].matchArgs[2].values[0]: unknown protocol \"IPPROTO_TPC\" (did "
                + "you mean \"IPPROTO_TCP\"?); expected a number or a name like IPPROTO_TCP",
            "n.yaml:15:30: spec.kprobes[0].selectors[0].matchArgs[4].operator: operator DAddr needs a sock, skb, "
                + "socket or sockaddr argument, but args[1] has type int",
            "n.yaml:18:30: spec.kprobes[0].selectors[1].matchArgs[1].operator: operator State needs a sock or socket "
                + "argument, but args[3] has type skb",
        ])
    }

    @Test func integerValuesFollowTheArgumentType() {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: ints}
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                args: [{index: 0, type: uint8}, {index: 1, type: string}, {index: 2, type: int}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: Equal, values: ["255", "256", "-1"]}
                  - {index: 1, operator: Equal, values: ["0x10", "not a number"]}
                  - {index: 2, operator: Mask, values: ["0x40", "0100", "O_CREAT"]}
                  - {index: 2, operator: GT, values: ["1", "2"]}
            """
        #expect(PolicyParser.parse(yaml: yaml, file: "i.yaml").errors.map(\.description) == [
            "i.yaml:11:53: spec.kprobes[0].selectors[0].matchArgs[0].values[1]: value 256 is out of range for type "
                + "uint8 (0...255)",
            "i.yaml:11:60: spec.kprobes[0].selectors[0].matchArgs[0].values[2]: value -1 is out of range for type "
                + "uint8 (0...255)",
            "i.yaml:13:61: spec.kprobes[0].selectors[0].matchArgs[2].values[2]: invalid integer \"O_CREAT\" for type "
                + "int (use decimal, 0x hex or 0 octal)",
            "i.yaml:14:42: spec.kprobes[0].selectors[0].matchArgs[3].values: operator GreaterThan takes exactly one "
                + "value (2 given)",
        ])
    }
}
