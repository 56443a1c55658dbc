import HTTP
import Store

/// `/webhooks` (platform-contract B2): CRUD, test, delivery log, event catalog and replay. Deliveries themselves
/// are `WebhookDispatcher`'s (an event-bus listener); this file only manages subscriptions.
enum WebhooksAPI: ResourceGroup {
    static var migrations: [Migration] {
        [Migration(400, "webhooks", """
            CREATE TABLE webhooks (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                workspace_id TEXT, url TEXT NOT NULL, events TEXT NOT NULL DEFAULT '[]', secret TEXT NOT NULL,
                active INTEGER NOT NULL DEFAULT 1, description TEXT, metadata TEXT NOT NULL DEFAULT '{}',
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE INDEX webhooks_tenant ON webhooks (tenant_id, active);
            """)] + WebhookDeliveryStore.migrations
    }
    static let maxPerTenant = 100

    static func register(_ app: App) {
        guard let bus = app.service(EventBus.self) else { preconditionFailure("WebhooksAPI registers after EventsAPI") }
        let dispatcher = WebhookDispatcher(app: app, bus: bus)
        app.register(dispatcher)
        app.resetHooks.append { dispatcher.reset() }
        app.shutdownHooks.append { dispatcher.close() }

        let api = APIRoutes(app.router)
        let tag = "webhooks", read = "webhooks:read", write = "webhooks:write"
        api.post("/webhooks", scope: write, summary: "Create a webhook", tag: tag) { try create($0) }
        api.get("/webhooks", scope: read, summary: "List webhooks", tag: tag) { try list($0) }
        api.get("/webhooks/events", scope: read, summary: "Webhook event catalog", tag: tag) { _ in .json(200, WebhookCatalog.document) }
        api.get("/webhooks/{id}", scope: read, summary: "Get a webhook", tag: tag) { ctx in
            .ok(try WebhookRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: try ctx.caller.tenantID).json())
        }
        api.patch("/webhooks/{id}", scope: write, summary: "Update a webhook", tag: tag) { try update($0) }
        api.delete("/webhooks/{id}", scope: write, summary: "Delete a webhook", tag: tag) { try delete($0) }
        api.post("/webhooks/{id}/test", scope: write, summary: "Send a test delivery now", tag: tag) { try test($0) }
        api.get("/webhooks/{id}/deliveries", scope: read, summary: "Delivery attempts", tag: tag) { try deliveries($0) }
        api.post("/webhooks/{id}/deliveries/{delivery_id}/replay", scope: write, summary: "Replay a delivery", tag: tag) { try replay($0) }
        WebhooksControl.register(app)
    }

    // MARK: validation

    /// `url` as given; http and https pass (https is stored, but the mock cannot deliver it: no TLS).
    static func readURL(_ f: inout FieldReader, required: Bool) -> String? {
        guard let u = f.string("url", required: required, maxLength: 2048, allowEmpty: false) else { return nil }
        if case .failure(let e) = HTTPClientURL.parse(u) {
            f.fail("url", "must be an absolute http:// or https:// URL (\(e))")
            return nil
        }
        return u
    }

    /// `events`: a non-empty list of catalog names, category globs (`sandbox.*`) or `*`; duplicates dropped.
    static func readEvents(_ f: inout FieldReader, required: Bool) -> [String]? {
        guard let list = f.stringArray("events", maxCount: 100) else {
            if required && !f.has("events") { f.fail("events", "is required: a non-empty array of event types") }
            return nil
        }
        guard !list.isEmpty else { f.fail("events", "must name at least one event type"); return nil }
        let bad = WebhookCatalog.unknown(list)
        guard bad.isEmpty else {
            f.fail("events", "unknown event type\(bad.count > 1 ? "s" : ""): \(bad.joined(separator: ", ")) (GET /webhooks/events lists them)")
            return nil
        }
        var seen = Set<String>()
        return list.filter { seen.insert($0).inserted }
    }

    static func readSecret(_ f: inout FieldReader) -> String? {
        f.string("secret", maxLength: 256, allowEmpty: false)
    }

    // MARK: handlers

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let url = readURL(&f, required: true)
        let events = readEvents(&f, required: true)
        let secret = readSecret(&f) ?? WebhookSignature.newSecret()
        let active = f.bool("active") ?? true
        let description = f.string("description", maxLength: 1024)
        let metadata = f.object("metadata") ?? JSONObject()
        let workspace = f.string("workspace_id", maxLength: 64)
        try f.finish()
        let db = app.db
        if let w = workspace, try db.scalarInt("SELECT 1 FROM workspaces WHERE id = ? AND tenant_id = ?", [.text(w), .text(c.tenantID)]) == nil {
            throw APIError.validation([("workspace_id", "does not name a workspace of this organization")])
        }
        if try db.scalarInt("SELECT COUNT(*) FROM webhooks WHERE tenant_id = ?", [.text(c.tenantID)]) ?? 0 >= maxPerTenant {
            throw APIError(409, "limit_exceeded", "An organization can have at most \(maxPerTenant) webhooks.")
        }
        let id = IDs.uuid()
        let now = app.nowISO
        try db.run("""
            INSERT INTO webhooks (id, tenant_id, workspace_id, url, events, secret, active, description, metadata, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(c.tenantID), .of(workspace), .text(url!), .text(JSON.array(events!.map { .string($0) }).encodedString),
                  .text(secret), .of(active), .of(description), .text(JSON.object(metadata).encodedString), .text(now), .text(now)])
        let record = try WebhookRecord.load(db, id: id, tenantID: c.tenantID)
        app.service(WebhookDispatcher.self)?.invalidate()
        app.publish("webhook.created", tenantID: c.tenantID, workspaceID: workspace, resourceType: "webhook", resourceID: id,
                    data: record.json(), actorID: c.keyID)
        // Python lifts a top-level `secret`; Go reads `data.secret` (platform-contract B2).
        return .json(201, .object(["data": record.json(withSecret: true), "secret": .string(secret)]))
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let page = try Page(query: ctx.query)
        var whereSQL = "tenant_id = ?"
        var args: [SQLValue] = [.text(c.tenantID)]
        if ctx.query["active"] != nil {
            guard let b = ctx.query.bool("active") else {
                throw APIError.badRequest("active must be true or false.", code: "invalid_query", details: .object(["active": .string("must be true or false")]))
            }
            whereSQL += " AND active = ?"; args.append(.of(b))
        }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM webhooks WHERE " + whereSQL, args) ?? 0
        var items: [JSON] = []
        try db.forEach(WebhookRecord.select + " WHERE " + whereSQL + " ORDER BY rowid DESC LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(WebhookRecord(s).json()); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    static func update(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let id = ctx.param("id")
        let current = try WebhookRecord.load(db, id: id, tenantID: c.tenantID)
        var f = try ctx.fields()
        var sets: [String] = []
        var args: [SQLValue] = []
        if let u = readURL(&f, required: false) { sets.append("url = ?"); args.append(.text(u)) }
        if f.present("events"), let e = readEvents(&f, required: true) {
            sets.append("events = ?"); args.append(.text(JSON.array(e.map { .string($0) }).encodedString))
        }
        if let s = readSecret(&f) { sets.append("secret = ?"); args.append(.text(s)) }
        if let a = f.bool("active") { sets.append("active = ?"); args.append(.of(a)) }
        if f.present("description") { sets.append("description = ?"); args.append(.of(f.string("description", maxLength: 1024))) }
        if f.present("metadata") { sets.append("metadata = ?"); args.append(.text(JSON.object(f.object("metadata") ?? JSONObject()).encodedString)) }
        try f.finish()
        if !sets.isEmpty {
            try db.run("UPDATE webhooks SET \(sets.joined(separator: ", ")), updated_at = ? WHERE id = ? AND tenant_id = ?",
                       args + [.text(app.nowISO), .text(id), .text(c.tenantID)])
            app.service(WebhookDispatcher.self)?.invalidate()
        }
        let record = try WebhookRecord.load(db, id: id, tenantID: c.tenantID)
        var data = record.json().object ?? JSONObject()
        data["changed"] = .array(sets.map { .string(String($0.prefix { $0 != " " })) })
        app.publish("webhook.updated", tenantID: c.tenantID, workspaceID: current.workspaceID, resourceType: "webhook",
                    resourceID: id, data: .object(data), actorID: c.keyID)
        return .ok(record.json())
    }

    static func delete(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let record = try WebhookRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        try app.db.transaction {
            try app.db.run("DELETE FROM webhooks WHERE id = ?", [.text(record.id)])
            try WebhookDeliveryStore.deleteForWebhook(app.db, record.id)
        }
        app.service(WebhookDispatcher.self)?.invalidate()
        app.publish("webhook.deleted", tenantID: c.tenantID, workspaceID: record.workspaceID, resourceType: "webhook",
                    resourceID: record.id, data: record.json(), actorID: c.keyID)
        return .noContent
    }

    /// Answers once the test delivery has completed (at most the delivery timeout), with its attempt.
    static func test(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let record = try WebhookRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        guard let dispatcher = ctx.app.service(WebhookDispatcher.self) else { throw APIError.internalError() }
        return .async { reply in
            do {
                try dispatcher.test(record) { attempt in reply(.ok(attempt.json)) }
            } catch {
                reply(.error(Dispatcher.apiError(error, ctx)))
            }
        }
    }

    static func deliveries(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let record = try WebhookRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let q = ctx.query
        let page = try Page(query: q)
        var whereSQL = "webhook_id = ?"
        var args: [SQLValue] = [.text(record.id)]
        if q["success"] != nil {
            guard let b = q.bool("success") else {
                throw APIError.badRequest("success must be true or false.", code: "invalid_query", details: .object(["success": .string("must be true or false")]))
            }
            whereSQL += " AND success = ?"; args.append(.of(b))
        }
        if let t = q["event_type"] ?? q["type"] { whereSQL += " AND event_type = ?"; args.append(.text(t)) }
        if let d = q["delivery_id"] { whereSQL += " AND delivery_id = ?"; args.append(.text(d)) }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM webhook_attempts WHERE " + whereSQL, args) ?? 0
        var items: [JSON] = []
        try db.forEach(WebhookDeliveryStore.Attempt.select + " WHERE " + whereSQL + " ORDER BY seq DESC LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(WebhookDeliveryStore.Attempt(s).json); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    /// `delivery_id` may name a delivery or one of its attempts. `replay_id` (optional) makes the replay
    /// idempotent: a second replay with the same one is a 409.
    static func replay(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let record = try WebhookRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        let replayID = f.string("replay_id", maxLength: 255, allowEmpty: false)
        try f.finish()
        let given = ctx.param("delivery_id")
        let deliveryID = try db.first("SELECT delivery_id FROM webhook_attempts WHERE id = ? AND webhook_id = ?",
                                      [.text(given), .text(record.id)]) { $0.text(0) } ?? given
        guard let original = try WebhookDeliveryStore.load(db, id: deliveryID), original.webhookID == record.id else {
            throw APIError.notFound("delivery", given)
        }
        if let r = replayID, let existing = try db.first("SELECT id FROM webhook_deliveries WHERE webhook_id = ? AND replay_id = ?",
                                                          [.text(record.id), .text(r)], { $0.text(0) }) {
            throw APIError(409, "replay_id_reused", "replay_id \(r) already queued delivery \(existing).",
                           details: .object(["delivery_id": .string(existing)]))
        }
        guard let dispatcher = app.service(WebhookDispatcher.self) else { throw APIError.internalError() }
        let id = try dispatcher.replay(record, original: original, replayID: replayID)
        return .json(202, Envelope.data(.object([
            "id": .string(id), "delivery_id": .string(id), "state": .string("queued"), "replay_of": .string(original.id),
            "webhook_id": .string(record.id), "event_type": .string(original.eventType), "replay_id": .str(replayID),
        ])))
    }
}
