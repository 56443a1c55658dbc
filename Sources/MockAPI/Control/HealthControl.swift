/// `GET /_mock/health`: answers as soon as the port is open, with no API key, so CI never sleeps.
enum HealthControl: ResourceGroup {
    static func register(_ app: App) {
        app.router.add("GET", "/_mock/health", RouteOptions(auth: .none, rate: .exempt, summary: "Liveness and basic facts", tag: "mock")) { ctx in
            let server = ctx.app.service(MockServer.self)
            let started = server?.startedAt ?? 0
            return .ok(.object([
                "status": .string("ok"),
                "version": .string(MockVersion.current),
                "started_at": .string(Time.iso(started)),
                "uptime_ms": .int(Int64((Clock.wallClock() - started) * 1000)),
                "now": .string(ctx.app.nowISO),
                "base_url": .string(ctx.app.baseURL + APIRoutes.prefix),
                "storage": .string(ctx.app.config.memory ? "memory" : ctx.app.config.databasePath),
            ]))
        }
    }
}

public enum MockVersion {
    public static let current = "0.1.0"
}
