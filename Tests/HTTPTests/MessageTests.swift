import XCTest
@testable import HTTP

/// The byte-level helpers the hot path uses instead of Character-based String operations.
final class MessageTests: XCTestCase {
    func testHeaderLookupFoldsASCIICaseOnly() {
        var h = HTTPHeaders([("Content-Type", "a"), ("X-Request-Id", "b"), ("a@", "c")])
        XCTAssertEqual(h["content-type"], "a")
        XCTAssertEqual(h["X-REQUEST-ID"], "b")
        XCTAssertNil(h["X-Request-If"])
        XCTAssertNil(h["Content-Typ"])
        XCTAssertNil(h["a`"], "bytes that differ by 0x20 but are not letters are different")
        XCTAssertEqual(h["A@"], "c")
        h.add("content-type", "d")
        h.remove("CONTENT-TYPE")
        XCTAssertNil(h["Content-Type"])
        XCTAssertEqual(h.fields.count, 2)
    }

    func testPathAndQuerySplitAtTheFirstQuestionMark() {
        let r = HTTPRequest(method: "GET", target: "/a/%C3%A9/é?x=1?y=2")
        XCTAssertEqual(r.path, "/a/%C3%A9/é")
        XCTAssertEqual(r.query, "x=1?y=2")
        XCTAssertNil(HTTPRequest(method: "GET", target: "/p").query)
        XCTAssertEqual(HTTPRequest(method: "GET", target: "/p?").query, "")
        XCTAssertEqual(HTTPRequest(method: "GET", target: "/p?").path, "/p")
        r.target = "/other?k=v"  // the cached position follows the target
        XCTAssertEqual(r.path, "/other")
        XCTAssertEqual(r.query, "k=v")
        r.target = "/none"
        XCTAssertEqual(r.path, "/none")
        XCTAssertNil(r.query)
    }

    func testResponseHeadBytes() {
        func head(_ r: HTTPResponse, _ length: Int?, close: Bool) -> String {
            String(decoding: ResponseHead.render(r, bodyLength: length, close: close, date: "D", body: nil), as: UTF8.self)
        }
        let r = HTTPResponse(status: 404, headers: HTTPHeaders([("Content-Type", "application/json"), ("content-length", "9"),
                                                                ("Connection", "keep-alive"), ("X-A", "1")]))
        XCTAssertEqual(head(r, 1234567, close: true),
                       "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A: 1\r\nDate: D\r\n" +
                       "Content-Length: 1234567\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(head(HTTPResponse(status: 204), 0, close: false), "HTTP/1.1 204 No Content\r\nDate: D\r\n\r\n")
        XCTAssertEqual(head(HTTPResponse(status: 200), 0, close: false), "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(head(HTTPResponse(status: 599, headers: HTTPHeaders([("Transfer-Encoding", "gzip")])), nil, close: false),
                       "HTTP/1.1 599 Status 599\r\nDate: D\r\nTransfer-Encoding: chunked\r\n\r\n")
    }
}
