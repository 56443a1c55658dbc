import EventLoop

/// The computer routes a sandbox id resolves through (sandbox-contract §5 notes, platform-contract B15). The Go
/// SDK has no sandbox exec: its only way to run a command is `Computers.Get(id)` → `/computers/{id}/exec`. So
/// `GET /computers/{id}` answers for a sandbox id with a computer-shaped body (top-level `id`, `status`, `name`,
/// string-valued `metadata`), and the exec routes answer **bare** `{output, stdout, stderr, exit_code, success}`.
enum ComputersAPI: ResourceGroup {
    static func register(_ app: App) {
        SandboxRuntime.install(app)
        let api = APIRoutes(app.router)
        let tag = "computers"
        api.get("/computers/{id}", scope: "sandboxes:read", summary: "Get a computer (sandbox ids resolve)", tag: tag) { ctx in
            let c = try ctx.caller
            let r = try sandbox(ctx.app, ctx.param("id"), c.tenantID)
            guard case .object(let o) = computerJSON(r, now: ctx.app.now) else { throw APIError.internalError() }
            return .json(200, Envelope.dataAndBare(o))
        }
        api.post("/computers/{id}/exec", scope: "sandboxes:exec", summary: "Run a shell command (sandbox ids resolve)", tag: tag) { try exec($0) }
        api.post("/computers/{id}/exec/python", scope: "sandboxes:exec", summary: "Run Python code (sandbox ids resolve)", tag: tag) { try python($0) }
    }

    static func sandbox(_ app: App, _ id: String, _ tenantID: String) throws -> SandboxRecord {
        do { return try SandboxRecord.load(app.db, id: id, tenantID: tenantID) } catch let e as APIError where e.status == 404 {
            throw APIError.notFound("computer", id)
        }
    }

    /// The sandbox seen as a computer. Go decodes `metadata` as string→string: non-string values are stringified.
    static func computerJSON(_ r: SandboxRecord, now: Double) -> JSON {
        var meta = JSONObject()
        for (k, v) in r.metadataJSON.object ?? JSONObject() {
            switch v {
            case .string: meta.append(k, v)
            case .null: continue
            default: meta.append(k, .string(v.encodedString))
            }
        }
        let tier = SandboxSize.named(r.size) != nil
        return .object([
            "id": .string(r.id), "object": .string("computer"), "name": .string(r.name ?? r.id), "slug": .str(r.slug),
            "status": .string(r.state), "state": .string(r.state), "template_type": .string(r.templateID),
            "size": tier ? .string(r.size) : .null, "cpu_count": .int(r.cpu), "memory_mb": .int(r.memoryMB),
            "workspace_id": .str(r.workspaceID), "tenant_id": .string(r.tenantID), "sandbox_id": .string(r.id),
            "metadata": .object(meta), "created_at": .string(r.createdAt), "updated_at": .string(r.updatedAt),
        ])
    }

    /// `output` carries stderr after stdout: Go's result type has no `stderr` field (sandbox-contract §18.8).
    static func bareResult(_ run: CommandRun, _ out: OutputCapture, _ err: OutputCapture) -> JSON {
        var o = ExecAPI.resultJSON(run, out, err)
        o["output"] = .string(out.text + err.text)
        return .object(o)
    }

    static func exec(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let req = try CommandRequest.read(&f, defaultTimeoutSec: app.config.execDefaultTimeoutSec)
        _ = try sandbox(app, ctx.param("id"), c.tenantID)
        let sb = try ExecAPI.runningSandbox(app, id: ctx.param("id"), tenantID: c.tenantID)
        let answer = AsyncAnswer()
        try ExecAPI.runToCompletion(app, sb, req, actorID: c.keyID) { run, out, err in
            answer.resolve(.json(200, bareResult(run, out, err)))
        }
        return answer.reply
    }

    static func python(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let req = try CommandRequest.read(&f, commandField: "code", defaultTimeoutSec: app.config.execDefaultTimeoutSec)
        _ = try sandbox(app, ctx.param("id"), c.tenantID)
        let sb = try ExecAPI.runningSandbox(app, id: ctx.param("id"), tenantID: c.tenantID)
        let answer = AsyncAnswer()
        try CodeRunner.runCell(app, sb, code: req.command, language: .python, request: req, notebook: false, actorID: c.keyID) { run, out, err, _ in
            answer.resolve(.json(200, bareResult(run, out, err)))
        }
        return answer.reply
    }
}
