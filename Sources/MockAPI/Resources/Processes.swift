import EventLoop
import HTTP
import Store

/// `/sandboxes/{id}/processes`: background processes with logs and a live stream (sandbox-contract §8, §11.5).
/// Start and get answer **bare** (the Go SDK decodes them bare), `pid` is a string of digits.
enum ProcessesAPI: ResourceGroup {
    static func register(_ app: App) {
        SandboxRuntime.install(app)
        _ = ProcessSupervisor.install(app)
        let api = APIRoutes(app.router)
        let tag = "processes"
        api.post("/sandboxes/{id}/processes", scope: "sandboxes:exec", summary: "Start a background process", tag: tag) { try start($0) }
        api.get("/sandboxes/{id}/processes", scope: "sandboxes:read", summary: "List processes", tag: tag) { try list($0) }
        api.get("/sandboxes/{id}/processes/{pid}", scope: "sandboxes:read", summary: "Get a process", tag: tag) { ctx in
            let (sb, pid) = try target(ctx)
            return .json(200, try supervisor(ctx).json(sandboxID: sb.id, pid: pid))
        }
        api.delete("/sandboxes/{id}/processes/{pid}", scope: "sandboxes:exec", summary: "Stop a process (SIGTERM, then SIGKILL)", tag: tag) { try stop($0) }
        api.get("/sandboxes/{id}/processes/{pid}/logs", scope: "sandboxes:read", summary: "A process's last log lines", tag: tag) { try logs($0) }
        api.get("/sandboxes/{id}/processes/{pid}/stream", scope: "sandboxes:read", summary: "Follow a process's output (SSE)", tag: tag) { try stream($0) }
    }

    static func supervisor(_ ctx: RequestContext) -> ProcessSupervisor { ctx.app.service(ProcessSupervisor.self)! }

    /// The caller's sandbox and the pid in the path (404 for another tenant's sandbox or a pid that is not digits).
    static func target(_ ctx: RequestContext) throws -> (SandboxRecord, Int) {
        let c = try ctx.caller
        let sb = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let raw = ctx.param("pid")
        guard raw.utf8.count <= 9, let pid = Int(raw), pid >= 0 else {
            throw APIError(404, "process_not_found", "No process \(raw) in sandbox \(sb.id).")
        }
        return (sb, pid)
    }

    static func start(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        var f = try ctx.fields()
        let req = try CommandRequest.read(&f, defaultTimeoutSec: nil)
        let sb = try ExecAPI.runningSandbox(ctx.app, id: ctx.param("id"), tenantID: c.tenantID)
        let s = supervisor(ctx)
        let pid = try s.start(sb, req, actorID: c.keyID)
        return .json(201, try s.json(sandboxID: sb.id, pid: pid))
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let sb = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let q = ctx.query
        // The SDKs never page this list: show up to 100 unless asked, running ones first.
        let page = (q["page_size"] ?? q["per_page"] ?? q["limit"]) == nil && q["page"] == nil ? Page(page: 1, pageSize: Page.maxSize) : try Page(query: q)
        var filter = "sandbox_id = ?"
        var args: [SQLValue] = [.text(sb.id)]
        if let st = q["status"] ?? q["state"] { filter += " AND status = ?"; args.append(.text(st)) }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM sandbox_processes WHERE \(filter)", args) ?? 0
        var items: [JSON] = []
        try db.forEach("""
            SELECT \(ProcessSupervisor.columns) FROM sandbox_processes WHERE \(filter)
            ORDER BY (status != 'running'), pid DESC LIMIT ? OFFSET ?
            """, args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(ProcessSupervisor.json(s)); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    /// 204 once the process has ended (SIGTERM, SIGKILL after the grace period); 204 at once if it already had.
    static func stop(_ ctx: RequestContext) throws -> Reply {
        let (sb, pid) = try target(ctx)
        let s = supervisor(ctx)
        _ = try s.json(sandboxID: sb.id, pid: pid)  // 404 for an unknown pid
        guard let p = s.process(sb.id, pid) else { return .noContent }
        let answer = AsyncAnswer()
        p.run.onComplete { _ in answer.resolve(.noContent) }
        p.run.stop()
        return answer.reply
    }

    static func logs(_ ctx: RequestContext) throws -> Reply {
        let (sb, pid) = try target(ctx)
        let tailRaw = ctx.query["tail"] ?? ctx.query["lines"]
        var tail = 200
        if let t = tailRaw {
            guard let n = Int(t), n >= 0 else {
                throw APIError.badRequest("tail must be a non-negative integer.", code: "invalid_query",
                                          details: .object(["tail": .string("must be a non-negative integer")]))
            }
            tail = n
        }
        let entries = try supervisor(ctx).logEntries(sandboxID: sb.id, pid: pid)
        let slice = tail == 0 || tail >= entries.count ? entries[...] : entries[(entries.count - tail)...]
        return .json(200, .object(["data": .string(LogRing.text(slice))]))
    }

    /// Replays the lines kept so far, then follows live output; ends after the `exit` frame. For a process
    /// that has already ended: its stored lines, the `exit` frame, the end.
    static func stream(_ ctx: RequestContext) throws -> Reply {
        let (sb, pid) = try target(ctx)
        let s = supervisor(ctx)
        let info = try s.json(sandboxID: sb.id, pid: pid)
        let past = try s.logEntries(sandboxID: sb.id, pid: pid)
        return .stream(status: 200, headers: SSEWriter.headers) { stream in
            let sse = SSEWriter(stream: stream)
            for e in past { stream.write(ProcessFrames.line(pid: pid, stderr: e.stderr, e.line)) }
            if let p = s.process(sb.id, pid) {
                let key = ObjectIdentifier(sse)
                p.subscribers[key] = sse
                sse.comment()
                // A quiet process must not look like a dead connection to the client (httpx reads time out).
                let keepalive = Timer(loop: ctx.app.loop)
                keepalive.start(ms: 15_000, repeatMs: 15_000) { sse.comment() }
                stream.onClose = { [weak p] in p?.subscribers[key] = nil; keepalive.close() }
            } else {
                stream.write(ProcessFrames.exit(pid: pid, exitCode: info["exit_code"]?.int, status: info["status"]?.string ?? "exited"))
                sse.end()
            }
        }
    }
}
