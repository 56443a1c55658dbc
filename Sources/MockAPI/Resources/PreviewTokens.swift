import Store

/// Preview tokens (`POST /sandboxes/{id}/preview-token`, bare `{token: "mp_…", url, expires_at, scope}`)
/// and public shares (`/sandboxes/{id}/shares`, create bare `{share_id: "ms_…", share_url, …}`, list
/// enveloped, revoke 204), sandbox-contract §4 and §9. Both kinds live in one table; the share id is
/// also its secret (`?ms=`), as the Go fixtures' `share_url = …?ms=<token>` shows. Expiry reads the mock
/// clock. `PreviewServe` serves the URLs both hand out.
enum PreviewTokensAPI: ResourceGroup {
    static let migrations = [
        Migration(270, "preview tokens and shares", """
            CREATE TABLE sandbox_access_tokens (
                token TEXT PRIMARY KEY, kind TEXT NOT NULL, -- 'preview' (mp_, ?mt=) or 'share' (ms_, ?ms=)
                sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
                tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                -- epoch seconds on the server clock; NULL = no expiry
                expires_at REAL, revoked_at TEXT, created_by TEXT, created_at TEXT NOT NULL);
            CREATE INDEX sandbox_access_tokens_sandbox ON sandbox_access_tokens (sandbox_id, kind);
            """),
    ]
    static let maxTTL = 30 * 86_400

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "previews"
        api.post("/sandboxes/{id}/preview-token", scope: "sandboxes:write", summary: "Mint a preview token (bare)", tag: tag) { try previewToken($0) }
        api.post("/sandboxes/{id}/shares", scope: "sandboxes:write", summary: "Create a public share link (bare)", tag: tag) { try createShare($0) }
        api.get("/sandboxes/{id}/shares", scope: "sandboxes:read", summary: "List share links", tag: tag) { try listShares($0) }
        api.delete("/sandboxes/{id}/shares/{share_id}", scope: "sandboxes:write", summary: "Revoke a share link", tag: tag) { ctx in
            let c = try ctx.caller
            let r = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            let n = try ctx.app.db.run("""
                UPDATE sandbox_access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token = ? AND sandbox_id = ? AND kind = 'share'
                """, [.text(ctx.app.nowISO), .text(ctx.param("share_id")), .text(r.id)])
            guard n > 0 else { throw APIError.notFound("share", ctx.param("share_id")) }
            return .noContent
        }
        PreviewServe.register(app)
    }

    static func url(_ app: App, sandboxID: String, param: String, token: String) -> String {
        "\(app.baseURL)\(APIRoutes.prefix)/preview/\(sandboxID)/?\(param)=\(token)"
    }

    static func insert(_ app: App, kind: String, token: String, sandbox: SandboxRecord, scope: String, ttl: Int?, by: String) throws -> Double? {
        let expires = ttl.map { app.now + Double($0) }
        try app.db.run("""
            INSERT INTO sandbox_access_tokens (token, kind, sandbox_id, tenant_id, scope, expires_at, created_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(token), .text(kind), .text(sandbox.id), .text(sandbox.tenantID), .text(scope),
                  expires.map { .double($0) } ?? .null, .text(by), .text(app.nowISO)])
        return expires
    }

    static func previewToken(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let r = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        let ttl = f.int("expires_in", min: 1, max: maxTTL) ?? f.int("ttl_seconds", min: 1, max: maxTTL) ?? 3600
        let scope = f.oneOf("scope", ["read", "interact"]) ?? "read"
        try f.finish()
        guard r.state != "destroyed" else { throw APIError.conflict("Sandbox \(r.id) is destroyed.", code: "sandbox_destroyed") }
        let token = IDs.token("mp_", length: 32)
        let expires = try insert(ctx.app, kind: "preview", token: token, sandbox: r, scope: scope, ttl: ttl, by: c.keyID)
        return .json(200, .object([
            "token": .string(token), "url": .string(url(ctx.app, sandboxID: r.id, param: "mt", token: token)),
            "expires_at": .str(expires.map(Time.iso)), "expires_in": .int(ttl), "scope": .string(scope), "sandbox_id": .string(r.id),
        ]))
    }

    static func shareJSON(_ app: App, token: String, sandboxID: String, scope: String, expires: Double?, createdAt: String) -> JSONObject {
        let expired = expires.map { $0 <= app.now } ?? false
        return ["share_id": .string(token), "id": .string(token), "share_url": .string(url(app, sandboxID: sandboxID, param: "ms", token: token)),
                "expires_at": .str(expires.map(Time.iso)), "scope": .string(scope), "sandbox_id": .string(sandboxID),
                "status": .string(expired ? "expired" : "active"), "created_at": .string(createdAt)]
    }

    /// `{scope: "read", expires_in?}` (Go's `expires_in_sec` and the preview share's `ttl_seconds` too);
    /// no expiry given means the link lasts until revoked.
    static func createShare(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let r = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        let ttl = f.int("expires_in", min: 1, max: 365 * 86_400) ?? f.int("expires_in_sec", min: 1, max: 365 * 86_400)
            ?? f.int("ttl_seconds", min: 1, max: 365 * 86_400)
        let scope = f.oneOf("scope", ["read", "interact"]) ?? "read"
        try f.finish()
        guard r.state != "destroyed" else { throw APIError.conflict("Sandbox \(r.id) is destroyed.", code: "sandbox_destroyed") }
        let token = IDs.token("ms_", length: 32)
        let expires = try insert(ctx.app, kind: "share", token: token, sandbox: r, scope: scope, ttl: ttl, by: c.keyID)
        let body = shareJSON(ctx.app, token: token, sandboxID: r.id, scope: scope, expires: expires, createdAt: ctx.app.nowISO)
        ctx.app.publish("sandbox.share_created", tenantID: c.tenantID, workspaceID: r.workspaceID, sandboxID: r.id,
                        resourceType: "share", resourceID: token, data: .object(body), actorID: c.keyID)
        return .json(201, .object(body))
    }

    static func listShares(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let r = try SandboxRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let page = try Page(query: ctx.query)
        let filter = "sandbox_id = ? AND kind = 'share' AND revoked_at IS NULL"
        let total = try app.db.scalarInt("SELECT COUNT(*) FROM sandbox_access_tokens WHERE " + filter, [.text(r.id)]) ?? 0
        var items: [JSON] = []
        try app.db.forEach("""
            SELECT token, scope, expires_at, created_at FROM sandbox_access_tokens WHERE \(filter) ORDER BY rowid DESC LIMIT ? OFFSET ?
            """, [.text(r.id), .of(page.pageSize), .of(page.offset)]) { s in
            items.append(.object(shareJSON(app, token: s.text(0), sandboxID: r.id, scope: s.text(1),
                                           expires: s.isNull(2) ? nil : s.double(2), createdAt: s.text(3))))
            return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }
}
