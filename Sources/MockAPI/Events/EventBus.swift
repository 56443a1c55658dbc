import EventLoop
import HTTP
import Store

/// One stored event: a row of the `events` table, as live subscribers and replays see it.
public struct BusEvent {
    /// Monotonic across restarts, purges and `/_mock/reset` (AUTOINCREMENT): the SSE `id:`.
    public let id: Int64
    public let type: String
    public let tenantID: String
    public let workspaceID: String?
    public let sandboxID: String?
    public let externalUserID: String?
    public let resourceType: String
    public let resourceID: String
    public let actorID: String?
    /// The payload, already encoded as single-line JSON.
    public let dataText: String
    public let occurredAt: Double

    /// `data.path` (file events), parsed on demand: only path filters need it.
    public var dataPath: String? { (try? JSON.parse(dataText))?["path"]?.string }

    /// The SSE frame every stream sends for this event (sandbox-contract §11.2, platform-contract A12):
    /// `id:`, `event: <type>`, and one `data:` line carrying `type` again (Python's tenant parser and the
    /// TS SDK read only the JSON).
    public func frame() -> [UInt8] {
        let at = Time.iso(occurredAt)
        let head: JSON = .object([
            "id": .string(String(id)), "type": .string(type), "sandbox_id": .str(sandboxID),
            "workspace_id": .str(workspaceID), "tenant_id": .string(tenantID),
            "resource_type": .string(resourceType), "resource_id": .string(resourceID),
            "timestamp": .string(at), "occurred_at": .string(at),
        ])
        var json = head.encoded()
        json.removeLast()  // the closing brace: `data` goes last, spliced in as stored
        json.append(contentsOf: #","data":"#.utf8)
        json.append(contentsOf: dataText.utf8)
        json.append(0x7d)
        return SSEWriter.frame(id: String(id), event: type, data: String(decoding: json, as: UTF8.self))
    }
}

/// Makes every domain event durable, then hands it to live listeners (the SSE hub, later webhooks).
///
/// Recording is synchronous (the row exists when `publish` returns, so a replay that starts afterwards sees
/// it); fan-out runs on the next loop turn, once per batch. By then the publisher's transaction, if any, has
/// ended: rows it rolled back are dropped instead of reaching clients.
public final class EventBus {
    unowned let app: App
    /// The highest id handed out (ids are never reused, even for rolled-back rows).
    public private(set) var lastID: Int64 = 0
    private var pending: [BusEvent] = []
    private var flushTimer: Timer?
    private var flushArmed = false
    private var purgeTimer: Timer?
    private var listeners: [([BusEvent]) -> Void] = []

    static let migrations = [
        Migration(300, "event log", """
            CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, tenant_id TEXT NOT NULL,
                workspace_id TEXT, sandbox_id TEXT, external_user_id TEXT,
                resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, actor_id TEXT,
                data TEXT NOT NULL, occurred_at REAL NOT NULL);
            CREATE INDEX events_tenant ON events (tenant_id, id);
            CREATE INDEX events_sandbox ON events (sandbox_id, id);
            CREATE INDEX events_occurred ON events (occurred_at);
            """),
        // Keyed by a random UUID, this index put every new sandbox's events on a different leaf page, which each
        // commit and checkpoint wrote out again (a fifth of a create's disk writes). A per-sandbox replay now
        // walks the tenant's events from its Last-Event-ID (`events_tenant`): short for a reconnect, and the
        // log is bounded (`eventsMaxRows`) for a replay from the start.
        Migration(301, "drop the per-sandbox event index", "DROP INDEX IF EXISTS events_sandbox;"),
    ]

    init(app: App) {
        self.app = app
        let maxRow = (try? app.db.scalarInt("SELECT MAX(id) FROM events")) ?? nil
        let seq = (try? app.db.scalarInt("SELECT seq FROM sqlite_sequence WHERE name = 'events'")) ?? nil
        lastID = Int64(max(maxRow ?? 0, seq ?? 0))
        app.subscribe { [unowned self] e in self.record(e) }
        let purge = Timer(loop: app.loop)
        purge.start(ms: 60_000, repeatMs: 60_000) { [unowned self] in self.purge() }
        purge.unref()  // a sweeper must not keep a loop alive on its own
        purgeTimer = purge
    }

    /// `listener` gets every batch of new events, in id order, on the loop thread.
    public func listen(_ listener: @escaping ([BusEvent]) -> Void) { listeners.append(listener) }

    public func close() {
        purgeTimer?.close()
        purgeTimer = nil
        flushTimer?.close()
        flushTimer = nil
        pending = []
        listeners = []
    }

    // MARK: recording

    func record(_ e: DomainEvent) {
        var workspace = e.workspaceID
        var externalUser = e.data["external_user_id"]?.string
        // A payload that carries `external_user_id` (even null, as the sandbox object does) already answers it.
        let knowsUser = externalUser != nil || e.data["external_user_id"] != nil
        if let sid = e.sandboxID, workspace == nil || !knowsUser,
           let row = try? app.db.first("SELECT workspace_id, external_user_id FROM sandboxes WHERE id = ?", [.text(sid)], {
               ($0.optionalText(0), $0.optionalText(1))
           }) {
            workspace = workspace ?? row.0
            externalUser = externalUser ?? row.1
        }
        lastID += 1
        let event = BusEvent(id: lastID, type: e.type, tenantID: e.tenantID, workspaceID: workspace, sandboxID: e.sandboxID,
                             externalUserID: externalUser, resourceType: e.resourceType, resourceID: e.resourceID,
                             actorID: e.actorID, dataText: e.dataText ?? e.data.encodedString, occurredAt: e.occurredAt)
        do {
            try app.db.run("""
                INSERT INTO events (id, type, tenant_id, workspace_id, sandbox_id, external_user_id, resource_type,
                    resource_id, actor_id, data, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.int(event.id), .text(event.type), .text(event.tenantID), .of(event.workspaceID), .of(event.sandboxID),
                      .of(event.externalUserID), .text(event.resourceType), .text(event.resourceID), .of(event.actorID),
                      .text(event.dataText), .double(event.occurredAt)])
        } catch {
            app.logger.error("event \(e.type) not recorded: \(error)")
            return
        }
        pending.append(event)
        if !flushArmed {
            flushArmed = true
            if flushTimer == nil { flushTimer = Timer(loop: app.loop) }
            flushTimer!.start(ms: 0) { [unowned self] in self.flush() }
        }
    }

    private func flush() {
        flushArmed = false
        guard !pending.isEmpty else { return }
        var batch = pending
        pending = []
        // Rows rolled back with their publisher's transaction are not delivered (one range count per batch).
        let first = batch[0].id, last = batch[batch.count - 1].id
        let stored = (try? app.db.scalarInt("SELECT COUNT(*) FROM events WHERE id BETWEEN ? AND ?", [.int(first), .int(last)])) ?? nil
        if stored != batch.count {
            var ids = Set<Int64>()
            try? app.db.forEach("SELECT id FROM events WHERE id BETWEEN ? AND ?", [.int(first), .int(last)]) {
                ids.insert($0.int64(0)); return true
            }
            batch = batch.filter { ids.contains($0.id) }
        }
        guard !batch.isEmpty else { return }
        for l in listeners { l(batch) }
    }

    // MARK: reading

    /// Where a replay reads from: one tenant, optionally narrowed to a sandbox, workspace or external user.
    public struct Scope {
        public var tenantID: String
        public var sandboxID: String?
        public var workspaceID: String?
        public var externalUserID: String?
    }

    /// Up to `limit` events with id > `after` in `scope`, in id order.
    public func page(after: Int64, scope: Scope, limit: Int) throws -> [BusEvent] {
        var sql = "SELECT id, type, tenant_id, workspace_id, sandbox_id, external_user_id, resource_type, resource_id, actor_id, data, occurred_at FROM events WHERE "
        var args: [SQLValue] = []
        if let s = scope.sandboxID {
            sql += "sandbox_id = ? AND tenant_id = ?"
            args = [.text(s), .text(scope.tenantID)]
        } else {
            sql += "tenant_id = ?"
            args = [.text(scope.tenantID)]
        }
        if let w = scope.workspaceID { sql += " AND workspace_id = ?"; args.append(.text(w)) }
        if let u = scope.externalUserID { sql += " AND external_user_id = ?"; args.append(.text(u)) }
        sql += " AND id > ? ORDER BY id LIMIT ?"
        args += [.int(after), .int(Int64(limit))]
        var out: [BusEvent] = []
        try app.db.forEach(sql, args) { s in
            out.append(BusEvent(id: s.int64(0), type: s.text(1), tenantID: s.text(2), workspaceID: s.optionalText(3),
                                sandboxID: s.optionalText(4), externalUserID: s.optionalText(5), resourceType: s.text(6),
                                resourceID: s.text(7), actorID: s.optionalText(8), dataText: s.text(9), occurredAt: s.double(10)))
            return true
        }
        return out
    }

    /// Keeps the newest `eventsMaxRows` rows and nothing older than `eventsMaxAgeSec` (server clock).
    @discardableResult
    public func purge() -> Int {
        let cfg = app.config
        var removed = 0
        removed += (try? app.db.run("DELETE FROM events WHERE id <= ?", [.int(lastID - Int64(max(0, cfg.eventsMaxRows)))])) ?? 0
        removed += (try? app.db.run("DELETE FROM events WHERE occurred_at < ?", [.double(app.now - cfg.eventsMaxAgeSec)])) ?? 0
        return removed
    }
}
