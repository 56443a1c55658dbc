import XCTest
import EventLoop
import TestSupport
@testable import HTTP

/// The HTTP layer against a live server on port 0, talking raw bytes.
final class HTTPServerTests: XCTestCase {
    var threaded: ThreadedLoop!
    var server: HTTPServer!
    var port = 0

    /// Echo handler: answers `<METHOD> <target> <body length>`; `/slow` answers after 100 ms; `/stream` streams 3 chunks.
    func start(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        threaded = ThreadedLoop()
        var cfg = HTTPServerConfiguration()
        cfg.bodyLimit = { _, _ in 1024 }
        configure(&cfg)
        (server, port) = try threaded.sync { loop in
            let s = HTTPServer(loop: loop, configuration: cfg) { req, responder in
                let text = "\(req.method) \(req.target) \(req.body.count) \(String(decoding: req.body, as: UTF8.self))"
                let reply = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: Array(text.utf8))
                if req.target == "/slow" {
                    Timer.once(on: loop, after: 100) { responder.send(reply) }
                } else if req.target == "/stream" {
                    let stream = responder.startStream(HTTPResponse(status: 200))
                    stream.write("one,")
                    Timer.once(on: loop, after: 20) { stream.write("two,"); stream.write("three"); stream.end() }
                } else {
                    responder.send(reply)
                }
            }
            return (s, try s.listen(host: "127.0.0.1", port: 0))
        }
    }

    override func tearDown() {
        if let t = threaded {
            t.async { [server] _, done in server!.shutdown(graceMs: 100, completion: done) }
            t.stop()
        }
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        for i in 0..<3 {
            try c.send("GET /k\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "GET /k\(i) 0 ")
            XCTAssertNil(r.header("Connection"))
        }
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        // The first answer is delayed; the second must still come after it.
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertEqual(try c.readResponse().text, "GET /slow 0 ")
        XCTAssertEqual(try c.readResponse().text, "GET /fast 0 ")
        XCTAssertEqual(try c.readResponse().text, "POST /p 2 hi")
    }

    func testChunkedRequestBodyIsDechunked() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        XCTAssertEqual(try c.readResponse().text, "POST /c 11 hello world")
    }

    func testChunkedResponseStream() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.header("Transfer-Encoding"), "chunked")
        XCTAssertEqual(r.text, "one,two,three")
        // The connection is reusable after the last chunk.
        try c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().text, "GET /after 0 ")
    }

    func testOversizedBodyIs413AfterReadingIt() throws {
        try start { $0.errorResponse = { s, code, _ in HTTPResponse(status: s, body: Array(code.utf8)) } }
        let c = try RawHTTPClient(port: port)
        let body = [UInt8](repeating: 0x61, count: 4096)
        try c.send(Array("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n".utf8) + body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r.text, "payload_too_large")
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testExpectContinueWithTooLargeBodyIsRejectedWithoutReadingIt() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 413)
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testExpectContinueGetsInterimResponse() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(try c.readResponse(keepInterim: true).status, 100)
        try c.send("abc")
        XCTAssertEqual(try c.readResponse().text, "POST /e 3 abc")
    }

    func testMalformedRequestLineIs400AndClosed() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("THIS IS NOT HTTP\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testOversizedHeadersAre431() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 90_000) + "\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 431)
    }

    func testSlowClientIsTimedOutWith408() throws {
        try start { $0.headerTimeoutMs = 150 }
        let c = try RawHTTPClient(port: port)
        try c.send("GET /partial HTTP/1.1\r\nHost: x\r\n")  // headers never finish
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 408)
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        try start { $0.idleTimeoutMs = 100 }
        let c = try RawHTTPClient(port: port)
        try c.send("GET /once HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testHeadHasNoBodyButKeepsLength() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readResponse(head: true)
        XCTAssertEqual(head.header("Content-Length"), "\("HEAD /h 0 ".utf8.count)")
        XCTAssertEqual(try c.readResponse().text, "GET /g 0 ")
    }

    func testHTTP10ClosesAfterResponse() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("GET /old HTTP/1.0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testShutdownFinishesInFlightRequest() throws {
        try start()
        let c = try RawHTTPClient(port: port)
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.02)
        threaded.async { [server] _, done in server!.shutdown(graceMs: 2000, completion: done) }
        let r = try c.readResponse()
        XCTAssertEqual(r.text, "GET /slow 0 ")
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertThrowsError(try RawHTTPClient(port: port))  // no longer accepting
    }
}
