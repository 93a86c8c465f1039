// SPDX-License-Identifier: Apache-2.0

/// Tetragon's process identity string.
package enum ExecID {
    /// `base64("<node>:<ktime>:<pid>")`, standard alphabet with padding, as Tetragon computes
    /// `exec_id` (ktime = boot-relative start time in nanoseconds, pid = TGID).
    package static func execID(node: String, ktime: UInt64, pid: UInt32) -> String {
        var raw = Array(node.utf8)
        raw.reserveCapacity(raw.count + 32)
        raw.append(UInt8(ascii: ":"))
        raw.appendDecimal(ktime)
        raw.append(UInt8(ascii: ":"))
        raw.appendDecimal(pid)
        return Base64.encode(raw)
    }
}

/// RFC 4648 base64, standard alphabet, padded.
package enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes `bytes`.
    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(alphabet[Int(v & 63)])
            i += 3
        }
        switch bytes.count - i {
        case 1:
            let v = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        case 2:
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }
}
