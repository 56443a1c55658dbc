import Crypto

/// SHA-256 as lowercase hex: API key hashes, idempotency body fingerprints.
public enum Digest {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in SHA256.hash(data: bytes) {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
