// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler
import Testing
import TracingPolicy

/// `selectorsMacros` and `macros: [name]`: a selector that names a macro compiles exactly as if
/// the macro's filters and actions were written in it, and a problem in a macro is reported at
/// the macro's position.
@Suite struct SelectorMacroTests {
    static func policy(selectors: String, macros: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: macros
        spec:
        \(macros.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
            selectors:
        \(selectors.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
          - subsystem: syscalls
            event: sys_enter_linkat
            args:
            - index: 6
              type: string
            selectors:
        \(selectors.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """
    }

    static func bytes(_ policy: CompiledPolicy) -> [[UInt8]] {
        policy.hooks.map { hook in withUnsafeBytes(of: hook.hook) { Array($0) } }
    }

    @Test func aMacroCompilesAsIfWrittenInTheSelector() throws {
        let inline = try compile(Self.policy(selectors: """
            - matchArgs:
              - index: 6
                operator: Prefix
                values: ["/etc/"]
              matchActions:
              - action: Sigkill
            """)).get()
        let viaMacros = try compile(Self.policy(
            selectors: """
                - macros: [etc-files, kill]
                """,
            macros: """
                selectorsMacros:
                  etc-files:
                    matchArgs:
                    - index: 6
                      operator: Prefix
                      values: ["/etc/"]
                  kill:
                    matchActions:
                    - action: Sigkill
                """)).get()
        #expect(viaMacros.hooks.count == 2)
        #expect(Self.bytes(viaMacros) == Self.bytes(inline))
        #expect(viaMacros.setEntries.count == inline.setEntries.count)
        #expect(viaMacros.setEntries.map { "\($0)" } == inline.setEntries.map { "\($0)" })
        // A selector's own keys and a macro's mix.
        let mixed = try compile(Self.policy(
            selectors: """
                - macros: [etc-files]
                  matchActions:
                  - action: Sigkill
                """,
            macros: """
                selectorsMacros:
                  etc-files:
                    matchArgs:
                    - index: 6
                      operator: Prefix
                      values: ["/etc/"]
                """)).get()
        #expect(Self.bytes(mixed) == Self.bytes(inline))
    }

    @Test func aProblemInAMacroIsReportedWhereTheMacroSaysIt() throws {
        let yaml = Self.policy(
            selectors: """
                - macros: [bad]
                """,
            macros: """
                selectorsMacros:
                  bad:
                    matchArgs:
                    - index: 6
                      operator: Prefix
                      values: ["relative/path", "/etc/"]
                    matchActions:
                    - action: NoSuchAction
                """)
        let errors = refusal(yaml)
        #expect(!errors.isEmpty)
        // The decoder refuses the unknown action inside the macro, at the macro's line.
        #expect(errors.allSatisfy { $0.contains("spec.selectorsMacros.bad") }, "\(errors)")
    }

    @Test func aKeyInTheSelectorAndInItsMacroIsRefused() throws {
        let yaml = Self.policy(
            selectors: """
                - macros: [kill]
                  matchActions:
                  - action: Post
                """,
            macros: """
                selectorsMacros:
                  kill:
                    matchActions:
                    - action: Sigkill
                """)
        let errors = refusal(yaml)
        #expect(errors.contains { $0.contains("macro \"kill\" sets matchActions, which this selector also sets") }, "\(errors)")
    }
}
