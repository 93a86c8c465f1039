// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import PolicyCompiler
import Testing
import Tracefs
import TracingPolicy

/// Integer matchArgs on raw_syscalls/sys_enter `long id` read as syscall64.
@Suite struct IntegerFilterTests {
    static func policy(selectors: String, type: String = "syscall64", lists: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: integers
        spec:
        \(indent(lists, by: 2))
          tracepoints:
          - subsystem: raw_syscalls
            event: sys_enter
            args:
            - index: 4
              type: \(type)
            selectors:
        \(indent(selectors, by: 4))
        """
    }

    static let dups = """
        lists:
        - name: dups
          type: syscalls
          values:
          - sys_dup
          - sys_dup2
          - i386/sys_dup
        """

    @Test func everyIntegerOperator() throws {
        let yaml = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: Equal
                    values: ["0", "1", "2", "0x3"]
                - matchArgs:
                  - index: 4
                    operator: Mask
                    values: ["0xf0"]
                - matchArgs:
                  - index: 4
                    operator: GreaterThan
                    values: ["400"]
                - matchArgs:
                  - index: 4
                    operator: LT
                    values: ["-1"]
                - matchArgs:
                  - index: 4
                    operator: InMap
                    values: ["10:12", "list:dups", "0x3c"]
                """, lists: Self.dups)
        var sets = SetIDAllocator(first: 1)
        let policy = try compile(yaml, sets: &sets).get()
        let compiled = try #require(policy.hooks.first)
        #expect(compiled.event == .tracepoint(subsystem: "raw_syscalls", event: "sys_enter"))
        #expect(compiled.args.map(\.kind) == [.syscall64])
        let hook = compiled.hook
        // `long id` at offset 8, read as 8 unsigned bytes.
        #expect(hook.argSpecs == [ArgSpec(VIGIL_ARG_INT, size: 8, signed: false, offset: 8)])
        #expect(hook.ctx_size == 16)
        #expect(hook.nselectors == 5)
        #expect(hook.selector(0).filters == [ArgFilter(arg: 0, VIGIL_OP_EQUAL, values: [0, 1, 2, 3])])
        #expect(hook.selector(1).filters == [ArgFilter(arg: 0, VIGIL_OP_MASK, values: [0xf0])])
        #expect(hook.selector(2).filters == [ArgFilter(arg: 0, VIGIL_OP_GT, values: [400])])
        // Negative values are two's complement in 64 bits (the kernel compares signed).
        #expect(hook.selector(3).filters == [ArgFilter(arg: 0, VIGIL_OP_LT, values: [UInt64.max])])
        #expect(hook.selector(4).filters == [ArgFilter(arg: 0, VIGIL_OP_IN_MAP, set: 1)])

        // The set: the range, the list (x86_64 dup = 32, dup2 = 33, i386 dup = 41 with the
        // compat bit), then 0x3c. vigil_int_key: set id, pad, u64 value.
        #expect(Syscalls.number(of: "sys_dup") == 32)
        #expect(Syscalls.number(of: "sys_dup2") == 33)
        #expect(policy.setEntries.map(\.description) == [
            "integerSet key=01000000000000000a value=01",
            "integerSet key=01000000000000000b value=01",
            "integerSet key=01000000000000000c value=01",
            "integerSet key=010000000000000020 value=01",
            "integerSet key=010000000000000021 value=01",
            "integerSet key=010000000000000029000080 value=01",
            "integerSet key=01000000000000003c value=01",
        ])
        #expect(policy.setEntries.allSatisfy { $0.key.count == MemoryLayout<vigil_int_key>.size && $0.map == .integerSet })
        #expect(policy.setIDs == [1])
    }

    @Test func notInMapAndNotEqual() throws {
        let yaml = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: NotInMap
                    values: ["list:dups"]
                  - index: 4
                    operator: NotEqual
                    values: ["59"]
                """, lists: Self.dups)
        var sets = SetIDAllocator(first: 10)
        let policy = try compile(yaml, sets: &sets).get()
        let selector = try #require(policy.hooks.first).hook.selector(0)
        #expect(selector.filters == [
            ArgFilter(arg: 0, VIGIL_OP_NOT_IN_MAP, set: 10),
            ArgFilter(arg: 0, VIGIL_OP_NOT_EQUAL, values: [59]),
        ])
        #expect(policy.setEntries.map(\.description) == [
            "integerSet key=0a0000000000000020 value=01",
            "integerSet key=0a0000000000000021 value=01",
            "integerSet key=0a0000000000000029000080 value=01",
        ])
    }

    /// Tetragon's Equal holds at most 4 integers; more need InMap. A declared integer type is
    /// caught by the parser, an inferred one by the compiler: both say to use InMap.
    @Test(arguments: ["syscall64", "auto"])
    func fiveValuesNeedInMap(type: String) throws {
        let yaml = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: Equal
                    values: ["1", "2", "3", "4", "5"]
                """, type: type)
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("InMap") == true, "\(errors)")
        #expect(errors.first?.hasPrefix(position(of: "[\"1\"", in: yaml)) == true, "\(errors)")
    }

    /// Values are widened as the kernel widens the arg: a 4-byte signed arg is sign-extended,
    /// so AT_FDCWD written as -100 or as 0xffffff9c is the same value; unsigned args are not.
    @Test func valuesAreWidenedLikeTheArg() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: widths
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 5
                  type: int
                - index: 7
                  type: uint32
                - index: 8
                  type: uint16
                selectors:
                - matchArgs:
                  - index: 5
                    operator: Equal
                    values: ["-100", "0xffffff9c", "7"]
                  - index: 7
                    operator: Equal
                    values: ["0xffffffff"]
                  - index: 8
                    operator: Mask
                    values: ["0x8000"]
                  - index: 5
                    operator: InMap
                    values: ["0x80000000", "1"]
            """
        let policy = try compile(yaml).get()
        let hook = try #require(policy.hooks.first).hook
        let minus100 = UInt64(bitPattern: -100)
        #expect(hook.selector(0).filters == [
            ArgFilter(arg: 0, VIGIL_OP_EQUAL, values: [minus100, minus100, 7]),
            ArgFilter(arg: 1, VIGIL_OP_EQUAL, values: [0xffff_ffff]),
            ArgFilter(arg: 2, VIGIL_OP_MASK, values: [0x8000]),
            ArgFilter(arg: 0, VIGIL_OP_IN_MAP, set: 1),
        ])
        #expect(hook.argSpecs[2] == ArgSpec(VIGIL_ARG_INT, size: 2, signed: false, offset: 40))
        #expect(policy.setEntries.map(\.description) == [
            "integerSet key=010000000000000000000080ffffffff value=01",
            "integerSet key=010000000000000001 value=01",
        ])
    }

    @Test func rangesAndValuesAreChecked() throws {
        let tooWide = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: InMap
                    values: ["0:70000"]
                """)
        let errors = refusal(tooWide)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("fewer than 65536") == true, "\(errors)")
        #expect(errors.first?.hasPrefix(position(of: "[\"0:70000\"]", in: tooWide)) == true, "\(errors)")
    }

    @Test func listOfUnknownSyscallIsRefused() throws {
        let yaml = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: InMap
                    values: ["list:bad"]
                """,
            lists: """
                lists:
                - name: bad
                  type: syscalls
                  values:
                  - sys_dup
                  - sys_no_such_call
                """)
        let errors = refusal(yaml)
        #expect(!errors.isEmpty)
        #expect(errors.contains { $0.contains("no_such_call") }, "\(errors)")
    }

    /// `generated_syscalls` in InMap: every syscall number of the table.
    @Test func generatedSyscallsList() throws {
        let yaml = Self.policy(
            selectors: """
                - matchArgs:
                  - index: 4
                    operator: InMap
                    values: ["list:all"]
                """,
            lists: """
                lists:
                - name: all
                  type: generated_syscalls
                """)
        let policy = try compile(yaml).get()
        #expect(policy.setEntries.count == Syscalls.allNames(abi: .x86_64).count)
        #expect(policy.setEntries.contains { $0.description == "integerSet key=010000000000000020 value=01" })
    }
}
