import EventLoop
import HTTP
import Store

/// One supervised (background) process while it runs: its command run, the last lines it printed, and the
/// SSE subscribers following it. Once it ends, its status and logs live in `sandbox_processes`.
final class ManagedProcess {
    let sandboxID: String
    let tenantID: String
    let workspaceID: String?
    let pid: Int
    let run: CommandRun
    var log = LogRing()
    private var out = LineSplitter()
    private var err = LineSplitter()
    var subscribers: [ObjectIdentifier: SSEWriter] = [:]

    init(sandboxID: String, tenantID: String, workspaceID: String?, pid: Int, run: CommandRun) {
        self.sandboxID = sandboxID
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.pid = pid
        self.run = run
    }

    func feed(stderr: Bool, _ bytes: UnsafeRawBufferPointer) {
        let lines = stderr ? err.feed(bytes) : out.feed(bytes)
        for l in lines { add(stderr: stderr, l) }
    }

    func flush() {
        if let l = out.flush() { add(stderr: false, l) }
        if let l = err.flush() { add(stderr: true, l) }
    }

    private func add(stderr: Bool, _ line: String) {
        log.append(stderr: stderr, line: line)
        let frame = ProcessFrames.line(pid: pid, stderr: stderr, line)
        for (key, sse) in subscribers {
            // A subscriber that cannot keep up is dropped rather than buffered without bound.
            if !sse.isOpen || sse.stream.bufferedBytes > 4 << 20 { sse.stream.abort(); subscribers[key] = nil; continue }
            sse.stream.write(frame)
        }
    }
}

/// SSE frames of the process stream (sandbox-contract §11.5).
enum ProcessFrames {
    static func line(pid: Int, stderr: Bool, _ line: String) -> [UInt8] {
        let kind = stderr ? "stderr" : "stdout"
        return SSEWriter.frame(event: kind, data: JSON.object([
            "type": .string(kind), "pid": .string(String(pid)), "stream": .string(kind),
            "line": .string(line), "data": .string(line),
        ]).encodedString)
    }

    static func exit(pid: Int, exitCode: Int?, status: String) -> [UInt8] {
        SSEWriter.frame(event: "exit", data: JSON.object([
            "type": .string("exit"), "pid": .string(String(pid)), "exit_code": .num(exitCode), "status": .string(status),
        ]).encodedString)
    }
}

/// Starts, tracks and persists the processes API's background processes. `pid` is a per-sandbox counter
/// from 1000 (a stable in-sandbox id, as a VM would show; host pids stay private and differ under bwrap).
final class ProcessSupervisor {
    unowned let app: App
    private var live: [String: [Int: ManagedProcess]] = [:]

    init(app: App) {
        self.app = app
        // Processes still `running` belonged to a server that is gone: they died with it.
        _ = try? app.db.run("UPDATE sandbox_processes SET status = 'killed', exited_at = ? WHERE status = 'running'", [.text(app.nowISO)])
    }

    static func install(_ app: App) -> ProcessSupervisor {
        if let s = app.service(ProcessSupervisor.self) { return s }
        let s = ProcessSupervisor(app: app)
        app.register(s)
        app.resetHooks.append { [unowned s] in s.live = [:] }
        app.shutdownHooks.append { [unowned s] in s.persistAllAsKilled() }
        return s
    }

    func process(_ sandboxID: String, _ pid: Int) -> ManagedProcess? { live[sandboxID]?[pid] }

    func start(_ sb: SandboxRecord, _ req: CommandRequest, actorID: String?) throws -> Int {
        let runtime = app.service(SandboxRuntime.self)!
        let db = app.db
        let pid = (try db.scalarInt("SELECT MAX(pid) FROM sandbox_processes WHERE sandbox_id = ?", [.text(sb.id)]) ?? 999) + 1
        // The row first: a spawn that fails takes it back, and a started process always has its row.
        try db.run("""
            INSERT INTO sandbox_processes (sandbox_id, pid, tenant_id, name, command, cwd, status, started_at)
            VALUES (?, ?, ?, ?, ?, ?, 'running', ?)
            """, [.text(sb.id), .of(pid), .text(sb.tenantID), .of(req.name), .text(req.command),
                  .text(req.cwd ?? "/workspace"), .text(app.nowISO)])
        let run: CommandRun
        do {
            run = try runtime.start(sandboxID: sb.id, command: req.command, cwd: req.cwd, env: req.env, timeoutMs: req.timeoutMs)
        } catch {
            _ = try? db.run("DELETE FROM sandbox_processes WHERE sandbox_id = ? AND pid = ?", [.text(sb.id), .of(pid)])
            throw error
        }
        let p = ManagedProcess(sandboxID: sb.id, tenantID: sb.tenantID, workspaceID: sb.workspaceID, pid: pid, run: run)
        live[sb.id, default: [:]][pid] = p
        run.onOutput = { [unowned p] isErr, bytes in p.feed(stderr: isErr, bytes) }
        run.onComplete { [weak self] _ in self?.exited(p, actorID: actorID) }
        if let json = try? json(sandboxID: sb.id, pid: pid) {
            app.publish("process.started", tenantID: sb.tenantID, workspaceID: sb.workspaceID, sandboxID: sb.id,
                        resourceType: "process", resourceID: String(pid), data: json, actorID: actorID)
        }
        return pid
    }

    private func exited(_ p: ManagedProcess, actorID: String?) {
        // After `/_mock/reset` the process belongs to state that no longer exists: nothing to record.
        guard live[p.sandboxID]?[p.pid] === p else { return }
        p.flush()
        let lc = p.run.lifecycle
        persist(p, status: lc.status, exitCode: lc.exitCode, signal: Int(lc.termSignal))
        live[p.sandboxID]?[p.pid] = nil
        if live[p.sandboxID]?.isEmpty == true { live[p.sandboxID] = nil }
        let frame = ProcessFrames.exit(pid: p.pid, exitCode: lc.exitCode, status: lc.status)
        for sse in p.subscribers.values where sse.isOpen { sse.stream.write(frame); sse.end() }
        p.subscribers = [:]
        if let json = try? json(sandboxID: p.sandboxID, pid: p.pid) {
            app.publish("process.exited", tenantID: p.tenantID, workspaceID: p.workspaceID, sandboxID: p.sandboxID,
                        resourceType: "process", resourceID: String(p.pid), data: json, actorID: actorID)
        }
    }

    private func persist(_ p: ManagedProcess, status: String, exitCode: Int?, signal: Int) {
        do {
            try app.db.run("""
                UPDATE sandbox_processes SET status = ?, exit_code = ?, signal = ?, exited_at = ?, logs = ?, logs_dropped = ?
                WHERE sandbox_id = ? AND pid = ?
                """, [.text(status), .of(exitCode), signal == 0 ? .null : .of(signal), .text(app.nowISO),
                      .text(p.log.json.encodedString), .of(p.log.dropped), .text(p.sandboxID), .of(p.pid)])
        } catch {
            app.logger.error("could not record the exit of process \(p.pid) in sandbox \(p.sandboxID): \(error)")
        }
    }

    /// At shutdown the loop will not run again: record every live process as killed, with its logs so far.
    private func persistAllAsKilled() {
        for procs in live.values {
            for p in procs.values {
                p.flush()
                persist(p, status: "killed", exitCode: nil, signal: 9)
                for sse in p.subscribers.values where sse.isOpen {
                    sse.stream.write(ProcessFrames.exit(pid: p.pid, exitCode: nil, status: "killed"))
                    sse.end()
                }
            }
        }
        live = [:]
    }

    // MARK: reading

    static let columns = "pid, name, command, cwd, status, exit_code, started_at, exited_at, sandbox_id"

    static func json(_ s: Statement) -> JSON {
        let status = s.text(4)
        return .object([
            "pid": .string(String(s.int(0))), "name": .str(s.optionalText(1)), "command": .string(s.text(2)),
            "cwd": .string(s.text(3)), "status": .string(status), "state": .string(status),
            "running": .bool(status == "running"), "exit_code": .num(s.optionalInt(5)),
            "started_at": .string(s.text(6)), "exited_at": .str(s.optionalText(7)), "sandbox_id": .string(s.text(8)),
        ])
    }

    func json(sandboxID: String, pid: Int) throws -> JSON {
        guard let j = try app.db.first("SELECT \(ProcessSupervisor.columns) FROM sandbox_processes WHERE sandbox_id = ? AND pid = ?",
                                       [.text(sandboxID), .of(pid)], ProcessSupervisor.json) else {
            throw APIError(404, "process_not_found", "No process \(pid) in sandbox \(sandboxID).")
        }
        return j
    }

    /// Log entries: from memory while it runs, from the store after.
    func logEntries(sandboxID: String, pid: Int) throws -> [LogRing.Entry] {
        if let p = process(sandboxID, pid) { return Array(p.log.all) }
        guard let raw = try app.db.first("SELECT logs FROM sandbox_processes WHERE sandbox_id = ? AND pid = ?",
                                         [.text(sandboxID), .of(pid)], { $0.text(0) }) else {
            throw APIError(404, "process_not_found", "No process \(pid) in sandbox \(sandboxID).")
        }
        return LogRing.entries(fromJSON: raw)
    }
}
