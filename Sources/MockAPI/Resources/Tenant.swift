import Store

/// The caller's tenant (platform-contract B1): plan with limits and live usage, the preview domain, and
/// `GET /whoami`. Single objects are E+B (Go decodes them bare). Per-tenant settings (preview domain,
/// branding) live in `tenant_settings`, one row per tenant, created on first write.
enum TenantAPI: ResourceGroup {
    static let cnameTarget = "previews.miosa-mock.localhost"

    static var migrations: [Migration] {
        [Migration(460, "tenant settings", """
            CREATE TABLE tenant_settings (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
                preview_domain TEXT, preview_domain_verified_at TEXT, preview_domain_updated_at TEXT,
                branding TEXT NOT NULL DEFAULT '{}', branding_updated_at TEXT, updated_at TEXT NOT NULL);
            """)]
    }

    /// Plan limits (informational: the mock enforces only the rate limits, which come from its flags).
    static func limits(plan: String, _ app: App) -> [(String, Int)] {
        let scale: Int
        switch plan {
        case "free", "hobby": scale = 1
        case "enterprise": scale = 100
        default: scale = 10
        }
        let rl = app.config.rateLimits
        return [
            ("max_sandboxes", 10 * scale), ("max_concurrent_sandboxes", 5 * scale), ("max_workspaces", 3 * scale),
            ("max_projects", 10 * scale), ("max_api_keys", 10 * scale), ("max_storage_gb", 10 * scale),
            ("max_sandbox_timeout_sec", 86_400), ("rate_limit_per_minute", rl.general), ("auth_rate_limit_per_minute", rl.auth),
            ("unauthenticated_rate_limit_per_minute", rl.unauthenticated),
        ]
    }

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "tenant"
        api.get("/tenant/plan", scope: "tenant:read", summary: "The tenant's plan, limits and live usage", tag: tag) { try plan($0) }
        api.get("/tenant/preview-domain", scope: "tenant:read", summary: "The tenant's preview domain", tag: tag) { ctx in
            let c = try ctx.caller
            return .json(200, Envelope.dataAndBare(try previewDomain(ctx.app, c.tenantID)))
        }
        api.put("/tenant/preview-domain", scope: "tenant:write", summary: "Set the preview domain", tag: tag) { try setDomain($0) }
        api.delete("/tenant/preview-domain", scope: "tenant:write", summary: "Remove the preview domain", tag: tag) { ctx in
            let c = try ctx.caller
            try TenantSettings.update(ctx.app, c.tenantID, "preview_domain = NULL, preview_domain_verified_at = NULL, preview_domain_updated_at = ?",
                                      [.text(ctx.app.nowISO)])
            ctx.app.publish("tenant.preview_domain_deleted", tenantID: c.tenantID, resourceType: "tenant", resourceID: c.tenantID,
                            data: .object([:]), actorID: c.keyID)
            return .noContent
        }
        api.post("/tenant/preview-domain/verify", scope: "tenant:write", summary: "Verify the preview domain (always succeeds)", tag: tag) {
            try verify($0)
        }
        api.get("/whoami", summary: "The presented credential: key, tenant, workspace, plan and scopes", tag: tag) { try whoami($0) }
    }

    // MARK: plan

    static func plan(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        guard let t = try db.first("SELECT id, name, slug, plan, status, metadata, created_at, updated_at FROM tenants WHERE id = ?",
                                   [.text(c.tenantID)], { s in
            (s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7))
        }) else { throw APIError.notFound("tenant", c.tenantID) }
        func count(_ sql: String) throws -> Int { try db.scalarInt(sql, [.text(c.tenantID)]) ?? 0 }
        let usage: [(String, Int)] = [
            ("sandboxes", try count("SELECT COUNT(*) FROM sandboxes WHERE tenant_id = ? AND state != 'destroyed'")),
            ("running_sandboxes", try count("SELECT COUNT(*) FROM sandboxes WHERE tenant_id = ? AND state IN ('creating', 'running')")),
            ("workspaces", try count("SELECT COUNT(*) FROM workspaces WHERE tenant_id = ?")),
            ("projects", try count("SELECT COUNT(*) FROM projects WHERE tenant_id = ?")),
            ("api_keys", try count("SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND kind IN ('key', 'scoped_key') AND status != 'revoked'")),
        ]
        var o = JSONObject()
        o.append("id", .string(t.0))
        o.append("object", .string("tenant"))
        o.append("name", .string(t.1))
        o.append("slug", .string(t.2))
        o.append("plan", .string(t.3))
        o.append("status", .string(t.4))
        o.append("limits", .object(JSONObject(limits(plan: t.3, app).map { ($0.0, .int($0.1)) })))
        o.append("usage", .object(JSONObject(usage.map { ($0.0, .int($0.1)) })))
        o.append("metadata", WorkspaceRecord.stringMap((try? JSON.parse(t.5))?.object ?? JSONObject()))
        o.append("created_at", .string(t.6))
        o.append("updated_at", .string(t.7))
        return .json(200, Envelope.dataAndBare(o))
    }

    // MARK: preview domain

    static func previewDomain(_ app: App, _ tenantID: String) throws -> JSONObject {
        let row = try app.db.first("SELECT preview_domain, preview_domain_verified_at, preview_domain_updated_at FROM tenant_settings WHERE tenant_id = ?",
                                   [.text(tenantID)], { ($0.optionalText(0), $0.optionalText(1), $0.optionalText(2)) })
        let domain = row?.0
        return [
            "domain": .str(domain), "preview_domain": .str(domain), "verified": .bool(row?.1 != nil),
            "verified_at": .str(row?.1), "cname_target": .string(cnameTarget), "updated_at": .str(row?.2),
        ]
    }

    /// Accepts Python's `{"preview_domain": d}` and Go's `{"domain": d}`. A new domain is unverified again.
    static func setDomain(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let domain = f.string("preview_domain", maxLength: 253) ?? f.string("domain", maxLength: 253)
        if domain == nil && f.problems.isEmpty { f.fail("preview_domain", "is required (or domain)") }
        if let d = domain, !Validate.hostname(d) { f.fail(f.has("preview_domain") ? "preview_domain" : "domain", "must be a DNS name such as previews.example.com") }
        try f.finish()
        let d = domain!.lowercased()
        let current = try previewDomain(app, c.tenantID)["domain"]?.string
        let now = app.nowISO
        if current != d {
            try TenantSettings.update(app, c.tenantID, "preview_domain = ?, preview_domain_verified_at = NULL, preview_domain_updated_at = ?",
                                      [.text(d), .text(now)])
            app.publish("tenant.preview_domain_updated", tenantID: c.tenantID, resourceType: "tenant", resourceID: c.tenantID,
                        data: .object(["domain": .string(d)]), actorID: c.keyID)
        }
        return .json(200, Envelope.dataAndBare(try previewDomain(app, c.tenantID)))
    }

    /// The mock has no DNS to ask: a set domain always verifies. 409 when none is set.
    static func verify(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var state = try previewDomain(app, c.tenantID)
        guard let domain = state["domain"]?.string else {
            throw APIError.conflict("Set a preview domain (PUT /tenant/preview-domain) before verifying it.", code: "preview_domain_not_set")
        }
        if state["verified_at"]?.string == nil {
            try TenantSettings.update(app, c.tenantID, "preview_domain_verified_at = ?", [.text(app.nowISO)])
            app.publish("tenant.preview_domain_verified", tenantID: c.tenantID, resourceType: "tenant", resourceID: c.tenantID,
                        data: .object(["domain": .string(domain)]), actorID: c.keyID)
            state = try previewDomain(app, c.tenantID)
        }
        state["verified"] = .bool(true)
        state["target"] = .string(cnameTarget)
        state["records"] = .array([
            .object(["type": .string("CNAME"), "name": .string("*." + domain), "value": .string(cnameTarget), "status": .string("verified")]),
        ])
        return .json(200, Envelope.dataAndBare(state))
    }

    // MARK: whoami

    static func whoami(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let k = try KeyRecord.load(db, id: c.keyID, tenantID: c.tenantID, kinds: ["key", "scoped_key", "scoped_token"])
        let tenant = try db.first("SELECT id, name, slug, plan, status FROM tenants WHERE id = ?", [.text(c.tenantID)]) { s -> JSON in
            .object(["id": .string(s.text(0)), "name": .string(s.text(1)), "slug": .string(s.text(2)), "plan": .string(s.text(3)),
                     "status": .string(s.text(4))])
        } ?? .null
        let ws = (try? WorkspaceRecord.load(db, id: c.workspaceID, tenantID: c.tenantID)).map { w -> JSON in
            .object(["id": .string(w.id), "name": .string(w.name), "slug": .string(w.slug), "is_default": .bool(w.isDefault)])
        } ?? .null
        let user: JSON
        switch k.kind {
        case "scoped_key": user = .object(["id": .str(k.externalUserID), "external_user_id": .str(k.externalUserID)])
        case "scoped_token": user = .object(["id": .str(k.userID)])
        default: user = .null
        }
        var key = k.json(now: ctx.app.now).object ?? JSONObject()
        key["created_by"] = nil
        let o: JSONObject = [
            "auth_type": .string(k.kind == "key" ? "api_key" : k.kind), "user": user, "key": .object(key),
            "tenant": tenant, "organization": tenant, "workspace": ws, "plan": tenant["plan"] ?? .null,
            "scopes": .array(c.scopes.map { .string($0) }), "tenant_id": .string(c.tenantID), "workspace_id": .string(c.workspaceID),
            "key_id": .string(c.keyID),
        ]
        return .json(200, Envelope.dataAndBare(o))
    }
}

/// The `tenant_settings` row, created on first write.
enum TenantSettings {
    static func update(_ app: App, _ tenantID: String, _ sets: String, _ args: [SQLValue]) throws {
        let now = app.nowISO
        try app.db.run("INSERT OR IGNORE INTO tenant_settings (tenant_id, updated_at) VALUES (?, ?)", [.text(tenantID), .text(now)])
        try app.db.run("UPDATE tenant_settings SET \(sets), updated_at = ? WHERE tenant_id = ?", args + [.text(now), .text(tenantID)])
    }
}
