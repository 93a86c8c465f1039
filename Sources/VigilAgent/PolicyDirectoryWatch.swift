// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Synchronization

/// Calls `onChange` when files in a directory (and its direct sub-directories) are written,
/// created, moved or removed, through inotify on a dedicated thread. Changes arriving within
/// `settle` of each other cause one call, so an editor's write-rename dance reloads once.
final class PolicyDirectoryWatch: Sendable {
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)

    init?(directory: String, settle: Double = 0.2, onChange: @escaping @Sendable () -> Void) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            close(fd)
            return nil
        }
        let subdirectories = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for entry in subdirectories where !entry.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(directory)/\(entry)", isDirectory: &isDirectory), isDirectory.boolValue {
                _ = inotify_add_watch(fd, "\(directory)/\(entry)", mask)
            }
        }
        self.fd = fd
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            var pending: Date?
            while !stopped.load(ordering: .acquiring) {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, 100)
                if ready > 0 {
                    while read(fd, &buffer, buffer.count) > 0 {}
                    pending = Date()
                }
                if let since = pending, Date().timeIntervalSince(since) >= settle {
                    pending = nil
                    onChange()
                }
            }
            close(fd)
        }
        thread.name = "vigil-policy-watch"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
    }
}
