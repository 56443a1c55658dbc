/// Identifiers: UUID v4 for resources (docs: "All resource IDs are UUID v4"), v7 for audit entries (log lines,
/// not resources), prefixed random tokens elsewhere.
public enum IDs {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func uuid() -> String {
        var g = SystemRandomNumberGenerator()
        var a = g.next() as UInt64
        var b = g.next() as UInt64
        a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000   // version 4
        b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000   // RFC 4122 variant
        return format(&a, &b)
    }

    /// A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds (`wallMs`), then random bits. For log entries
    /// (audit): ids sort by creation, so their unique index grows at its end instead of rewriting a random leaf
    /// page per entry; they stay unguessable.
    public static func uuidV7(wallMs: UInt64) -> String {
        var g = SystemRandomNumberGenerator()
        let randA: UInt64 = g.next() & 0x0FFF
        var a = (wallMs << 16) | randA | 0x7000   // unix_ts_ms, version 7, rand_a
        var b = g.next() as UInt64
        b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000            // RFC variant, rand_b
        return format(&a, &b)
    }

    private static func format(_ a: inout UInt64, _ b: inout UInt64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(36)
        for i in 0..<16 {
            let byte = UInt8(truncatingIfNeeded: (i < 8 ? a >> (56 - 8 * UInt64(i)) : b >> (56 - 8 * UInt64(i - 8))))
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2d) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `prefix` + `length` lowercase base32 characters from the system CSPRNG.
    public static func token(_ prefix: String, length: Int = 24) -> String {
        var g = SystemRandomNumberGenerator()
        return token(prefix, length: length, using: &g)
    }

    /// The same, from a caller's generator (the dispatcher's batched kernel randomness).
    public static func token<G: RandomNumberGenerator>(_ prefix: String, length: Int, using g: inout G) -> String {
        // Written in place into the new string (every request gets a request id: an array, its appends and
        // a second copy were 3 % of a GET).
        let alphabet: StaticString = "0123456789abcdefghjkmnpqrstvwxyz"
        let digits = alphabet.utf8Start
        let p = prefix.utf8.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: p + length) { out in
            var i = 0
            for b in prefix.utf8 { out[i] = b; i += 1 }
            var bits: UInt64 = 0
            var have = 0
            for _ in 0..<length {
                if have < 5 { bits = g.next(); have = 64 }
                out[i] = digits[Int(bits & 31)]
                i += 1
                bits >>= 5
                have -= 5
            }
            return String(decoding: UnsafeBufferPointer(rebasing: out[0..<i]), as: UTF8.self)
        }
    }

    public static func requestID() -> String { token("req_", length: 26) }
    public static func requestID<G: RandomNumberGenerator>(using g: inout G) -> String { token("req_", length: 26, using: &g) }

    public static func isUUID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 { if c != 0x2d { return false }; continue }
            let isHex = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
            if !isHex { return false }
        }
        return true
    }
}
