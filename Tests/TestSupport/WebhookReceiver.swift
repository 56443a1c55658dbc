import EventLoop
import Foundation
import HTTP

/// A webhook receiver for tests: an `HTTPServer` on 127.0.0.1 port 0 in its own loop thread that records every
/// request and answers with scripted status codes (then 200; 0 leaves a request unanswered).
public final class WebhookReceiver {
    public struct Received {
        public let method: String
        public let target: String
        public let headers: HTTPHeaders
        public let body: [UInt8]
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        public func header(_ name: String) -> String? { headers[name] }
    }

    private let threaded = ThreadedLoop()
    private var server: HTTPServer!
    public private(set) var port = 0
    private let lock = NSLock()
    private var received: [Received] = []
    private var script: [Int]

    public init(statuses: [Int] = []) throws {
        script = statuses
        (server, port) = try threaded.sync { [unowned self] loop in
            let s = HTTPServer(loop: loop) { req, responder in
                self.lock.lock()
                self.received.append(Received(method: req.method, target: req.target, headers: req.headers, body: req.body))
                let status = self.script.isEmpty ? 200 : self.script.removeFirst()
                self.lock.unlock()
                if status == 0 { return }  // scripted to never answer
                responder.send(HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "text/plain")]),
                                            body: Array("status \(status)".utf8)))
            }
            return (s, try s.listen(host: "127.0.0.1", port: 0))
        }
    }

    public var url: String { "http://127.0.0.1:\(port)/hooks" }

    public var requests: [Received] {
        lock.lock(); defer { lock.unlock() }
        return received
    }

    /// Status codes for the next requests, in order (then 200); 0 = never answer.
    public func answer(_ statuses: [Int]) {
        lock.lock(); script = statuses; lock.unlock()
    }

    /// Waits (polling, at most `timeout` seconds) until `count` requests have arrived; returns what arrived.
    @discardableResult
    public func wait(count: Int, timeout: Double = 10) -> [Received] {
        let deadline = Date().addingTimeInterval(timeout)
        while requests.count < count && Date() < deadline { usleep(5_000) }
        return requests
    }

    public func stop() {
        threaded.async { [server] _, done in server!.shutdown(graceMs: 50, completion: done) }
        threaded.stop()
    }
}
