import HTTP

/// One request as `/_mock/requests` reports it.
struct JournalEntry {
    let seq: Int
    let method: String
    let path: String
    let query: String?
    let status: Int
    let requestID: String
    let idempotencyKey: String?
    let durationMs: UInt64
    let time: Double
    let replayed: Bool
    let faultID: String?

    func json() -> JSON {
        .object([
            "seq": .int(seq), "method": .string(method), "path": .string(path), "query": .str(query),
            "status": .int(status), "request_id": .string(requestID), "idempotency_key": .str(idempotencyKey),
            "duration_ms": .int(Int64(durationMs)), "time": .string(Time.iso(time)), "replayed": .bool(replayed),
            "fault_id": .str(faultID),
        ])
    }
}

/// The request journal: a bounded ring buffer in memory (`--journal-size`, default 1000; the oldest entry goes
/// first), so a long load test cannot grow it (WireMock's unbounded journal reached 4.5 GB, DESIGN).
/// Second in the chain, so its `after` runs last and sees the final status, including injected faults,
/// 429s and replays. `/_mock/*` requests are not recorded: the journal shows what the code under test sent.
final class RequestJournal: Middleware {
    unowned let app: App
    let capacity: Int
    private var ring: [JournalEntry] = []
    /// Where the next entry goes once the ring is full.
    private var next = 0
    /// Entries ever recorded (numbers them, and tells how many were dropped).
    private(set) var recorded = 0

    init(app: App) {
        self.app = app
        capacity = max(0, app.config.journalSize)
        ring.reserveCapacity(min(capacity, 4096))
        app.register(self)
        app.resetHooks.append { [unowned self] in self.clear() }
    }

    func after(_ ctx: RequestContext, _ response: inout HTTPResponse) {
        guard capacity > 0, !ctx.path.hasPrefix("/_mock/") else { return }
        recorded += 1
        // A replay answers with the original request id (IdempotencyMiddleware); record what the client saw.
        let replayOf = ctx.storage[IdempotencyMiddleware.replayKey] as? String
        let entry = JournalEntry(
            seq: recorded, method: ctx.method, path: String(ctx.path), query: ctx.request.query.map(String.init),
            status: response.status, requestID: replayOf ?? ctx.requestID,
            idempotencyKey: ctx.storage[IdempotencyMiddleware.keyKey] as? String ?? ctx.header("Idempotency-Key"),
            durationMs: app.loop.nowMs &- ctx.startedMs, time: app.now, replayed: replayOf != nil,
            faultID: ctx.storage[FaultMiddleware.ruleKey] as? String)
        if ring.count < capacity {
            ring.append(entry)
        } else {
            ring[next] = entry
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    var entries: [JournalEntry] { Array(ring[next...] + ring[..<next]) }

    @discardableResult
    func clear() -> Int {
        let n = ring.count
        ring.removeAll(keepingCapacity: true)
        next = 0
        return n
    }
}
