import EventLoop
import HTTP
import Store

/// `Idempotency-Key` on mutations (rest-api-conventions; platform-contract A4; DESIGN "Contract rules").
///
/// The first request with a key runs once; its response (status, headers, body) is stored in SQLite for 24 h of
/// server time, scoped to the API key, with the method, target (path and query) and a SHA-256 of the body. A
/// repeat within 24 h gets those bytes back with `Idempotent-Replayed: true` and `Idempotency-Replayed: true`
/// (Python reads the latter) and nothing runs again. A replay carries the original request's `X-Request-Id`,
/// so the header agrees with the `request_id` a stored error body holds. The same key on another request is a
/// 422 `idempotency_key_reused`; a repeat while the first still runs is a 409 `idempotency_key_in_progress`.
/// 5xx answers and streams are not stored (a retry runs again); 4xx answers are.
/// Runs after auth (the scope is the caller's key) and after the rate limiter (a replay is still a request).
final class IdempotencyMiddleware: Middleware {
    unowned let app: App
    static let ttlSeconds = 86_400.0
    static let maxKeyBytes = 255
    /// A claim whose request never finished (a handler that never answered) is dropped after this long.
    static let staleClaimMs: UInt64 = 3_600_000
    static let purgeEveryMs: UInt64 = 60_000

    struct Claim {
        let id: String
        let keyID: String
        let key: String
        let method: String
        let target: String
        let fingerprint: String
        let requestID: String
        let startedMs: UInt64
    }

    /// Requests with a key that are running now, by API key id + key. In memory: a restart ends them anyway.
    private var inFlight: [String: Claim] = [:]
    private var purgeTimer: Timer?

    init(app: App) {
        self.app = app
        app.register(self)
        app.resetHooks.append { [unowned self] in self.inFlight.removeAll() }
        let t = Timer(loop: app.loop)
        // unref: the sweeper alone must not keep a loop alive (tests stop their loops while it is armed).
        t.unref()
        t.start(ms: IdempotencyMiddleware.purgeEveryMs, repeatMs: IdempotencyMiddleware.purgeEveryMs) { [unowned self] in self.purge() }
        purgeTimer = t
        app.shutdownHooks.append { [unowned self] in self.purgeTimer?.close(); self.purgeTimer = nil }
    }

    static func isMutation(_ method: String) -> Bool {
        method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE"
    }

    /// The header, else the `idempotency_key` body field the SDKs also send. Any non-empty string.
    static func key(_ ctx: RequestContext) -> String? {
        if let h = ctx.header("Idempotency-Key"), !h.isEmpty { return h }
        if let type = ctx.header("Content-Type"), !type.lowercased().contains("json") { return nil }
        guard !ctx.request.body.isEmpty, let k = (try? ctx.body())?["idempotency_key"]?.string, !k.isEmpty else { return nil }
        return k
    }

    func before(_ ctx: RequestContext) throws -> Verdict {
        guard IdempotencyMiddleware.isMutation(ctx.method), let route = ctx.route, let p = ctx.principal else { return .proceed }
        if case .control = route.options.auth { return .proceed }
        guard let key = IdempotencyMiddleware.key(ctx) else { return .proceed }
        ctx.idempotencyKey = key
        guard key.utf8.count <= IdempotencyMiddleware.maxKeyBytes else {
            throw APIError.badRequest("Idempotency-Key must be at most \(IdempotencyMiddleware.maxKeyBytes) bytes.",
                                      code: "invalid_idempotency_key")
        }
        let target = ctx.request.target
        let fingerprint = Digest.sha256Hex(ctx.request.body)
        let id = p.keyID + "\u{0}" + key

        func reused(_ method: String, _ original: String) -> APIError {
            let what = method == ctx.method && original == target ? "the same route with a different body" : "\(method) \(original)"
            return APIError(422, "idempotency_key_reused",
                            "Idempotency-Key \(key) was already used for \(what); a new request needs a new key.",
                            details: .object(["original_method": .string(method), "original_path": .string(original)]))
        }

        if let c = inFlight[id] {
            if c.method != ctx.method || c.target != target || c.fingerprint != fingerprint { throw reused(c.method, c.target) }
            throw APIError(409, "idempotency_key_in_progress",
                           "A request with Idempotency-Key \(key) is still in progress; retry once it has finished.")
        }
        if let stored = try IdempotencyStore.find(app.db, keyID: p.keyID, key: key, now: app.now) {
            guard stored.method == ctx.method, stored.target == target, stored.fingerprint == fingerprint else {
                throw reused(stored.method, stored.target)
            }
            ctx.idempotencyReplayOf = stored.requestID
            return .answer(.response(stored.response))
        }
        let claim = Claim(id: id, keyID: p.keyID, key: key, method: ctx.method, target: target, fingerprint: fingerprint,
                          requestID: ctx.requestID, startedMs: app.loop.nowMs)
        inFlight[id] = claim
        ctx.idempotencyClaim = claim
        return .proceed
    }

    func after(_ ctx: RequestContext, _ response: inout HTTPResponse) {
        if let original = ctx.idempotencyReplayOf {
            response.headers.set("X-Request-Id", original)
            response.headers.set("Idempotent-Replayed", "true")
            response.headers.set("Idempotency-Replayed", "true")
            return
        }
        guard let claim = ctx.idempotencyClaim else { return }
        ctx.idempotencyClaim = nil
        // Only our own claim: a reset may have dropped it and another request claimed the key since.
        if inFlight[claim.id]?.requestID == claim.requestID { inFlight.removeValue(forKey: claim.id) }
        guard response.status < 500, !ctx.isStreamReply else { return }
        var stored = response
        stored.headers.remove("X-Request-Id")
        do {
            try IdempotencyStore.save(app.db, claim: claim, response: stored, now: app.now, ttl: IdempotencyMiddleware.ttlSeconds)
        } catch {
            app.logger.error("cannot store idempotent response for request \(claim.requestID): \(error)")
        }
    }

    /// Drops expired records (by the server clock) and claims whose request never finished. Off the hot path:
    /// lookups already ignore expired rows, this only keeps the table small.
    func purge() {
        do {
            let n = try IdempotencyStore.purge(app.db, now: app.now)
            if n > 0 { app.logger.debug("purged \(n) expired idempotency records") }
        } catch {
            app.logger.warning("idempotency purge failed: \(error)")
        }
        let now = app.loop.nowMs
        inFlight = inFlight.filter { now &- $0.value.startedMs < IdempotencyMiddleware.staleClaimMs }
    }
}

/// The `idempotency_records` table (migrations 100–199 belong to idempotency, rate limits and the control API).
enum IdempotencyStore: ResourceGroup {
    static let migrations: [Migration] = [
        Migration(100, "idempotency records", """
            CREATE TABLE idempotency_records (
                api_key_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
                method TEXT NOT NULL, target TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB,  -- NULL for an empty body (SQLite binds a 0-byte blob as NULL)
                request_id TEXT NOT NULL,
                -- epoch seconds of the server clock (app.now), so /_mock/clock moves expiry
                created_at REAL NOT NULL, expires_at REAL NOT NULL,
                PRIMARY KEY (api_key_id, idempotency_key));
            CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);
            """),
    ]

    static func register(_ app: App) {}

    struct Record {
        let method: String
        let target: String
        let fingerprint: String
        let requestID: String
        let response: HTTPResponse
    }

    static func find(_ db: Database, keyID: String, key: String, now: Double) throws -> Record? {
        try db.first("""
            SELECT method, target, body_sha256, request_id, status, headers, body FROM idempotency_records
            WHERE api_key_id = ? AND idempotency_key = ? AND expires_at > ?
            """, [.text(keyID), .text(key), .double(now)]) { s in
            var headers = HTTPHeaders()
            for pair in (try? JSON.parse(s.text(5)))?.array ?? [] {
                if let name = pair.array?.first?.string, let value = pair.array?.last?.string { headers.add(name, value) }
            }
            return Record(method: s.text(0), target: s.text(1), fingerprint: s.text(2), requestID: s.text(3),
                          response: HTTPResponse(status: s.int(4), headers: headers, body: s.blob(6)))
        }
    }

    /// Replaces an expired record under the same key, if any.
    static func save(_ db: Database, claim: IdempotencyMiddleware.Claim, response: HTTPResponse, now: Double, ttl: Double) throws {
        let headers = JSON.array(response.headers.fields.map { .array([.string($0.name), .string($0.value)]) })
        try db.run("""
            INSERT OR REPLACE INTO idempotency_records (api_key_id, idempotency_key, method, target, body_sha256,
                status, headers, body, request_id, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(claim.keyID), .text(claim.key), .text(claim.method), .text(claim.target), .text(claim.fingerprint),
                  .of(response.status), .text(headers.encodedString), .blob(response.body), .text(claim.requestID),
                  .double(now), .double(now + ttl)])
    }

    @discardableResult
    static func purge(_ db: Database, now: Double) throws -> Int {
        try db.run("DELETE FROM idempotency_records WHERE expires_at <= ?", [.double(now)])
    }

    static func count(_ db: Database) throws -> Int {
        try db.scalarInt("SELECT COUNT(*) FROM idempotency_records") ?? 0
    }
}
