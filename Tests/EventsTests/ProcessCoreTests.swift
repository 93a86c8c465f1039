// SPDX-License-Identifier: Apache-2.0
import Events
import Testing

/// The fixed fields of `ExportedProcess` live in a shared `ProcessCore`; they must still behave
/// as plain value fields, and a change must never reuse a rendering made before it.
@Suite struct ProcessCoreTests {
    private static func process() -> ExportedProcess {
        ExportedProcess(
            execID: "e", pid: 1, tid: 1, uid: 0, auid: 0, cwd: Array("/".utf8), binary: Array("/bin/x".utf8),
            arguments: [Array("-a".utf8)], flags: .execve, startTime: WallTime(nanosecondsSinceEpoch: 1),
            docker: "d", parentExecID: "p", cgroupID: 9)
    }

    @Test func copiesShareTheCoreUntilOneChanges() {
        let a = Self.process()
        var b = a
        #expect(a.core === b.core)
        b.arguments.append(Array("-b".utf8))  // in-place change of the copy
        b.uid = 1000
        #expect(a.core !== b.core)
        #expect(a.arguments == [Array("-a".utf8)] && a.uid == 0)
        #expect(b.arguments == [Array("-a".utf8), Array("-b".utf8)] && b.uid == 1000)
        // Everything else is carried over to the new core.
        #expect(b.execID == "e" && b.binary == Array("/bin/x".utf8) && b.docker == "d" && b.parentExecID == "p")
        #expect(b.cgroupID == 9 && b.flags == .execve && b.startTime == WallTime(nanosecondsSinceEpoch: 1))
    }

    @Test func equalityAndHashingSeeTheFieldsNotTheCore() {
        let a = Self.process()
        var b = Self.process()  // another core with the same fields
        #expect(a.core !== b.core)
        #expect(a == b && a.hashValue == b.hashValue)
        b.pid = 2
        #expect(a != b)
        b.pid = 1
        #expect(a == b)
        b.tid = 7  // per-event fields count too
        #expect(a != b)
    }

    @Test func aCoreRenderingIsOnlyUsedByProcessesMadeForIt() {
        let core = ProcessCore(
            execID: "e", pid: 1, uid: 0, auid: 0, cwd: [], binary: [], arguments: [], flags: [],
            startTime: WallTime(nanosecondsSinceEpoch: 1))
        var cached = ExportedProcess(core: core, tid: 1, refcnt: 1, namespacePID: 0, extrasBox: nil, cachedRendering: true)
        #expect(cached.rendered.slot === core)
        #expect(Self.process().rendered.slot == nil)  // made by value: nothing cached
        var retitled = cached
        retitled.binary = Array("/bin/y".utf8)
        #expect(retitled.rendered.slot == nil)
        cached.credentials = Credentials()  // the rendering covers credentials
        #expect(cached.rendered.slot == nil)
    }
}
