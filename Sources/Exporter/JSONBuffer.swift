// SPDX-License-Identifier: Apache-2.0

/// The encoder's output buffer: a growable run of bytes whose appends are one capacity check
/// and a copy, inlined.
///
/// Why not `[UInt8]`: a line is written as some sixty small appends (keys, numbers, cached
/// runs), and each `Array.append(contentsOf:)` is an out-of-line call that checks uniqueness
/// and capacity and goes through `memmove`; those calls were the largest item of the
/// pipeline profile after the process cache's copies (docs/benchmarks.md). Noncopyable, so
/// the storage has exactly one owner and needs no reference counting.
package struct JSONBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    package private(set) var count: Int
    private var capacity: Int
    /// The second of the last RFC 3339 stamp written (`RFC3339.append(_:to:)`) and its
    /// `YYYY-MM-DDTHH:MM:SS` (19 of the 24 bytes), reused while the second does not change.
    var stampSecond: UInt64 = .max
    var stampPrefix: (UInt64, UInt64, UInt64) = (0, 0, 0)
    /// The last node name written (``appendNodeName(_:)``) and its `,"node_name":"..."`,
    /// reused while it does not change (it never does in the agent).
    private var nodeName = ""
    private var nodeNameKey: [UInt8] = []

    /// An empty buffer with room for `capacity` bytes before it grows.
    package init(capacity: Int = 4096) {
        self.capacity = Swift.max(capacity, 16)
        self.base = .allocate(capacity: self.capacity)
        self.count = 0
    }

    deinit { base.deallocate() }

    /// Appends `,"node_name":` and `name` as a JSON string: escaped once per name, copied after
    /// that (escaped per event it was ~200 instructions of every event's encoding).
    @inline(__always)
    package mutating func appendNodeName(_ name: String) {
        if name != nodeName {
            var key = JSONBuffer(capacity: 64)
            key.append(static: ",\"node_name\":")
            key.appendJSONString(name)
            nodeNameKey = key.bytes
            nodeName = name
        }
        append(contentsOf: nodeNameKey)
    }

    /// Forgets the contents, keeps the storage.
    @inline(__always)
    package mutating func removeAll() { count = 0 }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    package mutating func reserveCapacity(forAppending extra: Int) {
        if capacity &- count < extra { grow(extra) }
    }

    @inline(never)
    private mutating func grow(_ extra: Int) {
        let needed = count + extra
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        fresh.update(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = newCapacity
    }

    /// Appends `value` in decimal, written in place from its last digit: the general
    /// ``appendDecimal(_:minimumDigits:)`` formatted into a tuple and copied, ~115 instructions
    /// for a pid (four or five per event: `tid`, `refcnt`, arguments).
    @inline(__always)
    package mutating func appendDecimalDigits(_ value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits &+= 1
        }
        reserveCapacity(forAppending: digits)
        var p = base + count + digits
        var n = value
        repeat {
            p -= 1
            p.pointee = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
            n /= 10
        } while n > 0
        count &+= digits
    }

    @inline(__always)
    package mutating func append(_ byte: UInt8) {
        reserveCapacity(forAppending: 1)
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    package mutating func append(_ bytes: UnsafeRawPointer, count n: Int) {
        reserveCapacity(forAppending: n)
        (base + count).initialize(from: bytes.assumingMemoryBound(to: UInt8.self), count: n)
        count &+= n
    }

    @inline(__always)
    package mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        guard let start = bytes.baseAddress else { return }
        append(start, count: bytes.count)
    }

    @inline(__always)
    package mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        append(start, count: bytes.count)
    }

    @inline(__always)
    package mutating func append(contentsOf bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append(contentsOf: $0) }
    }

    /// Appends the UTF-8 bytes of a compile-time string (a JSON fragment such as `,"pid":`).
    @inline(__always)
    package mutating func append(static s: StaticString) {
        append(s.utf8Start, count: s.utf8CodeUnitCount)
    }

    /// The bytes written so far.
    @inline(__always)
    package func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The bytes of four ranges of what was written so far, back to back, in one new array
    /// (four parameters, not an array of ranges: that would be one more allocation).
    package func gathering(_ r0: Range<Int>, _ r1: Range<Int>, _ r2: Range<Int>, _ r3: Range<Int>) -> [UInt8] {
        precondition(r0.upperBound <= count && r1.upperBound <= count && r2.upperBound <= count && r3.upperBound <= count)
        let base = self.base
        return [UInt8](unsafeUninitializedCapacity: r0.count + r1.count + r2.count + r3.count) { out, initialized in
            var n = 0
            @inline(__always) func copy(_ range: Range<Int>) {
                guard !range.isEmpty else { return }
                (out.baseAddress! + n).initialize(from: base + range.lowerBound, count: range.count)
                n += range.count
            }
            copy(r0)
            copy(r1)
            copy(r2)
            copy(r3)
            initialized = n
        }
    }

    /// A copy of the bytes written so far.
    package var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
