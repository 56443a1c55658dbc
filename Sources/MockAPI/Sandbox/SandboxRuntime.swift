import EventLoop
import Foundation
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Runs real commands for sandboxes: builds each command's argv and environment (`Isolation`), spawns it,
/// and keeps every live command per sandbox so a stop, pause, destroy, reset or server shutdown can end them
/// all. One per server (`app.service(SandboxRuntime.self)`), created by `SandboxRuntime.install`.
public final class SandboxRuntime {
    unowned let app: App
    public let isolation: Isolation
    /// Live commands by sandbox id (exec runs and supervised processes alike).
    private var live: [String: [ObjectIdentifier: CommandRun]] = [:]
    private var idleWaiters: [String: [() -> Void]] = [:]
    /// Most commands one sandbox may run at once (exec + processes): a bound, not a product limit.
    public var maxPerSandbox = 64

    init(app: App, isolation: Isolation) {
        self.app = app
        self.isolation = isolation
    }

    /// Creates the runtime (once), logs the isolation mode, and hooks it into the sandbox lifecycle, reset and
    /// shutdown. `--isolation bwrap` without a working bwrap is refused by `main` before this runs; should it
    /// happen anyway (a test), commands run unconfined and the log says so.
    @discardableResult
    public static func install(_ app: App) -> SandboxRuntime {
        if let rt = app.service(SandboxRuntime.self) { return rt }
        let scratch = app.sandboxesDir + "/.probe-" + IDs.token("", length: 8)
        let (iso, line) = Isolation.resolve(app.config.isolation, scratchRoot: scratch)
        let isolation: Isolation
        if let i = iso { isolation = i; app.logger.info("\(line)") } else {
            isolation = Isolation(mode: .none)
            app.logger.error("\(line); running commands without isolation")
        }
        let rt = SandboxRuntime(app: app, isolation: isolation)
        app.register(rt)
        app.subscribe { [unowned rt] e in
            guard e.resourceType == "sandbox", let id = e.sandboxID else { return }
            switch e.type {
            case "sandbox.stopped", "sandbox.paused", "sandbox.error": rt.endAll(sandboxID: id, immediately: false)
            case "sandbox.destroyed": rt.endAll(sandboxID: id, immediately: true)
            default: break
            }
        }
        app.resetHooks.append { [unowned rt] in rt.killEverything() }
        app.shutdownHooks.append { [unowned rt] in rt.killEverything(reap: true) }
        return rt
    }

    // MARK: spawning

    /// Starts `command` in a sandbox. `cwd` is an API path (default `/workspace`); `env` overlays the sandbox's
    /// variables. 400 for a bad cwd, 409 when the sandbox runs too many commands, 500 if the spawn fails.
    public func start(sandboxID: String, command: String, cwd: String?, env: [(String, String)], stdin: [UInt8]? = nil,
                      timeoutMs: UInt64?) throws -> CommandRun {
        let root = SandboxPaths.root(app, sandboxID)
        let apiCwd = try SandboxPaths.normalize(cwd ?? "/workspace")
        let hostCwd = try SandboxPaths.hostPath(app, sandboxID, apiCwd)
        guard Isolation.isDirectory(hostCwd) else {
            throw APIError(400, "invalid_path", "Working directory \(apiCwd) does not exist in the sandbox.",
                           details: .object(["cwd": .string("is not an existing directory")]))
        }
        guard (live[sandboxID]?.count ?? 0) < maxPerSandbox else {
            throw APIError.conflict("Sandbox \(sandboxID) already runs \(maxPerSandbox) commands; wait for some to finish.",
                                    code: "too_many_processes")
        }
        let inSandboxCwd = isolation.mode == .bwrap ? apiCwd : hostCwd
        let options = SpawnOptions(
            arguments: isolation.argv(command: command, root: root, cwd: inSandboxCwd),
            environment: isolation.environment(root: root, cwdForPWD: inSandboxCwd,
                                               overlays: [try sandboxEnv(sandboxID), env]),
            cwd: isolation.mode == .bwrap ? root : hostCwd, stdin: stdin)
        let run: CommandRun
        do {
            run = try CommandRun(loop: app.loop, sandboxID: sandboxID, command: command, options: options,
                                 timeoutMs: timeoutMs, graceMs: app.config.killGraceMs)
        } catch let e as UVError {
            app.logger.error("spawn failed for sandbox \(sandboxID): \(e)")
            throw APIError(500, "spawn_failed", "The command could not be started: \(e).")
        }
        let key = ObjectIdentifier(run)
        live[sandboxID, default: [:]][key] = run
        run.onComplete { [weak self] r in self?.finished(r, key: key) }
        return run
    }

    private func finished(_ run: CommandRun, key: ObjectIdentifier) {
        live[run.sandboxID]?[key] = nil
        if live[run.sandboxID]?.isEmpty == true {
            live[run.sandboxID] = nil
            let waiters = idleWaiters.removeValue(forKey: run.sandboxID) ?? []
            for w in waiters { w() }
        }
    }

    /// The sandbox's variables: those given at create (`sandboxes.env`), then `sandbox_env` rows (later wins).
    func sandboxEnv(_ sandboxID: String) throws -> [(String, String)] {
        var out: [(String, String)] = []
        if let raw = try app.db.first("SELECT env FROM sandboxes WHERE id = ?", [.text(sandboxID)], { $0.text(0) }),
           let obj = (try? JSON.parse(raw))?.object {
            for (k, v) in obj { if let s = v.string { out.append((k, s)) } }
        }
        try app.db.forEach("SELECT key, value FROM sandbox_env WHERE sandbox_id = ? ORDER BY key", [.text(sandboxID)]) { s in
            out.append((s.text(0), s.text(1))); return true
        }
        return out
    }

    // MARK: ending

    public func liveCount(_ sandboxID: String) -> Int { live[sandboxID]?.count ?? 0 }

    /// Ends every command of a sandbox: SIGTERM then SIGKILL after the grace period, or SIGKILL at once.
    public func endAll(sandboxID: String, immediately: Bool) {
        for run in Array((live[sandboxID] ?? [:]).values) {
            if immediately { run.kill() } else { run.stop() }
        }
    }

    /// Calls `cb` once the sandbox has no live command (deferred when it has none now).
    public func whenIdle(_ sandboxID: String, _ cb: @escaping () -> Void) {
        if liveCount(sandboxID) == 0 { EventLoop.Timer.defer_(on: app.loop, cb) } else { idleWaiters[sandboxID, default: []].append(cb) }
    }

    /// Called when the server starts shutting down: ends every command now, so requests waiting on one (exec)
    /// are answered and the HTTP drain does not wait out its grace period.
    public func beginShutdown() { killEverything() }

    /// SIGKILL to every command of every sandbox. With `reap` (shutdown: the loop will not run again to
    /// collect exit statuses) it also waits, bounded, for the direct children so none is left behind.
    func killEverything(reap: Bool = false) {
        let runs = live.values.flatMap { $0.values }
        for run in runs { run.kill() }
        guard reap else { return }
        var pending = Set(runs.filter { !$0.child.hasExited }.map(\.hostPID))
        var tries = 0
        while !pending.isEmpty && tries < 500 {
            for pid in pending {
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid || (r < 0 && errno == ECHILD) { pending.remove(pid) }
            }
            if !pending.isEmpty { usleep(2_000); tries += 1 }
        }
    }
}
