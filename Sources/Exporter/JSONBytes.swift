// SPDX-License-Identifier: Apache-2.0

// Byte-level JSON writing helpers for the hot path: everything appends straight into a
// ``JSONBuffer``, nothing builds intermediate `String`s.

extension JSONBuffer {
    /// Appends `value` in decimal.
    @inline(__always)
    package mutating func appendDecimal<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        appendDecimalDigits(UInt64(value))
    }

    /// Appends `value` in decimal, left-padded with zeros to `minimumDigits` (at most 20).
    mutating func appendDecimal(_ value: UInt64, minimumDigits: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes on the stack, 20 used
        let n = Swift.withUnsafeMutableBytes(of: &digits) { out in Self.formatDecimal(value, minimumDigits: minimumDigits, into: out) }
        Swift.withUnsafeBytes(of: &digits) { append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[(20 - n)..<20])) }
    }

    /// Writes `value` right-aligned ending at `out[20]`, zero-padded to `minimumDigits` (at most
    /// 20); returns the number of digits.
    @inline(__always)
    static func formatDecimal(_ value: UInt64, minimumDigits: Int, into out: UnsafeMutableRawBufferPointer) -> Int {
        var i = 20
        var n = value
        repeat {
            i &-= 1
            out[i] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
            n /= 10
        } while n > 0
        let start = Swift.max(0, 20 - Swift.min(minimumDigits, 20))
        while i > start {
            i &-= 1
            out[i] = UInt8(ascii: "0")
        }
        return 20 - i
    }

    /// Appends `value` in decimal, with a leading `-` when negative.
    @inline(__always)
    package mutating func appendSignedDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimalDigits(value.magnitude)
    }

    /// Appends `bytes` as standard base64 (RFC 4648 section 4) with `=` padding, as protojson
    /// writes `bytes` fields. No intermediate storage.
    mutating func appendBase64(_ bytes: [UInt8]) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let table = alphabet.utf8Start
        reserveCapacity(forAppending: (bytes.count + 2) / 3 * 4)
        bytes.withUnsafeBufferPointer { src in
            let n = src.count
            var i = 0
            while i + 3 <= n {
                let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                append(table[Int(v >> 18 & 0x3F)])
                append(table[Int(v >> 12 & 0x3F)])
                append(table[Int(v >> 6 & 0x3F)])
                append(table[Int(v & 0x3F)])
                i &+= 3
            }
            switch n - i {
            case 1:
                let v = UInt32(src[i]) << 16
                append(table[Int(v >> 18 & 0x3F)])
                append(table[Int(v >> 12 & 0x3F)])
                append(static: "==")
            case 2:
                let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8
                append(table[Int(v >> 18 & 0x3F)])
                append(table[Int(v >> 12 & 0x3F)])
                append(table[Int(v >> 6 & 0x3F)])
                append(UInt8(ascii: "="))
            default:
                break
            }
        }
    }

    /// Appends a quoted JSON string whose content is `string`, escaped.
    @inline(__always)
    package mutating func appendJSONString(_ string: String) {
        append(UInt8(ascii: "\""))
        appendJSONEscaped(string)
        append(UInt8(ascii: "\""))
    }

    /// Appends `string` as JSON string content (no surrounding quotes), escaped.
    mutating func appendJSONEscaped(_ string: String) {
        var string = string
        string.withUTF8 { appendJSONEscaped(bytes: $0) }
    }

    /// Appends `bytes` as JSON string content (no surrounding quotes).
    ///
    /// Valid UTF-8 passes through unchanged; each byte that is not part of a valid UTF-8 sequence
    /// becomes the four characters `\xNN` (lowercase hex), which JSON then writes as `\\xNN`.
    /// `"` and `\` are escaped, control characters become `\b \f \n \r \t` or `\u00XX` (lowercase
    /// hex, as Go protojson writes them). DEL and non-ASCII characters are not escaped.
    mutating func appendJSONEscaped(bytes src: UnsafeBufferPointer<UInt8>) {
        let n = src.count
        var i = 0
        var runStart = 0
        while i < n {
            let c = src[i]
            if c >= 0x20 && c < 0x80 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                i &+= 1
                continue
            }
            if c >= 0x80 {
                let length = validUTF8SequenceLength(src, at: i)
                if length > 0 {
                    i &+= length
                    continue
                }
            }
            if runStart < i {
                append(contentsOf: UnsafeBufferPointer(rebasing: src[runStart..<i]))
            }
            if c >= 0x80 {
                // An invalid byte: `\xNN`, whose backslash JSON escapes.
                append(static: "\\\\x")
                append(hexDigit(c >> 4))
                append(hexDigit(c & 0xF))
            } else {
                appendEscapedASCII(c)
            }
            i &+= 1
            runStart = i
        }
        if runStart < n {
            append(contentsOf: UnsafeBufferPointer(rebasing: src[runStart..<n]))
        }
    }

    /// Appends `bytes` as JSON string content; see `appendJSONEscaped(bytes:)`.
    @inline(__always)
    package mutating func appendJSONEscaped(bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { appendJSONEscaped(bytes: $0) }
    }

    /// Escape for `"`, `\` or a control character.
    @inline(__always)
    private mutating func appendEscapedASCII(_ c: UInt8) {
        switch c {
        case UInt8(ascii: "\""): append(static: "\\\"")
        case UInt8(ascii: "\\"): append(static: "\\\\")
        case 0x08: append(static: "\\b")
        case 0x0C: append(static: "\\f")
        case 0x0A: append(static: "\\n")
        case 0x0D: append(static: "\\r")
        case 0x09: append(static: "\\t")
        default:
            append(static: "\\u00")
            append(hexDigit(c >> 4))
            append(hexDigit(c & 0xF))
        }
    }
}

/// Lowercase hex digit for `0...15`.
@inline(__always)
func hexDigit(_ v: UInt8) -> UInt8 {
    v < 10 ? v &+ UInt8(ascii: "0") : v &- 10 &+ UInt8(ascii: "a")
}

/// Length (2...4) of the well-formed UTF-8 sequence starting at `i` with a non-ASCII lead byte,
/// or 0 when the byte at `i` does not start one (Unicode Table 3-7: no overlongs, no surrogates,
/// nothing above U+10FFFF). An invalid lead is then consumed alone, as Go's decoder does.
@inline(__always)
func validUTF8SequenceLength(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
    let n = s.count
    @inline(__always) func cont(_ j: Int) -> Bool { j < n && s[j] & 0xC0 == 0x80 }
    @inline(__always) func within(_ j: Int, _ lo: UInt8, _ hi: UInt8) -> Bool { j < n && s[j] >= lo && s[j] <= hi }
    switch s[i] {
    case 0xC2...0xDF:
        return cont(i + 1) ? 2 : 0
    case 0xE0:
        return within(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 0
    case 0xE1...0xEC, 0xEE...0xEF:
        return cont(i + 1) && cont(i + 2) ? 3 : 0
    case 0xED:
        return within(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0
    case 0xF0:
        return within(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0
    case 0xF1...0xF3:
        return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
    case 0xF4:
        return within(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0
    default:
        return 0
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in decimal, left-padded with zeros to `minimumDigits` (at most 20).
    mutating func appendDecimal(_ value: UInt64, minimumDigits: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let n = Swift.withUnsafeMutableBytes(of: &digits) {
            JSONBuffer.formatDecimal(value, minimumDigits: minimumDigits, into: $0)
        }
        Swift.withUnsafeBytes(of: &digits) { append(contentsOf: $0[(20 - n)..<20]) }
    }
}
