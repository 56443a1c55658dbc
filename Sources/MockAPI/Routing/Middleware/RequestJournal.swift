import HTTP

/// One request as `/_mock/requests` reports it. Recording keeps references to the request's strings (the
/// target, the headers) and derives path, query and the Idempotency-Key header when the journal is read:
/// copying them on every request cost more than the rest of the journal.
struct JournalEntry {
    let seq: Int
    let method: String
    /// The request target as sent (path and query).
    let target: String
    let status: Int
    let requestID: String
    /// The key the idempotency middleware read (header or body field), if it ran.
    let recordedIdempotencyKey: String?
    let headers: HTTPHeaders
    let durationMs: UInt64
    let time: Double
    let replayed: Bool
    let faultID: String?

    /// The path part of the target, still percent-encoded.
    var path: String {
        guard let q = target.utf8.firstIndex(of: 0x3f) else { return target }
        return String(target[..<q])
    }

    /// The query string without `?`, or nil.
    var query: String? {
        guard let q = target.utf8.firstIndex(of: 0x3f) else { return nil }
        return String(target[target.utf8.index(after: q)...])
    }

    var idempotencyKey: String? { recordedIdempotencyKey ?? headers["Idempotency-Key"] }

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
    unowned(unsafe) let app: App  // the App owns its middleware (`app.middlewares`)
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
        guard capacity > 0, !ctx.request.targetHasPrefix("/_mock/") else { return }
        recorded += 1
        // A replay answers with the original request id (IdempotencyMiddleware); record what the client saw.
        let replayOf = ctx.idempotencyReplayOf
        let request = ctx.request
        let entry = JournalEntry(
            seq: recorded, method: request.method, target: request.target,
            status: response.status, requestID: replayOf ?? ctx.requestID,
            recordedIdempotencyKey: ctx.idempotencyKey, headers: request.headers,
            durationMs: app.loop.nowMs &- ctx.startedMs, time: app.now, replayed: replayOf != nil,
            faultID: ctx.faultID)
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
