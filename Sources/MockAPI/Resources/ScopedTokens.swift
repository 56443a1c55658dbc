import Store

/// Delegation credentials (platform-contract B7): L2 keys bound to an external user (`POST /api-keys/scoped`)
/// and short-lived scoped tokens (`/tokens/scoped`). Both are rows of `api_keys` with their own `kind`, so the
/// auth middleware accepts them like any key, until they expire by the server clock or are revoked.
enum ScopedTokensAPI: ResourceGroup {
    static let maxTokenSeconds = 86_400
    static let defaultTokenSeconds = 3_600

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "api-keys"
        let r = ApiKeysAPI.readScope, w = ApiKeysAPI.writeScope
        api.post("/api-keys/scoped", scope: w, rate: .auth, summary: "Create an L2 key for an external user", tag: tag) { try createScopedKey($0) }
        api.post("/tokens/scoped", scope: w, rate: .auth, summary: "Mint a short-lived scoped token", tag: tag) { try mint($0) }
        api.get("/tokens/scoped", scope: r, summary: "List scoped tokens", tag: tag) { try list($0) }
        api.delete("/tokens/scoped/{id}", scope: w, summary: "Revoke a scoped token", tag: tag) { try revoke($0) }
    }

    /// `{external_user_id, scopes, expires_at?, name?, workspace_id?}` → 201 with the `msk_u_…` secret once.
    static func createScopedKey(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let user = f.string("external_user_id", required: true, maxLength: 255, allowEmpty: false)
        let scopes = Scopes.read(&f, "scopes", app: app)
        if !f.has("scopes") { f.fail("scopes", "is required") }
        let expires = ApiKeysAPI.readExpiry(&f, app)
        let name = f.string("name", maxLength: 255, allowEmpty: false)
        let workspace = f.string("workspace_id", maxLength: 64)
        try f.finish()
        try Scopes.requireCovered(scopes!, by: c)
        try ApiKeysAPI.checkWorkspace(app, workspace, c)
        let secret = KeyMint.userKey()
        let k = try KeyMint.insert(app, .init(tenantID: c.tenantID, workspaceID: workspace, name: name ?? "external user \(user!)",
                                              scopes: scopes!, expiresAt: expires, kind: "scoped_key", externalUserID: user,
                                              createdBy: c.keyID), secret: secret)
        ApiKeysAPI.changed(app, "api_key.created", k, actor: c)
        return .created(k.jsonWithSecret(secret, now: app.now))
    }

    /// `{user_id, workspace_id, expires_in_seconds ≤ 86400 (default 3600), scopes?}` → 201 `{token, expires_at, scopes}`.
    /// Without `scopes` the token inherits the caller's.
    static func mint(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let user = f.string("user_id", required: true, maxLength: 255, allowEmpty: false)
        let workspace = f.string("workspace_id", required: true, maxLength: 64, allowEmpty: false)
        let seconds = f.int("expires_in_seconds", min: 1, max: maxTokenSeconds) ?? defaultTokenSeconds
        let given = Scopes.read(&f, "scopes", app: app)
        try f.finish()
        let scopes = given ?? c.scopes
        try Scopes.requireCovered(scopes, by: c)
        try ApiKeysAPI.checkWorkspace(app, workspace, c)
        let id = IDs.uuid()
        let now = app.now
        let exp = now.rounded(.down) + Double(seconds)
        let token = KeyMint.jwt(claims: .object([
            "iss": .string("miosa-mock"), "sub": .string(user!), "jti": .string(id), "tenant_id": .string(c.tenantID),
            "workspace_id": .string(workspace!), "scopes": .array(scopes.map { .string($0) }),
            "iat": .int(Int64(now)), "exp": .int(Int64(exp)), "typ": .string("scoped"),
        ]))
        let k = try KeyMint.insert(app, .init(tenantID: c.tenantID, workspaceID: workspace, name: "scoped token for \(user!)",
                                              scopes: scopes, expiresAt: Time.iso(exp), kind: "scoped_token", userID: user,
                                              createdBy: c.keyID), secret: token, id: id)
        app.publish("scoped_token.created", tenantID: c.tenantID, workspaceID: workspace, resourceType: "scoped_token",
                    resourceID: id, data: k.json(now: now), actorID: c.keyID)
        guard case .object(var o) = k.json(now: now) else { throw APIError.internalError() }
        o.append("token", .string(token))
        o.append("token_type", .string("Bearer"))
        o.append("expires_in", .int(seconds))
        return .created(.object(o))
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        try KeyRecord.listReply(ctx, kinds: "'scoped_token'", filters: ["user_id", "workspace_id"])
    }

    static func revoke(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let t = try KeyRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID, kinds: ["scoped_token"])
        guard t.status != "revoked" else { return .noContent }
        let now = app.nowISO
        try app.db.run("UPDATE api_keys SET status = 'revoked', revoked_at = ?, updated_at = ? WHERE id = ?",
                       [.text(now), .text(now), .text(t.id)])
        app.service(Tenancy.self)?.invalidate()
        app.publish("scoped_token.revoked", tenantID: c.tenantID, workspaceID: t.workspaceID, resourceType: "scoped_token",
                    resourceID: t.id, data: .object(["id": .string(t.id), "user_id": .str(t.userID)]), actorID: c.keyID)
        return .noContent
    }
}
