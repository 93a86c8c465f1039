// SPDX-License-Identifier: Apache-2.0

import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The `--export-filename` sink: appends JSON lines to a file and rotates it the way Go's
/// lumberjack (Tetragon's writer) does.
///
/// **Not thread-safe.** One task owns a writer and is the only one to call it.
///
/// - Lines are buffered in memory (`bufferCapacity`) and written with `write(2)` when the buffer
///   fills, on `flush()` and on `close()`. Partial writes and `EINTR` are handled.
/// - Rotation: when the current file would grow past `maxSizeBytes` with the next write, the file
///   is closed, renamed to `<name>-<UTC 2006-01-02T15-04-05.000><.ext>` in the same directory and a
///   fresh file is opened. Rotation only happens between lines (after a write that ended with
///   `\n`), so no line is ever cut, lost or duplicated by it. A single line larger than the limit
///   goes whole into a fresh file.
/// - Backups: at most `maxBackups` rotated files are kept, oldest deleted first (0 keeps all, as
///   lumberjack does). With `compress`, rotated files are gzipped to `<backup>.gz` and the plain
///   backup is removed once the `.gz` is complete and synced. Compression runs synchronously on
///   the writer's task when a rotation happens.
/// - Backup names are unique: when two rotations fall in the same millisecond (or a name is taken),
///   the stamp moves forward by a millisecond, so backups still sort in write order.
/// - Write errors (disk full, read-only file system, quota) are thrown and counted in
///   `writeErrors`. The lines that could not be written are kept, up to `retryCapacity` bytes,
///   and retried at most every `retryInterval`; lines beyond that are dropped and counted in
///   `droppedLines`/`droppedBytes`, so memory stays bounded. A line is never cut in half: when a
///   write stopped inside a line (ENOSPC), the partial line is truncated away and the whole line
///   is retried; if even that fails, the next write starts with a newline so later lines stay
///   whole.
/// - A file removed or replaced under the writer (logrotate without copytruncate, `rm`) is
///   noticed within `replacedCheckInterval` and a fresh one is opened (`reopens`).
/// - Failures of housekeeping (rename, compress, delete) are logged and counted in
///   `maintenanceErrors`; they do not lose lines (a failed rename keeps appending to the current
///   file).
package final class ExportFileWriter {
    /// The export file.
    package let path: String
    /// Size that triggers rotation, in bytes.
    package let maxSizeBytes: Int
    /// Rotated files to keep; 0 keeps all.
    package let maxBackups: Int
    /// Gzip rotated files.
    package let compress: Bool
    /// Mode of files this writer creates.
    package let permissions: mode_t

    /// Bytes written to export files (including lines since rotated away).
    package private(set) var bytesWritten: UInt64 = 0
    /// Complete lines written.
    package private(set) var linesWritten: UInt64 = 0
    /// Successful rotations.
    package private(set) var rotations: UInt64 = 0
    /// Failed writes (each also thrown).
    package private(set) var writeErrors: UInt64 = 0
    /// Bytes dropped because a write failed.
    package private(set) var droppedBytes: UInt64 = 0
    /// Failed renames, compressions and backup deletions (logged, not thrown).
    package private(set) var maintenanceErrors: UInt64 = 0
    /// Complete lines dropped because the file could not take them and the retry buffer was full.
    package private(set) var droppedLines: UInt64 = 0
    /// Times the file was found removed or replaced and opened afresh.
    package private(set) var reopens: UInt64 = 0
    /// The error of the last failed write while writes are failing; nil once one succeeds.
    package private(set) var currentError: ExportFileError?

    /// Bytes of unwritten lines kept for retry while writes fail.
    package var retryCapacity = 4 << 20
    /// Least time between two write attempts while writes fail, in nanoseconds.
    package var retryInterval: UInt64 = 1_000_000_000
    /// How often `flush()` checks that `path` is still the open file, in nanoseconds.
    package var replacedCheckInterval: UInt64 = 1_000_000_000
    /// Test seam: the write(2) loop (fault injection: ENOSPC after N bytes, EROFS).
    package var writeFunction: (Int32, UnsafeRawBufferPointer) -> (written: Int, errno: Int32) = writeFully

    /// Size of the current file including what is still buffered.
    package var currentSize: Int { fileSize + pending.count }

    private let bufferCapacity: Int
    private let logger: Logger
    private let clock: () -> UInt64
    /// Directory part of `path` with its trailing `/`, or "" for a bare file name.
    private let directoryPrefix: String
    /// File name without extension; backups are `<stem>-<stamp><ext>`.
    private let stem: String
    /// Extension including the dot (Go's `filepath.Ext`), or "".
    private let ext: String

    private var fd: Int32 = -1
    private var isClosed = false
    private var fileSize = 0
    /// No run-time exclusivity check: one owner, no re-entrant calls (see the type's comment),
    /// and `write` runs once per exported line, where the check showed in the pipeline profile.
    @exclusivity(unchecked) private var pending: [UInt8] = []
    /// The last byte accepted ended a line (or nothing was accepted yet).
    private var atLineBoundary = true
    /// The file on disk ends in the middle of a line (after an error or a crash).
    private var needsLeadingNewline = false
    /// `rotate()` was asked for while a line was incomplete.
    private var rotationRequested = false
    /// `--export-file-rotation-interval` in nanoseconds (0: by size only): a flush this long
    /// after the last interval rotation rotates the file (an empty one is left alone).
    package var rotationIntervalNanoseconds: UInt64 = 0
    private var lastIntervalRotation = monotonicNanoseconds()
    private var lastBackupMillis: UInt64?
    /// Monotonic time of the last failed write (nil: writes are succeeding).
    private var lastFailure: UInt64?
    private var lastReplacedCheck: UInt64 = 0
    /// Lines were dropped since the last successful write.
    private var retryBufferFull = false

    /// Opens (creating it and its directory if needed) the export file, as Tetragon's
    /// `--export-filename`, `--export-file-max-size-mb`, `--export-file-max-backups`,
    /// `--export-file-compress` and `--export-file-perm` configure it. `maxSizeMB` ≤ 0 means
    /// lumberjack's default, 100 MB.
    ///
    /// - Throws: `ExportFileError` naming the path and the errno text when the file cannot be opened.
    package convenience init(
        path: String, maxSizeMB: Int = 10, maxBackups: Int = 5, compress: Bool = false,
        permissions: mode_t = 0o600, logger: Logger = Logger(label: "vigil.exporter.file")
    ) throws {
        try self.init(
            path: path, maxSizeBytes: (maxSizeMB > 0 ? maxSizeMB : 100) * 1024 * 1024, maxBackups: maxBackups,
            compress: compress, permissions: permissions, logger: logger)
    }

    /// Opens the export file with a size limit in bytes (tests use a few KiB).
    ///
    /// - Parameters:
    ///   - bufferCapacity: bytes buffered before a `write(2)`; 0 writes through on every `write`.
    ///   - clock: wall clock in nanoseconds since the epoch, for backup names.
    /// - Throws: `ExportFileError` naming the path and the errno text when the file cannot be opened.
    package init(
        path: String, maxSizeBytes: Int, maxBackups: Int = 5, compress: Bool = false, permissions: mode_t = 0o600,
        bufferCapacity: Int = 64 * 1024, logger: Logger = Logger(label: "vigil.exporter.file"),
        clock: @escaping () -> UInt64 = wallClockNanoseconds
    ) throws {
        self.path = path
        self.maxSizeBytes = max(1, maxSizeBytes)
        self.maxBackups = max(0, maxBackups)
        self.compress = compress
        self.permissions = permissions
        self.bufferCapacity = max(0, bufferCapacity)
        self.logger = logger
        self.clock = clock
        let (prefix, name) = Self.split(path)
        directoryPrefix = prefix
        if let dot = name.lastIndex(of: ".") {
            stem = String(name[..<dot])
            ext = String(name[dot...])
        } else {
            stem = name
            ext = ""
        }
        pending.reserveCapacity(self.bufferCapacity)
        try openFile()
    }

    deinit {
        if !isClosed { try? close() }
    }

    // MARK: - Writing

    /// Buffers `bytes` — one or more whole lines, each ending with `\n` — rotating first if they
    /// would take the file past the limit. Bytes that do not end a line are accepted too, but no
    /// rotation happens until a line has been completed.
    ///
    /// - Throws: `ExportFileError` when a write (of these or earlier buffered bytes) or reopening
    ///   the file failed; the bytes concerned are dropped.
    package func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Buffers `bytes` (see ``write(_:)-([UInt8])``), from the exporter's reusable line buffer.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        try ensureOpen()
        let size = currentSize
        // No rotation while writes fail: the retried lines go to the file they were meant for.
        if lastFailure == nil && atLineBoundary && size > 0 && (rotationRequested || size + bytes.count > maxSizeBytes) {
            try rotateNow()
        }
        if lastFailure != nil && atLineBoundary && (retryBufferFull || pending.count + bytes.count > retryCapacity) {
            // The retry buffer is full: this line is lost, and counted. Until a write succeeds
            // every later line is too, so what is kept stays one unbroken run of lines.
            retryBufferFull = true
            droppedBytes += UInt64(bytes.count)
            droppedLines += countNewlines(bytes[...])
            try flush()
            return
        }
        pending.append(contentsOf: bytes)
        atLineBoundary = bytes.last == UInt8(ascii: "\n")
        if pending.count >= bufferCapacity { try flush() }
    }

    /// Writes out everything buffered.
    ///
    /// - Throws: `ExportFileError` on a write error; what could not be written is dropped.
    package func flush() throws {
        let now = monotonicNanoseconds()
        if fd >= 0 && now &- lastReplacedCheck >= replacedCheckInterval {
            lastReplacedCheck = now
            reopenIfReplaced()
        }
        if rotationIntervalNanoseconds > 0 && lastFailure == nil && now &- lastIntervalRotation >= rotationIntervalNanoseconds {
            lastIntervalRotation = now
            try rotate()  // flushes what is pending first (rotateNow), then starts a new file
        }
        guard !pending.isEmpty else { return }
        // While failing, retry at most every retryInterval; the lines stay buffered meanwhile.
        if let failed = lastFailure, now &- failed < retryInterval { return }
        do {
            try ensureOpen()
        } catch let error as ExportFileError {
            recordFailure(error, at: now)
            throw error
        }
        let repairing = needsLeadingNewline
        if repairing { pending.insert(UInt8(ascii: "\n"), at: 0) }
        let sizeBefore = fileSize
        let (written, err) = pending.withUnsafeBytes { writeFunction(fd, $0) }
        guard err != 0 else {
            fileSize += written
            bytesWritten += UInt64(written)
            linesWritten += pending.withUnsafeBytes { countNewlines($0[(repairing ? 1 : 0)..<written]) }
            needsLeadingNewline = false
            lastFailure = nil
            currentError = nil
            retryBufferFull = false
            pending.removeAll(keepingCapacity: true)
            return
        }
        // Whole lines that went out stay; a line cut by the failure is truncated away and
        // retried whole. (With `repairing`, pending[0] is the newline that ends the file's
        // half line: it counts as written once one byte went out.)
        let newline = UInt8(ascii: "\n")
        var complete = written
        while complete > 0 && pending[complete - 1] != newline { complete -= 1 }
        let skip = repairing ? min(1, complete) : 0
        if written > complete && ftruncate(fd, off_t(sizeBefore + complete)) != 0 {
            // The half line cannot be taken back: drop the rest of that line (counted) and start
            // the next write with a newline, so that every later line is whole.
            var end = written
            while end < pending.count && pending[end] != newline { end += 1 }
            end = min(end + 1, pending.count)
            fileSize = sizeBefore + written
            bytesWritten += UInt64(written)
            linesWritten += pending.withUnsafeBytes { countNewlines($0[skip..<complete]) }
            droppedBytes += UInt64(end - written)
            droppedLines += 1
            pending.removeSubrange(0..<end)
            needsLeadingNewline = true
        } else {
            fileSize = sizeBefore + complete
            bytesWritten += UInt64(complete)
            linesWritten += pending.withUnsafeBytes { countNewlines($0[skip..<complete]) }
            pending.removeSubrange(0..<complete)
            if repairing && complete == 0 {
                pending.removeFirst()  // the file still ends mid-line; the newline is re-added next time
            } else {
                needsLeadingNewline = false
            }
        }
        trimToRetryCapacity()
        let error = ExportFileError(.write, path: path, errno: err)
        recordFailure(error, at: now)
        throw error
    }

    private func recordFailure(_ error: ExportFileError, at now: UInt64) {
        writeErrors += 1
        lastFailure = now
        currentError = error
    }

    /// Keeps the oldest whole lines that fit in `retryCapacity`; the rest is dropped and counted.
    private func trimToRetryCapacity() {
        guard pending.count > retryCapacity else { return }
        var keep = retryCapacity
        while keep > 0 && pending[keep - 1] != UInt8(ascii: "\n") { keep -= 1 }
        droppedBytes += UInt64(pending.count - keep)
        droppedLines += pending.withUnsafeBytes { countNewlines($0[keep...]) }
        pending.removeSubrange(keep...)
        atLineBoundary = true
        retryBufferFull = true
    }

    /// Opens `path` afresh when the open file is no longer what `path` names (removed, or
    /// replaced by another file).
    private func reopenIfReplaced() {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0 else { return }
        if stat(path, &named) == 0 && named.st_dev == open.st_dev && named.st_ino == open.st_ino { return }
        logger.warning(
            "export file was removed or replaced; opening it afresh", metadata: ["path": "\(path)"])
        _ = closeFD(fd)
        fd = -1
        reopens += 1
        fileSize = 0
        needsLeadingNewline = false
        try? openFile()  // on failure, the next flush retries (and counts the error)
    }

    /// Rotates now (for `--export-file-rotation-interval`), or after the line being written is
    /// complete. An empty file is not rotated (no empty backups).
    ///
    /// - Throws: `ExportFileError` when flushing or reopening failed.
    package func rotate() throws {
        try ensureOpen()
        guard currentSize > 0 else { return }
        if atLineBoundary {
            try rotateNow()
        } else {
            rotationRequested = true
        }
    }

    /// Flushes and closes the file. Further writes throw.
    package func close() throws {
        guard !isClosed else { return }
        defer {
            if fd >= 0 { _ = closeFD(fd) }
            fd = -1
            isClosed = true
            // What a last attempt could not write is lost now: counted.
            droppedBytes += UInt64(pending.count)
            droppedLines += pending.withUnsafeBytes { countNewlines($0[...]) }
            pending.removeAll()
        }
        lastFailure = nil  // one last attempt, whatever the back-off
        try flush()
        if fd >= 0 {
            let result = closeFD(fd)
            fd = -1
            if result != 0 { throw ExportFileError(.close, path: path, errno: errno) }
        }
    }

    // MARK: - Rotation

    private func rotateNow() throws {
        rotationRequested = false
        try flush()
        let backup = nextBackupPath()
        _ = closeFD(fd)
        fd = -1
        if rename(path, backup) != 0 {
            let e = errno
            maintenanceErrors += 1
            logger.error(
                "export file rotation failed, appending to the current file",
                metadata: ["path": "\(path)", "backup": "\(backup)", "error": "\(errnoText(e))"])
            try openFile()
            return
        }
        rotations += 1
        try openFile()
        mill()
    }

    /// `<dir>/<stem>-<stamp><ext>`, unique among plain and compressed backups, stamps increasing.
    private func nextBackupPath() -> String {
        var ms = clock() / 1_000_000
        if let last = lastBackupMillis, ms <= last { ms = last + 1 }
        while true {
            let candidate = directoryPrefix + stem + "-" + BackupTimestamp.string(millisecondsSinceEpoch: ms) + ext
            if access(candidate, F_OK) != 0 && access(candidate + ".gz", F_OK) != 0 {
                lastBackupMillis = ms
                return candidate
            }
            ms += 1
        }
    }

    /// One rotated file found next to the export file.
    package struct Backup: Sendable, Hashable {
        /// Full path.
        package var path: String
        /// The `2006-01-02T15-04-05.000` stamp from its name.
        package var stamp: String
        /// Whether it is a `.gz`.
        package var compressed: Bool
    }

    /// Rotated files of this export file, newest first.
    package func backups() -> [Backup] {
        let listDir = directoryPrefix.isEmpty ? "." : directoryPrefix
        guard let dir = opendir(listDir) else { return [] }
        defer { closedir(dir) }
        let head = Array((stem + "-").utf8)
        let plainTail = Array(ext.utf8)
        let gzTail = Array((ext + ".gz").utf8)
        var found: [Backup] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            let bytes = Array(name.utf8)
            guard bytes.count > head.count, bytes.starts(with: head) else { continue }
            for (tail, compressed) in [(gzTail, true), (plainTail, false)] {
                guard bytes.count == head.count + BackupTimestamp.length + tail.count,
                    bytes.suffix(tail.count).elementsEqual(tail)
                else { continue }
                let stamp = bytes[head.count..<(head.count + BackupTimestamp.length)]
                guard BackupTimestamp.isValid(stamp) else { continue }
                found.append(
                    Backup(
                        path: directoryPrefix + name, stamp: String(decoding: stamp, as: UTF8.self),
                        compressed: compressed))
                break
            }
        }
        return found.sorted { $0.stamp != $1.stamp ? $0.stamp > $1.stamp : $0.path > $1.path }
    }

    /// Lumberjack's "mill": delete backups beyond `maxBackups`, then compress the plain ones left.
    private func mill() {
        var kept = backups()
        if maxBackups > 0 && kept.count > maxBackups {
            for old in kept[maxBackups...] where unlink(old.path) != 0 && errno != ENOENT {
                maintenanceErrors += 1
                logger.warning(
                    "cannot remove old export backup", metadata: ["path": "\(old.path)", "error": "\(errnoText(errno))"])
            }
            kept.removeSubrange(maxBackups...)
        }
        guard compress else { return }
        for backup in kept where !backup.compressed {
            do {
                try Gzip.compressFile(source: backup.path, destination: backup.path + ".gz", permissions: permissions)
                if unlink(backup.path) != 0 {
                    maintenanceErrors += 1
                    logger.warning(
                        "cannot remove compressed export backup",
                        metadata: ["path": "\(backup.path)", "error": "\(errnoText(errno))"])
                }
            } catch {
                maintenanceErrors += 1
                logger.warning("cannot compress export backup", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Opening

    private func ensureOpen() throws {
        if isClosed { throw ExportFileError(.write, path: path, errno: 0) }
        if fd < 0 { try openFile() }
    }

    /// Opens `path` for appending, creating it (mode `permissions`, regardless of umask) and its
    /// directory (0755) when missing.
    private func openFile() throws {
        var created = false
        var fd = openOnce(&created)
        if fd < 0 && errno == ENOENT && !directoryPrefix.isEmpty {
            let e = Self.makeDirectories(String(directoryPrefix.dropLast()))
            if e != 0 { throw ExportFileError(.createDirectory, path: path, errno: e) }
            fd = openOnce(&created)
        }
        guard fd >= 0 else { throw ExportFileError(.open, path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            // A FIFO or device would block or misdirect the export: only a regular file is written.
            _ = closeFD(fd)
            throw ExportFileError(.notRegularFile, path: path, errno: 0)
        }
        // Events name every binary and file on the node: a file found with looser bits than
        // --export-file-perm (made by someone else, or an older run) is tightened, not trusted.
        if created || st.st_mode & 0o7777 & ~permissions != 0 { _ = fchmod(fd, permissions) }
        fileSize = Int(st.st_size)
        needsLeadingNewline = false
        if fileSize > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, off_t(fileSize - 1)) == 1 { needsLeadingNewline = last != UInt8(ascii: "\n") }
        }
        self.fd = fd
    }

    /// One attempt: create exclusively (so we know to set the mode), else open the existing file.
    /// Read access is only wanted to check the last byte; write-only is enough.
    private func openOnce(_ created: inout Bool) -> Int32 {
        // O_NOFOLLOW: a symbolic link planted in a shared log directory must not make the agent
        // append events to whatever it points at (open fails with ELOOP instead).
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, permissions)
        if fd >= 0 {
            created = true
            return fd
        }
        guard errno == EEXIST else { return -1 }
        created = false
        let rw = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        if rw >= 0 || errno != EACCES { return rw }
        return open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
    }

    /// `mkdir -p` with mode 0755; returns 0 or the errno.
    private static func makeDirectories(_ dir: String) -> Int32 {
        if dir.isEmpty || mkdir(dir, 0o755) == 0 { return 0 }
        var e = errno
        if e == EEXIST { return 0 }
        guard e == ENOENT, let slash = dir.lastIndex(of: "/") else { return e }
        let parentResult = makeDirectories(String(dir[..<slash]))
        if parentResult != 0 { return parentResult }
        if mkdir(dir, 0o755) == 0 { return 0 }
        e = errno
        return e == EEXIST ? 0 : e
    }

    /// (`directory/` or "", file name).
    private static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[...slash]), String(path[path.index(after: slash)...]))
    }
}

/// Number of `\n` bytes in `bytes`.
func countNewlines(_ bytes: Slice<UnsafeRawBufferPointer>) -> UInt64 {
    guard let base = bytes.base.baseAddress, !bytes.isEmpty else { return 0 }
    var p = base + bytes.startIndex
    let end = base + bytes.endIndex
    var count: UInt64 = 0
    while p < end, let hit = memchr(p, 0x0A, end - p) {
        count += 1
        p = UnsafeRawPointer(hit) + 1
    }
    return count
}

/// `CLOCK_REALTIME` in nanoseconds since the epoch.
package func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

package func wallClockNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
