import Store

/// `GET /_mock/webhooks/deliveries`: every delivery attempt across tenants, newest first, with the exact request
/// that was sent (URL, headers, body, and the signed bytes as `raw_body`). A frontend sees what its backend would
/// have received even when nothing listens. Query: `limit` (1...1000, default 100), `tenant_id`, `webhook_id`,
/// `event_type`, `delivery_id`, `success`.
enum WebhooksControl {
    static let maxLimit = 1_000

    static func register(_ app: App) {
        guard app.config.controlAPI else { return }
        app.router.add("GET", "/_mock/webhooks/deliveries",
                       RouteOptions(auth: .control, summary: "Every webhook delivery attempt, newest first", tag: "mock")) { try list($0) }
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let q = ctx.query
        var limit = 100
        if let raw = q["limit"] {
            guard let n = Int(raw), (1...maxLimit).contains(n) else {
                throw APIError.badRequest("limit must be an integer from 1 to \(maxLimit).", code: "invalid_query",
                                          details: .object(["limit": .string("must be 1...\(maxLimit)")]))
            }
            limit = n
        }
        var whereSQL: [String] = []
        var args: [SQLValue] = []
        for (param, column) in [("tenant_id", "a.tenant_id"), ("webhook_id", "a.webhook_id"), ("event_type", "a.event_type"),
                                ("delivery_id", "a.delivery_id")] {
            if let v = q[param] { whereSQL.append("\(column) = ?"); args.append(.text(v)) }
        }
        if q["success"] != nil {
            guard let b = q.bool("success") else {
                throw APIError.badRequest("success must be true or false.", code: "invalid_query",
                                          details: .object(["success": .string("must be true or false")]))
            }
            whereSQL.append("a.success = ?"); args.append(.of(b))
        }
        let clause = whereSQL.isEmpty ? "" : " WHERE " + whereSQL.joined(separator: " AND ")
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM webhook_attempts a" + clause, args) ?? 0
        let columns = WebhookDeliveryStore.Attempt.selectAliased(
            extra: "d.body FROM webhook_attempts a LEFT JOIN webhook_deliveries d ON d.id = a.delivery_id")
        var items: [JSON] = []
        try db.forEach(columns + clause + " ORDER BY a.seq DESC LIMIT ?", args + [.of(limit)]) { s in
            let a = WebhookDeliveryStore.Attempt(s)
            var o = a.json.object ?? JSONObject()
            o["tenant_id"] = .string(a.tenantID)
            let body = s.optionalText(16)
            o["request"] = .object([
                "method": .string("POST"), "url": .string(a.url),
                "headers": .object([
                    "Content-Type": .string("application/json"), "User-Agent": .string(WebhookDispatcher.userAgent),
                    "X-Miosa-Signature": .string(a.signature), "X-Miosa-Event": .string(a.eventType),
                    "X-Miosa-Delivery": .string(a.deliveryID), "X-Miosa-Attempt": .string(String(a.attempt)),
                ]),
                "body": body.flatMap { try? JSON.parse($0) } ?? .null,
                // The exact bytes that were signed: verify `X-Miosa-Signature` against this, not a re-encoding.
                "raw_body": .str(body),
            ])
            items.append(.object(o))
            return true
        }
        return .json(200, .object(["data": .array(items), "total": .int(total)]))
    }
}
