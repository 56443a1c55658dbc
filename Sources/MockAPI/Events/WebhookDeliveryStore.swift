import Store

/// The webhook outbox and its delivery log, in SQLite so pending retries survive a restart.
///
/// A *delivery* (`webhook_deliveries`) is one event for one webhook: its id is `X-Miosa-Delivery` and the body's
/// `id`/`delivery_id`, the same on every retry. Each *attempt* (`webhook_attempts`) is one POST: what the API
/// lists under `/webhooks/{id}/deliveries`. States: `pending` (due at `next_attempt_at`, server clock),
/// `sending`, `delivered`, `failed` (attempts used up), `skipped` (the webhook was deactivated meanwhile).
enum WebhookDeliveryStore {
    static let migrations = [
        Migration(401, "webhook deliveries and attempts", """
            CREATE TABLE webhook_deliveries (
                id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
                event_type TEXT NOT NULL, event_id INTEGER, body TEXT NOT NULL,
                state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
                -- epoch seconds on the server clock (app.now), so /_mock/clock moves retries too; NULL unless pending
                next_attempt_at REAL, replay_of TEXT, replay_id TEXT,
                created_at TEXT NOT NULL, created_epoch REAL NOT NULL);
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
            CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
            CREATE UNIQUE INDEX webhook_deliveries_replay ON webhook_deliveries (webhook_id, replay_id) WHERE replay_id IS NOT NULL;
            CREATE TABLE webhook_attempts (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, delivery_id TEXT NOT NULL,
                webhook_id TEXT NOT NULL, tenant_id TEXT NOT NULL, event_type TEXT NOT NULL, event_id INTEGER,
                attempt INTEGER NOT NULL, url TEXT NOT NULL, signature TEXT NOT NULL,
                status_code INTEGER, success INTEGER NOT NULL, error TEXT, response_body TEXT,
                duration_ms INTEGER NOT NULL, attempted_at TEXT NOT NULL, next_attempt_at REAL);
            CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, seq);
            CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, seq);
            """),
    ]

    /// Attempts kept (newest) across all tenants; finished deliveries kept (newest, and at most 7 days old).
    static let maxAttempts = 10_000
    static let maxFinished = 10_000
    static let maxFinishedAgeSec = 7 * 86_400.0

    struct Delivery {
        var id, webhookID, tenantID, eventType, body, state: String
        var eventID: Int64?
        var attempts, maxAttempts: Int

        static let select = "SELECT id, webhook_id, tenant_id, event_type, body, state, event_id, attempts, max_attempts FROM webhook_deliveries"

        init(_ s: Statement) {
            id = s.text(0); webhookID = s.text(1); tenantID = s.text(2); eventType = s.text(3); body = s.text(4)
            state = s.text(5); eventID = s.isNull(6) ? nil : s.int64(6); attempts = s.int(7); maxAttempts = s.int(8)
        }
    }

    static func insert(_ db: Database, id: String, webhookID: String, tenantID: String, eventType: String, eventID: Int64?,
                       body: String, state: String, maxAttempts: Int, due: Double?, replayOf: String? = nil,
                       replayID: String? = nil, now: Double) throws {
        try db.run("""
            INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_type, event_id, body, state, max_attempts,
                next_attempt_at, replay_of, replay_id, created_at, created_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(webhookID), .text(tenantID), .text(eventType), eventID.map { .int($0) } ?? .null, .text(body),
                  .text(state), .of(maxAttempts), .of(due), .of(replayOf), .of(replayID), .text(Time.iso(now)), .double(now)])
    }

    static func load(_ db: Database, id: String) throws -> Delivery? {
        try db.first(Delivery.select + " WHERE id = ?", [.text(id)], Delivery.init)
    }

    /// Up to `limit` pending deliveries due by `now`, oldest due first; each is marked `sending`.
    static func claimDue(_ db: Database, now: Double, limit: Int) throws -> [Delivery] {
        guard limit > 0 else { return [] }
        var out: [Delivery] = []
        try db.forEach(Delivery.select + " WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, rowid LIMIT ?",
                       [.double(now), .of(limit)]) { out.append(Delivery($0)); return true }
        for d in out { try db.run("UPDATE webhook_deliveries SET state = 'sending', next_attempt_at = NULL WHERE id = ?", [.text(d.id)]) }
        return out
    }

    /// When the next pending delivery is due (server clock), if any.
    static func nextDue(_ db: Database) throws -> Double? {
        try db.first("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'") { $0.isNull(0) ? nil : $0.double(0) } ?? nil
    }

    /// At start: deliveries that were being sent when the last process stopped are due again (at-least-once).
    static func recover(_ db: Database, now: Double) throws {
        try db.run("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ? WHERE state = 'sending'", [.double(now)])
    }

    static func finish(_ db: Database, id: String, state: String, attempts: Int, nextAttemptAt: Double?) throws {
        try db.run("UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ? WHERE id = ?",
                   [.text(state), .of(attempts), .of(nextAttemptAt), .text(id)])
    }

    static func deleteForWebhook(_ db: Database, _ webhookID: String) throws {
        try db.run("DELETE FROM webhook_attempts WHERE webhook_id = ?", [.text(webhookID)])
        try db.run("DELETE FROM webhook_deliveries WHERE webhook_id = ?", [.text(webhookID)])
    }

    static func purge(_ db: Database, now: Double) throws {
        try db.run("DELETE FROM webhook_attempts WHERE seq <= (SELECT MAX(seq) FROM webhook_attempts) - ?", [.of(maxAttempts)])
        try db.run("DELETE FROM webhook_deliveries WHERE state NOT IN ('pending', 'sending') AND created_epoch < ?",
                   [.double(now - maxFinishedAgeSec)])
        try db.run("""
            DELETE FROM webhook_deliveries WHERE state NOT IN ('pending', 'sending')
                AND rowid <= (SELECT MAX(rowid) FROM webhook_deliveries) - ?
            """, [.of(maxFinished)])
    }

    // MARK: attempts

    struct Attempt {
        var id, deliveryID, webhookID, tenantID, eventType, url, signature, attemptedAt: String
        var eventID: Int64?
        var attempt, durationMs: Int
        var statusCode: Int?
        var success: Bool
        var error, responseBody: String?
        var nextAttemptAt: Double?

        static let columns = ["id", "delivery_id", "webhook_id", "tenant_id", "event_type", "url", "signature", "attempted_at",
                              "event_id", "attempt", "duration_ms", "status_code", "success", "error", "response_body", "next_attempt_at"]
        static let select = "SELECT " + columns.joined(separator: ", ") + " FROM webhook_attempts"
        /// The same columns read from `webhook_attempts` aliased as `a`; extra columns go after them.
        static func selectAliased(extra: String) -> String {
            "SELECT " + columns.map { "a." + $0 }.joined(separator: ", ") + ", " + extra
        }

        init(id: String, delivery: Delivery, url: String, signature: String, attemptedAt: String, attempt: Int, durationMs: Int,
             statusCode: Int?, success: Bool, error: String?, responseBody: String?, nextAttemptAt: Double?) {
            self.id = id; deliveryID = delivery.id; webhookID = delivery.webhookID; tenantID = delivery.tenantID
            eventType = delivery.eventType; eventID = delivery.eventID; self.url = url; self.signature = signature
            self.attemptedAt = attemptedAt; self.attempt = attempt; self.durationMs = durationMs; self.statusCode = statusCode
            self.success = success; self.error = error; self.responseBody = responseBody; self.nextAttemptAt = nextAttemptAt
        }

        init(_ s: Statement) {
            id = s.text(0); deliveryID = s.text(1); webhookID = s.text(2); tenantID = s.text(3); eventType = s.text(4)
            url = s.text(5); signature = s.text(6); attemptedAt = s.text(7); eventID = s.isNull(8) ? nil : s.int64(8)
            attempt = s.int(9); durationMs = s.int(10); statusCode = s.optionalInt(11); success = s.bool(12)
            error = s.optionalText(13); responseBody = s.optionalText(14); nextAttemptAt = s.isNull(15) ? nil : s.double(15)
        }

        func save(_ db: Database) throws {
            try db.run("""
                INSERT INTO webhook_attempts (id, delivery_id, webhook_id, tenant_id, event_type, event_id, attempt, url, signature,
                    status_code, success, error, response_body, duration_ms, attempted_at, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(deliveryID), .text(webhookID), .text(tenantID), .text(eventType), eventID.map { .int($0) } ?? .null,
                      .of(attempt), .text(url), .text(signature), .of(statusCode), .of(success), .of(error), .of(responseBody),
                      .of(durationMs), .text(attemptedAt), .of(nextAttemptAt)])
        }

        /// Go `WebhookDeliveryData` fields, plus the delivery id, attempt number and retry schedule.
        var json: JSON {
            .object([
                "id": .string(id), "object": .string("webhook_delivery"), "delivery_id": .string(deliveryID),
                "webhook_id": .string(webhookID), "event_type": .string(eventType), "event_id": .str(eventID.map { String($0) }),
                "attempt": .int(attempt), "url": .string(url), "status_code": .num(statusCode), "success": .bool(success),
                "error": .str(error), "response_body": .str(responseBody), "duration_ms": .int(durationMs),
                "attempted_at": .string(attemptedAt), "will_retry": .bool(nextAttemptAt != nil),
                "next_attempt_at": nextAttemptAt.map { .string(Time.iso($0)) } ?? .null,
            ])
        }
    }
}
