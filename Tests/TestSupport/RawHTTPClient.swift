import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 client over a raw socket, for tests that need exact bytes on the wire
/// (pipelining, malformed requests, slow clients, chunked bodies).
public final class RawHTTPClient {
    public struct Response {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
        public var object: [String: Any] { (json as? [String: Any]) ?? [:] }
    }

    public struct ClientError: Error, CustomStringConvertible { public let description: String }

    let fd: Int32
    private var buffer: [UInt8] = []

    public init(port: Int, host: String = "127.0.0.1", timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw ClientError(description: "connect to \(port) failed") }
    }

    deinit { Glibc.close(fd) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw ClientError(description: "send failed: errno \(errno)") }
            off += n
        }
    }

    /// Half-closes the sending side.
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        // A server in this process that spawns children gets SIGCHLD (libuv's handler); a recv with
        // SO_RCVTIMEO is never restarted after a signal (socket(7)), so EINTR means "try again".
        var n: Int
        repeat { n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } } while n < 0 && errno == EINTR
        if n < 0 { throw ClientError(description: "recv failed or timed out: errno \(errno)") }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// True when the server closed the connection (reads EOF) within the receive timeout.
    public func isClosedByPeer() -> Bool {
        while true {
            guard let more = try? fill() else { return false }
            if !more { return true }
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed mid-line") }
        }
    }

    private func readExactly(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard try fill() else { throw ClientError(description: "connection closed mid-body") } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Reads one response (skipping 1xx interim responses unless `keepInterim`). `head` = response to HEAD.
    public func readResponse(head: Bool = false, keepInterim: Bool = false) throws -> Response {
        while true {
            let statusLine = try readLine()
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError(description: "bad status line: \(statusLine)") }
            var headers: [(String, String)] = []
            while true {
                let line = try readLine()
                if line.isEmpty { break }
                if let c = line.firstIndex(of: ":") {
                    headers.append((String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)))
                }
            }
            var r = Response(status: status, headers: headers, body: [])
            if (100..<200).contains(status) { if keepInterim { return r }; continue }
            if head || status == 204 || status == 304 { return r }
            if let cl = r.header("Content-Length"), let n = Int(cl) {
                r.body = try readExactly(n)
            } else if r.header("Transfer-Encoding")?.lowercased() == "chunked" {
                while true {
                    let sizeLine = try readLine()
                    guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw ClientError(description: "bad chunk size") }
                    if size == 0 { _ = try readLine(); break }
                    r.body += try readExactly(size)
                    _ = try readLine()
                }
            } else {
                while try fill() {}
                r.body = buffer
                buffer = []
            }
            return r
        }
    }

    /// Reads whatever arrives until `predicate` holds on the accumulated text (for streams).
    public func readUntil(timeoutSeconds: Double = 10, _ predicate: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !predicate(String(decoding: buffer, as: UTF8.self)) {
            if Date() > deadline { throw ClientError(description: "timed out waiting; got: \(String(decoding: buffer, as: UTF8.self))") }
            guard try fill() else { break }
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// One request on a fresh connection; JSON body and a bearer key when given.
    public static func request(port: Int, _ method: String, _ path: String, json: String? = nil, key: String? = nil,
                               headers: [(String, String)] = []) throws -> Response {
        let c = try RawHTTPClient(port: port)
        var req = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let k = key { req += "Authorization: Bearer \(k)\r\n" }
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        let body = json.map { Array($0.utf8) } ?? []
        if json != nil { req += "Content-Type: application/json\r\n" }
        req += "Content-Length: \(body.count)\r\n\r\n"
        try c.send(Array(req.utf8) + body)
        return try c.readResponse(head: method == "HEAD")
    }
}
