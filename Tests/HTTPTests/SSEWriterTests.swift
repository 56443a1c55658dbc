import XCTest
import EventLoop
import TestSupport
@testable import HTTP

final class SSEWriterTests: XCTestCase {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testFrameHasIdEventOneDataLineAndABlankLine() {
        XCTAssertEqual(text(SSEWriter.frame(id: "7", event: "sandbox.ready", data: #"{"type":"sandbox.ready"}"#)),
                       "id: 7\nevent: sandbox.ready\ndata: {\"type\":\"sandbox.ready\"}\n\n")
        XCTAssertEqual(text(SSEWriter.frame(data: "")), "data: \n\n")
    }

    func testLineBreaksInDataSplitAndInFieldsAreDropped() {
        // CR, LF and CRLF all end an SSE line: each becomes its own data line, so no field can be injected.
        XCTAssertEqual(text(SSEWriter.frame(data: "a\nb\r\nc\rd")), "data: a\ndata: b\ndata: c\ndata: d\n\n")
        XCTAssertEqual(text(SSEWriter.frame(id: "1\n2", event: "x\r\nevent: y", data: "z")), "id: 12\nevent: xevent: y\ndata: z\n\n")
        XCTAssertEqual(text(SSEWriter.commentFrame()), ": keepalive\n\n")
        XCTAssertEqual(text(SSEWriter.commentFrame("a\nb")), ": ab\n\n")
    }

    /// Over a live server: SSE frames inside chunks, then `onDrain` once a large write reached the kernel.
    func testStreamedFramesAndDrainCallback() throws {
        let threaded = ThreadedLoop()
        let big = [UInt8](repeating: 0x78, count: 48 << 20)  // more than loopback socket buffers take: libuv queues the rest
        let (server, port) = try threaded.sync { loop -> (HTTPServer, Int) in
            let s = HTTPServer(loop: loop) { _, responder in
                var head = HTTPResponse(status: 200)
                for (k, v) in SSEWriter.headers { head.headers.add(k, v) }
                let sse = SSEWriter(stream: responder.startStream(head))
                sse.send(id: "1", event: "first", data: "{}")
                sse.comment()
                sse.stream.write(big)
                XCTAssertGreaterThan(sse.stream.bufferedBytes, 0, "a 48 MB write cannot all go out at once")
                sse.stream.onDrain = {
                    sse.stream.onDrain = nil
                    sse.send(event: "drained", data: "{}")
                    sse.end()
                }
            }
            return (s, try s.listen(host: "127.0.0.1", port: 0))
        }
        defer {
            threaded.async { _, done in server.shutdown(graceMs: 100, completion: done) }
            threaded.stop()
        }
        let c = try RawHTTPClient(port: port)
        try c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.header("Content-Type"), "text/event-stream")
        XCTAssertEqual(r.header("Cache-Control"), "no-cache")
        let body = r.text
        XCTAssertTrue(body.hasPrefix("id: 1\nevent: first\ndata: {}\n\n: keepalive\n\n"))
        XCTAssertTrue(body.hasSuffix("event: drained\ndata: {}\n\n"), String(body.suffix(40)))
        let expected = SSEWriter.frame(id: "1", event: "first", data: "{}").count + SSEWriter.commentFrame().count
            + big.count + SSEWriter.frame(event: "drained", data: "{}").count
        XCTAssertEqual(r.body.count, expected)
    }
}
