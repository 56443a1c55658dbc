#if canImport(Glibc)
import Glibc
#endif

/// Header fields in arrival order; lookups ignore case (RFC 9110 §5.1).
public struct HTTPHeaders: Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }

    public subscript(name: String) -> String? {
        for f in fields where f.name.count == name.count && f.name.lowercased() == name.lowercased() { return f.value }
        return nil
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field of that name.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        let lower = name.lowercased()
        fields.removeAll { $0.name.lowercased() == lower }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// A parsed request. The body is complete (chunked bodies are de-chunked by the parser).
public final class HTTPRequest {
    public var method: String
    /// The request target as sent, e.g. `/api/v1/sandboxes?state=running`.
    public var target: String
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
        self.headers = headers
        self.body = body
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.keepAlive = keepAlive
        self.remoteAddress = remoteAddress
    }

    /// The path part of the target, still percent-encoded.
    public var path: Substring {
        if let q = target.firstIndex(of: "?") { return target[..<q] }
        return target[...]
    }

    /// The query string without `?`, or nil.
    public var query: Substring? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: q)...]
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
    static func serialize(_ r: HTTPResponse, bodyLength: Int?, close: Bool, date: String, into out: inout [UInt8]) {
        out.append(contentsOf: "HTTP/1.1 \(r.status) \(HTTPResponse.reason(r.status))\r\n".utf8)
        for f in r.headers.fields {
            let lower = f.name.lowercased()
            if lower == "content-length" || lower == "transfer-encoding" || lower == "connection" { continue }
            out.append(contentsOf: f.name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: f.value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date.utf8)
        out.append(contentsOf: "\r\n".utf8)
        if let n = bodyLength {
            if !(r.status == 204 || r.status == 304 || (100..<200).contains(r.status)) {
                out.append(contentsOf: "Content-Length: \(n)\r\n".utf8)
            }
        } else {
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if close { out.append(contentsOf: "Connection: close\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
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
