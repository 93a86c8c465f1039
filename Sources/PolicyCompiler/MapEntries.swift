// SPDX-License-Identifier: Apache-2.0
import CVigilABI
import Events
import Tracefs
import TracingPolicy

/// The exact key and value bytes of set entries, laid out as `vigil_abi.h` defines them.
enum MapEntries {
    static let present: [UInt8] = [1]

    /// A string set member; postfix sets store the string reversed (see vg_str_postfix).
    static func string(_ bytes: [UInt8], set: UInt32, map: PolicyMapID) -> MapUpdate {
        let data = map == .stringPostfix ? Array(bytes.reversed()) : bytes
        switch map {
        case .stringEqual:
            var key = vigil_str_key()
            key.set_id = set
            withUnsafeMutableBytes(of: &key.data) { raw in raw.copyBytes(from: data) }
            return MapUpdate(map: map, key: withUnsafeBytes(of: key) { Array($0) }, value: present)
        default:
            var key = vigil_str_lpm_key()
            key.prefixlen = UInt32(32 + 8 * data.count)
            key.set_id = set
            withUnsafeMutableBytes(of: &key.data) { raw in raw.copyBytes(from: data) }
            return MapUpdate(map: map, key: withUnsafeBytes(of: key) { Array($0) }, value: present)
        }
    }

    static func integer(_ value: UInt64, set: UInt32) -> MapUpdate {
        var key = vigil_int_key()
        key.set_id = set
        key.value = value
        return MapUpdate(map: .integerSet, key: withUnsafeBytes(of: key) { Array($0) }, value: present)
    }

    /// A CIDR; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so its prefix grows by 96 bits.
    static func address(_ prefix: PolicyValues.IPPrefix, set: UInt32) -> MapUpdate {
        var key = vigil_addr_key()
        key.set_id = set
        var address = prefix.address
        var bits = prefix.prefixLength
        if !prefix.isIPv6 {
            address = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + address
            bits += 96
        }
        key.prefixlen = UInt32(32 + bits)
        withUnsafeMutableBytes(of: &key.addr) { raw in raw.copyBytes(from: address) }
        return MapUpdate(map: .address, key: withUnsafeBytes(of: key) { Array($0) }, value: present)
    }
}

/// Integer values as Tetragon's parser reads them (decimal, 0x, 0 octal; negative numbers
/// two's complement in 64 bits).
enum IntegerLiteral {
    static func parse(_ text: String) -> UInt64? {
        guard let value = PolicyValues.integer(text.trimmingSpaces) else { return nil }
        if value < 0 { return value >= Int128(Int64.min) ? UInt64(bitPattern: Int64(value)) : nil }
        return value <= Int128(UInt64.max) ? UInt64(value) : nil
    }
}

extension IntegerLiteral {
    /// `value` as the kernel holds an arg of `kind`: vg_raw_int sign- or zero-extends 1, 2 and
    /// 4-byte args to 64 bits, so 0xffffffff on an `int` arg is the -1 it compares against
    /// (Tetragon compares such args in 32 bits, where the two are the same).
    static func widened(_ value: UInt64, as kind: TracepointArgKind) -> UInt64 {
        let size: Int
        let signed: Bool
        switch kind {
        case .int(let s, let sg): (size, signed) = (s, sg)
        case .fd: (size, signed) = (4, true)
        default: return value
        }
        guard size > 0, size < 8 else { return value }
        let bits = UInt64(size * 8)
        let mask: UInt64 = (1 << bits) - 1
        let low = value & mask
        return signed && low & (1 << (bits - 1)) != 0 ? low | ~mask : low
    }
}

enum AddressFamily {
    static func number(_ text: String) -> UInt64? {
        if let value = PolicyValues.families[text] { return UInt64(value) }
        return IntegerLiteral.parse(text)
    }
}

typealias CIDR = PolicyValues.IPPrefix

extension PolicyValues.IPPrefix {
    init?(_ text: String) {
        guard let prefix = PolicyValues.ipPrefix(text) else { return nil }
        self = prefix
    }
}

enum PortRange {
    static func parse(_ text: String) -> (UInt16, UInt16)? {
        guard let range = PolicyValues.portRange(text) else { return nil }
        return (range.lowerBound, range.upperBound)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
