import XCTest
import EventLoop
import TestSupport
@testable import HTTP

/// `HTTPServer.cork`/`uncork`: answers are held (the store's group commit has not saved them yet) and then
/// written in order, or replaced when the commit failed.
final class CorkTests: XCTestCase {
    var threaded: ThreadedLoop!
    var server: HTTPServer!
    var port = 0

    override func setUpWithError() throws {
        threaded = ThreadedLoop()
        (server, port) = try threaded.sync { loop in
            let s = HTTPServer(loop: loop) { req, responder in
                responder.send(HTTPResponse(status: 200, body: Array("answer \(req.target)".utf8)))
            }
            return (s, try s.listen(host: "127.0.0.1", port: 0))
        }
    }

    override func tearDown() {
        threaded.async { [server] _, done in server!.shutdown(graceMs: 100, completion: done) }
        threaded.stop()
    }

    func testCorkedAnswersWaitForUncorkThenGoOutInOrder() throws {
        try threaded.sync { _ in self.server.cork() }
        let c = try RawHTTPClient(port: port, timeoutSeconds: 1)
        try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        // Nothing arrives while corked (the handler has answered; the bytes wait in the connection).
        XCTAssertThrowsError(try c.readUntil(timeoutSeconds: 0.3) { $0.contains("HTTP/1.1") })
        try threaded.sync { _ in self.server.uncork() }
        XCTAssertEqual(try c.readResponse().text, "answer /a")
        XCTAssertEqual(try c.readResponse().text, "answer /b")
        // Uncorked, answers go straight out again.
        try c.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().text, "answer /c")
    }

    func testFailedCommitReplacesHeldAnswers() throws {
        try threaded.sync { _ in self.server.cork() }
        let c = try RawHTTPClient(port: port, timeoutSeconds: 2)
        try c.send("GET /lost HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)  // let the handler answer into the held connection
        try threaded.sync { _ in
            self.server.uncork(replacingWith: HTTPResponse(status: 500, body: Array("not saved".utf8)))
        }
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 500)
        XCTAssertEqual(r.text, "not saved")
    }
}
