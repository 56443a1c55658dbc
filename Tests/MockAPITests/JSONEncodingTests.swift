import XCTest
@testable import MockAPI

/// The encoder's fast path (8 bytes at a time) must escape exactly what the byte-by-byte rule escapes.
final class JSONEncodingTests: XCTestCase {
    /// The reference: RFC 8259 escaping of `"`, `\` and control characters, one byte at a time.
    func reference(_ s: String) -> String {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += Array("\\\"".utf8)
            case 0x5c: out += Array("\\\\".utf8)
            case 0x0a: out += Array("\\n".utf8)
            case 0x0d: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        return String(decoding: out + [0x22], as: UTF8.self)
    }

    func testEveryEscapedByteAtEveryPositionOfALongString() {
        let base = Array("abcdefghijklmnopqrstuvw".utf8)  // 23 bytes: two words and a tail
        for special: UInt8 in Array(0..<0x20) + [0x22, 0x5c, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x20] {
            for pos in 0..<base.count {
                var bytes = base
                bytes[pos] = special
                let s = String(decoding: bytes, as: UTF8.self)
                XCTAssertEqual(JSON.string(s).encodedString, reference(s), "byte \(special) at \(pos)")
            }
        }
    }

    func testNonASCIIAndEmptyAndSmallStrings() {
        for s in ["", "a", "é", "😀 and \"quotes\"", "ünïcödé/ströng/longer than eight", "tab\tend", "\u{7f}\u{80}"] {
            XCTAssertEqual(JSON.string(s).encodedString, reference(s), s)
        }
        XCTAssertEqual(JSON.object(["k\"": .array([.null, .bool(true), .bool(false), .int(-12), .double(2.5)])]).encodedString,
                       #"{"k\"":[null,true,false,-12,2.5]}"#)
    }
}
