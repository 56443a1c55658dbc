import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// A response read by `HTTPClient`.
public struct HTTPClientResponse {
    public var status: Int
    public var headers: HTTPHeaders
    /// At most `HTTPClient.Options.maxResponseBytes` bytes.
    public var body: [UInt8]
    /// The body was longer than the cap: `body` holds its first bytes and the rest was not read.
    public var truncated: Bool
}

public enum HTTPClientError: Error, Equatable, CustomStringConvertible {
    case invalidURL(String)
    /// `https://`: the mock has no TLS client.
    case unsupportedScheme(String)
    /// Neither an IP literal nor `localhost` (the mock resolves no names: it runs without DNS).
    case hostNotResolvable(String)
    case connectFailed(String)
    case timedOut(UInt64)
    case malformedResponse(String)
    case cancelled

    public var description: String {
        switch self {
        case .invalidURL(let why): return "invalid URL: \(why)"
        case .unsupportedScheme(let s): return "\(s):// URLs cannot be delivered by the mock (it has no TLS client); use http://"
        case .hostNotResolvable: return "host not resolvable in the mock"
        case .connectFailed(let why): return "connection failed: \(why)"
        case .timedOut(let ms): return "no complete response within \(ms) ms"
        case .malformedResponse(let why): return why
        case .cancelled: return "request cancelled (server stopping or state reset)"
        }
    }
}

/// An absolute `http://` or `https://` URL split into what a request needs.
public struct HTTPClientURL: Equatable {
    public let scheme: String
    public let host: String
    public let port: Int
    /// Path and query, at least `/`.
    public let target: String
    /// The `Host` header value.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (scheme == "http" && port == 80) || (scheme == "https" && port == 443) ? h : "\(h):\(port)"
    }

    public static func parse(_ text: String) -> Result<HTTPClientURL, HTTPClientError> {
        guard text.utf8.count <= 2048 else { return .failure(.invalidURL("longer than 2048 bytes")) }
        let lower = text.lowercased()
        let scheme = lower.hasPrefix("http://") ? "http" : lower.hasPrefix("https://") ? "https" : ""
        guard !scheme.isEmpty else { return .failure(.invalidURL("scheme must be http or https")) }
        var rest = text.dropFirst(scheme.count + 3)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<end]
        var target = String(rest[end...])
        if target.isEmpty || target.first == "?" { target = "/" + target }
        if target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) { return .failure(.invalidURL("spaces or control characters in the path")) }
        guard !authority.isEmpty else { return .failure(.invalidURL("no host")) }
        guard !authority.contains("@") else { return .failure(.invalidURL("credentials in the URL are not supported")) }
        var host: Substring
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return .failure(.invalidURL("unclosed [ in the host")) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return .failure(.invalidURL("junk after the IPv6 host")) }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else { return .failure(.invalidURL("bad host")) }
        var port = scheme == "https" ? 443 : 80
        if let p = portText {
            guard let n = Int(p), (1...65535).contains(n) else { return .failure(.invalidURL("port must be 1...65535")) }
            port = n
        }
        return .success(HTTPClientURL(scheme: scheme, host: host.lowercased(), port: port, target: target))
    }

    /// The IP to connect to: an IP literal as is, `localhost` as 127.0.0.1; nil for a name that needs DNS.
    public var resolvedIP: String? {
        if host == "localhost" || host.hasSuffix(".localhost") { return "127.0.0.1" }
        return TCPClient.address(ip: host, port: port) == nil ? nil : host
    }
}

/// HTTP/1.1 requests on the loop: one connection per request (`Connection: close`), one deadline covering
/// connect and response, a cap on the response body. Used for webhook deliveries; never blocks the loop.
public final class HTTPClient {
    public struct Options {
        public var timeoutMs: UInt64 = 10_000
        public var maxResponseBytes = 64 * 1024
        public init() {}
    }

    public let loop: Loop
    public var options: Options
    private var exchanges: [ObjectIdentifier: ClientExchange] = [:]

    public init(loop: Loop, options: Options = Options()) {
        self.loop = loop
        self.options = options
    }

    public var inFlight: Int { exchanges.count }

    /// Sends one request. `completion` runs exactly once, on the loop thread, never synchronously.
    public func send(method: String, url: String, headers: [(String, String)], body: [UInt8],
                     _ completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void) {
        loop.assertOnLoop()
        let parsed: HTTPClientURL
        switch HTTPClientURL.parse(url) {
        case .failure(let e): return later(completion, .failure(e))
        case .success(let u): parsed = u
        }
        guard parsed.scheme == "http" else { return later(completion, .failure(.unsupportedScheme(parsed.scheme))) }
        guard let ip = parsed.resolvedIP else { return later(completion, .failure(.hostNotResolvable(parsed.host))) }

        var head = "\(method) \(parsed.target) HTTP/1.1\r\nHost: \(parsed.authority)\r\n"
        for (k, v) in headers {
            let lower = k.lowercased()
            if lower == "host" || lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            head += "\(k): \(v)\r\n"
        }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let ex = ClientExchange(client: self, request: Array(head.utf8) + body, maxBody: options.maxResponseBytes, completion: completion)
        exchanges[ObjectIdentifier(ex)] = ex
        ex.start(ip: ip, port: parsed.port, timeoutMs: options.timeoutMs)
    }

    /// Ends every request in flight with `.cancelled` (shutdown, reset).
    public func cancelAll() {
        for ex in Array(exchanges.values) { ex.finish(.failure(.cancelled)) }
    }

    fileprivate func finished(_ ex: ClientExchange) { exchanges[ObjectIdentifier(ex)] = nil }

    private func later(_ completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void,
                       _ result: Result<HTTPClientResponse, HTTPClientError>) {
        Timer.defer_(on: loop) { completion(result) }
    }
}

/// One request: connect, write, parse, with one timer for the whole exchange.
private final class ClientExchange {
    unowned let client: HTTPClient
    let request: [UInt8]
    let parser: ResponseParser
    var completion: ((Result<HTTPClientResponse, HTTPClientError>) -> Void)?
    var conn: TCPConnection?
    var timer: Timer?

    init(client: HTTPClient, request: [UInt8], maxBody: Int, completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void) {
        self.client = client
        self.request = request
        self.parser = ResponseParser(maxBodyBytes: maxBody)
        self.completion = completion
    }

    func start(ip: String, port: Int, timeoutMs: UInt64) {
        let t = Timer(loop: client.loop)
        t.start(ms: timeoutMs) { [unowned self] in self.finish(.failure(.timedOut(timeoutMs))) }
        timer = t
        conn = TCPClient.connect(loop: client.loop, ip: ip, port: port) { [weak self] result in
            guard let self = self, self.completion != nil else { return }
            switch result {
            case .failure(let e): self.finish(.failure(.connectFailed(e.description)))
            case .success(let c): self.connected(c)
            }
        }
    }

    private func connected(_ c: TCPConnection) {
        c.onRead = { [unowned self] bytes in self.consume(self.parser.execute(bytes)) }
        c.onEnd = { [unowned self] err in
            if err == .eof { self.consume(self.parser.finish()) } else { self.finish(.failure(.connectFailed(err.description))) }
        }
        c.startReading()
        c.write(request)
    }

    private func consume(_ outcome: ResponseParser.Outcome) {
        switch outcome {
        case .incomplete: return
        case .complete: finish(.success(parser.response))
        case .failed(let why): finish(.failure(.malformedResponse(why)))
        }
    }

    /// Completes once; closes the connection (a close also cancels a connect still in progress).
    func finish(_ result: Result<HTTPClientResponse, HTTPClientError>) {
        guard let cb = completion else { return }
        completion = nil
        timer?.close()
        timer = nil
        if let c = conn {
            c.onRead = nil; c.onEnd = nil
            c.close()
        }
        conn = nil
        client.finished(self)
        cb(result)
    }
}
