import Store

/// `/api-keys` (platform-contract B7): create, list, get, update, revoke, rotate, a key's events. Keys are
/// stored as SHA-256 hashes; the plaintext is answered only by create and rotate. Every change flushes the
/// auth cache, so a revoked, disabled or rotated-away key is refused on the very next request.
enum ApiKeysAPI: ResourceGroup {
    static let readScope = "api_keys:read"
    static let writeScope = "api_keys:write"

    static var migrations: [Migration] {
        [Migration(450, "api key kinds, delegation and presets", """
            ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'key';
            ALTER TABLE api_keys ADD COLUMN external_user_id TEXT;
            ALTER TABLE api_keys ADD COLUMN user_id TEXT;
            ALTER TABLE api_keys ADD COLUMN created_by TEXT;
            CREATE INDEX api_keys_tenant_kind ON api_keys (tenant_id, kind, created_at);
            CREATE TABLE api_key_presets (
                tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE, name TEXT NOT NULL,
                description TEXT, scopes TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
                PRIMARY KEY (tenant_id, name));
            """)]
    }

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "api-keys"
        let r = readScope, w = writeScope
        api.post("/api-keys", scope: w, rate: .auth, summary: "Create an API key (plaintext answered once)", tag: tag) { try create($0) }
        api.get("/api-keys", scope: r, summary: "List API keys", tag: tag) { try list($0) }
        api.get("/api-keys/{id}", scope: r, summary: "Get an API key", tag: tag) { ctx in
            let c = try ctx.caller
            return .ok(try KeyRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID).json(now: ctx.app.now))
        }
        api.patch("/api-keys/{id}", scope: w, summary: "Update an API key's name, scopes or status", tag: tag) { try update($0) }
        api.delete("/api-keys/{id}", scope: w, summary: "Revoke an API key", tag: tag) { try revoke($0) }
        api.post("/api-keys/{id}/rotate", scope: w, rate: .auth, summary: "Rotate an API key (new plaintext)", tag: tag) { try rotate($0) }
        api.get("/api-keys/{id}/events", scope: r, summary: "A key's events (changes to it, actions by it)", tag: tag) { try events($0) }
    }

    /// Every key change goes through here: the cache drops verified keys and the change becomes an event.
    static func changed(_ app: App, _ type: String, _ k: KeyRecord, actor: Principal) {
        app.service(Tenancy.self)?.invalidate()
        app.publish(type, tenantID: k.tenantID, workspaceID: k.workspaceID, resourceType: "api_key", resourceID: k.id,
                    data: k.json(now: app.now), actorID: actor.keyID)
    }

    /// `expires_at`: an ISO 8601 instant after now (server clock).
    static func readExpiry(_ f: inout FieldReader, _ app: App) -> String? {
        guard let s = f.string("expires_at", maxLength: 64) else { return nil }
        guard let t = Time.parse(s) else { f.fail("expires_at", "must be an ISO 8601 timestamp such as 2030-01-01T00:00:00Z"); return nil }
        guard t > app.now else { f.fail("expires_at", "must be in the future"); return nil }
        return Time.iso(t)
    }

    /// `workspace_id`, when given, must name a workspace of the caller's tenant.
    static func checkWorkspace(_ app: App, _ id: String?, _ c: Principal, field: String = "workspace_id") throws {
        guard let id = id else { return }
        guard try app.db.scalarInt("SELECT 1 FROM workspaces WHERE id = ? AND tenant_id = ?", [.text(id), .text(c.tenantID)]) != nil else {
            throw APIError.validation([(field, "does not name a workspace of this organization")])
        }
    }

    // MARK: handlers

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let name = f.string("name", required: true, maxLength: 255, allowEmpty: false)
        let given = Scopes.read(&f, "scopes", app: app)
        let presetName = f.string("preset", maxLength: 64)
        let expires = readExpiry(&f, app)
        let workspace = f.string("workspace_id", maxLength: 64)
        try f.finish()
        var scopes = given ?? c.scopes
        if given == nil, let p = presetName {
            guard let preset = try ApiKeyPresetsAPI.find(app, tenantID: c.tenantID, name: p) else {
                throw APIError.validation([("preset", "names no preset (GET /api-keys/presets lists them)")])
            }
            scopes = preset.scopes
        }
        try Scopes.requireCovered(scopes, by: c)
        try checkWorkspace(app, workspace, c)
        let secret = KeyMint.tenantKey()
        let k = try KeyMint.insert(app, .init(tenantID: c.tenantID, workspaceID: workspace, name: name!, scopes: scopes,
                                              expiresAt: expires, createdBy: c.keyID), secret: secret)
        changed(app, "api_key.created", k, actor: c)
        return .created(k.jsonWithSecret(secret, now: app.now))
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        try KeyRecord.listReply(ctx, kinds: "'key', 'scoped_key'", filters: ["workspace_id", "kind", "external_user_id"])
    }

    static func update(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let current = try KeyRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        let name = f.string("name", maxLength: 255, allowEmpty: false)
        let scopes = Scopes.read(&f, "scopes", app: app)
        let status = f.oneOf("status", ["active", "disabled"])
        try f.finish()
        guard current.status != "revoked" else {
            throw APIError.conflict("API key \(current.id) is revoked and cannot be changed.", code: "api_key_revoked")
        }
        if let s = scopes { try Scopes.requireCovered(s, by: c) }
        var sets = ["updated_at = ?"]
        var args: [SQLValue] = [.text(app.nowISO)]
        if let n = name { sets.append("name = ?"); args.append(.text(n)) }
        if let s = scopes { sets.append("scopes = ?"); args.append(.text(Scopes.encode(s))) }
        if let s = status { sets.append("status = ?"); args.append(.text(s)) }
        try app.db.run("UPDATE api_keys SET \(sets.joined(separator: ", ")) WHERE id = ?", args + [.text(current.id)])
        let k = try KeyRecord.load(app.db, id: current.id, tenantID: c.tenantID)
        changed(app, "api_key.updated", k, actor: c)
        return .ok(k.json(now: app.now))
    }

    /// Revoking twice is fine (204 both times); the row stays, with `status: revoked`, for the record.
    static func revoke(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let current = try KeyRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        guard current.status != "revoked" else { return .noContent }
        let now = app.nowISO
        try app.db.run("UPDATE api_keys SET status = 'revoked', revoked_at = ?, updated_at = ? WHERE id = ?",
                       [.text(now), .text(now), .text(current.id)])
        changed(app, "api_key.revoked", try KeyRecord.load(app.db, id: current.id, tenantID: c.tenantID), actor: c)
        return .noContent
    }

    /// A new secret under the same id; the old one stops working at once. Rotating a key that holds scopes the
    /// caller lacks would hand the caller those scopes: 403.
    static func rotate(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let current = try KeyRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        guard current.status != "revoked" else {
            throw APIError.conflict("API key \(current.id) is revoked and cannot be rotated.", code: "api_key_revoked")
        }
        try Scopes.requireCovered(current.scopes, by: c)
        let secret = current.kind == "scoped_key" ? KeyMint.userKey() : KeyMint.tenantKey()
        try app.db.run("UPDATE api_keys SET key_hash = ?, prefix = ?, updated_at = ? WHERE id = ?",
                       [.text(Tenancy.hash(secret)), .text(KeyMint.prefix(secret)), .text(app.nowISO), .text(current.id)])
        let k = try KeyRecord.load(app.db, id: current.id, tenantID: c.tenantID)
        changed(app, "api_key.rotated", k, actor: c)
        return .ok(k.jsonWithSecret(secret, now: app.now))
    }

    /// Events from the event log where the key is the actor or the subject, newest first (`limit`, `type`).
    /// Plain reads are not events, so a key used only for GETs shows its `last_used_at`, not entries here.
    static func events(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let k = try KeyRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let page = try Page(query: ctx.query)
        var whereSQL = "tenant_id = ? AND (actor_id = ? OR (resource_type = 'api_key' AND resource_id = ?))"
        var args: [SQLValue] = [.text(c.tenantID), .text(k.id), .text(k.id)]
        if let t = ctx.query["type"] { whereSQL += " AND type = ?"; args.append(.text(t)) }
        let total = try app.db.scalarInt("SELECT COUNT(*) FROM events WHERE " + whereSQL, args) ?? 0
        var items: [JSON] = []
        try app.db.forEach("""
            SELECT id, type, actor_id, resource_type, resource_id, data, occurred_at, workspace_id, sandbox_id FROM events
            WHERE \(whereSQL) ORDER BY id DESC LIMIT ? OFFSET ?
            """, args + [.of(page.pageSize), .of(page.offset)]) { s in
            let at = Time.iso(s.double(6))
            items.append(.object([
                "id": .string(String(s.int64(0))), "type": .string(s.text(1)), "api_key_id": .string(k.id),
                "actor_id": .str(s.optionalText(2)), "resource_type": .string(s.text(3)), "resource_id": .string(s.text(4)),
                "workspace_id": .str(s.optionalText(7)), "sandbox_id": .str(s.optionalText(8)),
                "data": (try? JSON.parse(s.text(5))) ?? .null, "occurred_at": .string(at), "created_at": .string(at),
            ]))
            return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }
}
