// SPDX-License-Identifier: Apache-2.0

/// Tetragon's process identity string.
///
/// `exec_id` is the standard, padded base64 of `"<node>:<ktime>:<pid>"`, where `ktime` is the
/// boot-relative CLOCK_MONOTONIC time (ns) of the exec, clone or process start that created the
/// identity and `pid` is the host thread-group id (tetragon `pkg/process/process.go`
/// `GetProcessID`).
package enum ExecIDs {
    /// Builds the `exec_id` of the process `(pid, ktime)` on `node`.
    ///
    /// Written straight into the result's storage (one allocation): the process cache makes one
    /// per process, and string interpolation plus base64 through arrays took four.
    /// - Parameters:
    ///   - node: the node name as exported in `node_name`.
    ///   - ktime: boot-relative start time of the identity, in nanoseconds.
    ///   - pid: host thread-group id.
    package static func make(node: String, ktime: UInt64, pid: UInt32) -> String {
        var node = node
        return node.withUTF8 { name in
            // node, ':', at most 20 digits, ':', at most 10 digits.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: name.count + 32) { raw in
                var n = 0
                for byte in name {
                    raw[n] = byte
                    n &+= 1
                }
                raw[n] = UInt8(ascii: ":")
                n &+= 1
                n = appendDecimal(ktime, to: raw, at: n)
                raw[n] = UInt8(ascii: ":")
                n &+= 1
                n = appendDecimal(UInt64(pid), to: raw, at: n)
                return base64(UnsafeBufferPointer(rebasing: raw[..<n]))
            }
        }
    }

    /// Standard base64 (RFC 4648 section 4) with `=` padding.
    package static func base64(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { base64($0) }
    }

    /// Standard base64 (RFC 4648 section 4) with `=` padding.
    static func base64(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let length = (bytes.count + 2) / 3 * 4
        return String(unsafeUninitializedCapacity: length) { out in
            let table = alphabet.utf8Start
            var index = 0
            var o = 0
            while index + 3 <= bytes.count {
                let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                out[o] = table[Int(chunk >> 18 & 0x3f)]
                out[o + 1] = table[Int(chunk >> 12 & 0x3f)]
                out[o + 2] = table[Int(chunk >> 6 & 0x3f)]
                out[o + 3] = table[Int(chunk & 0x3f)]
                o += 4
                index += 3
            }
            let rest = bytes.count - index
            if rest > 0 {
                let second = rest == 2 ? UInt32(bytes[index + 1]) : 0
                let chunk = UInt32(bytes[index]) << 16 | second << 8
                out[o] = table[Int(chunk >> 18 & 0x3f)]
                out[o + 1] = table[Int(chunk >> 12 & 0x3f)]
                out[o + 2] = rest == 2 ? table[Int(chunk >> 6 & 0x3f)] : pad
                out[o + 3] = pad
                o += 4
            }
            return o
        }
    }

    /// Writes `value` in decimal at `raw[at...]`; returns the index after the last digit.
    private static func appendDecimal(_ value: UInt64, to raw: UnsafeMutableBufferPointer<UInt8>, at: Int) -> Int {
        var digits = 1
        var probe = value
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        var n = value
        var i = at + digits
        repeat {
            i -= 1
            raw[i] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
            n /= 10
        } while n > 0
        return at + digits
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    private static let pad = UInt8(ascii: "=")
}
