import Store

/// `/projects` (platform-contract B12; Python only): folders inside a workspace that sandboxes can belong to
/// (`project_id|project_slug|project_name` on create). The workspace is picked with the same selectors as
/// `POST /sandboxes` (`workspace_id|workspace_slug|workspace_name`, else the caller's workspace).
enum ProjectsAPI: ResourceGroup {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "projects"
        let r = "projects:read", w = "projects:write"
        api.get("/projects", scope: r, summary: "List projects", tag: tag) { try list($0) }
        api.post("/projects", scope: w, summary: "Create a project", tag: tag) { try create($0) }
        api.get("/projects/{id}", scope: r, summary: "Get a project", tag: tag) { ctx in
            let c = try ctx.caller
            return .ok(try load(ctx.app.db, ctx.param("id"), c.tenantID))
        }
        api.patch("/projects/{id}", scope: w, summary: "Update a project", tag: tag) { try update($0) }
        api.delete("/projects/{id}", scope: w, summary: "Delete a project (its sandboxes stay)", tag: tag) { try delete($0) }
        api.post("/projects/{id}/move", scope: w, summary: "Move a project and its sandboxes to another workspace", tag: tag) { try move($0) }
    }

    static let select = """
        SELECT p.id, p.tenant_id, p.workspace_id, w.slug, p.name, p.slug, p.description, p.metadata, p.created_at, p.updated_at,
               (SELECT COUNT(*) FROM sandboxes s WHERE s.project_id = p.id AND s.state != 'destroyed')
        FROM projects p JOIN workspaces w ON w.id = p.workspace_id
        """

    static func row(_ s: Statement) -> JSON {
        .object([
            "id": .string(s.text(0)), "object": .string("project"), "tenant_id": .string(s.text(1)),
            "workspace_id": .string(s.text(2)), "workspace_slug": .string(s.text(3)), "name": .string(s.text(4)),
            "slug": .string(s.text(5)), "description": .str(s.optionalText(6)),
            "metadata": (try? JSON.parse(s.text(7))) ?? .object(JSONObject()), "sandbox_count": .int(s.int(10)),
            "created_at": .string(s.text(8)), "updated_at": .string(s.text(9)),
        ])
    }

    static func load(_ db: Database, _ id: String, _ tenantID: String) throws -> JSON {
        guard let p = try db.first(select + " WHERE p.id = ? AND p.tenant_id = ?", [.text(id), .text(tenantID)], row) else {
            throw APIError.notFound("project", id)
        }
        return p
    }

    static func readMetadata(_ f: inout FieldReader) -> String? {
        guard let m = f.object("metadata") else { return nil }
        let text = JSON.object(m).encodedString
        if text.utf8.count > 64 * 1024 { f.fail("metadata", "must be at most 64 KiB encoded"); return nil }
        return text
    }

    static func slugTaken(_ db: Database, workspace: String, slug: String, except: String = "") throws -> Bool {
        try db.scalarInt("SELECT 1 FROM projects WHERE workspace_id = ? AND slug = ? AND id != ?",
                         [.text(workspace), .text(slug), .text(except)]) != nil
    }

    static func slugConflict(_ slug: String) -> APIError {
        APIError.conflict("A project with slug \(slug) already exists in that workspace.", code: "slug_taken")
    }

    // MARK: handlers

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let q = ctx.query
        let page = try Page(query: q)
        var whereSQL = " WHERE p.tenant_id = ?"
        var args: [SQLValue] = [.text(c.tenantID)]
        if let ws = q["workspace_id"] { whereSQL += " AND p.workspace_id = ?"; args.append(.text(ws)) }
        if let ws = q["workspace_slug"] { whereSQL += " AND w.slug = ?"; args.append(.text(ws)) }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM projects p JOIN workspaces w ON w.id = p.workspace_id" + whereSQL, args) ?? 0
        var items: [JSON] = []
        try db.forEach(select + whereSQL + " ORDER BY p.created_at, p.rowid LIMIT ? OFFSET ?", args + [.of(page.pageSize), .of(page.offset)]) {
            items.append(row($0)); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        var f = try ctx.fields()
        let name = f.string("name", required: true, maxLength: 255, allowEmpty: false)
        let slug = f.slug("slug")
        let description = f.string("description", maxLength: 2000)
        let metadata = readMetadata(&f) ?? "{}"
        return try db.transaction {
            // Reads the workspace selectors and throws every collected field problem (one 422).
            let owner = try app.service(Tenancy.self)!.resolveOwnership(&f, caller: c)
            let finalSlug: String
            if let s = slug {
                if try slugTaken(db, workspace: owner.workspaceID, slug: s) { throw slugConflict(s) }
                finalSlug = s
            } else {
                let base = slugify(name!)
                var candidate = base, n = 1
                while try slugTaken(db, workspace: owner.workspaceID, slug: candidate) {
                    n += 1
                    candidate = String(base.prefix(63 - "-\(n)".count)) + "-\(n)"
                }
                finalSlug = candidate
            }
            let id = IDs.uuid()
            let now = app.nowISO
            try db.run("""
                INSERT INTO projects (id, tenant_id, workspace_id, name, slug, description, metadata, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(c.tenantID), .text(owner.workspaceID), .text(name!), .text(finalSlug), .of(description),
                      .text(metadata), .text(now), .text(now)])
            let p = try load(db, id, c.tenantID)
            app.publish("project.created", tenantID: c.tenantID, workspaceID: owner.workspaceID, resourceType: "project",
                        resourceID: id, data: p, actorID: c.keyID)
            return .created(p)
        }
    }

    static func update(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let current = try load(db, ctx.param("id"), c.tenantID)
        let id = current["id"]!.string!, workspace = current["workspace_id"]!.string!
        var f = try ctx.fields()
        var sets = ["updated_at = ?"]
        var args: [SQLValue] = [.text(app.nowISO)]
        if let n = f.string("name", maxLength: 255, allowEmpty: false) { sets.append("name = ?"); args.append(.text(n)) }
        if f.present("description") { sets.append("description = ?"); args.append(.of(f.string("description", maxLength: 2000))) }
        if f.present("metadata") { sets.append("metadata = ?"); args.append(.text(readMetadata(&f) ?? "{}")) }
        let slug = f.slug("slug")
        if let s = slug { sets.append("slug = ?"); args.append(.text(s)) }
        try f.finish()
        if let s = slug, try slugTaken(db, workspace: workspace, slug: s, except: id) { throw slugConflict(s) }
        try db.run("UPDATE projects SET \(sets.joined(separator: ", ")) WHERE id = ?", args + [.text(id)])
        let p = try load(db, id, c.tenantID)
        app.publish("project.updated", tenantID: c.tenantID, workspaceID: workspace, resourceType: "project", resourceID: id,
                    data: p, actorID: c.keyID)
        return .ok(p)
    }

    /// The project's sandboxes stay, without a project.
    static func delete(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let p = try load(db, ctx.param("id"), c.tenantID)
        let id = p["id"]!.string!
        try db.transaction {
            try db.run("UPDATE sandboxes SET project_id = NULL, updated_at = ? WHERE project_id = ? AND tenant_id = ?",
                       [.text(app.nowISO), .text(id), .text(c.tenantID)])
            try db.run("DELETE FROM projects WHERE id = ?", [.text(id)])
        }
        app.publish("project.deleted", tenantID: c.tenantID, workspaceID: p["workspace_id"]?.string, resourceType: "project",
                    resourceID: id, data: p, actorID: c.keyID)
        return .noContent
    }

    /// `{target_workspace_id}`: the project and its sandboxes change workspace in one transaction.
    static func move(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let p = try load(db, ctx.param("id"), c.tenantID)
        let id = p["id"]!.string!
        var f = try ctx.fields()
        let target = f.string("target_workspace_id", required: true, maxLength: 64, allowEmpty: false)
        try f.finish()
        try ApiKeysAPI.checkWorkspace(app, target, c, field: "target_workspace_id")
        guard target != p["workspace_id"]?.string else { return .ok(p) }
        if try slugTaken(db, workspace: target!, slug: p["slug"]!.string!) { throw slugConflict(p["slug"]!.string!) }
        let now = app.nowISO
        try db.transaction {
            try db.run("UPDATE projects SET workspace_id = ?, updated_at = ? WHERE id = ?", [.text(target!), .text(now), .text(id)])
            try db.run("UPDATE sandboxes SET workspace_id = ?, updated_at = ? WHERE project_id = ? AND tenant_id = ?",
                       [.text(target!), .text(now), .text(id), .text(c.tenantID)])
        }
        let moved = try load(db, id, c.tenantID)
        app.publish("project.moved", tenantID: c.tenantID, workspaceID: target, resourceType: "project", resourceID: id,
                    data: .object(["project": moved, "from_workspace_id": p["workspace_id"] ?? .null]), actorID: c.keyID)
        return .ok(moved)
    }
}
