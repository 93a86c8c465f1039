// SPDX-License-Identifier: Apache-2.0

/// Tetragon's process identity string.
///
/// `exec_id` is the standard, padded base64 of `"<node>:<ktime>:<pid>"`, where `ktime` is the
/// boot-relative CLOCK_MONOTONIC time (ns) of the exec, clone or process start that created the
/// identity and `pid` is the host thread-group id (tetragon `pkg/process/process.go`
/// `GetProcessID`).
package enum ExecIDs {
    /// Builds the `exec_id` of the process `(pid, ktime)` on `node`.
    /// - Parameters:
    ///   - node: the node name as exported in `node_name`.
    ///   - ktime: boot-relative start time of the identity, in nanoseconds.
    ///   - pid: host thread-group id.
    package static func make(node: String, ktime: UInt64, pid: UInt32) -> String {
        base64(Array("\(node):\(ktime):\(pid)".utf8))
    }

    /// Standard base64 (RFC 4648 section 4) with `=` padding.
    package static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(alphabet[Int(chunk >> 6 & 0x3f)])
            out.append(alphabet[Int(chunk & 0x3f)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let second = rest == 2 ? UInt32(bytes[index + 1]) : 0
            let chunk = UInt32(bytes[index]) << 16 | second << 8
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(rest == 2 ? alphabet[Int(chunk >> 6 & 0x3f)] : pad)
            out.append(pad)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8
    )
    private static let pad = UInt8(ascii: "=")
}
