import Store

/// `/api-keys/presets`: named scope bundles. Built-in presets are the same for every organization and their
/// names are reserved; an organization adds its own. `POST /api-keys {"preset": name}` uses one.
enum ApiKeyPresetsAPI: ResourceGroup {
    struct Preset {
        var name: String
        var description: String?
        var scopes: [String]
        var builtIn: Bool
        var createdAt: String?

        var json: JSON {
            .object(["name": .string(name), "description": .str(description), "scopes": .array(scopes.map { .string($0) }),
                     "built_in": .bool(builtIn), "created_at": .str(createdAt)])
        }
    }

    static func builtIns(_ app: App) -> [Preset] {
        let readAll = Scopes.groups(app).map { $0 + ":read" }
        return [
            Preset(name: "full-access", description: "Every scope.", scopes: ["*"], builtIn: true),
            Preset(name: "read-only", description: "Read every resource group.", scopes: readAll, builtIn: true),
            Preset(name: "sandboxes", description: "Manage sandboxes, their files, processes and streams.",
                   scopes: ["sandboxes:*"], builtIn: true),
            Preset(name: "sandbox-runner", description: "Create sandboxes and run commands in them.",
                   scopes: ["sandboxes:read", "sandboxes:create", "sandboxes:exec"], builtIn: true),
        ]
    }

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "api-keys"
        api.get("/api-keys/presets", scope: ApiKeysAPI.readScope, summary: "List scope presets", tag: tag) { ctx in
            let c = try ctx.caller
            let all = try builtIns(ctx.app) + custom(ctx.app, tenantID: c.tenantID)
            return .json(200, Envelope.list(all.map(\.json), page: Page(page: 1, pageSize: max(all.count, 1)), total: all.count))
        }
        api.post("/api-keys/presets", scope: ApiKeysAPI.writeScope, summary: "Save a scope preset", tag: tag) { try create($0) }
        api.delete("/api-keys/presets/{name}", scope: ApiKeysAPI.writeScope, summary: "Delete a custom scope preset", tag: tag) { ctx in
            let c = try ctx.caller
            let name = ctx.param("name")
            if builtIns(ctx.app).contains(where: { $0.name == name }) {
                throw APIError.conflict("Preset \(name) is built in and cannot be deleted.", code: "preset_reserved")
            }
            guard try ctx.app.db.run("DELETE FROM api_key_presets WHERE tenant_id = ? AND name = ?", [.text(c.tenantID), .text(name)]) > 0 else {
                throw APIError(404, "preset_not_found", "No preset named \(name) exists.")
            }
            return .noContent
        }
    }

    static func custom(_ app: App, tenantID: String) throws -> [Preset] {
        var out: [Preset] = []
        try app.db.forEach("SELECT name, description, scopes, created_at FROM api_key_presets WHERE tenant_id = ? ORDER BY name",
                           [.text(tenantID)]) { s in
            out.append(Preset(name: s.text(0), description: s.optionalText(1),
                              scopes: (try? JSON.parse(s.text(2)))?.array?.compactMap(\.string) ?? [], builtIn: false,
                              createdAt: s.text(3)))
            return true
        }
        return out
    }

    static func find(_ app: App, tenantID: String, name: String) throws -> Preset? {
        if let b = builtIns(app).first(where: { $0.name == name }) { return b }
        return try custom(app, tenantID: tenantID).first { $0.name == name }
    }

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let name = f.string("name", required: true, maxLength: 63)
        if let n = name, !isValidSlug(n) { f.fail("name", "must be lowercase letters, digits and single dashes") }
        let scopes = Scopes.read(&f, "scopes", app: app)
        if !f.has("scopes") { f.fail("scopes", "is required") }
        let description = f.string("description", maxLength: 1000)
        try f.finish()
        if builtIns(app).contains(where: { $0.name == name! }) {
            throw APIError.conflict("Preset \(name!) is built in; pick another name.", code: "preset_reserved")
        }
        let now = app.nowISO
        do {
            try app.db.run("INSERT INTO api_key_presets (tenant_id, name, description, scopes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [.text(c.tenantID), .text(name!), .of(description), .text(Scopes.encode(scopes ?? [])), .text(now), .text(now)])
        } catch let e as SQLiteError where e.isConstraintViolation {
            throw APIError.conflict("A preset named \(name!) already exists.", code: "preset_exists")
        }
        return .created(Preset(name: name!, description: description, scopes: scopes ?? [], builtIn: false, createdAt: now).json)
    }
}
