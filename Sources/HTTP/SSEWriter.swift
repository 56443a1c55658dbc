/// Server-sent events over an `HTTPStream`. Every frame ends with a blank line, including the last one:
/// the Python SDK's exec-stream parser drops a final frame without it (sandbox-contract §11.1).
public final class SSEWriter {
    public let stream: HTTPStream

    public init(stream: HTTPStream) { self.stream = stream }

    /// `data` should be one line (single-line JSON); CR, LF and CRLF split it into several `data:` lines,
    /// which every parser joins back with `\n`. Line breaks in `id` and `event` would end the field early
    /// and are dropped.
    public static func frame(id: String? = nil, event: String? = nil, data: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.utf8.count + 48)
        if let id = id { field("id", id, into: &out) }
        if let e = event { field("event", e, into: &out) }
        out.append(contentsOf: "data: ".utf8)
        var lastWasCR = false
        for b in data.utf8 {
            if b == 10 && lastWasCR { lastWasCR = false; continue }  // the LF of a CRLF
            lastWasCR = b == 13
            if b == 10 || b == 13 {
                out.append(10)
                out.append(contentsOf: "data: ".utf8)
            } else {
                out.append(b)
            }
        }
        out.append(10)
        out.append(10)
        return out
    }

    private static func field(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: ": ".utf8)
        for b in value.utf8 where b != 10 && b != 13 { out.append(b) }
        out.append(10)
    }

    /// A comment frame (`: text` and a blank line), ignored by every SSE parser.
    public static func commentFrame(_ text: String = "keepalive") -> [UInt8] {
        var out: [UInt8] = [0x3a, 0x20]
        for b in text.utf8 where b != 10 && b != 13 { out.append(b) }
        out.append(10)
        out.append(10)
        return out
    }

    @discardableResult
    public func send(id: String? = nil, event: String? = nil, data: String) -> Bool {
        stream.write(SSEWriter.frame(id: id, event: event, data: data))
    }

    /// A comment line (`: keepalive`), ignored by every SSE parser.
    @discardableResult
    public func comment(_ text: String = "keepalive") -> Bool {
        stream.write(SSEWriter.commentFrame(text))
    }

    public func end() { stream.end() }
    public var isOpen: Bool { stream.isOpen }

    /// Headers every SSE response carries.
    public static let headers: [(String, String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]
}
