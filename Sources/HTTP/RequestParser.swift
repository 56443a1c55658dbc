import CHTTPParser

/// Feeds bytes to Node's http_parser and produces complete `HTTPRequest`s.
/// One instance per connection; `http_parser.data` points at it while `execute` runs.
final class RequestParser {
    enum Failure: Equatable {
        case malformed(String)
        case headersTooLarge
        case bodyTooLarge
    }

    enum Outcome {
        case ok
        case failed(Failure)
    }

    private let parser: UnsafeMutablePointer<http_parser>
    private var url: [UInt8] = []
    private var collector = HeaderCollector()
    private var body: [UInt8] = []
    private var bodyLimit = Int.max
    private var discarded = 0
    private(set) var tooLarge = false
    private var failure: Failure?
    private(set) var inMessage = false
    private var method = "GET"

    /// Asked at headers-complete: the body limit for this method and path.
    var bodyLimitFor: (String, Substring) -> Int = { _, _ in Int.max }
    var onMessageBegin: (() -> Void)?
    /// Headers are in; returns false to reject the request at once (e.g. Expect with a too-large body).
    var onHeaders: ((HTTPRequest, _ contentLength: UInt64?, _ tooLarge: Bool) -> Bool)?
    var onBody: (() -> Void)?
    var onRequest: ((HTTPRequest, _ tooLarge: Bool) -> Void)?

    private var current: HTTPRequest?

    init() {
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
    }

    deinit { parser.deallocate() }

    func execute(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        guard failure == nil else { return .failed(failure!) }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let n = http_parser_execute(parser, RequestParser.settings,
                                    bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        collector.endOfInput()
        let errno = chp_errno(parser)
        if errno != HPE_OK.rawValue || n != bytes.count {
            if failure == nil {
                if errno == HPE_HEADER_OVERFLOW.rawValue {
                    failure = .headersTooLarge
                } else {
                    let name = String(cString: http_errno_description(http_errno(rawValue: errno)))
                    failure = .malformed(name)
                }
            }
            return .failed(failure!)
        }
        return .ok
    }

    /// Tells the parser the peer closed: a message cut short is an error.
    func finish() -> Outcome {
        _ = http_parser_execute(parser, RequestParser.settings, nil, 0)
        return .ok
    }

    private static func me(_ p: UnsafeMutablePointer<http_parser>?) -> RequestParser {
        Unmanaged<RequestParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    /// http_parser's method names by number, made once (not a strlen and a new String per request).
    private static let methodNames: [String] = (0..<34).map { String(cString: http_method_str(http_method(rawValue: UInt32($0)))) }

    static func methodName(_ m: UInt32) -> String {
        let names = methodNames
        return Int(m) < names.count ? names[Int(m)] : String(cString: http_method_str(http_method(rawValue: m)))
    }

    private static let settings: UnsafeMutablePointer<http_parser_settings> = {
        let s = UnsafeMutablePointer<http_parser_settings>.allocate(capacity: 1)
        s.initialize(to: http_parser_settings())
        s.pointee.on_message_begin = { p in
            let me = RequestParser.me(p)
            me.url.removeAll(keepingCapacity: true)
            me.collector.reset()
            me.body = []
            me.tooLarge = false
            me.discarded = 0
            me.inMessage = true
            me.onMessageBegin?()
            return 0
        }
        s.pointee.on_url = { p, at, len in
            let me = RequestParser.me(p)
            me.url.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            if me.url.count > 16 * 1024 { me.failure = .headersTooLarge; return -1 }
            return 0
        }
        s.pointee.on_header_field = { p, at, len in
            RequestParser.me(p).collector.field(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.pointee.on_header_value = { p, at, len in
            RequestParser.me(p).collector.value(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.pointee.on_headers_complete = { p in
            let me = RequestParser.me(p)
            let headers = me.collector.finish()
            let method = RequestParser.methodName(chp_method(p!))
            me.method = method
            let target = String(decoding: me.url, as: UTF8.self)
            let req = HTTPRequest(method: method, target: target, headers: headers,
                                  versionMajor: Int(p!.pointee.http_major), versionMinor: Int(p!.pointee.http_minor))
            me.current = req
            let chunked = (chp_flags(p!) & F_CHUNKED.rawValue) != 0
            let cl: UInt64? = chunked || p!.pointee.content_length == UInt64.max ? nil : p!.pointee.content_length
            // A request with neither a chunked body nor a Content-Length above 0 has no body (RFC 9112 §6.3),
            // so the limit is not asked for (it is per route and costs a path search).
            me.bodyLimit = chunked || (cl ?? 0) > 0 ? me.bodyLimitFor(method, req.path) : Int.max
            if let cl = cl, cl > UInt64(me.bodyLimit) { me.tooLarge = true }
            if let cb = me.onHeaders, !cb(req, cl, me.tooLarge) {
                me.failure = .bodyTooLarge
                return -1
            }
            return 0
        }
        s.pointee.on_body = { p, at, len in
            let me = RequestParser.me(p)
            if me.tooLarge || me.body.count + len > me.bodyLimit {
                me.tooLarge = true
                me.discarded += len
                me.body = []
                // Reading the rest lets the client see the 413; past 4x the limit, stop and close instead.
                if me.discarded > max(me.bodyLimit, 1 << 20) * 4 { me.failure = .bodyTooLarge; return -1 }
            } else {
                me.body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            }
            me.onBody?()
            return 0
        }
        s.pointee.on_message_complete = { p in
            let me = RequestParser.me(p)
            me.inMessage = false
            guard let req = me.current else { return 0 }
            me.current = nil
            req.body = me.body
            me.body = []
            req.keepAlive = http_should_keep_alive(p) != 0
            if chp_upgrade(p!) != 0 { req.keepAlive = false }
            me.onRequest?(req, me.tooLarge)
            return 0
        }
        return s
    }()
}
