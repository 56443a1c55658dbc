import EventLoop
import HTTP
import Store
import Foundation

/// `/sandboxes`: create, get, get by name, list, update (PATCH), delete, lifecycle actions, readiness, usage.
enum SandboxesAPI: ResourceGroup {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "sandboxes"
        api.post("/sandboxes", scope: "sandboxes:create", summary: "Create a sandbox", tag: tag) { try create($0) }
        api.get("/sandboxes", scope: "sandboxes:read", summary: "List sandboxes", tag: tag) { try list($0) }
        api.get("/sandboxes/by-name/{name}", scope: "sandboxes:read", summary: "Get a sandbox by name", tag: tag) { try byName($0) }
        api.get("/sandboxes/{id}", scope: "sandboxes:read", summary: "Get a sandbox", tag: tag) { ctx in
            let c = try ctx.caller
            return try SandboxRecord.okReply(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID, now: ctx.app.now)
        }
        api.patch("/sandboxes/{id}", scope: "sandboxes:write", summary: "Update a sandbox", tag: tag) { try update($0) }
        api.delete("/sandboxes/{id}", scope: "sandboxes:write", summary: "Destroy a sandbox", tag: tag) { try destroy($0) }
        for (action, verb) in [("stop", SandboxLifecycle.Action.stop), ("pause", .pause), ("resume", .resume), ("start", .start)] {
            api.post("/sandboxes/{id}/\(action)", scope: "sandboxes:write", summary: "\(action.capitalized) a sandbox", tag: tag) { ctx in
                try transition(ctx, verb)
            }
        }
        api.post("/sandboxes/{id}/extend", scope: "sandboxes:write", summary: "Extend a sandbox's timeout", tag: tag) { try extend($0) }
        api.get("/sandboxes/{id}/readiness", scope: "sandboxes:read", summary: "Readiness", tag: tag) { ctx in
            let c = try ctx.caller
            return .ok(try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID).readinessJSON())
        }
        api.get("/sandboxes/{id}/readiness/stream", scope: "sandboxes:read", summary: "Readiness (SSE)", tag: tag) { try readinessStream($0) }
        api.get("/sandboxes/{id}/usage", scope: "sandboxes:read", summary: "Sandbox usage", tag: tag) { try usage($0) }

        app.register(SandboxBoot(app: app))
    }

    // MARK: create

    static func create(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let name = f.string("name", maxLength: 255)
        let slug = f.slug("slug")
        let template = f.string("template_id", maxLength: 255) ?? f.string("template", maxLength: 255)
            ?? f.string("template_type", maxLength: 255) ?? f.string("image", maxLength: 255) ?? "miosa-sandbox"
        let sizeName = f.oneOf("size", SandboxSize.tiers.map(\.name) + ["xlarge"])
        let cpu = f.int("cpu_count", min: 1, max: 64)
        let mem = f.int("memory_mb", min: 256, max: 262_144)
        let disk = f.int("disk_size_mb", min: 1024, max: 1_048_576) ?? f.int("disk_mb", min: 1024, max: 1_048_576)
        let timeout = f.int("timeout_sec", min: 0, max: 30 * 86_400)
        let idle = f.int("idle_timeout_sec", min: 0, max: 30 * 86_400)
        let alwaysOn = f.bool("always_on") ?? false
        let persistent = f.bool("persistent") ?? false
        let region = f.string("region", maxLength: 64)
        let metadata = f.object("metadata") ?? JSONObject()
        let tags = f.stringArray("tags") ?? []
        let env = f.object("env") ?? JSONObject()
        for (k, v) in env where v.string == nil { f.fail("env.\(k)", "must be a string") }
        let extWs = f.string("external_workspace_id", maxLength: 255)
        let extUser = f.string("external_user_id", maxLength: 255)
        let extProject = f.string("external_project_id", maxLength: 255)
        if JSON.object(metadata).encoded().count > 64 * 1024 { f.fail("metadata", "must be at most 64 KiB encoded") }

        var size = sizeName.flatMap(SandboxSize.named) ?? SandboxSize.small
        if cpu != nil || mem != nil {
            if let match = SandboxSize.tiers.first(where: { $0.cpu == cpu && $0.memoryMB == mem }) {
                if let n = sizeName, SandboxSize.named(n)?.name != match.name {
                    f.fail("size", "does not match cpu_count \(cpu!) and memory_mb \(mem!)")
                }
                size = SandboxSize(name: match.name, cpu: match.cpu, memoryMB: match.memoryMB, diskMB: disk ?? match.diskMB)
            } else if let cpu = cpu, let mem = mem, let disk = disk {
                size = SandboxSize(name: "custom", cpu: cpu, memoryMB: mem, diskMB: disk)
            } else {
                f.fail("cpu_count", "with memory_mb must match a size tier, or come with disk_size_mb for a custom shape")
            }
        } else if let d = disk {
            size = SandboxSize(name: size.name, cpu: size.cpu, memoryMB: size.memoryMB, diskMB: max(d, size.diskMB))
        }
        try f.finish()

        let db = app.db
        guard try db.scalarInt("SELECT 1 FROM templates WHERE id = ? AND (tenant_id IS NULL OR tenant_id = ?)",
                               [.text(template), .text(c.tenantID)]) != nil else {
            throw APIError.validation([("template_id", "names no template (GET /sandbox-templates lists them)")])
        }
        let tenancy = app.service(Tenancy.self)!
        return try db.transaction {
            let owner = try tenancy.resolveOwnership(&f, caller: c)
            if let s = slug, try db.scalarInt("SELECT 1 FROM sandboxes WHERE tenant_id = ? AND slug = ? AND state != 'destroyed'",
                                              [.text(c.tenantID), .text(s)]) != nil {
                throw APIError.conflict("A sandbox with slug \(s) already exists.", code: "slug_taken")
            }
            var spec = NewSandbox(template: template, workspaceID: owner.workspaceID)
            spec.name = name; spec.slug = slug; spec.size = size; spec.region = region
            spec.timeoutSec = timeout; spec.idleTimeoutSec = idle; spec.alwaysOn = alwaysOn; spec.persistent = persistent
            spec.metadata = metadata; spec.tags = tags; spec.env = env; spec.projectID = owner.projectID
            spec.externalWorkspaceID = extWs; spec.externalUserID = extUser; spec.externalProjectID = extProject
            return try insert(app, spec, tenantID: c.tenantID, actorID: c.keyID).reply(201, now: app.now)
        }
    }

    // MARK: read

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let q = ctx.query
        let page = try Page(query: q)
        var whereSQL = "s.tenant_id = ?"
        var args: [SQLValue] = [.text(c.tenantID)]
        if let state = q["state"] ?? q["status"] {
            let states = state.split(separator: ",").map(String.init)
            whereSQL += " AND s.state IN (\(states.map { _ in "?" }.joined(separator: ",")))"
            args += states.map { .text($0) }
        } else {
            whereSQL += " AND s.state != 'destroyed'"
        }
        for key in ["external_workspace_id", "external_user_id", "external_project_id", "workspace_id", "project_id", "template_id", "name"] {
            if let v = q[key] { whereSQL += " AND s.\(key) = ?"; args.append(.text(v)) }
        }
        let tags = q.all("tags") + q.all("tag")
        for t in tags { whereSQL += " AND EXISTS (SELECT 1 FROM json_each(s.tags) WHERE json_each.value = ?)"; args.append(.text(t)) }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM sandboxes s WHERE " + whereSQL, args) ?? 0
        var items: [UInt8] = []
        let now = ctx.app.now
        try db.forEach(SandboxRecord.select + " WHERE " + whereSQL + " ORDER BY s.rowid DESC LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            if !items.isEmpty { items.append(0x2c) }
            SandboxRecord(s).encode(now: now, into: &items)
            return true
        }
        return SandboxRecord.listReply(encodedItems: items, page: page, total: total)
    }

    static func byName(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let name = ctx.param("name")
        let found = try ctx.app.db.first(SandboxRecord.select + """
             WHERE s.tenant_id = ? AND s.name = ? ORDER BY (s.state = 'destroyed'), s.rowid DESC LIMIT 1
            """, [.text(c.tenantID), .text(name)], SandboxRecord.init)
        guard let r = found else {
            throw APIError(404, "sandbox_not_found", "No sandbox named \(name) exists.")
        }
        return .ok(r.json(now: ctx.app.now))
    }

    // MARK: update

    static func update(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let db = app.db
        let id = ctx.param("id")
        let current = try SandboxRecord.load(db, id: id, tenantID: c.tenantID)
        var f = try ctx.fields()
        var sets: [String] = []
        var args: [SQLValue] = []
        if f.present("name") { sets.append("name = ?"); args.append(.of(f.string("name", maxLength: 255))) }
        if f.present("slug") {
            let slug = f.slug("slug")
            if let s = slug {
                if try db.scalarInt("SELECT 1 FROM sandboxes WHERE tenant_id = ? AND slug = ? AND id != ? AND state != 'destroyed'",
                                         [.text(c.tenantID), .text(s), .text(id)]) != nil {
                    throw APIError.conflict("A sandbox with slug \(s) already exists.", code: "slug_taken")
                }
            }
            sets.append("slug = ?"); args.append(.of(slug))
        }
        if f.present("metadata") {
            let m = f.object("metadata") ?? JSONObject()
            sets.append("metadata = ?"); args.append(.text(JSON.object(m).encodedString))
        }
        if f.present("tags") {
            let t = f.stringArray("tags") ?? []
            sets.append("tags = ?"); args.append(.text(JSON.array(t.map { .string($0) }).encodedString))
        }
        var alwaysOn = current.alwaysOn
        var timeout = current.timeoutSec
        if f.present("always_on") { alwaysOn = f.bool("always_on") ?? false; sets.append("always_on = ?"); args.append(.of(alwaysOn)) }
        if f.present("timeout_sec") { timeout = f.int("timeout_sec", min: 0, max: 30 * 86_400); sets.append("timeout_sec = ?"); args.append(.of(timeout)) }
        if f.present("idle_timeout_sec") { sets.append("idle_timeout_sec = ?"); args.append(.of(f.int("idle_timeout_sec", min: 0, max: 30 * 86_400))) }
        try f.finish()
        guard current.state != "destroyed" else {
            throw APIError.conflict("Sandbox \(id) is destroyed and cannot be updated.")
        }
        if f.present("always_on") || f.present("timeout_sec") {
            sets.append("deadline = ?")
            args.append((!alwaysOn && (timeout ?? 0) > 0) ? .double(app.now + Double(timeout!)) : .null)
        }
        if !sets.isEmpty {
            sets.append("updated_at = ?")
            args.append(.text(app.nowISO))
            try db.run("UPDATE sandboxes SET \(sets.joined(separator: ", ")) WHERE id = ? AND tenant_id = ?", args + [.text(id), .text(c.tenantID)])
        }
        let json = try SandboxRecord.load(db, id: id, tenantID: c.tenantID).json(now: app.now)
        app.publish("sandbox.updated", tenantID: c.tenantID, workspaceID: current.workspaceID, sandboxID: id,
                    resourceType: "sandbox", resourceID: id, data: json, actorID: c.keyID)
        return .ok(json)
    }

    // MARK: lifecycle

    /// Moves a sandbox through the lifecycle; publishes `sandbox.<new state>`; 409 when the move is invalid.
    @discardableResult
    static func apply(_ app: App, id: String, tenantID: String, _ action: SandboxLifecycle.Action, actorID: String?) throws -> SandboxRecord {
        let db = app.db
        let current = try SandboxRecord.load(db, id: id, tenantID: tenantID)
        guard let next = SandboxLifecycle.next(current.state, action) else {
            throw APIError.conflict("Cannot \(action.rawValue) sandbox \(id) while it is \(current.state).", code: "invalid_state_transition")
        }
        if next == current.state { return current }
        let now = app.nowISO
        var sets = "state = ?, updated_at = ?"
        var args: [SQLValue] = [.text(next), .text(now)]
        switch next {
        case "running":
            sets += ", started_at = COALESCE(started_at, ?), ready_at = ?, stopped_at = NULL"
            args += [.text(now), .text(now)]
            if !current.alwaysOn, let t = current.timeoutSec, t > 0 {
                sets += ", deadline = ?"
                args.append(.double(app.now + Double(t)))
            }
        case "stopped", "paused": sets += ", stopped_at = ?, deadline = NULL"; args.append(.text(now))  // lifetime restarts on resume
        case "destroyed": sets += ", destroyed_at = ?, deadline = NULL"; args.append(.text(now))
        default: break
        }
        try db.run("UPDATE sandboxes SET \(sets) WHERE id = ?", args + [.text(id)])
        let record = try SandboxRecord.load(db, id: id, tenantID: tenantID)
        let type: String
        switch next {
        case "running": type = action == .becomeReady ? "sandbox.ready" : "sandbox.resumed"
        case "destroyed": type = "sandbox.destroyed"
        case "error": type = "sandbox.error"
        default: type = "sandbox.\(next)"
        }
        app.publish(type, tenantID: tenantID, workspaceID: record.workspaceID, sandboxID: id, resourceType: "sandbox",
                    resourceID: id, data: record.json(now: app.now), actorID: actorID)
        if next == "destroyed" {
            // The `sandbox.destroyed` subscriber has SIGKILLed its commands; remove the files once they are gone.
            if let rt = app.service(SandboxRuntime.self) { rt.whenIdle(id) { SandboxDirs.remove(app: app, id: id) } }
            else { SandboxDirs.remove(app: app, id: id) }
        }
        return record
    }

    static func transition(_ ctx: RequestContext, _ action: SandboxLifecycle.Action) throws -> Reply {
        let c = try ctx.caller
        let r = try apply(ctx.app, id: ctx.param("id"), tenantID: c.tenantID, action, actorID: c.keyID)
        return .ok(r.json(now: ctx.app.now))
    }

    static func destroy(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let id = ctx.param("id")
        try apply(ctx.app, id: id, tenantID: c.tenantID, .destroy, actorID: c.keyID)
        // Answer once its processes are dead and its directory is gone (bounded: they were SIGKILLed).
        guard let rt = ctx.app.service(SandboxRuntime.self), rt.liveCount(id) > 0 else { return .noContent }
        let answer = AsyncAnswer()
        rt.whenIdle(id) { answer.resolve(.noContent) }
        return answer.reply
    }

    static func extend(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let id = ctx.param("id")
        var f = try ctx.fields()
        let add = f.int("timeout_sec", min: 1, max: 30 * 86_400)
        try f.finish()
        let r = try SandboxRecord.load(app.db, id: id, tenantID: c.tenantID)
        guard r.state != "destroyed" else { throw APIError.conflict("Sandbox \(id) is destroyed.") }
        let seconds = add ?? r.timeoutSec ?? 300
        try app.db.run("UPDATE sandboxes SET timeout_sec = ?, deadline = ?, updated_at = ? WHERE id = ?",
                       [.of(seconds), r.alwaysOn ? .null : .double(app.now + Double(seconds)), .text(app.nowISO), .text(id)])
        return .ok(try SandboxRecord.load(app.db, id: id, tenantID: c.tenantID).json(now: app.now))
    }

    // MARK: readiness and usage

    /// `event: ready` at once when ready; otherwise waits (polling the row) until ready, or `event: timeout`.
    static func readinessStream(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let id = ctx.param("id")
        _ = try SandboxRecord.load(app.db, id: id, tenantID: c.tenantID)
        let limitMs = UInt64(max(1, min(Int(ctx.query["timeout"] ?? "") ?? 60, 900))) * 1000
        return .stream(status: 200, headers: SSEWriter.headers) { stream in
            let sse = SSEWriter(stream: stream)
            let started = app.loop.nowMs
            func check() -> Bool {
                guard sse.isOpen else { return true }
                guard let r = try? SandboxRecord.load(app.db, id: id, tenantID: c.tenantID) else {
                    sse.send(event: "timeout", data: JSON.object(["type": .string("timeout"), "reason": .string("sandbox not found")]).encodedString)
                    sse.end(); return true
                }
                if r.isReady {
                    sse.send(event: "ready", data: JSON.object(["type": .string("ready"), "ready": .bool(true), "ready_at": .str(r.readyAt),
                                                               "sandbox_id": .string(id)]).encodedString)
                    sse.end(); return true
                }
                if r.state == "destroyed" || r.state == "error" || app.loop.nowMs - started >= limitMs {
                    sse.send(event: "timeout", data: JSON.object(["type": .string("timeout"), "reason": .string("sandbox is \(r.state)")]).encodedString)
                    sse.end(); return true
                }
                return false
            }
            if check() { return }
            sse.comment()
            let t = Timer(loop: app.loop)
            stream.onClose = { t.close() }
            t.start(ms: 25, repeatMs: 25) { if check() { t.close() } }
        }
    }

    static func usage(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let r = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let runtime = (r.json(now: ctx.app.now)["total_runtime_sec"]?.int) ?? 0
        return .ok(.object([
            "sandbox_id": .string(r.id), "state": .string(r.state), "runtime_sec": .int(runtime),
            "provisioned_vcpu_ms": .int(Int64(runtime * r.cpu * 1000)),
            "provisioned_memory_mb_ms": .int(Int64(runtime * r.memoryMB * 1000)),
            "creation_count": .int(1), "active_cpu_ms": .null, "network_ingress_bytes": .null, "network_egress_bytes": .null,
            "measurement_status": .object(["cpu": .string("simulated"), "network": .string("unavailable")]),
            "estimated_cost_cents": .int(Int64(runtime * r.cpu / 360)),
            "timeout_sec": .num(r.timeoutSec),
            "timeout_remaining_ms": r.deadline.map { .int(Int64(max(0, ($0 - ctx.app.now) * 1000))) } ?? .null,
        ]))
    }
}

/// Finishes simulated boots: `creating` → `running` after the configured delay. On restart, sandboxes
/// still `creating` are finished at once (their timers died with the old process).
final class SandboxBoot {
    unowned let app: App

    init(app: App) {
        self.app = app
        var pending: [(String, String)] = []
        try? app.db.forEach("SELECT id, tenant_id FROM sandboxes WHERE state = 'creating'") { s in
            pending.append((s.text(0), s.text(1))); return true
        }
        for (id, tenant) in pending { schedule(id: id, tenantID: tenant, afterMs: 0) }
    }

    func schedule(id: String, tenantID: String, afterMs: UInt64) {
        Timer.once(on: app.loop, after: afterMs) { [weak self] in
            guard let app = self?.app else { return }
            do {
                try SandboxesAPI.apply(app, id: id, tenantID: tenantID, .becomeReady, actorID: nil)
            } catch let e as APIError where e.status == 404 || e.status == 409 {
                // deleted, stopped or reset meanwhile: nothing to finish
            } catch {
                app.logger.error("boot of sandbox \(id) failed: \(error)")
            }
        }
    }
}

/// Per-sandbox directories: `<data>/sandboxes/<id>/workspace` is what the API calls `/workspace`.
enum SandboxDirs {
    /// Seeds `/workspace` from the template's fixture folder, if it has one. Without one nothing is made on disk
    /// now: `SandboxPaths.materialize` makes the directories on first use.
    static func create(app: App, id: String, template: String?) throws {
        guard let t = template, let src = TemplateSeed.folder(app, template: t) else { return }
        try copy(app: app, id: id, from: src)
    }

    /// Seeds `/workspace` with a copy of `from` (a fork's source, a snapshot); an absent source is an empty one.
    static func copy(app: App, id: String, from: String) throws {
        guard FilesIO.info(from)?.isDir == true else { return }
        try SandboxPaths.materialize(app, id)
        try SnapshotStore.copyWorkspace(from: from, to: SandboxPaths.workspace(app, id))
    }

    static func remove(app: App, id: String) {
        try? FileManager.default.removeItem(atPath: SandboxPaths.root(app, id))
    }
}
