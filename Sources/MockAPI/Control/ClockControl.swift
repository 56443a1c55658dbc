import Store

/// `GET/POST /_mock/clock`: read and move the server clock every expiry follows (idempotency records, rate
/// windows, key and token expiry, sandbox timeouts). The state (offset, frozen instant) is kept in the `kv`
/// table so it survives a restart; `/_mock/reset` returns the clock to real time.
enum ClockControl: ResourceGroup {
    static let kvKey = "mock.clock"
    /// About a century each way: far enough for any test, and `Time.iso` keeps four-digit years.
    static let maxShiftSeconds = 3_200_000_000.0

    static func register(_ app: App) {
        guard app.config.controlAPI else { return }
        let opts = { (s: String) in RouteOptions(auth: .control, summary: s, tag: "mock") }
        app.router.add("GET", "/_mock/clock", opts("Read the server clock")) { ctx in .ok(state(ctx.app)) }
        app.router.add("POST", "/_mock/clock", opts("Advance, freeze (set) or resume the server clock")) { try move($0) }
    }

    static func state(_ app: App) -> JSON {
        let c = app.clock
        let now = c.now
        let offset = c.frozenAt == nil ? c.offsetSeconds : now - Clock.wallClock()
        return .object([
            "now": .string(Time.iso(now)),
            "now_epoch": .double((now * 1000).rounded() / 1000),
            "mode": .string(c.mode),
            "offset_seconds": .double((offset * 1000).rounded() / 1000),
            "frozen_at": c.frozenAt.map { .string(Time.iso($0)) } ?? .null,
        ])
    }

    /// `{"reset": true}` (wall clock), `{"set": ISO8601}` (freeze there), `{"mode": "real"|"frozen"}`,
    /// `{"advance_seconds": N}`; applied in that order, so `{"set": T, "advance_seconds": 5}` freezes at T+5.
    static func move(_ ctx: RequestContext) throws -> Reply {
        var f = try ctx.fields()
        let reset = f.bool("reset") ?? false
        let set = f.string("set", maxLength: 64)
        let mode = f.oneOf("mode", ["real", "frozen"])
        var advance: Double?
        if let raw = f.raw("advance_seconds") {
            if let d = raw.double, d.isFinite, abs(d) <= maxShiftSeconds { advance = d } else {
                f.fail("advance_seconds", "must be a number of seconds between -\(Int(maxShiftSeconds)) and \(Int(maxShiftSeconds))")
            }
        }
        var setEpoch: Double?
        if let s = set {
            if let t = Time.parse(s), t >= 0, t < 253_402_300_800 { setEpoch = t } else { f.fail("set", "must be an ISO 8601 timestamp such as 2026-05-17T10:00:00Z") }
        }
        if f.problems.isEmpty && !reset && set == nil && mode == nil && advance == nil {
            f.fail("advance_seconds", "give one of advance_seconds, set, mode or reset")
        }
        try f.finish()
        let app = ctx.app
        let clock = app.clock
        if reset { clock.reset() }
        if let t = setEpoch { clock.set(t) }
        if mode == "real" { clock.resume() } else if mode == "frozen" && clock.frozenAt == nil { clock.set(clock.now) }
        if let a = advance { clock.advance(seconds: a) }
        try save(app)
        app.logger.info("clock now \(app.nowISO) (\(clock.mode))")
        return .ok(state(app))
    }

    static func save(_ app: App) throws {
        let value = JSON.object(["offset_seconds": .double(app.clock.offsetSeconds),
                                 "frozen_at": app.clock.frozenAt.map { .double($0) } ?? .null])
        try app.db.run("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", [.text(kvKey), .text(value.encodedString)])
    }

    /// Called once at start, before anything reads the clock for expiry.
    static func restore(_ app: App) throws {
        guard let text = try app.db.first("SELECT value FROM kv WHERE key = ?", [.text(kvKey)], { $0.text(0) }),
              let v = try? JSON.parse(text) else { return }
        app.clock.restore(offset: v["offset_seconds"]?.double ?? 0, frozenAt: v["frozen_at"]?.double)
        if app.clock.mode == "frozen" || app.clock.offsetSeconds != 0 {
            app.logger.info("restored mock clock: \(app.nowISO) (\(app.clock.mode))")
        }
    }
}
