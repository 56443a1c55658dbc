import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One SSE frame as a client parses it.
struct SSEFrame {
    var id: String?
    var event: String?
    var data: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
}

/// An SSE stream read over a raw socket: the request, the response head, then de-chunked frames.
final class SSETestClient {
    let raw: RawHTTPClient
    private(set) var status = 0
    private(set) var headers: [(String, String)] = []
    private var text = ""

    init(port: Int, path: String, key: String? = TestServer.key, headers extra: [(String, String)] = []) throws {
        raw = try RawHTTPClient(port: port)
        var req = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if let k = key { req += "Authorization: Bearer \(k)\r\n" }
        for (k, v) in extra { req += "\(k): \(v)\r\n" }
        try raw.send(req + "\r\n")
        try readHead()
    }

    /// Adopts a client that already sent the SSE request (after others, pipelined) and read the earlier answers.
    init(adopting raw: RawHTTPClient) throws {
        self.raw = raw
        try readHead()
    }

    private func readHead() throws {
        let head = try raw.readUntil { $0.contains("\r\n\r\n") }
        let lines = head[..<head.range(of: "\r\n\r\n")!.lowerBound].components(separatedBy: "\r\n")
        status = Int(lines[0].split(separator: " ")[1]) ?? 0
        for l in lines.dropFirst() {
            if let c = l.firstIndex(of: ":") {
                headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
            }
        }
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    /// The body so far with chunk framing removed; `ended` once the last (zero) chunk arrived.
    static func dechunk(_ all: String) -> (body: String, ended: Bool) {
        let b = Array(all.utf8)
        var i = 0
        func find(_ from: Int, _ pattern: [UInt8]) -> Int? {
            guard b.count >= pattern.count else { return nil }
            var j = from
            outer: while j + pattern.count <= b.count {
                for k in 0..<pattern.count where b[j + k] != pattern[k] { j += 1; continue outer }
                return j
            }
            return nil
        }
        guard let headEnd = find(0, [13, 10, 13, 10]) else { return ("", false) }
        i = headEnd + 4
        var body: [UInt8] = []
        while let eol = find(i, [13, 10]) {
            guard let size = Int(String(decoding: b[i..<eol], as: UTF8.self), radix: 16) else { break }
            if size == 0 { return (String(decoding: body, as: UTF8.self), true) }
            guard eol + 2 + size + 2 <= b.count else { break }
            body += b[(eol + 2)..<(eol + 2 + size)]
            i = eol + 2 + size + 2
        }
        return (String(decoding: body, as: UTF8.self), false)
    }

    /// Complete frames (those followed by a blank line); comments are kept as `event: ":"` frames.
    static func frames(_ body: String) -> [SSEFrame] {
        var out: [SSEFrame] = []
        var blocks = body.components(separatedBy: "\n\n")
        blocks.removeLast()  // incomplete (or empty) tail
        for block in blocks {
            var f = SSEFrame(data: "")
            var data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { f.event = ":"; data.append(String(line.dropFirst().trimmingCharacters(in: .whitespaces))) }
                else if line.hasPrefix("id: ") { f.id = String(line.dropFirst(4)) }
                else if line.hasPrefix("event: ") { f.event = String(line.dropFirst(7)) }
                else if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            f.data = data.joined(separator: "\n")
            out.append(f)
        }
        return out
    }

    /// Reads until `predicate` holds on the event frames (comments excluded) received so far.
    @discardableResult
    func events(timeout: Double = 10, until predicate: ([SSEFrame]) -> Bool) throws -> [SSEFrame] {
        var result: [SSEFrame] = []
        text = try raw.readUntil(timeoutSeconds: timeout) { all in
            result = SSETestClient.frames(SSETestClient.dechunk(all).body).filter { $0.event != ":" }
            return predicate(result) || SSETestClient.dechunk(all).ended
        }
        return result
    }

    /// Reads until a comment frame arrives.
    func comment(timeout: Double = 10) throws -> String {
        var found = ""
        _ = try raw.readUntil(timeoutSeconds: timeout) { all in
            found = SSETestClient.frames(SSETestClient.dechunk(all).body).first { $0.event == ":" }?.data ?? ""
            return !found.isEmpty
        }
        return found
    }

    /// True when the server ended the chunked body (last chunk seen) within the timeout.
    func ended(timeout: Double = 10) -> Bool {
        (try? raw.readUntil(timeoutSeconds: timeout) { SSETestClient.dechunk($0).ended }).map { SSETestClient.dechunk($0).ended } ?? false
    }
}

struct StalledClientError: Error {}

/// A socket that connects with a tiny receive buffer, sends one request and then never reads.
final class StalledClient {
    let fd: Int32

    init(port: Int, request: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw StalledClientError() }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    deinit { Glibc.close(fd) }
}

/// Raises this process's soft open-file limit to the hard limit (many sockets in one test).
func raiseOpenFileLimit(to wanted: rlim_t) -> rlim_t {
    var lim = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    if lim.rlim_cur < wanted {
        lim.rlim_cur = min(wanted, lim.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    }
    return lim.rlim_cur
}

/// Polls `condition` (bounded) until it holds; for state the server reaches on its own loop turn.
func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(5_000)
    }
    return try condition()
}
