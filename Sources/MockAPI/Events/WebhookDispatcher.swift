import EventLoop
import HTTP
import Store

/// Delivers domain events to webhooks: an event-bus listener, an outbox in SQLite, and real HTTP POSTs on the loop.
///
/// Every committed event batch (EventBus fan-out, next loop turn) becomes one `pending` delivery per subscribed
/// webhook of the event's tenant. `pump` claims what is due (by the server clock) up to the concurrency limit and
/// sends it; each answer is an attempt row. 2xx = `delivered`; anything else is retried after the configured delays,
/// then `failed`. Outcomes are published as `webhook.delivered` / `webhook.failed`, except for deliveries of those two
/// events, so one delivery causes at most one more hop. Nothing here blocks the loop: SQLite writes are small and
/// every socket is libuv's. An idempotent replay publishes no event, so it delivers nothing.
public final class WebhookDispatcher {
    typealias Delivery = WebhookDeliveryStore.Delivery
    typealias Attempt = WebhookDeliveryStore.Attempt

    unowned let app: App
    let client: HTTPClient
    /// Outbox attempts in flight (tests sent by `POST /webhooks/{id}/test` do not count).
    private var sending = 0
    private var stopped = false
    private let timer: Timer
    private var purgeTimer: Timer?
    /// Active webhooks per tenant (id, event patterns); most tenants have none, so misses are cached too.
    private var subscriptions: [String: [(id: String, events: [String])]] = [:]
    static let userAgent = "miosa-mock-webhooks"
    static let storedResponseBytes = 1024

    init(app: App, bus: EventBus) {
        self.app = app
        var options = HTTPClient.Options()
        options.timeoutMs = max(1, app.config.webhookTimeoutMs)
        client = HTTPClient(loop: app.loop, options: options)
        timer = Timer(loop: app.loop)
        bus.listen { [unowned self] batch in self.enqueue(batch) }
        do { try WebhookDeliveryStore.recover(app.db, now: app.now) } catch {
            app.logger.error("webhook outbox recovery failed: \(error)")
        }
        let purge = Timer(loop: app.loop)
        purge.start(ms: 60_000, repeatMs: 60_000) { [unowned self] in
            try? WebhookDeliveryStore.purge(self.app.db, now: self.app.now)
        }
        purge.unref()  // a sweeper must not keep a loop alive on its own
        purgeTimer = purge
        rearm()  // retries left by the previous run
    }

    var maxAttempts: Int { app.config.webhookRetryDelaysMs.count + 1 }

    /// Call after any webhook is created, changed or deleted.
    func invalidate() { subscriptions.removeAll() }

    /// Server stopping: no new attempts; those in flight end as `cancelled` and stay due for the next start.
    func close() {
        stopped = true
        timer.close()
        purgeTimer?.close()
        purgeTimer = nil
        client.cancelAll()
    }

    /// After `/_mock/reset` wiped the tables: drop what is in flight and every cached subscription.
    func reset() {
        client.cancelAll()
        invalidate()
    }

    private func subscribers(_ tenantID: String) -> [(id: String, events: [String])] {
        if let s = subscriptions[tenantID] { return s }
        var out: [(id: String, events: [String])] = []
        try? app.db.forEach("SELECT id, events FROM webhooks WHERE tenant_id = ? AND active = 1", [.text(tenantID)]) { s in
            out.append((s.text(0), (try? JSON.parse(s.text(1)))?.array?.compactMap(\.string) ?? []))
            return true
        }
        subscriptions[tenantID] = out
        return out
    }

    // MARK: enqueue

    private func enqueue(_ batch: [BusEvent]) {
        guard !stopped else { return }
        var matches: [(BusEvent, String)] = []
        for e in batch {
            for w in subscribers(e.tenantID) where WebhookCatalog.wants(w.events, type: e.type, webhookID: w.id, aboutResource: e.resourceID) {
                matches.append((e, w.id))
            }
        }
        guard !matches.isEmpty else { return }  // the common case: no transaction at all
        do {
            try app.db.transaction {
                for (e, webhookID) in matches {
                    let id = IDs.uuid()
                    let data = (try? JSON.parse(e.dataText)) ?? .null
                    let body = WebhookDispatcher.body(deliveryID: id, type: e.type, eventID: e.id, tenantID: e.tenantID,
                                                      workspaceID: e.workspaceID, sandboxID: e.sandboxID, resourceType: e.resourceType,
                                                      resourceID: e.resourceID, occurredAt: e.occurredAt, webhookID: webhookID, data: data)
                    try WebhookDeliveryStore.insert(app.db, id: id, webhookID: webhookID, tenantID: e.tenantID, eventType: e.type,
                                                    eventID: e.id, body: body, state: "pending", maxAttempts: maxAttempts,
                                                    due: app.now, now: app.now)
                }
            }
        } catch {
            app.logger.error("webhook deliveries not queued: \(error)")
        }
        pump()
    }

    /// The delivery body (platform-contract B2, Go-next `WebhookEvent`): `id` = `delivery_id`, `event` = `type`.
    static func body(deliveryID: String, type: String, eventID: Int64?, tenantID: String, workspaceID: String?, sandboxID: String?,
                     resourceType: String, resourceID: String, occurredAt: Double, webhookID: String, data: JSON,
                     replayOf: String? = nil) -> String {
        let at = Time.iso(occurredAt)
        var o: JSONObject = [
            "id": .string(deliveryID), "delivery_id": .string(deliveryID), "event": .string(type), "type": .string(type),
            "event_id": .str(eventID.map { String($0) }), "webhook_id": .string(webhookID), "tenant_id": .string(tenantID),
            "workspace_id": .str(workspaceID), "sandbox_id": .str(sandboxID), "resource_type": .string(resourceType),
            "resource_id": .string(resourceID), "occurred_at": .string(at), "timestamp": .string(at),
        ]
        if let r = replayOf { o["replay_of"] = .string(r) }
        o["data"] = data
        return JSON.object(o).encodedString
    }

    // MARK: sending

    /// Sends whatever is due, up to the concurrency limit, then sleeps until the next due time (at most 1 s, so a
    /// `/_mock/clock` jump is noticed soon).
    func pump() {
        guard !stopped else { return }
        let free = max(0, app.config.webhookConcurrency - sending)
        do {
            for d in try WebhookDeliveryStore.claimDue(app.db, now: app.now, limit: free) { send(d, counted: true, then: nil) }
        } catch {
            app.logger.error("webhook outbox read failed: \(error)")
        }
        rearm()
    }

    private func rearm() {
        guard !stopped else { return }
        timer.stop()
        guard let next = (try? WebhookDeliveryStore.nextDue(app.db)) ?? nil else { return }
        let now = app.now
        if next <= now && sending >= app.config.webhookConcurrency { return }  // a completion pumps again
        let ms = UInt64(max(1, min(1_000, ((next - now) * 1000).rounded(.up))))
        timer.start(ms: ms) { [unowned self] in self.pump() }
    }

    private func send(_ d: Delivery, counted: Bool, webhook: WebhookRecord? = nil, then: ((Attempt) -> Void)?) {
        let db = app.db
        guard let hook = webhook ?? (try? db.first(WebhookRecord.select + " WHERE id = ?", [.text(d.webhookID)], WebhookRecord.init)) ?? nil else {
            _ = try? db.run("DELETE FROM webhook_deliveries WHERE id = ?", [.text(d.id)])  // its webhook is gone
            return
        }
        if counted && !hook.active {
            try? WebhookDeliveryStore.finish(db, id: d.id, state: "skipped", attempts: d.attempts, nextAttemptAt: nil)
            return
        }
        let body = Array(d.body.utf8)
        let signature = WebhookSignature.sign(body: body, secret: hook.secret)
        let headers = [("Content-Type", "application/json"), ("User-Agent", WebhookDispatcher.userAgent),
                       ("X-Miosa-Signature", signature), ("X-Miosa-Event", d.eventType), ("X-Miosa-Delivery", d.id),
                       ("X-Miosa-Attempt", String(d.attempts + 1))]
        app.loop.updateTime()
        let started = app.loop.nowMs
        let attemptedAt = app.nowISO
        if counted { sending += 1 }
        client.send(method: "POST", url: hook.url, headers: headers, body: body) { [weak self] result in
            guard let self = self else { return }
            if counted { self.sending -= 1 }
            self.completed(d, hook: hook, signature: signature, attemptedAt: attemptedAt, started: started, result: result, then: then)
        }
    }

    private func completed(_ d: Delivery, hook: WebhookRecord, signature: String, attemptedAt: String, started: UInt64,
                           result: Result<HTTPClientResponse, HTTPClientError>, then: ((Attempt) -> Void)?) {
        let db = app.db
        app.loop.updateTime()
        var status: Int?, responseBody: String?, error: String?
        var success = false
        switch result {
        case .success(let r):
            status = r.status
            success = (200..<300).contains(r.status)
            responseBody = String(decoding: r.body.prefix(WebhookDispatcher.storedResponseBytes), as: UTF8.self)
            if !success { error = "receiver answered \(r.status)" }
        case .failure(let e):
            error = e.description
        }
        let n = d.attempts + 1
        let cancelled = result.isCancelled
        let retry = !success && !cancelled && n < d.maxAttempts
        let next = retry ? app.now + Double(delayMs(afterAttempt: n)) / 1000 : nil
        let attempt = Attempt(id: IDs.uuid(), delivery: d, url: hook.url, signature: signature, attemptedAt: attemptedAt,
                              attempt: n, durationMs: Int(app.loop.nowMs &- started), statusCode: status, success: success,
                              error: error, responseBody: responseBody, nextAttemptAt: next)
        defer { then?(attempt) }
        if cancelled {
            // Stopping or reset: not an attempt. The row, if it still exists, is due again at the next start
            // (a test ping is not resent: its caller has had its answer).
            let test = d.eventType == "webhook.test"
            _ = try? db.run("UPDATE webhook_deliveries SET state = ?, next_attempt_at = ? WHERE id = ? AND state = 'sending'",
                            [.text(test ? "failed" : "pending"), test ? .null : .double(app.now), .text(d.id)])
            return
        }
        defer { pump() }  // a slot is free again (also when the delivery vanished meanwhile)
        // Deleted meanwhile (webhook deleted, state reset): nothing to record.
        guard (try? WebhookDeliveryStore.load(db, id: d.id)) != nil else { return }
        do {
            try db.transaction {
                try attempt.save(db)
                try WebhookDeliveryStore.finish(db, id: d.id, state: success ? "delivered" : retry ? "pending" : "failed",
                                                attempts: n, nextAttemptAt: next)
            }
        } catch {
            app.logger.error("webhook attempt \(d.id) not recorded: \(error)")
        }
        if d.eventType != "webhook.delivered" && d.eventType != "webhook.failed" {
            app.publish(success ? "webhook.delivered" : "webhook.failed", tenantID: d.tenantID, workspaceID: hook.workspaceID,
                        resourceType: "webhook", resourceID: d.webhookID, data: attempt.json)
        }
    }

    func delayMs(afterAttempt n: Int) -> UInt64 {
        let delays = app.config.webhookRetryDelaysMs
        guard !delays.isEmpty else { return 0 }
        return delays[min(max(n - 1, 0), delays.count - 1)]
    }

    // MARK: test and replay

    /// `POST /webhooks/{id}/test`: one `webhook.test` delivery, sent now whether or not the webhook is active, no
    /// retries; `completion` gets its attempt.
    func test(_ hook: WebhookRecord, completion: @escaping (Attempt) -> Void) throws {
        let id = IDs.uuid()
        let data: JSON = .object(["webhook_id": .string(hook.id), "test": .bool(true),
                                  "message": .string("Test delivery from miosa-mock.")])
        let body = WebhookDispatcher.body(deliveryID: id, type: "webhook.test", eventID: nil, tenantID: hook.tenantID,
                                          workspaceID: hook.workspaceID, sandboxID: nil, resourceType: "webhook",
                                          resourceID: hook.id, occurredAt: app.now, webhookID: hook.id, data: data)
        try WebhookDeliveryStore.insert(app.db, id: id, webhookID: hook.id, tenantID: hook.tenantID, eventType: "webhook.test",
                                        eventID: nil, body: body, state: "sending", maxAttempts: 1, due: nil, now: app.now)
        guard let d = try WebhookDeliveryStore.load(app.db, id: id) else { throw APIError.internalError() }
        send(d, counted: false, webhook: hook, then: completion)
    }

    /// Queues a new delivery (new id, same event and data) of `original`; it is sent on the next loop turns.
    func replay(_ hook: WebhookRecord, original: Delivery, replayID: String?) throws -> String {
        let id = IDs.uuid()
        var body = (try? JSON.parse(original.body))?.object ?? JSONObject()
        body["id"] = .string(id)
        body["delivery_id"] = .string(id)
        body["replay_of"] = .string(original.id)
        try WebhookDeliveryStore.insert(app.db, id: id, webhookID: hook.id, tenantID: hook.tenantID, eventType: original.eventType,
                                        eventID: original.eventID, body: JSON.object(body).encodedString, state: "pending",
                                        maxAttempts: maxAttempts, due: app.now, replayOf: original.id, replayID: replayID, now: app.now)
        Timer.defer_(on: app.loop) { [weak self] in self?.pump() }
        return id
    }
}

extension Result where Failure == HTTPClientError {
    var isCancelled: Bool {
        if case .failure(.cancelled) = self { return true }
        return false
    }
}
