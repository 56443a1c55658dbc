import XCTest
import EventLoop
import TestSupport
@testable import HTTP

/// The libuv HTTP client against a local `HTTPServer` (and raw listeners for broken peers), all on one loop thread.
final class HTTPClientTests: XCTestCase {
    var threaded: ThreadedLoop!
    var server: HTTPServer!
    var port = 0
    var client: HTTPClient!
    /// Requests the server saw: method, target, headers, body.
    var seen: [(String, String, HTTPHeaders, [UInt8])] = []

    override func setUpWithError() throws {
        threaded = ThreadedLoop()
        (server, port, client) = try threaded.sync { [unowned self] loop in
            let s = HTTPServer(loop: loop) { req, responder in
                self.seen.append((req.method, req.target, req.headers, req.body))
                switch req.path {
                case "/hang":
                    break  // never answers
                case "/big":
                    responder.send(HTTPResponse(status: 200, body: [UInt8](repeating: 0x61, count: 10_000)))
                case "/chunked":
                    let stream = responder.startStream(HTTPResponse(status: 202))
                    stream.write("part1,")
                    Timer.once(on: loop, after: 10) { stream.write("part2"); stream.end() }
                default:
                    let text = "\(req.method) \(req.target) \(String(decoding: req.body, as: UTF8.self))"
                    responder.send(HTTPResponse(status: req.path == "/fail" ? 503 : 200,
                                                headers: HTTPHeaders([("X-Answer", "yes")]), body: Array(text.utf8)))
                }
            }
            return (s, try s.listen(host: "127.0.0.1", port: 0), HTTPClient(loop: loop))
        }
    }

    override func tearDown() {
        threaded.async { [client, server] _, done in
            client!.cancelAll()
            server!.shutdown(graceMs: 50, completion: done)
        }
        threaded.stop()
    }

    func send(_ url: String, method: String = "POST", body: String = "", headers: [(String, String)] = [],
              configure: @escaping (HTTPClient) -> Void = { _ in }) -> Result<HTTPClientResponse, HTTPClientError> {
        var result: Result<HTTPClientResponse, HTTPClientError>!
        threaded.async { [client] _, done in
            configure(client!)
            client!.send(method: method, url: url, headers: headers, body: Array(body.utf8)) { r in
                result = r
                done()
            }
        }
        return result
    }

    func testPostsBodyAndHeadersAndReadsTheAnswer() throws {
        let r = try send("http://127.0.0.1:\(port)/hook?x=1", body: #"{"a":1}"#, headers: [("X-Miosa-Event", "sandbox.created")]).get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["x-answer"], "yes")
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), #"POST /hook?x=1 {"a":1}"#)
        XCTAssertFalse(r.truncated)
        let (method, target, headers, body) = try XCTUnwrap(seen.first)
        XCTAssertEqual(method, "POST")
        XCTAssertEqual(target, "/hook?x=1")
        XCTAssertEqual(headers["Host"], "127.0.0.1:\(port)")
        XCTAssertEqual(headers["Connection"], "close")
        XCTAssertEqual(headers["Content-Length"], "7")
        XCTAssertEqual(headers["X-Miosa-Event"], "sandbox.created")
        XCTAssertEqual(body.count, 7)
    }

    func testLocalhostStatusCodesAndChunkedBodies() throws {
        XCTAssertEqual(try send("http://localhost:\(port)/fail").get().status, 503)
        let chunked = try send("http://127.0.0.1:\(port)/chunked").get()
        XCTAssertEqual(chunked.status, 202)
        XCTAssertEqual(String(decoding: chunked.body, as: UTF8.self), "part1,part2")
    }

    func testResponseBodyIsCapped() throws {
        let r = try send("http://127.0.0.1:\(port)/big") { $0.options.maxResponseBytes = 1024 }.get()
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.truncated)
        XCTAssertEqual(r.body.count, 1024)
    }

    func testNoAnswerTimesOut() {
        let r = send("http://127.0.0.1:\(port)/hang") { $0.options.timeoutMs = 100 }
        XCTAssertEqual(r.failure, .timedOut(100))
    }

    func testRefusedConnection() throws {
        // A port that was just free: bind, read the number, close.
        let closedPort = try threaded.sync { loop -> Int in
            let l = TCPListener(loop: loop)
            let p = try l.listen(host: "127.0.0.1", port: 0)
            l.close()
            return p
        }
        guard case .connectFailed(let why)? = send("http://127.0.0.1:\(closedPort)/").failure else {
            return XCTFail("expected a connect failure")
        }
        XCTAssertTrue(why.contains("ECONNREFUSED"), why)
    }

    func testWhatTheMockCannotReach() {
        XCTAssertEqual(send("https://127.0.0.1:\(port)/").failure, .unsupportedScheme("https"))
        XCTAssertEqual(send("http://hooks.example.com/x").failure, .hostNotResolvable("hooks.example.com"))
        XCTAssertEqual(send("ftp://127.0.0.1/").failure, .invalidURL("scheme must be http or https"))
        XCTAssertEqual(HTTPClientError.hostNotResolvable("x").description, "host not resolvable in the mock")
        XCTAssertTrue(seen.isEmpty)
    }

    func testMalformedAndTruncatedResponses() throws {
        // A raw listener that answers garbage, then one that closes mid-body.
        let (garbage, cut) = try threaded.sync { loop -> (Int, Int) in
            func raw(_ reply: String) throws -> Int {
                let l = TCPListener(loop: loop)
                l.onConnection = { c in
                    c.onRead = { _ in c.write(Array(reply.utf8)); c.shutdownAndClose() }
                    c.onEnd = { _ in c.close() }
                    c.startReading()
                }
                return try l.listen(host: "127.0.0.1", port: 0)
            }
            return (try raw("HELLO THERE\r\n\r\n"), try raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
        }
        guard case .malformedResponse? = send("http://127.0.0.1:\(garbage)/").failure else { return XCTFail("garbage accepted") }
        XCTAssertEqual(send("http://127.0.0.1:\(cut)/").failure, .malformedResponse("connection closed mid-response"))
    }

    func testURLParsing() throws {
        let u = try HTTPClientURL.parse("HTTP://[::1]:8080/a/b?c=d#frag").get()
        XCTAssertEqual(u, HTTPClientURL(scheme: "http", host: "::1", port: 8080, target: "/a/b?c=d"))
        XCTAssertEqual(u.authority, "[::1]:8080")
        XCTAssertEqual(u.resolvedIP, "::1")
        let plain = try HTTPClientURL.parse("http://Example.COM?q").get()
        XCTAssertEqual(plain.target, "/?q")
        XCTAssertEqual(plain.port, 80)
        XCTAssertNil(plain.resolvedIP)
        XCTAssertEqual(try HTTPClientURL.parse("https://10.0.0.1").get().port, 443)
        for bad in ["127.0.0.1/x", "http://", "http://h:0/", "http://h:99999/", "http://u:p@h/", "http://h/a b", "http://[::1/"] {
            guard case .failure(.invalidURL) = HTTPClientURL.parse(bad) else { return XCTFail("accepted \(bad)") }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
