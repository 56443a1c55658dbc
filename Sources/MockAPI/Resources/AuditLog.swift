import Store

/// `GET /audit-log` (platform-contract B5): newest first, filtered, paged by cursor (`after`/`cursor` + `limit`,
/// Python and the seed) or by page (`page` + `per_page`/`page_size`, Go). `next_cursor` is the last item's id,
/// null at the end, so a Python caller (who only gets the list) can page with `after=<last id>`.
enum AuditLogAPI: ResourceGroup {
    static var migrations: [Migration] { AuditLogWriter.migrations }
    static let defaultLimit = 100

    static func register(_ app: App) {
        let writer = AuditLogWriter(app: app)
        app.register(writer)
        app.shutdownHooks.append { writer.close() }
        let api = APIRoutes(app.router)
        api.get("/audit-log", scope: "audit_log:read", summary: "Audit log (cursor or page)", tag: "audit") { try list($0) }
    }

    static let select = """
        SELECT id, tenant_id, workspace_id, actor_id, actor_type, action, resource_type, resource_id, metadata, ip_address,
               created_at FROM audit_log
        """

    static func json(_ s: Statement) -> JSON {
        let action = s.text(5), resource = s.text(6), at = s.text(10)
        return .object([
            "id": .string(s.text(0)), "object": .string("audit_log_entry"), "tenant_id": .string(s.text(1)),
            "workspace_id": .str(s.optionalText(2)), "actor_id": .str(s.optionalText(3)), "actor_type": .string(s.text(4)),
            "action": .string(action), "type": .string(action), "resource": .string(resource), "resource_type": .string(resource),
            "resource_id": .string(s.text(7)), "metadata": (try? JSON.parse(s.text(8))) ?? .object(JSONObject()),
            "ip_address": .str(s.optionalText(9)), "created_at": .string(at), "inserted_at": .string(at),
        ])
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let q = ctx.query
        var page = try Page(query: q)
        if q["page_size"] == nil && q["per_page"] == nil && q["limit"] == nil {
            // The Python SDK documents 100 as this endpoint's default page (audit_log.list); other lists use 20.
            let offset = q["offset"].flatMap { Int($0) }
            page = Page(page: offset.map { $0 / defaultLimit + 1 } ?? page.page, pageSize: defaultLimit, offset: offset)
        }
        var whereSQL = "tenant_id = ?"
        var args: [SQLValue] = [.text(c.tenantID)]

        // `type`/`action`: comma-separated names, each exact or a prefix glob (`sandbox.*`).
        let actions = q.all("type") + q.all("action")
        if !actions.isEmpty {
            var any: [String] = []
            for a in actions.prefix(32) {
                if a.hasSuffix(".*") {
                    let prefix = String(a.dropLast())
                    any.append("substr(action, 1, ?) = ?"); args += [.of(prefix.utf8.count), .text(prefix)]
                } else if a == "*" {
                    any.append("1")
                } else {
                    any.append("action = ?"); args.append(.text(a))
                }
            }
            whereSQL += " AND (" + any.joined(separator: " OR ") + ")"
        }
        for (names, column) in [(["actor_id"], "actor_id"), (["actor_type"], "actor_type"), (["resource_type", "resource"], "resource_type"),
                                (["resource_id"], "resource_id"), (["workspace_id"], "workspace_id")] {
            if let v = names.lazy.compactMap({ q[$0] }).first { whereSQL += " AND \(column) = ?"; args.append(.text(v)) }
        }
        for (name, op) in [("since", ">="), ("until", "<=")] {
            guard let raw = q[name] else { continue }
            guard let t = Time.parse(raw) else {
                throw APIError.badRequest("\(name) must be an ISO 8601 timestamp such as 2026-05-17T10:00:00Z.", code: "invalid_query",
                                          details: .object([name: .string("must be an ISO 8601 timestamp")]))
            }
            whereSQL += " AND created_epoch \(op) ?"; args.append(.double(t))
        }

        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM audit_log WHERE " + whereSQL, args) ?? 0
        var pageSQL = whereSQL
        var pageArgs = args
        var offset = page.offset
        if let after = q["after"] ?? q["cursor"] {
            guard let seq = try db.scalarInt("SELECT seq FROM audit_log WHERE id = ? AND tenant_id = ?", [.text(after), .text(c.tenantID)]) else {
                throw APIError.badRequest("after names no audit log entry (use the next_cursor of the previous page).",
                                          code: "invalid_cursor", details: .object(["after": .string("unknown cursor")]))
            }
            pageSQL += " AND seq < ?"; pageArgs.append(.of(seq))
            offset = 0
        }
        var items: [JSON] = []
        var lastID: String?
        var more = false
        try db.forEach(select + " WHERE " + pageSQL + " ORDER BY seq DESC LIMIT ? OFFSET ?",
                       pageArgs + [.of(page.pageSize + 1), .of(offset)]) { s in
            if items.count == page.pageSize { more = true; return false }
            items.append(json(s))
            lastID = s.text(0)
            return true
        }
        return .json(200, Envelope.list(items, page: page, total: total, cursor: Envelope.CursorInfo(next: more ? lastID : nil)))
    }
}
