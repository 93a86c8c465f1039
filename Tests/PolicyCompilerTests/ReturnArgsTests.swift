// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import PolicyCompiler
import Testing
import TracingPolicy

/// matchReturnArgs: filters on the return value, compiled into the selector's matchArgs slots
/// with the result slot, where the hook's selectors run after the call returned (a syscall's
/// exit dispatcher, fexit); refused with the reason everywhere else.
@Suite struct ReturnArgsTests {
    static func syscall(_ selectors: String, returnType: String = "int", returnProbe: Bool = true) -> String {
        SyscallKprobeTests.policy("""
            - call: sys_openat
              return: \(returnProbe)
              args:
              - index: 1
                type: string
              returnArg:
                index: 0
                type: \(returnType)
              selectors:
            \(indent(selectors, by: 2))
            """)
    }

    static let failedOpens = """
        - matchReturnArgs:
          - index: 0
            operator: LessThan
            values: ["0"]
        """

    @Test func aSyscallsReturnValueIsFilteredAtItsExit() throws {
        let hook = try #require(try compile(Self.syscall(Self.failedOpens)).get().hooks.first)
        #expect(hook.name == "sys_exit_openat")
        let filters = hook.hook.selector(0).filters
        #expect(filters == [ArgFilter(arg: UInt8(VIGIL_ARG_SLOT_RESULT), VIGIL_OP_LT, values: [0])])
        // returnArg int: the kernel compares the low 4 bytes, sign-extended.
        #expect(hook.hook.result_size == 4 && hook.hook.result_signed == 1)
        #expect(hook.filtersOnReturnValue)
    }

    /// matchArgs and matchReturnArgs of one selector must all hold: they share its slots.
    @Test func matchArgsAndMatchReturnArgsShareTheSelector() throws {
        let hook = try #require(try compile(Self.syscall("""
            - matchArgs:
              - index: 1
                operator: Prefix
                values: ["/etc/"]
              matchReturnArgs:
              - index: 0
                operator: Equal
                values: ["-13", "-1"]
            """, returnType: "long")).get().hooks.first)
        let selector = hook.hook.selector(0)
        #expect(selector.nargs == 2)
        #expect(selector.filters[0].arg == 0)
        #expect(selector.filters[1] == ArgFilter(arg: UInt8(VIGIL_ARG_SLOT_RESULT), VIGIL_OP_EQUAL, values: [UInt64(bitPattern: -13), UInt64(bitPattern: -1)]))
        #expect(hook.hook.result_size == 0)  // long: all 8 bytes
    }

    @Test func withoutReturnTheHookHasNoReturnValueToFilter() throws {
        let yaml = SyscallKprobeTests.policy("""
            - call: sys_openat
              args:
              - index: 1
                type: string
              selectors:
              - matchReturnArgs:
                - index: 0
                  operator: LessThan
                  values: ["0"]
            """)
        let errors = refusal(yaml)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("matchReturnArgs: the hook runs before the call returns") == true, "\(errors)")
    }

    @Test func stringOperatorsOnAnIntegerReturnValueAreRefused() throws {
        let errors = refusal(Self.syscall("""
            - matchReturnArgs:
              - index: 0
                operator: Prefix
                values: ["/etc"]
            """))
        #expect(errors.count >= 1, "\(errors)")
    }

    @Test func moreThanFiveEntriesTogetherAreRefused() throws {
        let errors = refusal(Self.syscall("""
            - matchArgs:
              - { index: 1, operator: Prefix, values: ["/a"] }
              - { index: 1, operator: NotPrefix, values: ["/b"] }
              - { index: 1, operator: NotPrefix, values: ["/c"] }
              matchReturnArgs:
              - { index: 0, operator: LessThan, values: ["0"] }
              - { index: 0, operator: NotEqual, values: ["-2"] }
              - { index: 0, operator: NotEqual, values: ["-13"] }
            """))
        #expect(errors.contains { $0.contains("at most 5 matchArgs and matchReturnArgs entries together") }, "\(errors)")
    }

    /// On kernel functions: fexit filters on the value; a kretprobe hook decides at the entry,
    /// so there it is refused rather than run as if every return matched.
    @Test func kernelFunctionsFilterOnFexitOnly() throws {
        let entry = """
            - call: some_function
              syscall: false
              return: true
              returnArg:
                index: 0
                type: int
              selectors:
              - matchReturnArgs:
                - index: 0
                  operator: NotEqual
                  values: ["0"]
            """
        let hook = try #require(
            try compile(GenericKprobeTests.policy(entry), environment: GenericKprobeTests.trampolineEnvironment).get().hooks.first)
        #expect(hook.mechanism == .fexit)
        #expect(hook.filtersOnReturnValue)

        let refused = GenericKprobeTests.messages(GenericKprobeTests.policy(entry))
        #expect(refused.count == 1, "\(refused)")
        #expect(refused.first?.contains("a kretprobe hook's selectors run at the function's entry") == true, "\(refused)")
    }
}
