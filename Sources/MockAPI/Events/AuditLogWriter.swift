import EventLoop
import Store

/// Fills `audit_log` from domain events that are actions (someone or something changed a resource).
///
/// It subscribes to `app.publish` directly rather than to the bus's deferred fan-out: the entry is written inside
/// the publisher's transaction, so it commits or rolls back with the action itself, and a read right after the
/// response already sees it. An idempotent replay runs no handler, publishes nothing, and so adds no entry.
///
/// Recorded: `sandbox.*` except the state reports `sandbox.ready` and `sandbox.error`; `template.*`;
/// `webhook.created|updated|deleted`; and the platform prefixes `api_key.`, `scoped_token.`, `workspace.`, `project.`,
/// `member.`, `invite.`, `tenant.`, `quota.`. Not recorded: data-plane activity (`file.*`, `exec.*`, `process.*`) and delivery
/// outcomes (`webhook.delivered|failed|test`); the event stream carries those.
final class AuditLogWriter {
    unowned let app: App
    private var purgeTimer: Timer?
    static let maxRows = 100_000
    static let maxMetadataBytes = 4096

    static let migrations = [
        Migration(410, "audit log", """
            CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                tenant_id TEXT NOT NULL, workspace_id TEXT, actor_id TEXT, actor_type TEXT NOT NULL,
                action TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL,
                metadata TEXT NOT NULL DEFAULT '{}', ip_address TEXT,
                -- created_epoch: seconds on the server clock, for since/until filters
                created_at TEXT NOT NULL, created_epoch REAL NOT NULL);
            CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);
            CREATE INDEX audit_log_tenant_action ON audit_log (tenant_id, action, seq);
            CREATE INDEX audit_log_tenant_resource ON audit_log (tenant_id, resource_id, seq);
            """),
        // Random resource ids put each entry on a different leaf of this index, rewritten by every commit and
        // checkpoint; filtering by resource reads the tenant's entries in order instead (at most `maxRows`).
        Migration(411, "drop the audit resource index", "DROP INDEX IF EXISTS audit_log_tenant_resource;"),
    ]

    static let recordedPrefixes = ["sandbox.", "template.", "webhook.", "api_key.", "scoped_token.", "workspace.", "project.",
                                   "member.", "invite.", "tenant.", "quota."]
    static let excluded: Set<String> = ["sandbox.ready", "sandbox.error", "webhook.delivered", "webhook.failed", "webhook.test"]

    static func isAction(_ type: String) -> Bool {
        !excluded.contains(type) && recordedPrefixes.contains { type.hasPrefix($0) }
    }

    init(app: App) {
        self.app = app
        app.subscribe { [unowned self] e in
            if AuditLogWriter.isAction(e.type) { self.record(e) }
        }
        let t = Timer(loop: app.loop)
        t.start(ms: 60_000, repeatMs: 60_000) { [unowned self] in self.purge() }
        t.unref()  // a sweeper must not keep a loop alive on its own
        purgeTimer = t
    }

    func close() {
        purgeTimer?.close()
        purgeTimer = nil
    }

    private func record(_ e: DomainEvent) {
        do {
            try app.db.run("""
                INSERT INTO audit_log (id, tenant_id, workspace_id, actor_id, actor_type, action, resource_type, resource_id,
                    metadata, ip_address, created_at, created_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
                """, [.text(IDs.uuidV7(wallMs: UInt64(max(0, Clock.wallClock() * 1000)))), .text(e.tenantID), .of(e.workspaceID), .of(e.actorID),
                      .text(e.actorID == nil ? "system" : "api_key"), .text(e.type), .text(e.resourceType), .text(e.resourceID),
                      .text(AuditLogWriter.metadata(e).encodedString), .text(Time.iso(e.occurredAt)), .double(e.occurredAt)])
        } catch {
            app.logger.error("audit entry for \(e.type) \(e.resourceID) not written: \(error)")
        }
    }

    /// A compact summary of the event's payload: scalar fields and short scalar lists (never secrets or tokens),
    /// at most `maxMetadataBytes` encoded.
    static func metadata(_ e: DomainEvent) -> JSON {
        var out = JSONObject()
        if let s = e.sandboxID, e.resourceType != "sandbox" { out["sandbox_id"] = .string(s) }
        guard let o = e.data.object else { return .object(out) }
        var size = 2
        for (k, v) in o {
            if AuditLogWriter.isSensitive(k) { continue }
            // Encoded size, counted without encoding (escapes aside; the cap is a bound on growth, not exact).
            let n: Int
            switch v {
            case .string(let s):
                guard s.utf8.count <= 256 else { continue }
                n = s.utf8.count + 2
            case .int, .double: n = 24
            case .bool: n = 5
            case .array(let a):
                guard a.count <= 32, a.allSatisfy({ $0.string.map { $0.utf8.count <= 128 } ?? false }) else { continue }
                n = a.reduce(2) { $0 + ($1.string?.utf8.count ?? 0) + 3 }
            default: continue
            }
            let entry = k.utf8.count + n + 4
            if size + entry > maxMetadataBytes { break }
            size += entry
            if k == "sandbox_id" && out.has(k) { out[k] = v } else { out.append(k, v) }
        }
        return .object(out)
    }

    static let sensitiveWords: [[UInt8]] = ["secret", "token", "password"].map { Array($0.utf8) }

    /// A key naming a secret (any case) or the share URL. Compared as ASCII bytes in place: Foundation's
    /// lowercased() and contains() were a tenth of a create's CPU.
    static func isSensitive(_ key: String) -> Bool {
        if key == "share_url" { return true }
        var key = key
        return key.withUTF8 { k in
            for w in sensitiveWords where k.count >= w.count {
                var i = 0
                while i + w.count <= k.count {
                    var j = 0
                    while j < w.count && (k[i + j] >= 0x41 && k[i + j] <= 0x5a ? k[i + j] | 0x20 : k[i + j]) == w[j] { j += 1 }
                    if j == w.count { return true }
                    i += 1
                }
            }
            return false
        }
    }

    func purge() {
        _ = try? app.db.run("DELETE FROM audit_log WHERE seq <= (SELECT MAX(seq) FROM audit_log) - ?", [.of(AuditLogWriter.maxRows)])
    }
}
