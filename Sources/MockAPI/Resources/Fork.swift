/// `POST /sandboxes/{id}/fork` (sandbox-contract §4.4): a new sandbox whose `/workspace` and environment
/// variables are copies of the source's (or of a snapshot's when `snapshot_id` is given), answered 201
/// with the **bare** sandbox (Go decodes it into its computer struct: top-level `id` and `status`, and
/// `metadata` copied unchanged so string values stay strings). Snapshot restore reuses `spawn`.
enum ForkAPI: ResourceGroup {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        api.post("/sandboxes/{id}/fork", scope: "sandboxes:write", summary: "Fork a sandbox (bare sandbox)", tag: "sandboxes") { ctx in
            let c = try ctx.caller
            let source = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            var f = try ctx.fields()
            var snapshot: SnapshotRecord?
            if let sid = f.string("snapshot_id", maxLength: 255) {
                snapshot = try SnapshotRecord.load(ctx.app, id: sid, tenantID: c.tenantID)
            }
            let record = try spawn(ctx.app, source: source, snapshot: snapshot, fields: &f, caller: c)
            guard case .object(var o) = record.json(now: ctx.app.now) else { return .json(201, .null) }
            o["forked_from"] = .string(source.id)
            o["snapshot_id"] = .str(snapshot?.id)
            o["template_type"] = .string(record.templateID)
            return .json(201, .object(o))
        }
    }

    /// Creates the copy. Body fields (all optional): `name`, `external_user_id`, `metadata` (replaces the
    /// source's), `timeout_sec`, `template_id`, `env` (merged over the copied variables); the Python
    /// SDK's environment selectors and `fail_fast` are accepted and ignored.
    static func spawn(_ app: App, source: SandboxRecord, snapshot: SnapshotRecord?, fields f: inout FieldReader,
                      caller c: Principal, nameSuffix: String = "-fork") throws -> SandboxRecord {
        let name = f.string("name", maxLength: 255)
        let extUser = f.string("external_user_id", maxLength: 255)
        let metadata = f.object("metadata")
        let timeout = f.int("timeout_sec", min: 0, max: 30 * 86_400)
        let template = f.string("template_id", maxLength: 255)
        let env = f.object("env") ?? JSONObject()
        for (k, v) in env where v.string == nil || !EnvAPI.isValidKey(k) {
            f.fail("env.\(k)", "must be a string under a key matching [A-Za-z_][A-Za-z0-9_]*")
        }
        if let m = metadata, JSON.object(m).encoded().count > 64 * 1024 { f.fail("metadata", "must be at most 64 KiB encoded") }
        try f.finish()
        let db = app.db
        if let t = template, try db.scalarInt("SELECT 1 FROM templates WHERE id = ? AND (tenant_id IS NULL OR tenant_id = ?)",
                                              [.text(t), .text(c.tenantID)]) == nil {
            throw APIError.validation([("template_id", "names no template (GET /sandbox-templates lists them)")])
        }
        if snapshot == nil {
            if source.state == "destroyed" {
                throw APIError.conflict("Sandbox \(source.id) is destroyed; fork one of its snapshots instead.", code: "sandbox_destroyed")
            }
            if source.state == "creating" { try FileScope.requireLive(source) }
        }

        var spec = NewSandbox(template: template ?? snapshot?.templateID ?? source.templateID,
                              workspaceID: source.workspaceID ?? c.workspaceID)
        spec.name = name ?? source.name.map { String(($0 + nameSuffix).prefix(255)) }
        spec.size = SandboxSize(name: source.size, cpu: source.cpu, memoryMB: source.memoryMB, diskMB: source.diskMB)
        spec.region = source.region
        spec.timeoutSec = timeout ?? source.timeoutSec
        spec.idleTimeoutSec = source.idleTimeoutSec
        spec.alwaysOn = source.alwaysOn
        spec.persistent = source.persistent
        spec.metadata = metadata ?? source.metadataJSON.object ?? JSONObject()
        spec.tags = source.tagsJSON.array?.compactMap(\.string) ?? []
        spec.env = env
        spec.projectID = source.projectID
        spec.externalWorkspaceID = source.externalWorkspaceID
        spec.externalUserID = extUser ?? source.externalUserID
        spec.externalProjectID = source.externalProjectID
        if let s = snapshot {
            spec.envVars = s.envVars
            spec.seed = .copy(SnapshotStore.workspace(app, s.id))
        } else {
            spec.envVars = try EnvAPI.rows(db, source.id)
            spec.seed = .copy(SandboxPaths.workspace(app, source.id))
        }
        return try db.transaction {
            let record = try SandboxesAPI.insert(app, spec, tenantID: c.tenantID, actorID: c.keyID)
            if let s = snapshot { SnapshotStore.touch(app, s.id) }
            return record
        }
    }
}
