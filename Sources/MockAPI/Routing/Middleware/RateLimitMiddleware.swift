import HTTP

/// The documented limits (rest-api-conventions, "Rate limits"), per minute.
public struct RateLimits {
    public var enabled = true
    /// General API, per workspace of the calling key.
    public var general = 300
    /// Routes that mint or exchange credentials (`RateScope.auth`), per credential (per address without one).
    public var auth = 20
    /// Requests without a credential, per client address.
    public var unauthenticated = 60

    public init() {}
}

/// Fixed one-minute windows aligned to the server clock's minutes (`app.now`), so `/_mock/clock` advancing a
/// minute opens a fresh window. Counters live in memory: a window lasts a minute, a restart may forget one.
/// Headers are added in `after`, which runs after idempotency's, so stored replays never carry stale counters.
/// It runs before faults and auth, so every request is counted and every answer (401, 403, injected faults
/// included) carries the counters; it resolves the caller itself (the auth cache makes that a lookup), and a
/// missing or invalid key counts as unauthenticated, per client address.
final class RateLimitMiddleware: Middleware {
    unowned(unsafe) let app: App  // the App owns its middleware (`app.middlewares`)
    static let windowSeconds = 60.0
    /// Above this many buckets, windows that have ended are dropped when a new bucket opens.
    static let pruneThreshold = 1024

    struct Window {
        var start: Double
        var count: Int
    }

    /// What this request was counted against; read by `after`.
    struct Decision {
        let limit: Int
        let remaining: Int
        let reset: Double
    }

    private var windows: [String: Window] = [:]

    init(app: App) {
        self.app = app
        app.register(self)
        app.resetHooks.append { [unowned self] in self.windows.removeAll() }
    }

    /// The bucket and limit for this request, or nil when it is not limited.
    func bucket(_ ctx: RequestContext) -> (String, Int)? {
        let cfg = app.config.rateLimits
        guard cfg.enabled, let route = ctx.route else { return nil }
        let address = ctx.request.remoteAddress
        if case .exempt = route.options.rate { return nil }
        let caller = ctx.principal ?? ctx.header("Authorization").flatMap { try? tenancy.authenticate(authorization: $0) }
        switch route.options.rate {
        case .exempt:
            return nil
        case .auth:
            if let p = caller { return ("auth|key|" + p.keyID, cfg.auth) }
            return ("auth|ip|" + address, cfg.auth)
        case .general, .unauthenticated:
            // A public route called with a valid key counts against the caller's workspace, like any other call.
            if let p = caller { return ("general|" + p.workspaceID, cfg.general) }
            return ("public|" + address, cfg.unauthenticated)
        }
    }

    private var tenancy: Tenancy { app.service(Tenancy.self)! }

    func before(_ ctx: RequestContext) throws -> Verdict {
        guard let (key, limit) = bucket(ctx) else { return .proceed }
        let now = app.now
        let start = (now / RateLimitMiddleware.windowSeconds).rounded(.down) * RateLimitMiddleware.windowSeconds
        let reset = start + RateLimitMiddleware.windowSeconds
        var w = windows[key] ?? Window(start: start, count: 0)
        if w.start != start {
            w = Window(start: start, count: 0)
            if windows.count > RateLimitMiddleware.pruneThreshold { windows = windows.filter { $0.value.start >= start } }
        }
        guard w.count < limit else {
            ctx.rateDecision = Decision(limit: limit, remaining: 0, reset: reset)
            let wait = max(1, Int((reset - now).rounded(.up)))
            var e = APIError(429, "rate_limited", "Rate limit of \(limit) requests per minute exceeded; retry in \(wait) s.")
            e.headers.append(("Retry-After", String(wait)))
            // Python reads error.retry_after(_ms), Go the top-level retry_after (platform-contract A10);
            // the renderer puts `extra` in both places.
            e.extra["retry_after"] = .int(wait)
            e.extra["retry_after_ms"] = .int(wait * 1000)
            throw e
        }
        w.count += 1
        windows[key] = w
        ctx.rateDecision = Decision(limit: limit, remaining: limit - w.count, reset: reset)
        return .proceed
    }

    func after(_ ctx: RequestContext, _ response: inout HTTPResponse) {
        guard let d = ctx.rateDecision else { return }
        response.headers.set("X-RateLimit-Limit", String(d.limit))
        response.headers.set("X-RateLimit-Remaining", String(d.remaining))
        response.headers.set("X-RateLimit-Reset", String(Int(d.reset)))
    }
}
