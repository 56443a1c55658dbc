import EventLoop
import HTTP

/// One injected fault: requests matching `method` and `path_pattern` get `status` in the error envelope,
/// after `delay_ms` if set; a rule without a status only delays. `times` bounds how often it fires,
/// `probability` makes it fire on a share of the matching requests.
struct FaultRule {
    let id: String
    /// Upper-case method, or nil for any.
    let method: String?
    let glob: PathGlob
    let status: Int?
    let errorCode: String
    let message: String?
    let delayMs: UInt64
    let probability: Double
    let times: Int?
    /// Seconds for `Retry-After` and the body's retry hints, when set.
    let retryAfter: Double?
    let createdAt: String
    var remaining: Int?
    var hits = 0

    func matches(method m: String, path: Substring) -> Bool {
        if let want = method, want != m { return false }
        return glob.matchesAPIPath(path)
    }

    var exhausted: Bool { remaining == 0 }

    func error() -> APIError {
        var e = APIError(status ?? 500, errorCode, message ?? "Injected fault \(id) (\(status ?? 500)).")
        if let r = retryAfter {
            e.headers.append(("Retry-After", r == r.rounded() ? String(Int(r)) : String(r)))
            e.extra["retry_after"] = r == r.rounded() ? .int(Int(r)) : .double(r)
            e.extra["retry_after_ms"] = .int(Int(r * 1000))
        }
        return e
    }

    func json() -> JSON {
        .object([
            "id": .string(id), "method": .str(method), "path_pattern": .string(glob.pattern),
            "status": .num(status), "error_code": status == nil ? .null : .string(errorCode), "message": .str(message),
            "delay_ms": .int(Int64(delayMs)), "probability": .double(probability), "times": .num(times),
            "remaining": .num(remaining), "hits": .int(hits), "exhausted": .bool(exhausted),
            "retry_after": retryAfter.map { .double($0) } ?? .null, "created_at": .string(createdAt),
        ])
    }

    /// The code a status gets when the rule names none.
    static func defaultCode(_ status: Int) -> String {
        switch status {
        case 400: return "bad_request"
        case 401: return "unauthorized"
        case 403: return "forbidden"
        case 404: return "not_found"
        case 408: return "request_timeout"
        case 409: return "conflict"
        case 422: return "validation_error"
        case 429: return "rate_limited"
        case 500: return "internal_error"
        case 502: return "bad_gateway"
        case 503: return "service_unavailable"
        case 504: return "gateway_timeout"
        default: return "injected_fault"
        }
    }
}

/// Applies `/_mock/faults` rules. Runs before auth, so an injected error looks like one from a gateway:
/// nothing behind it runs (no rate count, no idempotency record, no handler). A delay-only rule is
/// carried to `FaultDelayStage`, which waits right before the handler, so a slow request is already
/// authenticated, counted and holding its idempotency key (what a slow upstream looks like).
/// Rules live in memory (reset and restart clear them); `/_mock/*` is never faulted.
final class FaultMiddleware: Middleware {
    unowned(unsafe) let app: App  // the App owns its middleware (`app.middlewares`)
    private(set) var rules: [FaultRule] = []
    static let maxRules = 1000

    init(app: App) {
        self.app = app
        app.register(self)
        app.resetHooks.append { [unowned self] in self.rules.removeAll() }
    }

    func add(_ rule: FaultRule) throws {
        rules.removeAll { $0.exhausted }
        guard rules.count < FaultMiddleware.maxRules else {
            throw APIError.conflict("At most \(FaultMiddleware.maxRules) fault rules; delete some first.", code: "too_many_faults")
        }
        rules.append(rule)
    }

    func remove(id: String) -> Bool {
        let before = rules.count
        rules.removeAll { $0.id == id }
        return rules.count != before
    }

    func removeAll() -> Int {
        defer { rules.removeAll() }
        return rules.count
    }

    func before(_ ctx: RequestContext) throws -> Verdict {
        guard !rules.isEmpty, !ctx.path.hasPrefix("/_mock/") else { return .proceed }
        for i in rules.indices where !rules[i].exhausted && rules[i].matches(method: ctx.method, path: ctx.path) {
            if rules[i].probability < 1 && Double.random(in: 0..<1) >= rules[i].probability { continue }
            if let r = rules[i].remaining { rules[i].remaining = r - 1 }
            rules[i].hits += 1
            let rule = rules[i]
            ctx.faultID = rule.id
            guard rule.status != nil else {
                ctx.faultDelayMs = rule.delayMs
                return .proceed
            }
            if rule.delayMs == 0 { return .answer(.error(rule.error())) }
            let loop = app.loop
            return .answer(.async { done in Timer.once(on: loop, after: rule.delayMs) { done(.error(rule.error())) } })
        }
        return .proceed
    }
}

/// The last middleware: runs the handler after a delay-only fault's `delay_ms`. It answers `.async` rather
/// than `Verdict.delay` so that the response (and every `after` hook, which releases the idempotency key)
/// still happens if the client goes away while it waits, as on a real server.
final class FaultDelayStage: Middleware {
    func before(_ ctx: RequestContext) throws -> Verdict {
        guard let ms = ctx.faultDelayMs, ms > 0, let route = ctx.route else { return .proceed }
        let loop = ctx.app.loop
        return .answer(.async { done in
            Timer.once(on: loop, after: ms) {
                do { done(try route.handler(ctx)) } catch { done(.error(Dispatcher.apiError(error, ctx))) }
            }
        })
    }
}
