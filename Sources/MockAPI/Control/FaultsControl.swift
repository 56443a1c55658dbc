/// `/_mock/faults`: add (`POST`), list (`GET`), delete one (`DELETE /_mock/faults/{id}`) or all (`DELETE`).
/// Example: `{"method": "POST", "path_pattern": "/sandboxes", "status": 503, "times": 2}` makes the next two
/// sandbox creates fail with 503. Patterns are globs (`*` inside a segment, `**` across segments) over the
/// request path, tried both as given and relative to `/api/v1`.
enum FaultsControl: ResourceGroup {
    static let maxDelayMs = 600_000

    static func register(_ app: App) {
        guard app.config.controlAPI else { return }
        let opts = { (s: String) in RouteOptions(auth: .control, summary: s, tag: "mock") }
        app.router.add("POST", "/_mock/faults", opts("Add a fault rule")) { ctx in
            let rule = try parse(ctx)
            try faults(ctx).add(rule)
            ctx.app.logger.info("fault \(rule.id): \(rule.method ?? "*") \(rule.glob.pattern) -> \(rule.status.map(String.init) ?? "delay \(rule.delayMs) ms")")
            return .created(rule.json())
        }
        app.router.add("GET", "/_mock/faults", opts("List fault rules")) { ctx in
            .json(200, .object(["data": .array(try faults(ctx).rules.map { $0.json() })]))
        }
        app.router.add("DELETE", "/_mock/faults", opts("Delete every fault rule")) { ctx in
            .ok(.object(["deleted": .int(try faults(ctx).removeAll())]))
        }
        app.router.add("DELETE", "/_mock/faults/{id}", opts("Delete a fault rule")) { ctx in
            guard try faults(ctx).remove(id: ctx.param("id")) else { throw APIError.notFound("fault", ctx.param("id")) }
            return .noContent
        }
    }

    static func faults(_ ctx: RequestContext) throws -> FaultMiddleware {
        guard let f = ctx.app.service(FaultMiddleware.self) else { throw APIError.internalError("fault injection is not wired") }
        return f
    }

    static func parse(_ ctx: RequestContext) throws -> FaultRule {
        var f = try ctx.fields()
        var method = f.string("method", maxLength: 16)?.uppercased()
        if method == "*" || method == "ANY" { method = nil }
        if let m = method, !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(m) {
            f.fail("method", "must be an HTTP method or *")
        }
        let pattern = f.string("path_pattern", required: true, maxLength: 1024, allowEmpty: false)
        if let p = pattern, !p.hasPrefix("/") { f.fail("path_pattern", "must start with /") }
        let status = f.int("status", min: 400, max: 599)
        let code = f.string("error_code", maxLength: 128, allowEmpty: false)
        let message = f.string("message", maxLength: 1024)
        let delay = f.int("delay_ms", min: 0, max: maxDelayMs) ?? 0
        let times = f.int("times", min: 1, max: 1_000_000)
        var probability = 1.0
        if let raw = f.raw("probability") {
            if let p = raw.double, p > 0, p <= 1 { probability = p } else { f.fail("probability", "must be a number in (0, 1]") }
        }
        var retryAfter: Double?
        if let raw = f.raw("retry_after") {
            if let r = raw.double, r >= 0, r <= 3600 { retryAfter = r } else { f.fail("retry_after", "must be a number of seconds from 0 to 3600") }
        }
        if status == nil && delay == 0 && f.problems.isEmpty {
            f.fail("status", "give a status (400-599), a delay_ms, or both")
        }
        try f.finish()
        return FaultRule(id: IDs.uuid(), method: method, glob: PathGlob(pattern!), status: status,
                         errorCode: code ?? FaultRule.defaultCode(status ?? 500), message: message, delayMs: UInt64(delay),
                         probability: probability, times: times, retryAfter: retryAfter, createdAt: ctx.app.nowISO, remaining: times)
    }
}
