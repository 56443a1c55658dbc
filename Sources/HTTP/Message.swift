#if canImport(Glibc)
import Glibc
#endif

/// Header fields in arrival order; lookups ignore case (RFC 9110 §5.1).
public struct HTTPHeaders: Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }
    /// Empty, with room for `capacity` fields (a response gains a few as it goes through the middleware).
    public init(capacity: Int) { fields.reserveCapacity(capacity) }
    public init(_ name: String, _ value: String, capacity: Int) {
        fields.reserveCapacity(capacity)
        fields.append((name: name, value: value))
    }

    public subscript(name: String) -> String? {
        // Lengths first (O(1), rejects most fields), then the exact spelling (what clients send: one word
        // compare for a short name), then the case-insensitive comparison.
        let n = name.utf8.count
        for f in fields where f.name.utf8.count == n && (f.name == name || HTTPHeaders.sameName(f.name, name)) { return f.value }
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

    /// Whether the target starts with `prefix` (compared as bytes). For a prefix without `?`, the same as
    /// `path.hasPrefix(prefix)`, without Substring's generic element-by-element walk.
    public func targetHasPrefix(_ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        let r: Bool? = target.utf8.withContiguousStorageIfAvailable { b in
            b.count >= n && memcmp(b.baseAddress!, prefix.utf8Start, n) == 0
        }
        if let r = r { return r }
        return target.utf8.starts(with: UnsafeBufferPointer(start: prefix.utf8Start, count: n))
    }

    /// The first `?` as a byte search over contiguous UTF-8 (the generic UTF8View walk cost ~35
    /// instructions a byte; targets from the parser are always contiguous).
    static func questionMark(in target: String) -> String.Index? {
        var t = target  // withUTF8 needs a var; a native string is not copied
        let offset: Int? = t.withUTF8 { bytes in
            guard let base = bytes.baseAddress, let q = memchr(base, 0x3f, bytes.count) else { return nil }
            return UnsafeRawPointer(q) - UnsafeRawPointer(base)
        }
        return offset.map { t.utf8.index(t.utf8.startIndex, offsetBy: $0) }
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
    /// Head, then `body` if given, in one exactly sized array: the length is added up first and every piece
    /// is copied once (appending piece by piece cost ~90 instructions an append, twenty a response).
    static func render(_ r: HTTPResponse, bodyLength: Int?, close: Bool, date: String, body: [UInt8]?) -> [UInt8] {
        let total = length(r, bodyLength: bodyLength, close: close, date: date) + (body?.count ?? 0)
        return [UInt8](unsafeUninitializedCapacity: total) { buf, count in
            count = write(r, bodyLength: bodyLength, close: close, date: date, body: body, to: buf.baseAddress!)
            precondition(count == total, "response head length")
        }
    }

    /// The size of the head `write` produces.
    static func length(_ r: HTTPResponse, bodyLength: Int?, close: Bool, date: String) -> Int {
        let reason = HTTPResponse.reason(r.status)
        let noLength = r.status == 204 || r.status == 304 || (100..<200).contains(r.status)
        var n = 9 + decimalLength(r.status) + 1 + reason.utf8.count + 2
        for f in r.headers.fields where !isFraming(f.name) { n += f.name.utf8.count + 2 + f.value.utf8.count + 2 }
        n += 6 + date.utf8.count + 2
        if let len = bodyLength {
            if !noLength { n += 16 + decimalLength(len) + 2 }
        } else {
            n += 28
        }
        if close { n += 19 }
        n += 2
        return n
    }

    /// Writes the head, then `body` if given, at `start` (room for `length(...) + body.count` bytes); returns
    /// the bytes written.
    static func write(_ r: HTTPResponse, bodyLength: Int?, close: Bool, date: String, body: [UInt8]?,
                      to start: UnsafeMutablePointer<UInt8>) -> Int {
        let reason = HTTPResponse.reason(r.status)
        let noLength = r.status == 204 || r.status == 304 || (100..<200).contains(r.status)
        var p = start
        func put(_ s: StaticString) {
            memcpy(p, s.utf8Start, s.utf8CodeUnitCount)
            p += s.utf8CodeUnitCount
        }
        func put(_ s: String) {
            var s = s
            s.withUTF8 { b in
                if let base = b.baseAddress { memcpy(p, base, b.count) }
                p += b.count
            }
        }
        func putDecimal(_ v: Int) {
            let len = decimalLength(v)
            var m = v.magnitude
            if v < 0 { p[0] = 0x2d }
            var i = len
            repeat {
                i -= 1
                p[i] = UInt8(truncatingIfNeeded: m % 10) + 0x30
                m /= 10
            } while m > 0
            p += len
        }
        put("HTTP/1.1 ")
        putDecimal(r.status)
        p[0] = 0x20; p += 1
        put(reason)
        put("\r\n")
        for f in r.headers.fields where !isFraming(f.name) {
            put(f.name)
            put(": ")
            put(f.value)
            put("\r\n")
        }
        put("Date: ")
        put(date)
        put("\r\n")
        if let len = bodyLength {
            if !noLength {
                put("Content-Length: ")
                putDecimal(len)
                put("\r\n")
            }
        } else {
            put("Transfer-Encoding: chunked\r\n")
        }
        if close { put("Connection: close\r\n") }
        put("\r\n")
        if let b = body {
            b.withUnsafeBufferPointer { bb in
                if let base = bb.baseAddress { memcpy(p, base, bb.count) }
                p += bb.count
            }
        }
        return p - start
    }

    /// Digits (and sign) of `v` in decimal.
    static func decimalLength(_ v: Int) -> Int {
        var m = v.magnitude
        var n = v < 0 ? 1 : 0
        repeat { n += 1; m /= 10 } while m > 0
        return n
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
