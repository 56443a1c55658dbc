import EventLoop
import HTTP
import Store
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Runs one request through route matching, the middleware chain and the handler, and renders the reply.
final class Dispatcher {
    /// unowned(unsafe): MockServer owns both the App and this dispatcher, and the App outlives every request.
    unowned(unsafe) let app: App
    private var random = RandomPool()

    init(app: App) { self.app = app }

    private lazy var notFoundRoute = Route(method: "*", pattern: "*", options: RouteOptions(auth: .none, rate: .unauthenticated),
                                           handler: { ctx in throw APIError.routeNotFound(ctx.method, ctx.path) }, paramNames: [])

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let ctx = RequestContext(request: request, requestID: IDs.requestID(using: &random), app: app)
        switch app.router.find(method: request.method, path: request.path) {
        case .found(let route, let params):
            ctx.route = route
            ctx.routeParams = params
        case .methodNotAllowed(let allow):
            ctx.route = Route(method: "*", pattern: "*", options: RouteOptions(auth: .none, rate: .unauthenticated),
                              handler: { ctx in throw APIError.methodNotAllowed(ctx.method, allow: allow) }, paramNames: [])
        case .notFound:
            ctx.route = notFoundRoute
        }
        runChain(ctx, from: 0, responder)
    }

    private func runChain(_ ctx: RequestContext, from start: Int, _ responder: HTTPResponder) {
        let mws = app.middlewares
        var i = start
        while i < mws.count {
            do {
                switch try mws[i].before(ctx) {
                case .proceed:
                    i += 1
                case .answer(let reply):
                    finish(ctx, reply, ran: i + 1, responder)
                    return
                case .delay(let ms):
                    let next = i + 1
                    Timer.once(on: app.loop, after: ms) { [weak self] in
                        guard let self = self, !responder.isCancelled else { return }
                        self.runChain(ctx, from: next, responder)
                    }
                    return
                }
            } catch {
                finish(ctx, .error(Dispatcher.apiError(error, ctx)), ran: i + 1, responder)
                return
            }
        }
        let reply: Reply
        do {
            reply = try ctx.route!.handler(ctx)
        } catch {
            reply = .error(Dispatcher.apiError(error, ctx))
        }
        finish(ctx, reply, ran: mws.count, responder)
    }

    static func apiError(_ error: Error, _ ctx: RequestContext) -> APIError {
        if let e = error as? APIError { return e }
        ctx.logger.error("unhandled error \(error) for \(ctx.method) \(ctx.path) request_id=\(ctx.requestID)")
        return APIError.internalError("An internal error occurred (request \(ctx.requestID)).")
    }

    private func finish(_ ctx: RequestContext, _ reply: Reply, ran: Int, _ responder: HTTPResponder) {
        switch reply {
        case .async(let start):
            var done = false
            start { [weak self] r in
                guard let self = self, !done else { return }
                done = true
                self.finish(ctx, r, ran: ran, responder)
            }
        case .stream(let status, let headers, let start):
            var head = HTTPResponse(status: status)
            for (k, v) in headers { head.headers.add(k, v) }
            ctx.isStreamReply = true  // `after` sees only the head (idempotency stores no streams)
            decorate(ctx, &head, ran: ran)
            guard !responder.isCancelled else { return }
            let stream = responder.startStream(head)
            start(stream)
        default:
            var response = render(reply, ctx)
            decorate(ctx, &response, ran: ran)
            responder.send(response)
        }
    }

    private func decorate(_ ctx: RequestContext, _ response: inout HTTPResponse, ran: Int) {
        response.headers.add("X-Request-Id", ctx.requestID)
        for (k, v) in ctx.responseHeaders { response.headers.add(k, v) }
        let mws = app.middlewares
        var i = min(ran, mws.count) - 1
        while i >= 0 {
            mws[i].after(ctx, &response)
            i -= 1
        }
    }

    static let jsonContentType = "application/json"

    func render(_ reply: Reply, _ ctx: RequestContext) -> HTTPResponse {
        switch reply {
        case .json(let status, let body):
            return HTTPResponse(status: status, headers: HTTPHeaders("Content-Type", Dispatcher.jsonContentType, capacity: 6), body: body.encoded())
        case .jsonWithHeaders(let status, let body, let extra):
            var h = HTTPHeaders([("Content-Type", Dispatcher.jsonContentType)])
            for (k, v) in extra { h.add(k, v) }
            return HTTPResponse(status: status, headers: h, body: body.encoded())
        case .noContent:
            return HTTPResponse(status: 204)
        case .bytes(let status, let type, let bytes, let extra):
            var h = HTTPHeaders("Content-Type", type, capacity: 6 + extra.count)
            for (k, v) in extra { h.add(k, v) }
            return HTTPResponse(status: status, headers: h, body: bytes)
        case .error(let e):
            var r = ErrorRenderer.response(e, requestID: ctx.requestID)
            r.headers.remove("X-Request-Id")  // decorate adds it once
            if e.status >= 500 { ctx.logger.warning("\(ctx.method) \(ctx.path) -> \(e.status) \(e.code) request_id=\(ctx.requestID)") }
            return r
        case .response(let r):
            return r
        case .async, .stream:
            return ErrorRenderer.response(.internalError(), requestID: ctx.requestID)
        }
    }
}

/// Kernel randomness for request ids, fetched 1 KiB at a time: one getrandom(2) per ~40 requests instead
/// of three per request (SystemRandomNumberGenerator makes one system call per 8 bytes). The bytes are the
/// same CSPRNG output; only the batching differs. Owned by one dispatcher, used on the loop thread.
struct RandomPool: RandomNumberGenerator {
    private var words = [UInt64](repeating: 0, count: 128)
    private var used = 128

    mutating func next() -> UInt64 {
        if used == words.count {
            words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }  // glibc 2.36: getrandom(2)
            used = 0
        }
        defer { used += 1 }
        return words[used]
    }
}

/// Logs one line per request when it completes.
final class RequestLogMiddleware: Middleware {
    func after(_ ctx: RequestContext, _ response: inout HTTPResponse) {
        let logger = ctx.logger
        let level: Logger.Level = ctx.app.config.logRequests ? .info : .debug
        // Build the line only when it will be written (--quiet-requests at the default level writes nothing).
        guard logger.logLevel <= level else { return }
        let ms = ctx.app.loop.nowMs &- ctx.startedMs
        logger.log(level: level, "\(ctx.method) \(ctx.request.target) \(response.status) \(ms)ms request_id=\(ctx.requestID)")
    }
}
