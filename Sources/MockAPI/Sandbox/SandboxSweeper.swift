import EventLoop
import Store

/// Tables and indexes of the sandbox runtime (migrations 250–259 of the 200–299 runtime range).
enum RuntimeSchema {
    static let migrations: [Migration] = [
        Migration(250, "sandbox processes and the timeout index", """
            CREATE TABLE sandbox_processes (
                sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
                pid INTEGER NOT NULL,
                tenant_id TEXT NOT NULL,
                name TEXT, command TEXT NOT NULL, cwd TEXT NOT NULL,
                status TEXT NOT NULL,               -- running | exited | killed
                exit_code INTEGER, signal INTEGER,
                started_at TEXT NOT NULL, exited_at TEXT,
                -- JSON array of [stream, line] pairs: the last lines kept by the ring buffer, written at exit
                logs TEXT NOT NULL DEFAULT '[]', logs_dropped INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (sandbox_id, pid));
            CREATE INDEX sandbox_processes_status ON sandbox_processes (status);
            CREATE INDEX sandboxes_deadline ON sandboxes (deadline) WHERE deadline IS NOT NULL;
            """),
    ]
}

/// When a sandbox's lifetime (`timeout_sec`, by the server clock) is up, and what happens then. A value:
/// tested without a server.
///
/// MIOSA's `timeout_sec` is the sandbox's lifetime; the Python SDK documents stop as "keeps the disk, never
/// the processes", and a timed-out sandbox can be resumed. So expiry is a **stop**: processes end, files
/// stay, `resume` starts a new lifetime. `always_on` sandboxes have no deadline.
public enum SandboxTimeouts {
    public static func action(state: String, alwaysOn: Bool, deadline: Double?, now: Double) -> SandboxLifecycle.Action? {
        guard !alwaysOn, let d = deadline, d <= now else { return nil }
        guard state == "running" || state == "creating" else { return nil }
        return .stop
    }
}

/// Checks for expired sandboxes every 250 ms (an indexed range query on `deadline`) and stops them through
/// `SandboxesAPI.apply`, which publishes `sandbox.stopped`; the runtime then ends their processes. The timer
/// is unref'd so it never keeps a loop alive on its own.
final class SandboxSweeper {
    unowned let app: App
    private let timer: Timer
    static let intervalMs: UInt64 = 250

    private init(app: App) {
        self.app = app
        timer = Timer(loop: app.loop)
    }

    static func install(_ app: App) {
        guard app.service(SandboxSweeper.self) == nil else { return }
        let s = SandboxSweeper(app: app)
        app.register(s)
        s.timer.start(ms: intervalMs, repeatMs: intervalMs) { [unowned s] in s.sweep() }
        s.timer.unref()
        app.shutdownHooks.insert({ [unowned s] in s.timer.close() }, at: 0)
    }

    /// Stops every sandbox whose deadline has passed; returns how many. Bounded per tick.
    @discardableResult
    func sweep() -> Int {
        let now = app.now
        var due: [(String, String, String, Bool, Double?)] = []
        do {
            try app.db.forEach("""
                SELECT id, tenant_id, state, always_on, deadline FROM sandboxes
                WHERE deadline IS NOT NULL AND deadline <= ? ORDER BY deadline LIMIT 100
                """, [.double(now)]) { s in
                due.append((s.text(0), s.text(1), s.text(2), s.bool(3), s.isNull(4) ? nil : s.double(4)))
                return true
            }
        } catch {
            app.logger.error("timeout sweep failed: \(error)")
            return 0
        }
        var stopped = 0
        for (id, tenant, state, alwaysOn, deadline) in due {
            guard let action = SandboxTimeouts.action(state: state, alwaysOn: alwaysOn, deadline: deadline, now: now) else {
                // Not a live sandbox any more: drop the stale deadline so the range scan stays short.
                _ = try? app.db.run("UPDATE sandboxes SET deadline = NULL WHERE id = ?", [.text(id)])
                continue
            }
            do {
                try SandboxesAPI.apply(app, id: id, tenantID: tenant, action, actorID: nil)
                stopped += 1
                app.logger.info("sandbox \(id) reached its timeout: stopped")
            } catch {
                _ = try? app.db.run("UPDATE sandboxes SET deadline = NULL WHERE id = ?", [.text(id)])
            }
        }
        return stopped
    }
}
