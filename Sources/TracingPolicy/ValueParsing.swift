// SPDX-License-Identifier: Apache-2.0

/// Parsers for the values that appear inside policies, shared with later stages.
package enum PolicyValues {
    /// Parses an integer the way Go's `strconv.ParseInt(s, 0, 64)` does: optional
    /// sign, then decimal, `0x` hex, `0o`/leading-`0` octal or `0b` binary.
    package static func integer(_ text: String) -> Int128? {
        var digits = Substring(text)
        var negative = false
        if let first = digits.first, first == "-" || first == "+" {
            negative = first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var radix = 10
        let lower = digits.lowercased()
        if lower.hasPrefix("0x") {
            radix = 16; digits = digits.dropFirst(2)
        } else if lower.hasPrefix("0o") {
            radix = 8; digits = digits.dropFirst(2)
        } else if lower.hasPrefix("0b") {
            radix = 2; digits = digits.dropFirst(2)
        } else if digits.count > 1, digits.first == "0" {
            radix = 8; digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 70 else { return nil }
        var value: Int128 = 0
        for character in digits {
            guard let digit = character.hexDigitValue, digit < radix else { return nil }
            value = value * Int128(radix) + Int128(digit)
            if value > Int128(UInt64.max) + 1 { return nil }
        }
        return negative ? -value : value
    }

    /// Parses `min:max` (both integers, inclusive).
    package static func integerRange(_ text: String) -> ClosedRange<Int128>? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = integer(String(parts[0])), let high = integer(String(parts[1])),
              low <= high else { return nil }
        return low...high
    }

    /// Parses a Post `rateLimit` ("30", "30s", "5m", "1h"; units case-insensitive)
    /// into seconds, like Tetragon's `parseRateLimit`.
    package static func rateLimitSeconds(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        var number = Substring(text)
        var multiplier: UInt64 = 1
        switch last {
        case "s", "S": multiplier = 1; number = number.dropLast()
        case "m", "M": multiplier = 60; number = number.dropLast()
        case "h", "H": multiplier = 3600; number = number.dropLast()
        default: break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = UInt32(number) else { return nil }
        return UInt64(value) * multiplier
    }

    /// A port (`80`) or an inclusive port range (`1024:65535`).
    /// The longest DNS name DNSName matches, in dotted bytes: the kernel reads question names of
    /// up to VIGIL_FQDN_NAME_MAX - 1 (vigil_abi.h) and learns nothing for longer ones.
    package static let dnsNameMaxBytes = 127

    /// A DNSName value as the kernel compares it: lowercase, without the root's trailing dot;
    /// `pattern` for `*.suffix` (any name below the suffix, not the suffix itself).
    package static func dnsName(_ text: String) -> (name: String, pattern: Bool)? {
        dnsNameProblem(text) == nil ? normalizedDNSName(text) : nil
    }

    private static func normalizedDNSName(_ text: String) -> (name: String, pattern: Bool) {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name.hasPrefix("*.") { return (String(name.dropFirst(2)), true) }
        return (name, false)
    }

    /// Why `text` is not a name DNSName can match; nil when it is.
    package static func dnsNameProblem(_ text: String) -> String? {
        let (name, pattern) = normalizedDNSName(text)
        if name.contains("*") {
            return "invalid DNS name \"\(text)\": a wildcard is only \"*.\" before a name (\"*.example.com\" matches every name below example.com)"
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if name.isEmpty || labels.contains(where: \.isEmpty) {
            return "invalid DNS name \"\(text)\": empty label"
        }
        for label in labels {
            if label.utf8.count > 63 { return "invalid DNS name \"\(text)\": label \"\(label)\" is longer than 63 bytes" }
            if !label.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || $0 == "_" }) {
                return "invalid DNS name \"\(text)\": letters, digits, - and _ only (an internationalized name in its xn-- form)"
            }
        }
        // A pattern's names are longer than its suffix by at least a label and a dot.
        if name.utf8.count + (pattern ? 2 : 0) > dnsNameMaxBytes {
            return "DNS name \"\(text)\" is longer than the \(dnsNameMaxBytes) bytes the kernel reads of a question name"
        }
        return nil
    }

    package static func portRange(_ text: String) -> ClosedRange<UInt16>? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        func port(_ part: Substring) -> UInt16? {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return UInt16(part)
        }
        switch parts.count {
        case 1:
            guard let value = port(parts[0]) else { return nil }
            return value...value
        case 2:
            guard let low = port(parts[0]), let high = port(parts[1]), low <= high else { return nil }
            return low...high
        default:
            return nil
        }
    }

    /// An IP address or CIDR prefix (`10.0.0.0/8`, `::1/128`, `192.168.1.1`).
    package struct IPPrefix: Sendable, Hashable {
        /// 4 bytes for IPv4, 16 for IPv6.
        package var address: [UInt8]
        /// Prefix length (32/128 for a single address).
        package var prefixLength: Int
        /// True for IPv6.
        package var isIPv6: Bool { address.count == 16 }

        /// Creates a prefix.
        package init(address: [UInt8], prefixLength: Int) {
            self.address = address
            self.prefixLength = prefixLength
        }
    }

    /// Parses an address or CIDR. Host bits may be set (`127.0.0.1/8`), as Go's
    /// `net.ParseCIDR` allows.
    package static func ipPrefix(_ text: String) -> IPPrefix? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        let address: [UInt8]
        if let v4 = ipv4(parts[0]) {
            address = v4
        } else if let v6 = ipv6(parts[0]) {
            address = v6
        } else {
            return nil
        }
        var length = address.count * 8
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(parts[1]), value <= length else { return nil }
            length = value
        }
        return IPPrefix(address: address, prefixLength: length)
    }

    static func ipv4(_ text: Substring) -> [UInt8]? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = UInt8(octet) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func ipv6(_ text: Substring) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        let halves = splitOnDoubleColon(String(text))
        guard halves.count <= 2 else { return nil }
        sawGap = halves.count == 2
        func groups(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (number, piece) in pieces.enumerated() {
                if number == pieces.count - 1, allowIPv4, piece.contains(".") {
                    guard let v4 = ipv4(piece) else { return nil }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let first = groups(halves[0], allowIPv4: !sawGap) else { return nil }
        head = first
        if sawGap {
            guard let second = groups(halves[1], allowIPv4: true) else { return nil }
            tail = second
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    private static func splitOnDoubleColon(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var previousWasColon = false
        for character in text {
            if character == ":", previousWasColon {
                current.removeLast()
                parts.append(current)
                current = ""
                previousWasColon = false
                continue
            }
            current.append(character)
            previousWasColon = character == ":"
        }
        parts.append(current)
        return parts
    }

    /// `Protocol` operator names (`IPPROTO_TCP` = 6, ...).
    package static let protocols: [String: Int] = [
        "IPPROTO_IP": 0, "IPPROTO_ICMP": 1, "IPPROTO_IGMP": 2, "IPPROTO_IPIP": 4, "IPPROTO_TCP": 6,
        "IPPROTO_EGP": 8, "IPPROTO_PUP": 12, "IPPROTO_UDP": 17, "IPPROTO_IDP": 22, "IPPROTO_TP": 29,
        "IPPROTO_DCCP": 33, "IPPROTO_IPV6": 41, "IPPROTO_RSVP": 46, "IPPROTO_GRE": 47, "IPPROTO_ESP": 50,
        "IPPROTO_AH": 51, "IPPROTO_ICMPV6": 58, "IPPROTO_MTP": 92, "IPPROTO_BEETPH": 94, "IPPROTO_ENCAP": 98,
        "IPPROTO_PIM": 103, "IPPROTO_COMP": 108, "IPPROTO_L2TP": 115, "IPPROTO_SCTP": 132,
        "IPPROTO_UDPLITE": 136, "IPPROTO_MPLS": 137, "IPPROTO_ETHERNET": 143, "IPPROTO_RAW": 255,
        "IPPROTO_MPTCP": 262,
    ]

    /// `Family` operator names (`AF_INET` = 2, ...).
    package static let families: [String: Int] = [
        "AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_AX25": 3, "AF_IPX": 4,
        "AF_APPLETALK": 5, "AF_NETROM": 6, "AF_BRIDGE": 7, "AF_ATMPVC": 8, "AF_X25": 9, "AF_INET6": 10,
        "AF_ROSE": 11, "AF_DECnet": 12, "AF_NETBEUI": 13, "AF_SECURITY": 14, "AF_KEY": 15, "AF_NETLINK": 16,
        "AF_ROUTE": 16, "AF_PACKET": 17, "AF_ASH": 18, "AF_ECONET": 19, "AF_ATMSVC": 20, "AF_RDS": 21,
        "AF_SNA": 22, "AF_IRDA": 23, "AF_PPPOX": 24, "AF_WANPIPE": 25, "AF_LLC": 26, "AF_IB": 27, "AF_MPLS": 28,
        "AF_CAN": 29, "AF_TIPC": 30, "AF_BLUETOOTH": 31, "AF_IUCV": 32, "AF_RXRPC": 33, "AF_ISDN": 34,
        "AF_PHONET": 35, "AF_IEEE802154": 36, "AF_CAIF": 37, "AF_ALG": 38, "AF_NFC": 39, "AF_VSOCK": 40,
        "AF_KCM": 41, "AF_QIPCRTR": 42, "AF_SMC": 43, "AF_XDP": 44, "AF_MCTP": 45,
    ]

    /// `State` operator names (`TCP_ESTABLISHED` = 1, ...).
    package static let tcpStates: [String: Int] = [
        "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4, "TCP_FIN_WAIT2": 5,
        "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8, "TCP_LAST_ACK": 9, "TCP_LISTEN": 10,
        "TCP_CLOSING": 11, "TCP_NEW_SYN_RECV": 12,
    ]

    /// `FileType` operator names and the file type each means.
    package static let fileTypes: [String: String] = [
        "reg": "reg", "regular": "reg", "dir": "dir", "lnk": "lnk", "link": "lnk", "sock": "sock",
        "socket": "sock", "blk": "blk", "block": "blk", "chr": "chr", "char": "chr", "fifo": "fifo",
        "pipe": "fifo",
    ]

    /// True for a Kubernetes object name (RFC 1123 subdomain).
    package static func isDNSSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabel)
    }

    /// True for a Kubernetes namespace name (RFC 1123 label).
    package static func isDNSLabel(_ name: String) -> Bool {
        guard name.utf8.count <= 63 else { return false }
        return isLabel(Substring(name))
    }

    private static func isLabel(_ label: Substring) -> Bool {
        guard let first = label.first, let last = label.last else { return false }
        func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
        return alnum(first) && alnum(last) && label.allSatisfy { alnum($0) || $0 == "-" }
    }
}
