import Store

/// Everything a new sandbox row needs. `POST /sandboxes` fills it from the request; fork and snapshot
/// restore fill it from the source sandbox; all three go through `SandboxesAPI.insert`.
struct NewSandbox {
    var name: String?
    var slug: String?
    var template: String
    var size: SandboxSize = SandboxSize.small
    var region: String?
    var timeoutSec: Int?
    var idleTimeoutSec: Int?
    var alwaysOn = false
    var persistent = false
    var metadata = JSONObject()
    var tags: [String] = []
    /// The create body's `env` map (kept on the row as given; its pairs also become `sandbox_env` rows).
    var env = JSONObject()
    /// Extra variables copied into `sandbox_env` (fork and restore copy the source's, `encrypted` kept).
    var envVars: [EnvAPI.Var] = []
    var externalWorkspaceID: String?
    var externalUserID: String?
    var externalProjectID: String?
    var workspaceID: String
    var projectID: String?
    /// Where `/workspace` starts from.
    var seed: Seed = .template

    enum Seed {
        /// `fixtures/templates/<template_id>/` when that folder exists, else empty.
        case template
        /// A copy of this host directory (a fork's source workspace, a snapshot).
        case copy(String)
    }
}

extension SandboxesAPI {
    /// Inserts the row, seeds `/workspace` when there is something to seed (other sandboxes get their directories
    /// on first use, `SandboxPaths.materialize`), writes the env rows, publishes
    /// `sandbox.created` and then `sandbox.ready` (or schedules the simulated boot). Call inside a
    /// transaction: a failure removes the directories and the caller's transaction drops the row.
    static func insert(_ app: App, _ s: NewSandbox, tenantID: String, actorID: String?) throws -> SandboxRecord {
        let db = app.db
        let id = IDs.uuid()
        let now = app.now
        let nowISO = Time.iso(now)
        let booting = app.config.bootDelayMs > 0
        let deadline: SQLValue = (!s.alwaysOn && (s.timeoutSec ?? 0) > 0) ? .double(now + Double(s.timeoutSec!)) : .null
        try db.run("""
            INSERT INTO sandboxes (id, tenant_id, workspace_id, project_id, name, slug, state, template_id, size,
                cpu_count, memory_mb, disk_size_mb, region, timeout_sec, idle_timeout_sec, always_on, persistent,
                metadata, tags, env, external_workspace_id, external_user_id, external_project_id, boot_ms,
                created_at, started_at, ready_at, updated_at, deadline)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(tenantID), .text(s.workspaceID), .of(s.projectID), .of(s.name), .of(s.slug),
                  .text(booting ? "creating" : "running"), .text(s.template), .text(s.size.name),
                  .of(s.size.cpu), .of(s.size.memoryMB), .of(s.size.diskMB), .of(s.region), .of(s.timeoutSec), .of(s.idleTimeoutSec),
                  .of(s.alwaysOn), .of(s.persistent), .text(JSON.object(s.metadata).encodedString),
                  .text(JSON.array(s.tags.map { .string($0) }).encodedString), .text(JSON.object(s.env).encodedString),
                  .of(s.externalWorkspaceID), .of(s.externalUserID), .of(s.externalProjectID), .of(Int(app.config.bootDelayMs)),
                  .text(nowISO), booting ? .null : .text(nowISO), booting ? .null : .text(nowISO), .text(nowISO), deadline])
        var vars = s.envVars
        for (k, v) in s.env { if let value = v.string { vars.append(EnvAPI.Var(key: k, value: value, encrypted: false)) } }
        try EnvAPI.upsert(db, id, vars, now: nowISO)
        do {
            switch s.seed {
            case .template:
                try SandboxDirs.create(app: app, id: id, template: s.template)
            case .copy(let from):
                try SandboxDirs.copy(app: app, id: id, from: from)
            }
        } catch {
            SandboxDirs.remove(app: app, id: id)
            throw error
        }
        let record = try SandboxRecord.load(db, id: id, tenantID: tenantID)
        let json = record.json(now: now)  // for subscribers that read fields (the audit summary)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1536)
        record.encode(now: now, into: &bytes)  // the same bytes as json.encoded(), without walking the tree
        let text = String(decoding: bytes, as: UTF8.self)
        app.publish("sandbox.created", tenantID: tenantID, workspaceID: s.workspaceID, sandboxID: id,
                    resourceType: "sandbox", resourceID: id, data: json, actorID: actorID, dataText: text)
        if booting {
            app.service(SandboxBoot.self)?.schedule(id: id, tenantID: tenantID, afterMs: app.config.bootDelayMs)
        } else {
            app.publish("sandbox.ready", tenantID: tenantID, workspaceID: s.workspaceID, sandboxID: id,
                        resourceType: "sandbox", resourceID: id, data: json, actorID: actorID, dataText: text)
        }
        return record
    }
}
