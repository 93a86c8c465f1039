// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Testing
import TestSupport

/// Real runc containers in kubelet-shaped cgroups: the agent's events of processes inside carry
/// the container id (`docker`, 31 chars, as Tetragon writes it); a host process's do not.
@Suite(
    .enabled(if: RuncContainer.unavailableReason == nil, "\(RuncContainer.unavailableReason ?? "")"),
    .serialized, .timeLimit(.minutes(3)))
struct ContainerKernelTests {
    @Test(arguments: [RuncContainer.Layout.cgroupfs, .systemd])
    func containerProcessCarriesDockerID(layout: RuncContainer.Layout) throws {
        let agent = try AgentHarness()
        let container = try RuncContainer(layout: layout)
        let dir = try TempDir("vigil-host")
        defer {
            container.remove()
            agent.stop()
            agent.cleanUp()
            dir.remove()
        }
        #expect(try container.execUnique(["true"]) == 0)
        let binary = "/bin/\(container.uniqueBinaryName)"
        let exec = try agent.waitFor("process_exec of \(binary) in the container") {
            $0.type == "process_exec" && $0.binary == binary
        }
        #expect(exec.process["docker"] as? String == String(container.id.prefix(31)))
        let exit = try agent.waitFor("process_exit of \(binary)") {
            $0.type == "process_exit" && $0.execID == exec.execID
        }
        #expect(exit.process["docker"] as? String == String(container.id.prefix(31)))

        // The same busybox, run on the host: no container.
        let hostBinary = try dir.copy(RuncContainer.busyboxPath!, as: container.uniqueBinaryName)
        #expect(try Spawn.run(hostBinary, argv: [Array(hostBinary.utf8), Array("true".utf8)]) == 0)
        let host = try agent.waitFor("process_exec of \(hostBinary) on the host") {
            $0.type == "process_exec" && $0.binary == hostBinary
        }
        #expect(host.process["docker"] == nil)
        #expect(host.process["pod"] == nil)
    }
}
