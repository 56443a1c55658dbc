import EventLoop

public struct HTTPServerConfiguration {
    /// From the first byte of a request to the end of its headers.
    public var headerTimeoutMs: UInt64 = 10_000
    /// Longest pause while a request body is arriving.
    public var bodyTimeoutMs: UInt64 = 30_000
    /// A keep-alive connection with nothing in flight is closed after this long.
    public var idleTimeoutMs: UInt64 = 75_000
    /// Requests parsed but not yet answered on one connection before reading pauses.
    public var maxPipelined = 32
    /// Largest accepted body for a method and (percent-encoded) path.
    public var bodyLimit: (String, Substring) -> Int = { _, _ in 10 << 20 }
    /// Builds the error responses the HTTP layer sends on its own (400, 408, 413, 431).
    public var errorResponse: (_ status: Int, _ code: String, _ message: String) -> HTTPResponse = { status, _, message in
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: Array(message.utf8))
    }

    public init() {}
}

public typealias HTTPHandler = (HTTPRequest, HTTPResponder) -> Void

/// HTTP/1.1 server on one libuv loop: keep-alive, pipelining answered in order, chunked streams.
public final class HTTPServer {
    public let loop: Loop
    public var configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    private var listener: TCPListener?
    var connections: Set<ObjectIdentifier> = []
    private var connectionObjects: [ObjectIdentifier: HTTPConnection] = [:]
    let dateCache = DateCache()
    private(set) var draining = false
    private var drainCompletion: (() -> Void)?

    public init(loop: Loop, configuration: HTTPServerConfiguration = HTTPServerConfiguration(), handler: @escaping HTTPHandler) {
        self.loop = loop
        self.configuration = configuration
        self.handler = handler
    }

    public var connectionCount: Int { connectionObjects.count }

    // MARK: holding answers

    /// While corked, answers (and stream bytes) are held in their connections instead of written.
    public private(set) var corked = false
    private var held: [HTTPConnection] = []

    /// Holds every answer from now until `uncork`. The store's group commit corks when a loop turn's batch
    /// opens, so no client reads an answer whose changes are not saved yet.
    public func cork() { corked = true }

    /// Writes what was held. With `failure`, held answers not yet started are replaced by it first (the changes
    /// they reported were lost); streams already under way go on.
    public func uncork(replacingWith failure: HTTPResponse? = nil) {
        guard corked else { return }
        corked = false
        let waiting = held
        held = []
        for c in waiting {
            c.isHeld = false
            if let f = failure { c.replaceUnsent(with: f) }
            c.flush()
        }
    }

    fileprivate func hold(_ c: HTTPConnection) {
        guard !c.isHeld else { return }
        c.isHeld = true
        held.append(c)
    }

    @discardableResult
    public func listen(host: String, port: Int) throws -> Int {
        let l = TCPListener(loop: loop)
        do {
            let bound = try l.listen(host: host, port: port)
            l.onConnection = { [unowned self] tcp in self.accept(tcp) }
            listener = l
            return bound
        } catch {
            l.close()
            throw error
        }
    }

    private func accept(_ tcp: TCPConnection) {
        if draining { tcp.close(); return }
        let c = HTTPConnection(server: self, tcp: tcp)
        connectionObjects[ObjectIdentifier(c)] = c
        c.start()
    }

    func connectionClosed(_ c: HTTPConnection) {
        connectionObjects[ObjectIdentifier(c)] = nil
        if draining && connectionObjects.isEmpty, let done = drainCompletion {
            drainCompletion = nil
            done()
        }
    }

    /// Stops accepting, closes idle connections, lets in-flight requests finish (streams are ended),
    /// then calls `completion`; after `graceMs` whatever is left is closed.
    public func shutdown(graceMs: UInt64 = 5_000, completion: @escaping () -> Void) {
        listener?.close()
        listener = nil
        draining = true
        drainCompletion = completion
        for c in Array(connectionObjects.values) { c.drain() }
        if connectionObjects.isEmpty {
            drainCompletion = nil
            completion()
            return
        }
        let t = Timer(loop: loop)
        t.start(ms: graceMs) { [weak self] in
            t.close()
            guard let self = self else { return }
            for c in Array(self.connectionObjects.values) { c.forceClose() }
        }
        t.unref()
    }
}

/// The handle a request handler answers through; exactly one `send` or `startStream` counts.
/// Holds its connection strongly (a handler may keep it past the connection's close; `closed()` then marks the
/// connection, and `send` sees `closing`): a weak reference cost a side-table allocation per request.
public final class HTTPResponder {
    fileprivate let connection: HTTPConnection
    fileprivate let exchange: Exchange
    public let isHead: Bool

    fileprivate init(connection: HTTPConnection, exchange: Exchange, isHead: Bool) {
        self.connection = connection
        self.exchange = exchange
        self.isHead = isHead
    }

    /// Called if the connection closes before the answer is sent. (Kept on the exchange, so the connection
    /// reaches it without holding the responder.)
    public var onCancel: (() -> Void)? {
        get { exchange.onCancel }
        set { exchange.onCancel = newValue }
    }

    public var answered: Bool { exchange.answered }

    public var isCancelled: Bool { connection.isClosed || exchange.cancelled }

    public func send(_ response: HTTPResponse) {
        let ex = exchange
        guard !ex.answered, !connection.isClosed else { return }
        ex.answered = true
        ex.onCancel = nil
        ex.response = response
        connection.flush()
    }

    /// Starts a chunked response; bytes written to the stream follow the head in order.
    public func startStream(_ head: HTTPResponse) -> HTTPStream {
        let stream = HTTPStream()
        let ex = exchange, c = connection
        guard !ex.answered, !c.isClosed else {
            stream.closed = true
            return stream
        }
        ex.answered = true
        ex.onCancel = nil
        ex.response = head
        ex.stream = stream
        stream.connection = c
        stream.exchange = ex
        c.flush()
        return stream
    }
}

/// A chunked response body written over time (SSE, streaming exec).
public final class HTTPStream {
    fileprivate weak var connection: HTTPConnection?
    fileprivate weak var exchange: Exchange?
    fileprivate var closed = false
    fileprivate var ended = false
    fileprivate var pending: [UInt8] = []
    /// The client went away or the server is shutting down; stop producing.
    public var onClose: (() -> Void)?
    /// Everything written so far has reached the kernel: a producer that paused on `bufferedBytes` resumes here.
    public var onDrain: (() -> Void)?

    public var isOpen: Bool { !closed && !ended }

    /// Bytes accepted but not yet written to the socket.
    public var bufferedBytes: Int { pending.count + (connection?.tcp.writeQueueSize ?? 0) }

    /// Returns false once the stream is closed.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard isOpen, !bytes.isEmpty else { return isOpen }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(bytes.count + 12)
        chunk.append(contentsOf: String(bytes.count, radix: 16).utf8)
        chunk.append(13); chunk.append(10)
        chunk.append(contentsOf: bytes)
        chunk.append(13); chunk.append(10)
        pending.append(contentsOf: chunk)
        connection?.flush()
        return true
    }

    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Sends the last chunk; the connection can then serve the next request.
    public func end() {
        guard isOpen else { return }
        ended = true
        pending.append(contentsOf: Array("0\r\n\r\n".utf8))
        connection?.flush()
    }

    /// Drops the connection (e.g. a subscriber too slow to keep up).
    public func abort() {
        guard isOpen else { return }
        connection?.forceClose()
    }

    fileprivate func takePending() -> [UInt8] {
        let p = pending
        pending = []
        return p
    }

    fileprivate func markClosed() {
        guard !closed else { return }
        closed = true
        let cb = onClose
        onClose = nil
        onDrain = nil
        cb?()
    }

    fileprivate func drained() {
        guard isOpen, pending.isEmpty else { return }
        onDrain?()
    }
}

final class Exchange {
    let request: HTTPRequest
    var response: HTTPResponse?
    var stream: HTTPStream?
    var headWritten = false
    var cancelled = false
    var closeAfter: Bool
    /// A responder has sent or started a stream (at most one answer counts).
    var answered = false
    var onCancel: (() -> Void)?

    init(request: HTTPRequest, closeAfter: Bool) {
        self.request = request
        self.closeAfter = closeAfter
    }
}

/// One client connection: parser, ordered exchanges, one timer for header/body/idle timeouts.
///
/// Lifetimes, which make the `unowned(unsafe)` references below sound (a checked `unowned` costs an atomic
/// retain/release per use, on every callback of every request): the server holds each connection strongly in
/// `connectionObjects` until the TCP handle's close callback (`closed()`), so a connection never outlives its
/// server. The parser, the TCP connection's callbacks and the timer belong to this connection, and all are
/// cleared or closed by `closed()`, so none calls back into a connection that is gone.
final class HTTPConnection {
    unowned(unsafe) let server: HTTPServer
    let tcp: TCPConnection
    private let parser = RequestParser()
    private var exchanges: [Exchange] = []
    private var timer: Timer?
    /// When the current timeout (header, body or idle) expires, in loop milliseconds; nil: none running.
    private var deadline: UInt64?
    /// When the libuv timer is set to fire, if it is running. It may fire before `deadline` (then it is set
    /// again for the rest): moving a deadline later costs no libuv call, and a request's three timeout
    /// changes (header, body, idle) usually cost none.
    private var timerDue: UInt64?
    /// Set while `read` runs: timeout changes are applied once, when it returns.
    private var inRead = false
    private var closing = false
    /// The TCP handle has closed; responders still held by handlers see this.
    private(set) var isClosed = false
    /// Where a response is assembled before it is written (the TCP layer copies whatever the kernel does not
    /// take at once, so it is free again right after `write`): no allocation per response.
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchCapacity = 0
    static let maxScratch = 16 * 1024
    private var peerEnded = false
    private var draining = false
    private let remote: String
    /// Waiting in the server's held list (corked) for a flush.
    var isHeld = false

    init(server: HTTPServer, tcp: TCPConnection) {
        self.server = server
        self.tcp = tcp
        self.remote = tcp.peerAddress
    }

    deinit { scratch?.deallocate() }

    /// Writes head and body in one piece, through `scratch` when it fits.
    private func writeResponse(_ r: HTTPResponse, close: Bool, body: [UInt8]?) {
        let date = server.dateCache.value
        let total = ResponseHead.length(r, bodyLength: r.body.count, close: close, date: date) + (body?.count ?? 0)
        guard total <= HTTPConnection.maxScratch else {
            tcp.write(ResponseHead.render(r, bodyLength: r.body.count, close: close, date: date, body: body))
            return
        }
        if scratchCapacity < total {
            scratch?.deallocate()
            scratchCapacity = max(total, 4096)
            scratch = .allocate(capacity: scratchCapacity)
        }
        let n = ResponseHead.write(r, bodyLength: r.body.count, close: close, date: date, body: body, to: scratch!)
        precondition(n == total, "response head length")
        tcp.write(UnsafeRawBufferPointer(start: scratch!, count: n))
    }

    func start() {
        let cfg = server.configuration
        parser.bodyLimitFor = cfg.bodyLimit
        // unowned(unsafe): see the type's comment (these closures belong to objects this connection owns).
        parser.onMessageBegin = { [unowned(unsafe) self] in self.arm(cfg.headerTimeoutMs) }
        parser.onHeaders = { [unowned(unsafe) self] req, _, tooLarge in self.headersArrived(req, tooLarge: tooLarge) }
        parser.onBody = { [unowned(unsafe) self] in self.arm(cfg.bodyTimeoutMs) }
        parser.onRequest = { [unowned(unsafe) self] req, tooLarge in self.requestArrived(req, tooLarge: tooLarge) }
        tcp.onRead = { [unowned(unsafe) self] bytes in self.read(bytes) }
        tcp.onEnd = { [unowned(unsafe) self] err in self.peerClosed(err) }
        tcp.onDrain = { [unowned(unsafe) self] in
            self.flush()
            self.exchanges.first?.stream?.drained()
        }
        tcp.onClose = { [unowned(unsafe) self] in self.closed() }
        tcp.startReading()
        arm(cfg.idleTimeoutMs)
    }

    /// Starts the header, body or idle timeout (replacing the one running).
    private func arm(_ ms: UInt64) {
        deadline = server.loop.nowMs + ms
        if !inRead { applyDeadline() }
    }

    /// Stops the timeout. The libuv timer may still fire; it then finds no deadline.
    private func disarm() { deadline = nil }

    /// Makes the libuv timer fire no later than `deadline`.
    private func applyDeadline() {
        guard let d = deadline, !closing else { return }
        if let due = timerDue, due <= d { return }
        if timer == nil { timer = Timer(loop: server.loop) }
        let now = server.loop.nowMs
        timer!.start(ms: d > now ? d - now : 0) { [unowned(unsafe) self] in self.timerFired() }
        timerDue = d
    }

    private func timerFired() {
        timerDue = nil
        guard let d = deadline else { return }
        if server.loop.nowMs < d { applyDeadline(); return }
        deadline = nil
        timedOut()
    }

    private func timedOut() {
        if parser.inMessage {
            if exchanges.isEmpty {
                let r = server.configuration.errorResponse(408, "request_timeout", "The request was not received in time.")
                writeResponse(r, close: true, body: r.body)
            }
            closeAfterWrites()
        } else if exchanges.isEmpty {
            closeAfterWrites()
        }
    }

    private func read(_ bytes: UnsafeRawBufferPointer) {
        guard !closing else { return }
        inRead = true
        let outcome = parser.execute(bytes)
        inRead = false
        applyDeadline()
        switch outcome {
        case .ok: break
        case .failed(let f):
            tcp.stopReading()
            let r: HTTPResponse
            switch f {
            case .headersTooLarge:
                r = server.configuration.errorResponse(431, "headers_too_large", "Request headers are too large.")
            case .bodyTooLarge:
                r = server.configuration.errorResponse(413, "payload_too_large", "The request body exceeds the size limit.")
            case .malformed(let why):
                r = server.configuration.errorResponse(400, "bad_request", "Malformed HTTP request: \(why).")
            }
            let ex = Exchange(request: HTTPRequest(method: "GET", target: "/"), closeAfter: true)
            ex.response = r
            exchanges.append(ex)
            flush()
            return
        }
        if exchanges.count >= server.configuration.maxPipelined { tcp.stopReading() }
    }

    private func headersArrived(_ req: HTTPRequest, tooLarge: Bool) -> Bool {
        arm(server.configuration.bodyTimeoutMs)
        if let expect = req.headers["Expect"], expect.lowercased() == "100-continue" {
            if tooLarge { return false }  // answered 413 without reading a body the client has not sent
            if exchanges.isEmpty { tcp.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        }
        return true
    }

    private func requestArrived(_ req: HTTPRequest, tooLarge: Bool) {
        req.remoteAddress = remote
        let ex = Exchange(request: req, closeAfter: !req.keepAlive || draining)
        exchanges.append(ex)
        disarm()
        if tooLarge {
            ex.closeAfter = true
            ex.response = server.configuration.errorResponse(413, "payload_too_large", "The request body exceeds the size limit.")
            flush()
            return
        }
        let responder = HTTPResponder(connection: self, exchange: ex, isHead: req.method == "HEAD")
        server.handler(req, responder)
    }

    private func peerClosed(_ err: UVError) {
        peerEnded = true
        _ = parser.finish()
        // A stream's reader is gone, or nothing is owed: close now. Otherwise answer what was asked, then close.
        if exchanges.isEmpty || exchanges.first?.stream != nil || err != .eof {
            forceClose()
        } else {
            flush()
        }
    }

    /// Writes every answer that is next in line.
    func flush() {
        guard !closing else { return }
        if server.corked { server.hold(self); return }
        while let ex = exchanges.first {
            guard let response = ex.response else { break }
            if !ex.headWritten {
                ex.headWritten = true
                if let _ = ex.stream {
                    tcp.write(ResponseHead.render(response, bodyLength: nil, close: ex.closeAfter, date: server.dateCache.value, body: nil))
                } else {
                    writeResponse(response, close: ex.closeAfter, body: ex.request.method == "HEAD" ? nil : response.body)
                }
            }
            if let stream = ex.stream {
                let bytes = stream.takePending()
                if !bytes.isEmpty && ex.request.method != "HEAD" { tcp.write(bytes) }
                if !stream.ended { return }
                stream.markClosed()
            }
            exchanges.removeFirst()
            if ex.closeAfter {
                closeAfterWrites()
                return
            }
        }
        if exchanges.isEmpty {
            if peerEnded || draining { closeAfterWrites(); return }
            if !parser.inMessage { arm(server.configuration.idleTimeoutMs) }
        }
        if !tcp.isReading && !closing && !peerEnded && exchanges.count < server.configuration.maxPipelined {
            tcp.startReading()
        }
    }

    /// Replaces every complete answer not yet written (uncork after a failed commit).
    func replaceUnsent(with r: HTTPResponse) {
        for ex in exchanges where !ex.headWritten && ex.stream == nil && ex.response != nil { ex.response = r }
    }

    /// Stop taking new requests; finish the ones in flight (streams end now).
    func drain() {
        draining = true
        if exchanges.isEmpty && !parser.inMessage { closeAfterWrites(); return }
        for ex in exchanges { ex.closeAfter = true; ex.stream?.end() }
    }

    private func closeAfterWrites() {
        guard !closing else { return }
        closing = true
        disarm()
        timer?.stop()
        timerDue = nil
        tcp.shutdownAndClose()
    }

    func forceClose() {
        closing = true
        tcp.close()
    }

    private func closed() {
        closing = true
        isClosed = true
        timer?.close()
        timer = nil
        timerDue = nil
        deadline = nil
        let pending = exchanges
        exchanges = []
        for ex in pending {
            ex.cancelled = true
            if !ex.answered {
                let cb = ex.onCancel
                ex.onCancel = nil
                cb?()
            }
            ex.stream?.markClosed()
        }
        parser.onMessageBegin = nil; parser.onHeaders = nil; parser.onBody = nil; parser.onRequest = nil
        server.connectionClosed(self)
    }
}
