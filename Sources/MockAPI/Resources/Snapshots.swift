import Foundation
import Store

/// Per-sandbox checkpoints (sandbox-contract §10.1). A snapshot is a copy of the sandbox's `/workspace`
/// under `<data>/snapshots/<id>/workspace` plus its environment variables. Restore follows the Go SDK
/// ("creates a sandbox from the checkpoint"): it answers 201 with a **new** sandbox and leaves the source
/// as it is (the Python and TS SDKs build a new handle from the reply either way). Retention follows the
/// mock clock: an expired snapshot disappears from lists and cannot be restored.
enum SnapshotsAPI: ResourceGroup {
    static let migrations = [
        Migration(271, "sandbox snapshots", """
            CREATE TABLE sandbox_snapshots (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
                status TEXT NOT NULL DEFAULT 'ready', comment TEXT, keep INTEGER NOT NULL DEFAULT 0,
                retention_seconds INTEGER, template_id TEXT NOT NULL, env TEXT NOT NULL DEFAULT '[]',
                size_bytes INTEGER NOT NULL DEFAULT 0, file_count INTEGER NOT NULL DEFAULT 0,
                -- epoch seconds on the server clock; NULL = kept until deleted
                expires_at REAL, last_used_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE INDEX sandbox_snapshots_sandbox ON sandbox_snapshots (sandbox_id, created_at);
            """),
    ]
    static let defaultRetention = 30 * 86_400

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "snapshots"
        api.post("/sandboxes/{id}/snapshots", scope: "sandboxes:write", summary: "Create a snapshot", tag: tag) { ctx in
            .created(try create(ctx).json)
        }
        api.post("/sandboxes/{id}/snapshot", scope: "sandboxes:write", summary: "Quick snapshot ({snapshot_id})", tag: tag) { ctx in
            let s = try create(ctx)
            return .created(.object(["snapshot_id": .string(s.id), "id": .string(s.id), "status": .string(s.status),
                                     "created_at": .string(s.createdAt)]))
        }
        api.get("/sandboxes/{id}/snapshots", scope: "sandboxes:read", summary: "List snapshots", tag: tag) { try list($0) }
        api.get("/sandboxes/{id}/snapshots/{snapshot_id}", scope: "sandboxes:read", summary: "Get a snapshot", tag: tag) { ctx in
            let c = try ctx.caller
            _ = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            return .ok(try SnapshotRecord.load(ctx.app, id: ctx.param("snapshot_id"), tenantID: c.tenantID, sandboxID: ctx.param("id")).json)
        }
        api.post("/sandboxes/{id}/restore/{snapshot_id}", scope: "sandboxes:write", summary: "Restore a snapshot into a new sandbox", tag: tag) { ctx in
            let c = try ctx.caller
            let source = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            let snap = try SnapshotRecord.load(ctx.app, id: ctx.param("snapshot_id"), tenantID: c.tenantID, sandboxID: source.id)
            var f = try ctx.fields()
            let record = try ForkAPI.spawn(ctx.app, source: source, snapshot: snap, fields: &f, caller: c,
                                         nameSuffix: "-restored")
            return .created(record.json(now: ctx.app.now))
        }
        api.delete("/sandboxes/{id}/snapshots/{snapshot_id}", scope: "sandboxes:write", summary: "Delete a snapshot", tag: tag) { ctx in
            let c = try ctx.caller
            _ = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            let snap = try SnapshotRecord.load(ctx.app, id: ctx.param("snapshot_id"), tenantID: c.tenantID, sandboxID: ctx.param("id"))
            SnapshotStore.delete(ctx.app, snap.id)
            return .noContent
        }
        app.resetHooks.append { try? FileManager.default.removeItem(atPath: SnapshotStore.root(app)) }
    }

    static func create(_ ctx: RequestContext) throws -> SnapshotRecord {
        let c = try ctx.caller
        let app = ctx.app
        let r = try SandboxRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        var f = try ctx.fields()
        let comment = f.string("comment", maxLength: 1024) ?? f.string("name", maxLength: 1024)
        let keep = f.bool("keep") ?? false
        let seconds = f.int("retention_seconds", min: 60, max: 3650 * 86_400) ?? f.int("expiration_seconds", min: 60, max: 3650 * 86_400)
            ?? f.int("expiration_days", min: 1, max: 3650).map { $0 * 86_400 }
        try f.finish()
        if r.state == "destroyed" { throw APIError.conflict("Sandbox \(r.id) is destroyed.", code: "sandbox_destroyed") }
        if r.state == "creating" { try FileScope.requireLive(r) }
        let fromMetadata = r.metadataJSON["snapshot_expiration_sec"]?.int
        let retention = keep ? 0 : (seconds ?? fromMetadata ?? defaultRetention)
        let id = IDs.uuid()
        let now = app.nowISO
        let dir = SnapshotStore.dir(app, id)
        do {
            try FileManager.default.createDirectory(atPath: dir + "/workspace", withIntermediateDirectories: true)
            try SnapshotStore.copyWorkspace(from: SandboxPaths.workspace(app, r.id), to: dir + "/workspace")
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        let (files, bytes) = SnapshotStore.measure(dir + "/workspace")
        let env = try EnvAPI.rows(app.db, r.id).map { v -> JSON in
            .object(["key": .string(v.key), "value": .string(v.value), "encrypted": .bool(v.encrypted)])
        }
        try app.db.run("""
            INSERT INTO sandbox_snapshots (id, tenant_id, sandbox_id, status, comment, keep, retention_seconds, template_id, env,
                size_bytes, file_count, expires_at, created_at, updated_at) VALUES (?, ?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(c.tenantID), .text(r.id), .of(comment), .of(keep), .of(retention), .text(r.templateID),
                  .text(JSON.array(env).encodedString), .of(bytes), .of(files),
                  retention > 0 ? .double(app.now + Double(retention)) : .null, .text(now), .text(now)])
        let snap = try SnapshotRecord.load(app, id: id, tenantID: c.tenantID, sandboxID: r.id)
        app.publish("sandbox.snapshot_created", tenantID: c.tenantID, workspaceID: r.workspaceID, sandboxID: r.id,
                    resourceType: "snapshot", resourceID: id, data: snap.json, actorID: c.keyID)
        return snap
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let r = try SandboxRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        SnapshotStore.sweep(app)
        let page = try Page(query: ctx.query)
        let total = try app.db.scalarInt("SELECT COUNT(*) FROM sandbox_snapshots WHERE sandbox_id = ?", [.text(r.id)]) ?? 0
        var items: [JSON] = []
        try app.db.forEach(SnapshotRecord.select + " WHERE sandbox_id = ? ORDER BY rowid DESC LIMIT ? OFFSET ?",
                           [.text(r.id), .of(page.pageSize), .of(page.offset)]) { s in
            items.append(SnapshotRecord(s).json); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }
}

/// One `sandbox_snapshots` row.
struct SnapshotRecord {
    var id, tenantID, sandboxID, status, templateID, env, createdAt, updatedAt: String
    var comment, lastUsedAt: String?
    var keep: Bool
    var retentionSeconds: Int?
    var sizeBytes, fileCount: Int
    var expiresAt: Double?

    static let select = """
        SELECT id, tenant_id, sandbox_id, status, template_id, env, created_at, updated_at, comment, last_used_at,
               keep, retention_seconds, size_bytes, file_count, expires_at FROM sandbox_snapshots
        """

    init(_ s: Statement) {
        id = s.text(0); tenantID = s.text(1); sandboxID = s.text(2); status = s.text(3); templateID = s.text(4)
        env = s.text(5); createdAt = s.text(6); updatedAt = s.text(7); comment = s.optionalText(8)
        lastUsedAt = s.optionalText(9); keep = s.bool(10); retentionSeconds = s.optionalInt(11)
        sizeBytes = s.int(12); fileCount = s.int(13); expiresAt = s.isNull(14) ? nil : s.double(14)
    }

    /// A live snapshot of this tenant (and of `sandboxID` when given); expired ones are swept first, so
    /// they read as 404 `snapshot_not_found` like any other missing snapshot.
    static func load(_ app: App, id: String, tenantID: String, sandboxID: String? = nil) throws -> SnapshotRecord {
        SnapshotStore.sweep(app)
        var sql = select + " WHERE id = ? AND tenant_id = ?"
        var args: [SQLValue] = [.text(id), .text(tenantID)]
        if let s = sandboxID { sql += " AND sandbox_id = ?"; args.append(.text(s)) }
        guard let r = try app.db.first(sql, args, SnapshotRecord.init) else { throw APIError.notFound("snapshot", id) }
        return r
    }

    var envVars: [EnvAPI.Var] {
        ((try? JSON.parse(env))?.array ?? []).compactMap { v in
            guard let k = v["key"]?.string, let value = v["value"]?.string else { return nil }
            return EnvAPI.Var(key: k, value: value, encrypted: v["encrypted"]?.bool ?? false)
        }
    }

    var json: JSON {
        .object([
            "id": .string(id), "object": .string("snapshot"), "sandbox_id": .string(sandboxID), "status": .string(status),
            "comment": .str(comment), "keep": .bool(keep), "retention_seconds": .int(retentionSeconds ?? 0),
            "template_id": .string(templateID), "size_bytes": .int(sizeBytes), "file_count": .int(fileCount),
            "last_used_at": .str(lastUsedAt), "expires_at": expiresAt.map { .string(Time.iso($0)) } ?? .null,
            "created_at": .string(createdAt), "updated_at": .string(updatedAt),
        ])
    }
}
