/// `GET /_mock/requests` (the journal, oldest first; `path` = prefix or glob, `method`, `status`, `limit` =
/// the newest N) and `DELETE /_mock/requests` (clear).
enum JournalControl: ResourceGroup {
    static let maxLimit = 10_000

    static func register(_ app: App) {
        guard app.config.controlAPI else { return }
        app.router.add("GET", "/_mock/requests", RouteOptions(auth: .control, summary: "The request journal", tag: "mock")) { try list($0) }
        app.router.add("DELETE", "/_mock/requests", RouteOptions(auth: .control, summary: "Clear the request journal", tag: "mock")) { ctx in
            let n = ctx.app.service(RequestJournal.self)?.clear() ?? 0
            return .ok(.object(["deleted": .int(n)]))
        }
    }

    static func list(_ ctx: RequestContext) throws -> Reply {
        guard let journal = ctx.app.service(RequestJournal.self) else { return .ok(.array([])) }
        let q = ctx.query
        var limit: Int?
        if let raw = q["limit"] {
            guard let n = Int(raw), n >= 1, n <= maxLimit else {
                throw APIError.badRequest("limit must be an integer from 1 to \(maxLimit).", code: "invalid_query",
                                          details: .object(["limit": .string("must be 1...\(maxLimit)")]))
            }
            limit = n
        }
        var status: Int?
        if let raw = q["status"] {
            guard let n = Int(raw) else {
                throw APIError.badRequest("status must be an integer.", code: "invalid_query", details: .object(["status": .string("must be an integer")]))
            }
            status = n
        }
        let method = q["method"]?.uppercased()
        let pathFilter = q["path"]
        let glob = pathFilter.flatMap { $0.contains("*") ? PathGlob($0) : nil }
        let apiPrefix = APIRoutes.prefix
        var items = journal.entries.filter { e in
            if let m = method, e.method != m { return false }
            if let s = status, e.status != s { return false }
            if let g = glob { return g.matchesAPIPath(Substring(e.path)) }
            if let p = pathFilter {
                return e.path.hasPrefix(p) || (e.path.hasPrefix(apiPrefix + "/") && e.path.dropFirst(apiPrefix.count).hasPrefix(p))
            }
            return true
        }
        let matched = items.count
        if let n = limit, items.count > n { items.removeFirst(items.count - n) }
        return .json(200, .object([
            "data": .array(items.map { $0.json() }),
            "total": .int(matched),
            "capacity": .int(journal.capacity),
            "recorded": .int(journal.recorded),
        ]))
    }
}
