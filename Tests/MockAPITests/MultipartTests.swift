import XCTest
@testable import MockAPI

final class MultipartTests: XCTestCase {
    func body(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testBoundaryFromContentType() {
        XCTAssertEqual(Multipart.boundary(contentType: "multipart/form-data; boundary=abc123"), "abc123")
        XCTAssertEqual(Multipart.boundary(contentType: #"Multipart/Form-Data; charset=utf-8; boundary="a b;c""#), "a b;c")
        XCTAssertNil(Multipart.boundary(contentType: "multipart/form-data"))
        XCTAssertNil(Multipart.boundary(contentType: "application/json; boundary=x"))
        XCTAssertNil(Multipart.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)))
    }

    func testFieldsAndBinaryFileRoundTrip() throws {
        // Near-delimiters ("\r\n--XY", "--XYZ" without its CRLF), CRLFs, NULs and invalid UTF-8 come back exactly.
        let payload: [UInt8] = Array(0...255) + body("\r\n--XY") + body("--XYZ\r\n") + [0, 0xff, 0x0d, 0x0a]
        var b = body("preamble to ignore\r\n--XYZ\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n/workspace/up/\r\n")
        b += body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".bin\"\r\n")
        b += body("Content-Type: application/octet-stream\r\n\r\n") + payload
        b += body("\r\n--XYZ--\r\nepilogue")
        let parts = try Multipart.parse(b, boundary: "XYZ")
        XCTAssertEqual(parts.count, 2)
        XCTAssertEqual(parts[0].name, "path")
        XCTAssertEqual(parts[0].text, "/workspace/up/")
        XCTAssertNil(parts[0].filename)
        XCTAssertEqual(parts[1].name, "file")
        XCTAssertEqual(parts[1].filename, "a \"q\".bin")
        XCTAssertEqual(parts[1].contentType, "application/octet-stream")
        XCTAssertEqual(parts[1].body, payload)
    }

    func testEmptyPartAndExtendedFilename() throws {
        let b = body("--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve.txt\r\n\r\n\r\n--b--\r\n")
        let parts = try Multipart.parse(b, boundary: "b")
        XCTAssertEqual(parts.first?.filename, "naïve.txt")
        XCTAssertEqual(parts.first?.body, [])
    }

    func testMalformedBodiesAreInvalidMultipart() {
        let cases: [(String, String)] = [
            ("no boundary", "just some text"),
            ("missing close", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue with no end"),
            ("no disposition", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),
            ("no header end", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nx\r\n--b--"),
            ("bad delimiter line", "--bjunk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--"),
            ("header without colon", "--b\r\nnot a header\r\n\r\nx\r\n--b--"),
        ]
        for (what, text) in cases {
            XCTAssertThrowsError(try Multipart.parse(body(text), boundary: "b"), what) { e in
                XCTAssertEqual((e as? APIError)?.code, "invalid_multipart", what)
                XCTAssertEqual((e as? APIError)?.status, 400, what)
            }
        }
    }

    func testPartLimit() {
        var b = ""
        for i in 0..<5 { b += "--b\r\nContent-Disposition: form-data; name=\"f\(i)\"\r\n\r\nv\r\n" }
        b += "--b--\r\n"
        XCTAssertEqual(try Multipart.parse(body(b), boundary: "b", maxParts: 5).count, 5)
        XCTAssertThrowsError(try Multipart.parse(body(b), boundary: "b", maxParts: 4))
    }

    func testBase64DecoderAcceptsStandardAndURLSafeAndRejectsGarbage() {
        XCTAssertEqual(FileContent.base64Decode("aGVsbG8="), Array("hello".utf8))
        XCTAssertEqual(FileContent.base64Decode("aGVsbG8"), Array("hello".utf8))
        XCTAssertEqual(FileContent.base64Decode("aGVs\nbG8=\n"), Array("hello".utf8))
        XCTAssertEqual(FileContent.base64Decode("-_8="), [0xfb, 0xff])
        XCTAssertEqual(FileContent.base64Decode(""), [])
        XCTAssertNil(FileContent.base64Decode("a"))
        XCTAssertNil(FileContent.base64Decode("aGVs*G8="))
        XCTAssertNil(FileContent.base64Decode("aG==Vs"))
        let all = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        XCTAssertEqual(FileContent.base64Decode(FileContent.base64Encode(all)), all)
    }
}
