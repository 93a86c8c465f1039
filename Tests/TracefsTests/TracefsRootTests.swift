// SPDX-License-Identifier: Apache-2.0
import Testing
@testable import Tracefs

private let base = """
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

"""

private let standard = "50 23 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:14 - tracefs tracefs rw\n"
private let debugfs = "51 23 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:15 - debugfs debugfs rw\n"
private let debugTracing = "52 51 0:12 / /sys/kernel/debug/tracing rw,nosuid,nodev,noexec,relatime shared:16 - tracefs tracefs rw\n"
private let elsewhere = "60 27 0:12 / /tmp/my\\040trace rw,relatime - tracefs nodev rw\n"

@Suite struct TracefsRootTests {
    private let noDirectories: (String) -> Bool = { _ in false }

    @Test func prefersTheStandardMount() {
        let text = base + elsewhere + debugfs + debugTracing + standard
        #expect(Tracefs.root(mountinfo: text, isDirectory: noDirectories) == "/sys/kernel/tracing")
    }

    @Test func fallsBackToTheDebugfsMount() {
        let text = base + elsewhere + debugfs + debugTracing
        #expect(Tracefs.root(mountinfo: text, isDirectory: noDirectories) == "/sys/kernel/debug/tracing")
    }

    @Test func takesAnyOtherTracefsMountWithEscapesDecoded() {
        #expect(Tracefs.root(mountinfo: base + elsewhere, isDirectory: noDirectories) == "/tmp/my trace")
        #expect(Tracefs.tracefsMountPoints(mountinfo: base + elsewhere + standard) == ["/tmp/my trace", "/sys/kernel/tracing"])
    }

    @Test func debugfsAloneIsNotTracefs() {
        #expect(Tracefs.root(mountinfo: base + debugfs, isDirectory: noDirectories) == nil)
    }

    @Test func withoutAMountUsesPathsThatHaveEvents() {
        #expect(Tracefs.root(mountinfo: base, isDirectory: { $0 == "/sys/kernel/tracing/events" }) == "/sys/kernel/tracing")
        #expect(Tracefs.root(mountinfo: base, isDirectory: { $0 == "/sys/kernel/debug/tracing/events" }) == "/sys/kernel/debug/tracing")
        #expect(Tracefs.root(mountinfo: "", isDirectory: { _ in true }) == "/sys/kernel/tracing")
        #expect(Tracefs.root(mountinfo: base, isDirectory: noDirectories) == nil)
    }

    @Test func optionalFieldsBeforeTheSeparatorAreSkipped() {
        let line = "70 23 0:12 / /sys/kernel/tracing rw shared:1 master:2 propagate_from:3 - tracefs tracefs rw\n"
        #expect(Tracefs.tracefsMountPoints(mountinfo: line) == ["/sys/kernel/tracing"])
    }

    @Test func malformedLinesAreIgnored() {
        let text = "garbage\n1 2 3\n- tracefs\n" + standard
        #expect(Tracefs.tracefsMountPoints(mountinfo: text) == ["/sys/kernel/tracing"])
    }

    /// On this machine: whatever `root()` answers must hold tracepoint directories.
    @Test(.enabled(if: Tracefs.root() != nil, "tracefs is not mounted"))
    func liveRootHasEvents() throws {
        let root = try #require(Tracefs.root())
        #expect(Tracefs.isDirectory(root + "/events"))
        #expect(Tracefs.eventExists(tracefsRoot: root, subsystem: "sched", event: "sched_process_exec"))
        #expect(!Tracefs.eventExists(tracefsRoot: root, subsystem: "sched", event: "no_such_event"))
    }
}
