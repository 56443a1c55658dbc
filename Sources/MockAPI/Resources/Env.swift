import Store

/// Per-sandbox environment variables (sandbox-contract §7), stored in `sandbox_env` (core migration 2),
/// which the command runtime reads for exec and process environments.
///
/// `PUT` upserts: the keys sent are created or replaced and every other key stays. The SDKs call it
/// "bulk set", and the documented single-pair form (`env.set("KEY", "value")` in the TS and Elixir
/// guides) maps onto a one-entry PUT that must not wipe the rest. `?replace=true` (or `"replace": true`)
/// makes the list sent the whole set. Values of `encrypted` vars read back masked.
enum EnvAPI: ResourceGroup {
    static let maxVars = 500
    static let maxValueBytes = 32 * 1024
    static let mask = "********"

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "env"
        api.get("/sandboxes/{id}/env", scope: "sandboxes:read", summary: "List environment variables", tag: tag) { ctx in
            let c = try ctx.caller
            let r = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            return .ok(.array(try rows(ctx.app.db, r.id).map(json)))
        }
        api.put("/sandboxes/{id}/env", scope: "sandboxes:write", summary: "Set environment variables (upsert)", tag: tag) { try put($0) }
        api.delete("/sandboxes/{id}/env/{key}", scope: "sandboxes:write", summary: "Delete an environment variable", tag: tag) { try delete($0) }
    }

    struct Var { var key: String; var value: String; var encrypted: Bool }

    static func rows(_ db: Database, _ sandboxID: String) throws -> [Var] {
        var out: [Var] = []
        try db.forEach("SELECT key, value, encrypted FROM sandbox_env WHERE sandbox_id = ? ORDER BY key", [.text(sandboxID)]) { s in
            out.append(Var(key: s.text(0), value: s.text(1), encrypted: s.bool(2)))
            return true
        }
        return out
    }

    static func json(_ v: Var) -> JSON {
        .object(["key": .string(v.key), "value": .string(v.encrypted ? mask : v.value), "encrypted": .bool(v.encrypted)])
    }

    static func isValidKey(_ k: String) -> Bool {
        guard let first = k.utf8.first, k.utf8.count <= 256, !(first >= 0x30 && first <= 0x39) else { return false }
        return k.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
    }

    /// Validates `{"vars": [{key, value, encrypted?}]}` (or `{"env": {KEY: value}}`), naming each bad field.
    static func parse(_ body: JSONObject) throws -> [Var] {
        var problems: [(String, String)] = []
        var out: [(String, Var)] = []  // (field prefix for errors, var)
        if let list = body["vars"] ?? body["variables"] {
            guard let items = list.array else { throw APIError.validation([("vars", "must be an array of {key, value, encrypted?}")]) }
            for (i, item) in items.enumerated() {
                guard let o = item.object else { problems.append(("vars[\(i)]", "must be an object")); continue }
                let key = o["key"]?.string ?? o["name"]?.string
                let value = o["value"]
                let encrypted = o["encrypted"] ?? o["secret"]
                if key == nil { problems.append(("vars[\(i)].key", "is required")) }
                if value?.string == nil { problems.append(("vars[\(i)].value", "must be a string")) }
                if let e = encrypted, !e.isNull, e.bool == nil { problems.append(("vars[\(i)].encrypted", "must be a boolean")) }
                if let k = key, let v = value?.string { out.append(("vars[\(i)]", Var(key: k, value: v, encrypted: encrypted?.bool ?? false))) }
            }
        } else if let map = body["env"]?.object {
            for (k, v) in map {
                guard let s = v.string else { problems.append(("env.\(k)", "must be a string")); continue }
                out.append(("env.\(k)", Var(key: k, value: s, encrypted: false)))
            }
        } else {
            throw APIError.validation([("vars", "is required: an array of {key, value, encrypted?}")])
        }
        for (field, v) in out {
            if !isValidKey(v.key) { problems.append(("\(field).key", "must match [A-Za-z_][A-Za-z0-9_]* and be at most 256 bytes")) }
            if v.value.utf8.count > maxValueBytes { problems.append(("\(field).value", "must be at most 32 KB")) }
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return out.map(\.1)
    }

    static func put(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let r = try SandboxRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        let body = try ctx.bodyObject()
        let vars = try parse(body)
        guard r.state != "destroyed" else { throw APIError.conflict("Sandbox \(r.id) is destroyed.", code: "sandbox_destroyed") }
        let replace = ctx.query.bool("replace") ?? body["replace"]?.bool ?? false
        let list: [Var] = try db.transaction {
            if replace { try db.run("DELETE FROM sandbox_env WHERE sandbox_id = ?", [.text(r.id)]) }
            try upsert(db, r.id, vars, now: app.nowISO)
            let count = try db.scalarInt("SELECT COUNT(*) FROM sandbox_env WHERE sandbox_id = ?", [.text(r.id)]) ?? 0
            if count > maxVars {
                throw APIError(422, "too_many_env_vars", "A sandbox holds at most \(maxVars) environment variables.")
            }
            return try rows(db, r.id)
        }
        app.publish("sandbox.env_updated", tenantID: c.tenantID, workspaceID: r.workspaceID, sandboxID: r.id,
                    resourceType: "sandbox", resourceID: r.id,
                    data: .object(["keys": .array(vars.map { .string($0.key) }), "replace": .bool(replace)]), actorID: c.keyID)
        return .ok(.array(list.map(json)))
    }

    /// Inserts or replaces rows (shared with create and fork, which copy variables into a new sandbox).
    static func upsert(_ db: Database, _ sandboxID: String, _ vars: [Var], now: String) throws {
        for v in vars {
            try db.run("""
                INSERT INTO sandbox_env (sandbox_id, key, value, encrypted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (sandbox_id, key) DO UPDATE SET value = excluded.value, encrypted = excluded.encrypted,
                    updated_at = excluded.updated_at
                """, [.text(sandboxID), .text(v.key), .text(v.value), .of(v.encrypted), .text(now), .text(now)])
        }
    }

    static func delete(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let db = ctx.app.db
        let r = try SandboxRecord.load(db, id: ctx.param("id"), tenantID: c.tenantID)
        let key = ctx.param("key")
        guard try db.run("DELETE FROM sandbox_env WHERE sandbox_id = ? AND key = ?", [.text(r.id), .text(key)]) > 0 else {
            throw APIError(404, "env_var_not_found", "Sandbox \(r.id) has no environment variable \(key).")
        }
        return .noContent
    }
}
