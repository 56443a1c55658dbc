/// Server-sent events over an `HTTPStream`. Every frame ends with a blank line, including the last one:
/// the Python SDK's exec-stream parser drops a final frame without it (sandbox-contract §11.1).
public final class SSEWriter {
    public let stream: HTTPStream

    public init(stream: HTTPStream) { self.stream = stream }

    /// `data` must be one line (single-line JSON); newlines are split into several `data:` lines.
    public static func frame(id: String? = nil, event: String? = nil, data: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.utf8.count + 48)
        if let id = id { out.append(contentsOf: "id: \(id)\n".utf8) }
        if let e = event { out.append(contentsOf: "event: \(e)\n".utf8) }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            out.append(contentsOf: "data: ".utf8)
            out.append(contentsOf: line.utf8)
            out.append(10)
        }
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
        stream.write(Array(": \(text)\n\n".utf8))
    }

    public func end() { stream.end() }
    public var isOpen: Bool { stream.isOpen }

    /// Headers every SSE response carries.
    public static let headers: [(String, String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]
}
