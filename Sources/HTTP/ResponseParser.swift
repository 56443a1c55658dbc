import CHTTPParser

/// Feeds bytes to http_parser in response mode and produces one `HTTPClientResponse`.
/// `http_parser.data` points at this instance only while `execute` runs (the same rule as `RequestParser`).
final class ResponseParser {
    enum Outcome: Equatable {
        /// More bytes are needed.
        case incomplete
        /// The response is complete (or cut at `maxBodyBytes`: `truncated` is set).
        case complete
        case failed(String)
    }

    private let parser: UnsafeMutablePointer<http_parser>
    private let maxBodyBytes: Int
    private var collector = HeaderCollector()
    private var failure: String?
    private var done = false
    private(set) var headersDone = false
    private(set) var response = HTTPClientResponse(status: 0, headers: HTTPHeaders(), body: [], truncated: false)

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_RESPONSE)
    }

    deinit { parser.deallocate() }

    func execute(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        run(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The peer closed: a body delimited by the end of the connection completes here; anything else is cut short.
    func finish() -> Outcome {
        if done { return .complete }
        let hadFailed = failure != nil
        let outcome = run(nil, 0)
        if outcome == .complete || hadFailed { return outcome }
        // http_parser reports a message cut short as HPE_INVALID_EOF_STATE; say what happened instead.
        return .failed(headersDone ? "connection closed mid-response" : "connection closed before a response")
    }

    private func run(_ at: UnsafePointer<CChar>?, _ count: Int) -> Outcome {
        if done { return .complete }
        if let f = failure { return .failed(f) }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let n = http_parser_execute(parser, ResponseParser.settings, at, count)
        collector.endOfInput()
        if done { return .complete }
        let errno = chp_errno(parser)
        if errno != HPE_OK.rawValue || n != count {
            if failure == nil {
                failure = errno == HPE_HEADER_OVERFLOW.rawValue ? "response headers too large"
                    : "malformed response: " + String(cString: http_errno_description(http_errno(rawValue: errno)))
            }
            return .failed(failure!)
        }
        return .incomplete
    }

    private static func me(_ p: UnsafeMutablePointer<http_parser>?) -> ResponseParser {
        Unmanaged<ResponseParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    private static let settings: UnsafeMutablePointer<http_parser_settings> = {
        let s = UnsafeMutablePointer<http_parser_settings>.allocate(capacity: 1)
        s.initialize(to: http_parser_settings())
        s.pointee.on_message_begin = { p in
            let me = ResponseParser.me(p)
            me.response = HTTPClientResponse(status: 0, headers: HTTPHeaders(), body: [], truncated: false)
            me.collector.reset()
            me.headersDone = false
            return 0
        }
        s.pointee.on_header_field = { p, at, len in
            ResponseParser.me(p).collector.field(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.pointee.on_header_value = { p, at, len in
            ResponseParser.me(p).collector.value(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.pointee.on_headers_complete = { p in
            let me = ResponseParser.me(p)
            me.response.headers = me.collector.finish()
            me.headersDone = true
            me.response.status = Int(p!.pointee.status_code)
            return 0
        }
        s.pointee.on_body = { p, at, len in
            let me = ResponseParser.me(p)
            let room = me.maxBodyBytes - me.response.body.count
            if len > room {
                // Keep what fits and stop: the status is known, the rest of a huge body is not worth reading.
                if room > 0 { me.response.body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: room)) }
                me.response.truncated = true
                me.done = true
                return -1
            }
            me.response.body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.pointee.on_message_complete = { p in
            let me = ResponseParser.me(p)
            // An interim 1xx (100 Continue) is followed by the real response on the same stream.
            if (100..<200).contains(me.response.status) && me.response.status != 101 { return 0 }
            me.done = true
            return 0
        }
        return s
    }()
}
