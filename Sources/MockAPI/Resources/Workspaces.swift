import Store

/// `/workspaces` (platform-contract B8). Single objects are E+B (Go decodes them bare, Python reads `data`).
/// Create resolves `external_workspace_id` before it inserts (200 `reused: true`), and refuses a second live
/// workspace with the same name unless `allow_duplicate_name` (409 `WORKSPACE_NAME_EXISTS`, the code the
/// Python SDK maps to `WorkspaceNameExistsError`). Slugs follow the same rules as the ownership selectors
/// on `POST /sandboxes` (`workspace_slug`/`workspace_name`), so both paths find each other's workspaces.
enum WorkspacesAPI: ResourceGroup {
    static var migrations: [Migration] {
        [Migration(470, "workspace and project lookups", """
            CREATE INDEX workspaces_tenant_external ON workspaces (tenant_id, external_workspace_id);
            CREATE INDEX projects_tenant_workspace ON projects (tenant_id, workspace_id);
            """)]
    }

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "workspaces"
        let r = "workspaces:read", w = "workspaces:write"
        api.post("/workspaces", scope: w, summary: "Create a workspace (or reuse one by external_workspace_id)", tag: tag) { try create($0) }
        api.get("/workspaces", scope: r, summary: "List workspaces", tag: tag) { try list($0) }
        api.get("/workspaces/{id}", scope: r, summary: "Get a workspace", tag: tag) { ctx in
            let c = try ctx.caller
            return .json(200, Envelope.dataAndBare(try WorkspaceRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID).json()))
        }
        api.patch("/workspaces/{id}", scope: w, summary: "Update a workspace", tag: tag) { try update($0) }
        api.delete("/workspaces/{id}", scope: w, summary: "Delete a workspace (not the default one)", tag: tag) { try delete($0) }
        api.get("/workspaces/{id}/computers", scope: r, summary: "The workspace's sandboxes, shaped as computers", tag: tag) { ctx in
            try members(ctx) { ComputersAPI.computerJSON($0, now: ctx.app.now) }
        }
        api.get("/workspaces/{id}/sandboxes", scope: "sandboxes:read", summary: "The workspace's sandboxes", tag: tag) { ctx in
            try members(ctx) { $0.json(now: ctx.app.now) }
        }
    }

    static func readMetadata(_ f: inout FieldReader) -> String? {
        guard let m = f.object("metadata") else { return nil }
        let text = WorkspaceRecord.stringMap(m).encodedString
        if text.utf8.count > 64 * 1024 { f.fail("metadata", "must be at most 64 KiB encoded"); return nil }
        return text
    }

    static func nameTaken(_ db: Database, tenantID: String, name: String, except: String? = nil) throws -> WorkspaceRecord? {
        try db.first(WorkspaceRecord.select + " WHERE tenant_id = ? AND name = ? AND id != ? ORDER BY created_at LIMIT 1",
                     [.text(tenantID), .text(name), .text(except ?? "")], WorkspaceRecord.init)
    }

    static func nameConflict(_ existing: WorkspaceRecord) -> APIError {
        var e = APIError(409, "WORKSPACE_NAME_EXISTS",
                         "A workspace named \(existing.name) already exists; send allow_duplicate_name: true to create another.")
        e.extra["existing"] = .object(existing.json())
        return e
    }

    // MARK: handlers

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        var f = try ctx.fields()
        let name = f.string("name", required: true, maxLength: 255, allowEmpty: false)
        let slug = f.slug("slug")
        let description = f.string("description", maxLength: 2000)
        let metadata = readMetadata(&f) ?? "{}"
        let extWs = f.string("external_workspace_id", maxLength: 255)
        let extUser = f.string("external_user_id", maxLength: 255)
        let allowDuplicate = f.bool("allow_duplicate_name") ?? false
        try f.finish()
        return try db.transaction {
            if let ext = extWs, let found = try db.first(WorkspaceRecord.select + """
                 WHERE tenant_id = ? AND external_workspace_id = ? ORDER BY created_at LIMIT 1
                """, [.text(c.tenantID), .text(ext)], WorkspaceRecord.init) {
                return .json(200, Envelope.dataAndBare(found.json(reused: true)))
            }
            if !allowDuplicate, let existing = try nameTaken(db, tenantID: c.tenantID, name: name!) { throw nameConflict(existing) }
            let finalSlug: String
            if let s = slug {
                guard try db.scalarInt("SELECT 1 FROM workspaces WHERE tenant_id = ? AND slug = ?", [.text(c.tenantID), .text(s)]) == nil else {
                    throw APIError.conflict("A workspace with slug \(s) already exists.", code: "slug_taken")
                }
                finalSlug = s
            } else {
                finalSlug = try WorkspaceRecord.freeSlug(db, tenantID: c.tenantID, base: slugify(name!))
            }
            let id = IDs.uuid()
            let now = app.nowISO
            try db.run("""
                INSERT INTO workspaces (id, tenant_id, name, slug, description, metadata, external_workspace_id, external_user_id,
                    created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(c.tenantID), .text(name!), .text(finalSlug), .of(description), .text(metadata),
                      .of(extWs), .of(extUser), .text(now), .text(now)])
            let ws = try WorkspaceRecord.load(db, id: id, tenantID: c.tenantID)
            app.publish("workspace.created", tenantID: c.tenantID, workspaceID: id, resourceType: "workspace", resourceID: id,
                        data: .object(ws.json()), actorID: c.keyID)
            return .json(201, Envelope.dataAndBare(ws.json(reused: false)))
        }
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let q = ctx.query
        let page = try Page(query: q)
        var whereSQL = "tenant_id = ?"
        var args: [SQLValue] = [.text(c.tenantID)]
        for key in ["external_workspace_id", "external_user_id", "name", "slug"] {
            if let v = q[key] { whereSQL += " AND \(key) = ?"; args.append(.text(v)) }
        }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM workspaces WHERE " + whereSQL, args) ?? 0
        var items: [JSON] = []
        try db.forEach(WorkspaceRecord.select + " WHERE " + whereSQL + " ORDER BY is_default DESC, created_at, rowid LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(.object(WorkspaceRecord(s).json())); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    static func update(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let current = try WorkspaceRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        var sets = ["updated_at = ?"]
        var args: [SQLValue] = [.text(app.nowISO)]
        let name = f.string("name", maxLength: 255, allowEmpty: false)
        if let n = name { sets.append("name = ?"); args.append(.text(n)) }
        if f.present("description") { sets.append("description = ?"); args.append(.of(f.string("description", maxLength: 2000))) }
        if f.present("metadata") { sets.append("metadata = ?"); args.append(.text(readMetadata(&f) ?? "{}")) }
        let slug = f.slug("slug")
        if let s = slug { sets.append("slug = ?"); args.append(.text(s)) }
        let allowDuplicate = f.bool("allow_duplicate_name") ?? false
        try f.finish()
        if let n = name, !allowDuplicate, let existing = try nameTaken(db, tenantID: c.tenantID, name: n, except: current.id) {
            throw nameConflict(existing)
        }
        if let s = slug, try db.scalarInt("SELECT 1 FROM workspaces WHERE tenant_id = ? AND slug = ? AND id != ?",
                                          [.text(c.tenantID), .text(s), .text(current.id)]) != nil {
            throw APIError.conflict("A workspace with slug \(s) already exists.", code: "slug_taken")
        }
        try db.run("UPDATE workspaces SET \(sets.joined(separator: ", ")) WHERE id = ?", args + [.text(current.id)])
        let ws = try WorkspaceRecord.load(db, id: current.id, tenantID: c.tenantID)
        app.publish("workspace.updated", tenantID: c.tenantID, workspaceID: ws.id, resourceType: "workspace", resourceID: ws.id,
                    data: .object(ws.json()), actorID: c.keyID)
        return .json(200, Envelope.dataAndBare(ws.json()))
    }

    /// The default workspace is protected (409). Otherwise the workspace's projects go with it; its sandboxes
    /// are kept ("does not delete member computers") and move to the default workspace; keys bound to it fall
    /// back to the default workspace too (`ON DELETE SET NULL`), so the auth cache is flushed.
    static func delete(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let ws = try WorkspaceRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        guard !ws.isDefault else {
            throw APIError.conflict("The default workspace cannot be deleted.", code: "default_workspace_protected")
        }
        try db.transaction {
            let fallback = try db.first("SELECT id FROM workspaces WHERE tenant_id = ? AND is_default = 1 LIMIT 1",
                                        [.text(c.tenantID)], { $0.text(0) })
            try db.run("UPDATE sandboxes SET workspace_id = ?, project_id = NULL, updated_at = ? WHERE workspace_id = ? AND tenant_id = ?",
                       [.of(fallback), .text(app.nowISO), .text(ws.id), .text(c.tenantID)])
            try db.run("DELETE FROM workspaces WHERE id = ?", [.text(ws.id)])
        }
        app.service(Tenancy.self)?.invalidate()
        app.publish("workspace.deleted", tenantID: c.tenantID, workspaceID: ws.id, resourceType: "workspace", resourceID: ws.id,
                    data: .object(ws.json()), actorID: c.keyID)
        return .noContent
    }

    /// The workspace's live sandboxes in the list shape, each rendered by `render`.
    static func members(_ ctx: RequestContext, _ render: (SandboxRecord) -> JSON) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let ws = try WorkspaceRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        let page = try Page(query: ctx.query)
        let whereSQL = " WHERE s.tenant_id = ? AND s.workspace_id = ? AND s.state != 'destroyed'"
        let args: [SQLValue] = [.text(c.tenantID), .text(ws.id)]
        let total = try db.scalarInt("SELECT COUNT(*) FROM sandboxes s" + whereSQL, args) ?? 0
        var items: [JSON] = []
        try db.forEach(SandboxRecord.select + whereSQL + " ORDER BY s.rowid DESC LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(render(SandboxRecord(s))); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }
}
