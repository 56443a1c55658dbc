import Store

/// Sandbox templates (sandbox-contract §13): built-ins from the fixtures (`tenant_id` NULL) plus
/// tenant-owned ones. Builds are simulated and finish at once (`ready`); a template's newest build is its
/// `current_build_id`. Delete is INFER: built-ins 403, templates still used by a live sandbox 409.
enum TemplatesAPI: ResourceGroup {
    static let migrations = [
        Migration(272, "sandbox template builds", """
            CREATE TABLE template_builds (
                id TEXT PRIMARY KEY, template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
                tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                status TEXT NOT NULL, build_spec TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}',
                error_code TEXT, error_message TEXT, started_at TEXT, finished_at TEXT, duration_ms INTEGER,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE INDEX template_builds_template ON template_builds (template_id, created_at);
            """),
    ]
    static let defaultTemplate = "miosa-sandbox"

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "templates"
        let r = "templates:read", w = "templates:write"
        api.get("/sandbox-templates", scope: r, summary: "List sandbox templates", tag: tag) { try list($0) }
        api.post("/sandbox-templates", scope: w, summary: "Create a sandbox template", tag: tag) { try create($0) }
        api.get("/sandbox-templates/build-spec", scope: r, summary: "Build spec JSON schema (bare)", tag: tag) { _ in .json(200, TemplateSpec.schema) }
        api.post("/sandbox-templates/validate", scope: r, summary: "Validate a build spec (bare {valid, errors})", tag: tag) { ctx in
            let spec = try ctx.bodyObject()["build_spec"] ?? ctx.bodyObject()["buildSpec"]
            let errors = TemplateSpec.validate(spec)
            var o: JSONObject = ["valid": .bool(errors.isEmpty), "errors": .array(errors.map { .string($0) })]
            if let s = spec { o["build_spec"] = s }
            return .json(200, .object(o))
        }
        api.get("/sandbox-templates/{id}", scope: r, summary: "Get a sandbox template", tag: tag) { ctx in
            let c = try ctx.caller
            // Enveloped for Go and Python, bare fields too: TS `sandboxes.getTemplate()` returns the raw body.
            let t = try TemplateRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID).json(ctx.app.db)
            return .json(200, Envelope.dataAndBare(t.object ?? JSONObject()))
        }
        api.delete("/sandbox-templates/{id}", scope: w, summary: "Delete a sandbox template (INFER)", tag: tag) { try delete($0) }
        api.get("/sandbox-templates/{id}/builds", scope: r, summary: "List template builds", tag: tag) { try listBuilds($0) }
        api.post("/sandbox-templates/{id}/builds", scope: w, summary: "Start a template build", tag: tag) { ctx in
            let c = try ctx.caller
            let t = try TemplateRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            guard !t.builtIn else { throw APIError.forbidden("Built-in template \(t.id) cannot be rebuilt.", code: "template_built_in") }
            var f = try ctx.fields()
            let spec = f.raw("build_spec")
            let metadata = f.object("metadata") ?? JSONObject()
            try f.finish()
            if spec != nil { try requireValid(spec) }
            return .created(try build(ctx.app, template: t, spec: spec, metadata: metadata).json)
        }
        api.get("/sandbox-template-builds/{build_id}", scope: r, summary: "Get a template build", tag: tag) { ctx in
            let c = try ctx.caller
            let id = ctx.param("build_id")
            guard let b = try ctx.app.db.first(BuildRecord.select + " WHERE id = ? AND tenant_id = ?", [.text(id), .text(c.tenantID)],
                                               BuildRecord.init) else { throw APIError.notFound("template_build", id) }
            return .ok(b.json)
        }
    }

    static func requireValid(_ spec: JSON?) throws {
        let errors = TemplateSpec.validate(spec)
        guard !errors.isEmpty else { return }
        var e = APIError.validation([("build_spec", errors.joined(separator: "; "))])
        e.extra["errors"] = .array(errors.map { .string($0) })
        throw e
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let page = try Page(query: ctx.query)
        let filter = "tenant_id IS NULL OR tenant_id = ?"
        let total = try db.scalarInt("SELECT COUNT(*) FROM templates WHERE " + filter, [.text(c.tenantID)]) ?? 0
        var rows: [TemplateRecord] = []
        try db.forEach(TemplateRecord.select + " WHERE \(filter) ORDER BY built_in DESC, created_at, rowid LIMIT ? OFFSET ?",
                       [.text(c.tenantID), .of(page.pageSize), .of(page.offset)]) { s in rows.append(TemplateRecord(s)); return true }
        guard case .object(var o) = Envelope.list(try rows.map { try $0.json(db) }, page: page, total: total) else { return .json(200, .null) }
        o["default_template_id"] = .string(defaultTemplate)
        return .json(200, .object(o))
    }

    /// `{name, build_spec, slug?, description?, metadata?}` → 201 with the template and its first build.
    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        var f = try ctx.fields()
        let name = f.string("name", required: true, maxLength: 255, allowEmpty: false)
        let slug = f.slug("slug")
        let description = f.string("description", maxLength: 4096)
        let metadata = f.object("metadata") ?? JSONObject()
        let spec = f.raw("build_spec")
        try f.finish()
        try requireValid(spec)
        return try db.transaction {
            if let s = slug, try db.scalarInt("SELECT 1 FROM templates WHERE (tenant_id = ? OR tenant_id IS NULL) AND (slug = ? OR id = ?)",
                                              [.text(c.tenantID), .text(s), .text(s)]) != nil {
                throw APIError.conflict("A template with slug \(s) already exists.", code: "slug_taken")
            }
            let id = IDs.uuid()
            let now = app.nowISO
            try db.run("""
                INSERT INTO templates (id, tenant_id, name, slug, description, build_spec, status, metadata, built_in, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, 0, ?, ?)
                """, [.text(id), .text(c.tenantID), .text(name!), .of(slug), .of(description), .text(spec!.encodedString),
                      .text(JSON.object(metadata).encodedString), .text(now), .text(now)])
            let t = try TemplateRecord.load(db, id: id, tenantID: c.tenantID)
            _ = try build(app, template: t, spec: nil, metadata: JSONObject())
            let json = try TemplateRecord.load(db, id: id, tenantID: c.tenantID).json(db)
            app.publish("template.created", tenantID: c.tenantID, resourceType: "template", resourceID: id, data: json, actorID: c.keyID)
            return .created(json)
        }
    }

    /// A build that finishes at once; a new spec becomes the template's spec.
    static func build(_ app: App, template t: TemplateRecord, spec: JSON?, metadata: JSONObject) throws -> BuildRecord {
        let db = app.db
        let id = IDs.uuid()
        let now = app.nowISO
        let specText = spec?.encodedString ?? t.buildSpec
        try db.run("""
            INSERT INTO template_builds (id, template_id, tenant_id, status, build_spec, metadata, started_at, finished_at, duration_ms,
                created_at, updated_at) VALUES (?, ?, ?, 'ready', ?, ?, ?, ?, 0, ?, ?)
            """, [.text(id), .text(t.id), .text(t.tenantID ?? ""), .text(specText), .text(JSON.object(metadata).encodedString),
                  .text(now), .text(now), .text(now), .text(now)])
        if spec != nil {
            try db.run("UPDATE templates SET build_spec = ?, updated_at = ? WHERE id = ?", [.text(specText), .text(now), .text(t.id)])
        }
        return try db.first(BuildRecord.select + " WHERE id = ?", [.text(id)], BuildRecord.init)!
    }

    static func listBuilds(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let t = try TemplateRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        let page = try Page(query: ctx.query)
        let total = try db.scalarInt("SELECT COUNT(*) FROM template_builds WHERE template_id = ?", [.text(t.id)]) ?? 0
        var items: [JSON] = []
        try db.forEach(BuildRecord.select + " WHERE template_id = ? ORDER BY rowid DESC LIMIT ? OFFSET ?",
                       [.text(t.id), .of(page.pageSize), .of(page.offset)]) { s in items.append(BuildRecord(s).json); return true }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    static func delete(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let t = try TemplateRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        guard !t.builtIn else { throw APIError.forbidden("Built-in template \(t.id) cannot be deleted.", code: "template_built_in") }
        if let n = try db.scalarInt("SELECT COUNT(*) FROM sandboxes WHERE template_id = ? AND state != 'destroyed'", [.text(t.id)]), n > 0 {
            throw APIError.conflict("Template \(t.id) is used by \(n) sandbox(es) that are not destroyed.", code: "template_in_use")
        }
        try db.transaction {
            try db.run("DELETE FROM template_builds WHERE template_id = ?", [.text(t.id)])
            try db.run("DELETE FROM templates WHERE id = ?", [.text(t.id)])
        }
        ctx.app.publish("template.deleted", tenantID: c.tenantID, resourceType: "template", resourceID: t.id,
                        data: .object(["id": .string(t.id)]), actorID: c.keyID)
        return .noContent
    }
}
