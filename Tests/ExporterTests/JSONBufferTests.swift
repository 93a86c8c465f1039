// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Exporter

/// The encoder's byte buffer: appends of every kind, across growth, keep every byte in order.
@Suite struct JSONBufferTests {
    @Test func growsAndKeepsEveryByte() {
        var buffer = JSONBuffer(capacity: 1)
        var expected: [UInt8] = []
        for i in 0..<2000 {
            switch i % 5 {
            case 0:
                buffer.append(UInt8(truncatingIfNeeded: i))
                expected.append(UInt8(truncatingIfNeeded: i))
            case 1:
                buffer.append(static: ",\"key\":")
                expected += Array(",\"key\":".utf8)
            case 2:
                buffer.appendDecimal(UInt64(i) * 1_000_003)
                expected += Array(String(UInt64(i) * 1_000_003).utf8)
            case 3:
                let run = [UInt8](repeating: UInt8(ascii: "x"), count: i % 97)
                buffer.append(contentsOf: run)
                expected += run
            default:
                buffer.appendDecimal(UInt64(i % 7), minimumDigits: 3)
                expected += Array(("00" + String(i % 7)).utf8)
            }
        }
        #expect(buffer.count == expected.count)
        #expect(buffer.bytes == expected)
        buffer.removeAll()
        #expect(buffer.count == 0 && buffer.bytes.isEmpty)
        buffer.append(static: "again")
        #expect(buffer.bytes == Array("again".utf8))
    }

    /// The node name's key is rendered once per name: a changed name is rendered afresh.
    @Test func nodeNameRenderedPerName() {
        var buffer = JSONBuffer(capacity: 8)
        for name in ["a", "a", "n\"ode\u{1}", "n\"ode\u{1}", "a"] { buffer.appendNodeName(name) }
        let expected = #","node_name":"a","node_name":"a","node_name":"n\"ode\u0001","node_name":"n\"ode\u0001","node_name":"a""#
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == expected)
    }

    /// Decimals written in place, at every digit count and both ends of the range.
    @Test func decimalsInPlace() {
        var values: [UInt64] = [0, 9, 10, 99, 100, UInt64(UInt32.max), UInt64.max]
        var power: UInt64 = 1
        for _ in 0..<19 {
            values += [power - 1, power, power + 1]
            power *= 10
        }
        var buffer = JSONBuffer(capacity: 1)
        var expected = ""
        for value in values {
            buffer.appendDecimal(value)
            expected += "\(value),"
            buffer.append(UInt8(ascii: ","))
        }
        for value: Int64 in [0, -1, 1, .min, .max] {
            buffer.appendSignedDecimal(value)
            expected += "\(value),"
            buffer.append(UInt8(ascii: ","))
        }
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == expected)
    }
}
