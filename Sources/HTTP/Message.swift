#if canImport(Glibc)
import Glibc
#endif

/// Header fields in arrival order; lookups ignore case (RFC 9110 §5.1).
public struct HTTPHeaders: Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }

    public subscript(name: String) -> String? {
        for f in fields where HTTPHeaders.sameName(f.name, name) { return f.value }
        return nil
    }

    /// Header names are tokens (RFC 9110 §5.6.2: ASCII only; http_parser rejects any other byte in a name),
    /// so an ASCII case fold decides equality. Compares UTF-8 bytes in place: no lowercased copies.
    @inline(__always)
    public static func sameName(_ a: String, _ b: String) -> Bool {
        let ua = a.utf8, ub = b.utf8
        guard ua.count == ub.count else { return false }
        var ib = ub.makeIterator()
        for x in ua {
            let y = ib.next()!
            if x != y && (x | 0x20 != y | 0x20 || !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7a)) { return false }
        }
        return true
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field of that name.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { HTTPHeaders.sameName($0.name, name) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// A parsed request. The body is complete (chunked bodies are de-chunked by the parser).
public final class HTTPRequest {
    public var method: String
    /// The request target as sent, e.g. `/api/v1/sandboxes?state=running`.
    public var target: String { didSet { queryMark = HTTPRequest.questionMark(in: target) } }
    /// Where `?` is in `target`, found once: path and query are read by the router and several middlewares.
    private var queryMark: String.Index?
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var versionMajor: Int
    public var versionMinor: Int
    public var keepAlive: Bool
    public var remoteAddress: String

    public init(method: String, target: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
                versionMajor: Int = 1, versionMinor: Int = 1, keepAlive: Bool = true, remoteAddress: String = "") {
        self.method = method
        self.target = target
        self.queryMark = HTTPRequest.questionMark(in: target)
        self.headers = headers
        self.body = body
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.keepAlive = keepAlive
        self.remoteAddress = remoteAddress
    }

    /// The path part of the target, still percent-encoded.
    /// (Searched as UTF-8 bytes: `firstIndex(of: Character)` walks grapheme clusters and was 7 % of a GET.)
    public var path: Substring {
        if let q = queryMark { return target[..<q] }
        return target[...]
    }

    /// The query string without `?`, or nil.
    public var query: Substring? {
        guard let q = queryMark else { return nil }
        return target[target.utf8.index(after: q)...]
    }

    /// The first `?` as a byte search over contiguous UTF-8 (the generic UTF8View walk cost ~35
    /// instructions a byte; targets from the parser are always contiguous).
    static func questionMark(in target: String) -> String.Index? {
        let u = target.utf8
        let found: Int?? = u.withContiguousStorageIfAvailable { bytes -> Int? in
            for i in 0..<bytes.count where bytes[i] == 0x3f { return i }
            return nil
        }
        if let offset = found { return offset.map { u.index(u.startIndex, offsetBy: $0) } }
        return u.firstIndex(of: 0x3f)
    }
}

/// A complete response. `Content-Length` is added when it is serialised.
public struct HTTPResponse {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status \(status)"
        }
    }
}

/// Serialises status line and headers. `bodyLength` nil means chunked.
enum ResponseHead {
    /// Appends bytes straight into `out`: no interpolated or lowercased temporary strings per response.
    static func serialize(_ r: HTTPResponse, bodyLength: Int?, close: Bool, date: String, into out: inout [UInt8]) {
        append("HTTP/1.1 ", to: &out)
        appendDecimal(r.status, to: &out)
        out.append(0x20)
        out.append(contentsOf: HTTPResponse.reason(r.status).utf8)
        append("\r\n", to: &out)
        for f in r.headers.fields {
            if isFraming(f.name) { continue }
            out.append(contentsOf: f.name.utf8)
            append(": ", to: &out)
            out.append(contentsOf: f.value.utf8)
            append("\r\n", to: &out)
        }
        append("Date: ", to: &out)
        out.append(contentsOf: date.utf8)
        append("\r\n", to: &out)
        if let n = bodyLength {
            if !(r.status == 204 || r.status == 304 || (100..<200).contains(r.status)) {
                append("Content-Length: ", to: &out)
                appendDecimal(n, to: &out)
                append("\r\n", to: &out)
            }
        } else {
            append("Transfer-Encoding: chunked\r\n", to: &out)
        }
        if close { append("Connection: close\r\n", to: &out) }
        append("\r\n", to: &out)
    }

    /// Headers the server writes itself from the framing it chooses.
    @inline(__always)
    static func isFraming(_ name: String) -> Bool {
        switch name.utf8.first.map({ $0 | 0x20 }) {
        case 0x63: return HTTPHeaders.sameName(name, "Content-Length") || HTTPHeaders.sameName(name, "Connection")
        case 0x74: return HTTPHeaders.sameName(name, "Transfer-Encoding")
        default: return false
        }
    }

    @inline(__always)
    static func append(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    static func appendDecimal(_ n: Int, to out: inout [UInt8]) {
        if n < 0 { out.append(0x2d) }
        var v = n.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { p in
            var i = 20
            repeat {
                i -= 1
                p[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            } while v > 0
            out.append(contentsOf: p[i..<20])
        }
    }
}

/// RFC 9110 IMF-fixdate, recomputed at most once a second.
final class DateCache {
    private var second: time_t = 0
    private var cached = ""

    var value: String {
        let now = time(nil)
        if now != second {
            second = now
            var t = now
            var tmv = tm()
            gmtime_r(&t, &tmv)
            var buf = [CChar](repeating: 0, count: 64)
            _ = strftime(&buf, buf.count, "%a, %d %b %Y %H:%M:%S GMT", &tmv)
            cached = String(cString: buf)
        }
        return cached
    }
}
