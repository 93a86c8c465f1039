// SPDX-License-Identifier: Apache-2.0

/// A DNS answer (RFC 1035 section 4) reduced to what the name cache learns from it: which
/// addresses the question's name resolved to, through which CNAME chain, for how long.
///
/// The bytes come from the network, so the parser assumes nothing of them: every read is bounds
/// checked; a compression pointer must point strictly before the name it interrupts (so a walk
/// can never revisit a byte and loops are impossible) and at most ``maxPointerJumps`` are
/// followed; counts are checked against the bytes there are before anything is reserved; a name
/// longer than 255 bytes on the wire is refused. A malformed answer is refused as a whole
/// (``DNSParseError``), never half-learnt.
package struct DNSAnswer: Sendable, Hashable {
    /// One address the question's name resolved to.
    package struct Binding: Sendable, Hashable {
        /// 4 (A) or 16 (AAAA) bytes, network order.
        package var address: [UInt8]
        /// Seconds: the smallest TTL along the chain that led to the address.
        package var ttl: UInt32
        /// The question's name first, then each CNAME target on the way to the address
        /// (presentation format, no trailing dot, lowercase).
        package var names: [String]

        package init(address: [UInt8], ttl: UInt32, names: [String]) {
            self.address = address
            self.ttl = ttl
            self.names = names
        }
    }

    package var id: UInt16
    /// The question's name (presentation format, lowercase, no trailing dot).
    package var question: String
    package var bindings: [Binding]

    /// Compression pointers followed within one name, at most. Pointers only go backwards, so
    /// this is a second bound, not the one that stops loops.
    package static let maxPointerJumps = 32
    /// CNAME links followed from the question's name.
    package static let maxChain = 8

    /// Parses `message` (a UDP payload, or a TCP one without its 2-byte length).
    package init(parsing message: some Collection<UInt8>) throws(DNSParseError) {
        try self.init(parsingBytes: Array(message))
    }

    private init(parsingBytes m: [UInt8]) throws(DNSParseError) {
        var r = Reader(message: m)
        id = try r.u16()
        let flags = try r.u16()
        let qd = Int(try r.u16())
        let an = Int(try r.u16())
        _ = try r.u16()  // authority: not read
        _ = try r.u16()  // additional: not read
        guard flags & 0x8000 != 0 else { throw .notAResponse }
        guard (flags >> 11) & 0xF == 0 else { throw .notAStandardQuery }
        // A truncated answer (TC) holds only part of the records; the resolver asks again over
        // TCP. Nothing is learnt from the part.
        guard flags & 0x0200 == 0 else { throw .truncatedFlag }
        guard flags & 0x000F == 0 else { throw .errorResponse(rcode: UInt8(flags & 0x000F)) }
        // Every stub resolver asks one question per message; anything else is not an answer
        // this learner can attribute.
        guard qd == 1 else { throw .questionCount(qd) }
        let question = try r.name()
        _ = try r.u16()  // qtype: A and AAAA answers are learnt whatever was asked
        _ = try r.u16()  // qclass
        // A record takes at least 11 bytes (a 1-byte name, type, class, TTL, length): a count
        // the bytes cannot hold is refused before any work.
        guard an <= r.remaining / 11 else { throw .countBeyondMessage(an) }
        var records: [(owner: String, type: UInt16, ttl: UInt32, data: RData)] = []
        records.reserveCapacity(an)
        for _ in 0..<an {
            let owner = try r.name()
            let type = try r.u16()
            let rclass = try r.u16()
            var ttl = try r.u32()
            // RFC 2181 8: a TTL with the top bit set is read as zero.
            if ttl & 0x8000_0000 != 0 { ttl = 0 }
            let length = Int(try r.u16())
            guard length <= r.remaining else { throw .truncated }
            let start = r.offset
            let end = start + length
            var data: RData = .other
            if rclass == 1 {
                switch type {
                case 1:
                    guard length == 4 else { throw .badRecordLength(type: type, length: length) }
                    data = .address(Array(m[start..<end]))
                case 28:
                    guard length == 16 else { throw .badRecordLength(type: type, length: length) }
                    data = .address(Array(m[start..<end]))
                case 5:
                    var inner = Reader(message: m, offset: start, limit: end)
                    let target = try inner.name()
                    guard inner.offset == end else { throw .badRecordLength(type: type, length: length) }
                    data = .cname(target)
                default:
                    break
                }
            }
            r.offset = end
            records.append((owner, type, ttl, data))
        }

        // The chain: the question, then each CNAME whose owner is the chain's last name.
        // Records for names off the chain are not the question's answer and are not learnt.
        var chain = [question]
        var chainTTL = UInt32.max
        for _ in 0..<Self.maxChain {
            guard
                let next = records.first(where: {
                    if case .cname = $0.data { return $0.owner == chain.last! }
                    return false
                }), case .cname(let target) = next.data, !chain.contains(target)
            else { break }
            chain.append(target)
            chainTTL = min(chainTTL, next.ttl)
        }
        var bindings: [Binding] = []
        for record in records {
            guard case .address(let address) = record.data, let position = chain.firstIndex(of: record.owner) else {
                continue
            }
            // The names up to the address's owner: a CNAME further along does not lead there.
            let names = Array(chain[...position])
            var ttl = record.ttl
            if position > 0 { ttl = min(ttl, chainTTL) }
            bindings.append(Binding(address: address, ttl: ttl, names: names))
        }
        self.question = question
        self.bindings = bindings
    }

    private enum RData {
        case address([UInt8])
        case cname(String)
        case other
    }
}

/// Why an answer was not learnt from.
package enum DNSParseError: Error, Sendable, Hashable {
    /// The bytes end inside a field.
    case truncated
    /// The QR bit is clear: a query, not an answer.
    case notAResponse
    case notAStandardQuery
    /// The TC bit: only part of the answer is there.
    case truncatedFlag
    /// RCODE not 0 (NXDOMAIN, SERVFAIL, ...).
    case errorResponse(rcode: UInt8)
    case questionCount(Int)
    /// More records announced than the bytes can hold.
    case countBeyondMessage(Int)
    /// A compression pointer that does not point strictly backwards, or too many of them.
    case badPointer
    /// A label type other than a plain label or a pointer (0x40, 0x80 are reserved).
    case badLabel
    /// More than 255 bytes of name on the wire.
    case nameTooLong
    /// An A record of other than 4 bytes, AAAA of other than 16, a CNAME whose name does not
    /// end where its data does.
    case badRecordLength(type: UInt16, length: Int)
}

/// Bounds-checked reads over the message; `limit` ends the region plain bytes may be read from
/// (a record's data), while compression pointers may reach anywhere before the name.
private struct Reader {
    let message: [UInt8]
    var offset: Int
    let limit: Int

    init(message: [UInt8], offset: Int = 0, limit: Int? = nil) {
        self.message = message
        self.offset = offset
        self.limit = limit ?? message.count
    }

    var remaining: Int { limit - offset }

    mutating func u16() throws(DNSParseError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated }
        defer { offset += 2 }
        return UInt16(message[offset]) << 8 | UInt16(message[offset + 1])
    }

    mutating func u32() throws(DNSParseError) -> UInt32 {
        let high = try u16()
        return UInt32(high) << 16 | UInt32(try u16())
    }

    /// A domain name at `offset`, in presentation format (lowercase ASCII, bytes other than
    /// letters, digits, `-` and `_` written `\DDD`, no trailing dot; the root is ""). `offset`
    /// moves past the name as it is in place (up to and including its first pointer).
    mutating func name() throws(DNSParseError) -> String {
        var text: [UInt8] = []
        var position = offset
        var end: Int?  // where `offset` goes: after the first pointer, or after the root label
        var jumps = 0
        var wire = 0
        // Pointers must land before `floor`, the start of the latest stretch of labels read:
        // each jump goes strictly backwards, so no walk can loop.
        var floor = offset
        while true {
            guard position < (end == nil ? limit : message.count) else { throw .truncated }
            let length = Int(message[position])
            switch length & 0xC0 {
            case 0x00:
                wire += length + 1
                guard wire <= 255 else { throw .nameTooLong }
                if length == 0 {
                    if end == nil { end = position + 1 }
                    offset = end!
                    return String(decoding: text, as: UTF8.self)
                }
                let labelEnd = position + 1 + length
                guard labelEnd <= (end == nil ? limit : message.count) else { throw .truncated }
                if !text.isEmpty { text.append(UInt8(ascii: ".")) }
                for byte in message[(position + 1)..<labelEnd] { Self.append(byte, to: &text) }
                position = labelEnd
            case 0xC0:
                guard position + 1 < (end == nil ? limit : message.count) else { throw .truncated }
                let target = (length & 0x3F) << 8 | Int(message[position + 1])
                jumps += 1
                guard target < floor, jumps <= DNSAnswer.maxPointerJumps else { throw .badPointer }
                if end == nil { end = position + 2 }
                floor = target
                position = target
            default:
                throw .badLabel
            }
        }
    }

    private static func append(_ byte: UInt8, to text: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): text.append(byte + 32)
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
            UInt8(ascii: "_"):
            text.append(byte)
        default:
            // RFC 1035 5.1's \DDD: a dot, comma, quote or control inside a label stays visible
            // and cannot be taken for a separator where names are joined.
            text.append(UInt8(ascii: "\\"))
            text.append(UInt8(ascii: "0") + byte / 100)
            text.append(UInt8(ascii: "0") + byte / 10 % 10)
            text.append(UInt8(ascii: "0") + byte % 10)
        }
    }
}
