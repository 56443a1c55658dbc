import EventLoop
import HTTP
import Store

/// `/sandboxes/{id}/exec`, `/exec/stream` (SSE) and `/code/run`: real commands through the `SandboxRuntime`
/// (sandbox-contract §5, §11.4). Each answers asynchronously: the loop serves other requests meanwhile.
enum ExecAPI: ResourceGroup {
    static var migrations: [Migration] { RuntimeSchema.migrations }

    static func register(_ app: App) {
        SandboxRuntime.install(app)
        SandboxSweeper.install(app)
        let api = APIRoutes(app.router)
        let tag = "exec"
        api.post("/sandboxes/{id}/exec", scope: "sandboxes:exec", summary: "Run a command and wait for it", tag: tag) { try exec($0) }
        api.post("/sandboxes/{id}/exec/stream", scope: "sandboxes:exec", summary: "Run a command, stream its output (SSE)", tag: tag) { try stream($0) }
        api.post("/sandboxes/{id}/code/run", scope: "sandboxes:exec", summary: "Run a Python or JavaScript cell", tag: tag) { try CodeRunner.run($0) }
        // Cells keep no interpreter state here, so there is one context and nothing to reset.
        api.get("/sandboxes/{id}/code/contexts", scope: "sandboxes:read", summary: "Code contexts", tag: tag) { ctx in
            let c = try ctx.caller
            _ = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
            return .ok(.object(["contexts": .array([.string("default")])]))
        }
        for path in ["/sandboxes/{id}/code/contexts/{context}", "/sandboxes/{id}/code"] {
            api.delete(path, scope: "sandboxes:exec", summary: "Reset code contexts", tag: tag) { ctx in
                let c = try ctx.caller
                _ = try SandboxRecord.load(ctx.app.db, id: ctx.param("id"), tenantID: c.tenantID)
                return .noContent
            }
        }
    }

    /// The sandbox, which must be running: 409 `SANDBOX_NOT_COMMAND_READY` while it boots, `invalid_state` otherwise.
    static func runningSandbox(_ app: App, id: String, tenantID: String) throws -> SandboxRecord {
        let r = try SandboxRecord.load(app.db, id: id, tenantID: tenantID)
        switch r.state {
        case "running": return r
        case "creating":
            var e = APIError(409, "SANDBOX_NOT_COMMAND_READY", "Sandbox \(id) is still starting; retry shortly.")
            e.extra["retryable"] = .bool(true)
            e.headers.append(("Retry-After", "1"))
            throw e
        default:
            throw APIError.conflict("Sandbox \(id) is \(r.state); commands run only while it is running (resume it first).")
        }
    }

    /// Starts a command and publishes `exec.started`; `exec.finished` follows when it completes.
    static func startExec(_ app: App, _ sb: SandboxRecord, _ req: CommandRequest, actorID: String?,
                          stdin: [UInt8]? = nil) throws -> (CommandRun, String) {
        let runtime = app.service(SandboxRuntime.self)!
        let run = try runtime.start(sandboxID: sb.id, command: req.command, cwd: req.cwd, env: req.env, stdin: stdin,
                                    timeoutMs: req.timeoutMs)
        let execID = IDs.uuid()
        app.publish("exec.started", tenantID: sb.tenantID, workspaceID: sb.workspaceID, sandboxID: sb.id,
                    resourceType: "exec", resourceID: execID,
                    data: .object(["exec_id": .string(execID), "sandbox_id": .string(sb.id), "command": .string(req.command),
                                   "cwd": .string(req.cwd ?? "/workspace")]), actorID: actorID)
        return (run, execID)
    }

    static func publishFinished(_ app: App, _ sb: SandboxRecord, _ run: CommandRun, execID: String, truncated: Bool, actorID: String?) {
        app.publish("exec.finished", tenantID: sb.tenantID, workspaceID: sb.workspaceID, sandboxID: sb.id,
                    resourceType: "exec", resourceID: execID,
                    data: .object(["exec_id": .string(execID), "sandbox_id": .string(sb.id), "command": .string(run.command),
                                   "exit_code": .int(run.lifecycle.exitCode), "duration_ms": .int(Int64(run.durationMs)),
                                   "timed_out": .bool(run.lifecycle.timedOut), "truncated": .bool(truncated)]), actorID: actorID)
    }

    /// Runs a command to completion and hands back `{stdout, stderr, exit_code, ...}` (without the envelope).
    static func runToCompletion(_ app: App, _ sb: SandboxRecord, _ req: CommandRequest, actorID: String?,
                                stdin: [UInt8]? = nil, _ done: @escaping (CommandRun, OutputCapture, OutputCapture) -> Void) throws {
        let (run, execID) = try startExec(app, sb, req, actorID: actorID, stdin: stdin)
        let limit = app.config.execMaxOutputBytes
        var out = OutputCapture(limit: limit)
        var err = OutputCapture(limit: limit)
        run.onOutput = { isErr, bytes in if isErr { err.append(bytes) } else { out.append(bytes) } }
        run.onComplete { r in
            publishFinished(app, sb, r, execID: execID, truncated: out.truncated || err.truncated, actorID: actorID)
            done(r, out, err)
        }
    }

    static func resultJSON(_ run: CommandRun, _ out: OutputCapture, _ err: OutputCapture) -> JSONObject {
        let code = run.lifecycle.exitCode
        return [
            "stdout": .string(out.text), "stderr": .string(err.text), "exit_code": .int(code),
            "duration_ms": .int(Int64(run.durationMs)), "output": .string(out.text), "success": .bool(code == 0),
            "timed_out": .bool(run.lifecycle.timedOut), "truncated": .bool(out.truncated || err.truncated),
        ]
    }

    static func exec(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let req = try CommandRequest.read(&f, defaultTimeoutSec: app.config.execDefaultTimeoutSec)
        let sb = try runningSandbox(app, id: ctx.param("id"), tenantID: c.tenantID)
        // Spawned here, so a bad cwd or a failed spawn is answered with its own status at once.
        let answer = AsyncAnswer()
        try runToCompletion(app, sb, req, actorID: c.keyID) { run, out, err in
            answer.resolve(.ok(.object(resultJSON(run, out, err))))
        }
        return answer.reply
    }

    // MARK: stream

    static func stream(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let req = try CommandRequest.read(&f, defaultTimeoutSec: app.config.execDefaultTimeoutSec)
        let sb = try runningSandbox(app, id: ctx.param("id"), tenantID: c.tenantID)
        // Started before the head goes out, so a spawn error is still a JSON error with its status.
        let (run, execID) = try startExec(app, sb, req, actorID: c.keyID)
        let session = ExecStreamSession(app: app, run: run, limit: app.config.execMaxOutputBytes)
        run.onComplete { r in
            publishFinished(app, sb, r, execID: execID, truncated: session.truncated, actorID: c.keyID)
        }
        return .stream(status: 200, headers: SSEWriter.headers) { stream in session.attach(SSEWriter(stream: stream)) }
    }
}

/// Bridges work started inside a handler to `Reply.async`: the answer may be known before or after the
/// dispatcher asks for it.
final class AsyncAnswer {
    private var result: Reply?
    private var respond: ((Reply) -> Void)?

    var reply: Reply {
        .async { [self] cb in
            if let r = result { cb(r) } else { respond = cb }
        }
    }

    func resolve(_ r: Reply) {
        if let cb = respond { respond = nil; cb(r) } else { result = r }
    }
}

/// Forwards one streamed exec's output as SSE frames, line by line: `event: stdout|stderr` with
/// `{"type","line"}`, then `event: exit` with `{"type":"exit","exit_code",...}` and the end of the body.
/// Slow readers pause the child (the pipe fills); a client that goes away stops the command.
final class ExecStreamSession {
    let app: App
    let run: CommandRun
    let limit: Int
    private var sse: SSEWriter?
    private var pending: [(String, String)] = []
    private var out = LineSplitter()
    private var err = LineSplitter()
    private var sentBytes = 0
    private(set) var truncated = false
    private var resumeTimer: Timer?
    private var finished = false

    init(app: App, run: CommandRun, limit: Int) {
        self.app = app
        self.run = run
        self.limit = limit
        run.onOutput = { [unowned self] isErr, bytes in
            let lines = isErr ? self.err.feed(bytes) : self.out.feed(bytes)
            for l in lines { self.emit(isErr ? "stderr" : "stdout", l) }
        }
        run.onComplete { [self] r in finish(r) }
    }

    func attach(_ writer: SSEWriter) {
        sse = writer
        let keepalive = Timer(loop: app.loop)
        keepalive.start(ms: 15_000, repeatMs: 15_000) { writer.comment() }
        writer.stream.onClose = { [weak self] in
            keepalive.close()
            guard let self = self, !self.finished else { return }
            self.run.stop()
        }
        let queued = pending
        pending = []
        for (kind, line) in queued { emit(kind, line) }
        if finished { sendExit() }
    }

    private func emit(_ kind: String, _ line: String) {
        guard let sse = sse else { pending.append((kind, line)); return }
        guard sse.isOpen else { return }
        sentBytes += line.utf8.count + 1
        if sentBytes > limit { truncated = true; return }
        sse.send(event: kind, data: JSON.object(["type": .string(kind), "line": .string(line)]).encodedString)
        if sse.stream.bufferedBytes > 1 << 20 && resumeTimer == nil {
            run.pauseOutput()
            let t = Timer(loop: app.loop)
            t.start(ms: 10, repeatMs: 10) { [weak self] in
                guard let self = self else { t.close(); return }
                if !sse.isOpen || sse.stream.bufferedBytes < 256 << 10 {
                    t.close()
                    self.resumeTimer = nil
                    self.run.resumeOutput()
                }
            }
            resumeTimer = t
        }
    }

    private func finish(_ r: CommandRun) {
        resumeTimer?.close()
        resumeTimer = nil
        if let l = out.flush() { emit("stdout", l) }
        if let l = err.flush() { emit("stderr", l) }
        finished = true
        if sse != nil { sendExit() }
    }

    private func sendExit() {
        guard let sse = sse, sse.isOpen else { return }
        let lc = run.lifecycle
        sse.send(event: "exit", data: JSON.object([
            "type": .string("exit"), "exit_code": .int(lc.exitCode), "duration_ms": .int(Int64(run.durationMs)),
            "timed_out": .bool(lc.timedOut), "truncated": .bool(truncated),
        ]).encodedString)
        sse.end()
    }
}
