/// `POST /_mock/reset`: back to the fixtures. One transaction wipes every table (idempotency records and the
/// persisted clock included) and reloads the fixtures; reset hooks then clear what lives in memory (rate
/// windows, the request journal, fault rules, idempotency keys in flight). The clock returns to real time.
enum ResetControl: ResourceGroup {
    static func register(_ app: App) {
        guard app.config.controlAPI else { return }
        app.router.add("POST", "/_mock/reset", RouteOptions(auth: .control, summary: "Wipe all state and reload the fixtures", tag: "mock")) { ctx in
            guard let server = ctx.app.service(MockServer.self) else { throw APIError.internalError("no server to reset") }
            ctx.app.clock.reset()
            try server.reset()
            return .ok(.object(["reset": .bool(true), "now": .string(ctx.app.nowISO)]))
        }
    }
}
