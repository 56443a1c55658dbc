import EventLoop
import HTTP
import Store
import Logging
import Foundation

/// One mock server: a store, an app with its routes and middleware, and an HTTP listener on a loop.
public final class MockServer {
    public let app: App
    public let loop: Loop
    private var http: HTTPServer!
    private let dispatcher: Dispatcher
    public let fixtures: JSON
    private var stopped = false
    private var commitHook: BeforePoll?
    private let ownsTempDir: Bool
    public let startedAt: Double

    /// Opens (or creates) the store, applies migrations, loads fixtures into an empty store and registers routes.
    public init(configuration: Configuration, loop: Loop, logger: Logger? = nil) throws {
        var config = configuration
        let log = logger ?? Logger(label: "miosa-mock")
        let fm = FileManager.default
        let sandboxesDir: String
        if config.memory {
            sandboxesDir = NSTemporaryDirectory() + "miosa-mock-\(getpid())-\(IDs.token("", length: 8))/sandboxes"
            ownsTempDir = true
        } else {
            try fm.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
            config.dataDir = URL(fileURLWithPath: config.dataDir).standardizedFileURL.path
            sandboxesDir = config.dataDir + "/sandboxes"
            ownsTempDir = false
        }
        try fm.createDirectory(atPath: sandboxesDir, withIntermediateDirectories: true)

        let fixtureText: String
        if let p = config.fixturesPath {
            guard let t = try? String(contentsOfFile: p, encoding: .utf8) else {
                throw APIError.badRequest("cannot read fixtures file \(p)", code: "invalid_fixtures")
            }
            fixtureText = t
        } else {
            fixtureText = Fixtures.defaultDocument
        }
        do { fixtures = try JSON.parse(fixtureText) } catch {
            throw APIError.badRequest("fixtures are not valid JSON: \(error)", code: "invalid_fixtures")
        }

        let db = try Database(path: config.databasePath)
        let clock = Clock()
        self.loop = loop
        self.app = App(loop: loop, db: db, clock: clock, config: config, logger: log, sandboxesDir: sandboxesDir)
        self.dispatcher = Dispatcher(app: app)
        self.startedAt = Clock.wallClock()

        var migrations = Schema.core
        for g in Groups.all { migrations += g.migrations }
        let applied = try db.migrate(migrations, now: app.nowISO)
        if !applied.isEmpty { log.info("applied migrations \(applied)") }
        try ClockControl.restore(app)

        let tenancy = Tenancy(app: app)
        app.register(tenancy)
        app.register(self)
        if try db.scalarInt("SELECT COUNT(*) FROM tenants") == 0 {
            try db.transaction { try Fixtures.load(fixtures, into: db, now: app.nowISO, sandboxesDir: sandboxesDir) }
            log.info("loaded fixtures from \(config.fixturesPath ?? "the embedded default")")
        }

        // Order matters: `before` runs top down, `after` bottom up (Routing/Context.swift).
        // Order: log and journal see everything; the rate limiter counts every request (before faults and auth,
        // so their answers carry the counters too); idempotency needs the caller from auth.
        app.middlewares = [RequestLogMiddleware(), RequestJournal(app: app), RateLimitMiddleware(app: app),
                           FaultMiddleware(app: app), AuthMiddleware(tenancy: tenancy),
                           IdempotencyMiddleware(app: app), FaultDelayStage()]
        for g in Groups.all { g.register(app) }

        // Group commit (Database.groupCommit): a loop turn's writes share one transaction, committed before the
        // loop next polls; answers wait for it (HTTPServer.cork), so an answer is only sent once its changes are saved.
        if config.groupCommit {
            db.groupCommit = true
            // Weak: the hook is a loop handle, and a server can be dropped without a shutdown (tests).
            db.onBatchOpen = { [weak self] in self?.http?.cork() }
            commitHook = BeforePoll(loop: loop) { [weak self] in self?.commitTurn() }
        }
    }

    /// Commits the turn's batch, then lets the held answers out (replaced by a 500 if the commit failed).
    func commitTurn() {
        guard app.db.batchOpen else { return }
        if app.db.commitBatch() {
            http?.uncork()
        } else {
            app.logger.error("the store could not save this loop turn's changes; their requests are answered 500")
            http?.uncork(replacingWith: ErrorRenderer.response(
                APIError(500, "storage_error", "The change could not be saved and was not applied; retry the request."),
                requestID: IDs.requestID()))
        }
    }

    /// Binds the listener; returns the port.
    @discardableResult
    public func start() throws -> Int {
        var hc = app.config.http
        let maxBody = app.config.maxBodyBytes
        let maxUploadBody = app.config.maxUploadBytes / 3 * 4 + 64 * 1024
        hc.bodyLimit = { _, path in
            (path.contains("/files") || path.contains("/fs/")) ? max(maxBody, maxUploadBody) : maxBody
        }
        hc.errorResponse = { status, code, message in
            ErrorRenderer.response(APIError(status, code, message), requestID: IDs.requestID())
        }
        http = HTTPServer(loop: loop, configuration: hc) { [unowned self] req, responder in
            self.dispatcher.handle(req, responder)
        }
        let port = try http.listen(host: app.config.host, port: app.config.port)
        app.port = port
        app.logger.info("listening on \(app.baseURL)")
        return port
    }

    public var connectionCount: Int { http?.connectionCount ?? 0 }

    /// Stops accepting, finishes in-flight requests, runs shutdown hooks, closes the store.
    public func shutdown(completion: @escaping () -> Void) {
        guard !stopped else { completion(); return }
        stopped = true
        let finish = { [self] in
            commitHook?.close()
            commitHook = nil
            commitTurn()
            for h in app.shutdownHooks { h() }
            app.db.close()  // commits what the hooks wrote
            if ownsTempDir {
                try? FileManager.default.removeItem(atPath: (app.sandboxesDir as NSString).deletingLastPathComponent)
            }
            app.logger.info("stopped")
            completion()
        }
        if let h = http { h.shutdown(graceMs: app.config.shutdownGraceMs, completion: finish) } else { finish() }
    }

    /// Wipes every table (schema stays), removes sandbox directories, reloads fixtures: one transaction.
    public func reset() throws {
        let db = app.db
        var tables: [String] = []
        try db.forEach("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'") {
            tables.append($0.text(0)); return true
        }
        try db.transaction {
            try db.execute("PRAGMA defer_foreign_keys = ON")
            for t in tables { try db.execute("DELETE FROM \"\(t)\"") }
            try Fixtures.load(fixtures, into: db, now: app.nowISO, sandboxesDir: app.sandboxesDir)
        }
        for h in app.resetHooks { h() }
        app.service(Tenancy.self)?.invalidate()
        let fm = FileManager.default
        if let entries = try? fm.contentsOfDirectory(atPath: app.sandboxesDir) {
            for e in entries { try? fm.removeItem(atPath: app.sandboxesDir + "/" + e) }
        }
        app.logger.info("state reset to fixtures")
    }
}
