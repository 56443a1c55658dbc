import EventLoop
import Foundation
import Logging
import MockAPI

/// A real mock server on port 0 in its own loop thread. `stop()` shuts it down (in-flight requests finish).
public final class TestServer {
    public let threaded: ThreadedLoop
    public private(set) var server: MockServer!
    public private(set) var port: Int = 0
    public let configuration: Configuration
    public static let key = "msk_live_miosamock_default_key_0000000001"

    /// `configure` adjusts the defaults (in memory, quiet logs) before start.
    public init(_ configure: (inout Configuration) -> Void = { _ in }) throws {
        var c = Configuration()
        c.memory = true
        c.port = 0
        c.logRequests = false
        configure(&c)
        configuration = c
        threaded = ThreadedLoop()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        (server, port) = try threaded.sync { loop in
            let s = try MockServer(configuration: c, loop: loop, logger: logger)
            return (s, try s.start())
        }
    }

    /// Runs `work` on the server's loop thread.
    public func onLoop<T>(_ work: @escaping (MockServer) throws -> T) throws -> T {
        try threaded.sync { [server] _ in try work(server!) }
    }

    public func stop() {
        threaded.async { [server] _, done in server!.shutdown(completion: done) }
        threaded.stop()
    }

    public func request(_ method: String, _ path: String, json: String? = nil, key: String? = TestServer.key,
                        headers: [(String, String)] = []) throws -> RawHTTPClient.Response {
        try RawHTTPClient.request(port: port, method, path, json: json, key: key, headers: headers)
    }
}
