import Crypto
import Store

/// API keys → principals, and the ownership selectors every create accepts (rest-api-conventions:
/// "Ownership fields"). Keys are stored as SHA-256 hashes; verified keys are cached until keys change.
public final class Tenancy {
    /// unowned(unsafe): the App owns this service (`app.register`) and outlives it.
    unowned(unsafe) let app: App
    private var cache: [String: Principal] = [:]
    /// When (server clock) `last_used_at` was last written per key: at most one write a minute per key.
    private var lastUsedWrites: [String: Double] = [:]
    static let lastUsedIntervalSeconds = 60.0

    /// The last `Authorization` header value that authenticated to a cached principal. A client sends the same
    /// header on every request, so a hit costs one string comparison: no token copy, no hashing.
    private var recentHeader = ""
    private var recentPrincipal: Principal?
    /// `lastUsedWrites[recentPrincipal.keyID]` (kept in step with it), so a hit needs no dictionary either.
    private var recentWrittenAt = -Double.infinity

    init(app: App) { self.app = app }

    public static func hash(_ key: String) -> String { Digest.sha256Hex(Array(key.utf8)) }

    /// Forget verified keys (after a key is created, revoked or rotated, or state is reset).
    public func invalidate() {
        cache.removeAll()
        lastUsedWrites.removeAll()  // after a reset the rows start over; a few extra writes cost nothing
        forgetRecent()
    }

    private func forgetRecent() {
        recentHeader = ""
        recentPrincipal = nil
        recentWrittenAt = -Double.infinity
    }

    /// The principal for an `Authorization` header; nil when it carries no bearer token, or the token is
    /// unknown, revoked or expired. The same answer as `authenticate(AuthMiddleware.bearerToken(h))`.
    public func authenticate(authorization h: String) throws -> Principal? {
        if let p = recent(h) { return p }
        guard let token = AuthMiddleware.bearerToken(h) else { return nil }
        return try authenticate(token, header: h)
    }

    /// The principal of the last header that authenticated, when `h` is that header.
    private func recent(_ h: String) -> Principal? {
        guard let p = recentPrincipal, h == recentHeader else { return nil }
        touch(p.keyID)
        return p
    }

    /// The principal for a bearer token, or nil when it is unknown, revoked or expired.
    public func authenticate(_ token: String) throws -> Principal? { try authenticate(token, header: nil) }

    /// `header`: the `Authorization` value the token came from, remembered when the principal is cached.
    private func authenticate(_ token: String, header: String?) throws -> Principal? {
        if let p = cache[token] {
            if let h = header { remember(h, p) }
            touch(p.keyID)
            return p
        }
        let db = app.db
        let found = try db.first("""
            SELECT k.id, k.tenant_id, k.workspace_id, k.name, k.scopes, k.status, k.expires_at,
                   (SELECT w.id FROM workspaces w WHERE w.tenant_id = k.tenant_id ORDER BY w.is_default DESC, w.created_at LIMIT 1)
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = ? AND t.status = 'active'
            """, [.text(Tenancy.hash(token))]) { s -> (Principal, String?, String)? in
            let scopes = (try? JSON.parse(s.text(4)))?.array?.compactMap(\.string) ?? []
            let ws = s.optionalText(2) ?? s.optionalText(7) ?? ""
            return (Principal(tenantID: s.text(1), workspaceID: ws, keyID: s.text(0), keyName: s.text(3), scopes: scopes),
                    s.optionalText(6), s.text(5))
        }
        guard let (principal, expiresAt, status) = found ?? nil, status == "active" else { return nil }
        if let e = expiresAt, let t = Time.parse(e), t <= app.now { return nil }
        // Expiring keys are not cached: the clock can move under them.
        if expiresAt == nil {
            cache[token] = principal
            if let h = header { remember(h, principal) }
        }
        touch(principal.keyID)
        return principal
    }

    private func remember(_ header: String, _ p: Principal) {
        recentHeader = header
        recentPrincipal = p
        recentWrittenAt = lastUsedWrites[p.keyID] ?? -Double.infinity
    }

    /// Records `last_used_at`, throttled so the hot path pays a comparison (or a dictionary lookup), not a write.
    private func touch(_ keyID: String) {
        let now = app.now
        let isRecent = recentPrincipal.map { $0.keyID == keyID } ?? false
        if isRecent && now >= recentWrittenAt && now - recentWrittenAt < Tenancy.lastUsedIntervalSeconds { return }
        if let t = lastUsedWrites[keyID], now >= t, now - t < Tenancy.lastUsedIntervalSeconds { return }
        if lastUsedWrites.count > 10_000 {
            lastUsedWrites.removeAll()
            recentWrittenAt = -Double.infinity
        }
        lastUsedWrites[keyID] = now
        if isRecent { recentWrittenAt = now }
        _ = try? app.db.run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [.text(Time.iso(now)), .text(keyID)])
    }

    // MARK: ownership selectors

    public struct Ownership {
        public var workspaceID: String
        public var projectID: String?
    }

    /// Resolves `workspace_id|workspace_slug|workspace_name` and `project_id|project_slug|project_name`,
    /// creating slugged workspaces and projects that do not exist yet.
    public func resolveOwnership(_ f: inout FieldReader, caller: Principal) throws -> Ownership {
        let db = app.db
        let now = app.nowISO
        let wsID = f.string("workspace_id")
        let wsSlug = f.slug("workspace_slug")
        let wsName = f.string("workspace_name", maxLength: 255)
        let pID = f.string("project_id")
        let pSlug = f.slug("project_slug")
        let pName = f.string("project_name", maxLength: 255)
        try f.finish()

        var workspace = caller.workspaceID
        if let id = wsID {
            guard try db.scalarInt("SELECT 1 FROM workspaces WHERE id = ? AND tenant_id = ?", [.text(id), .text(caller.tenantID)]) != nil else {
                throw APIError.validation([("workspace_id", "does not name a workspace of this organization")])
            }
            workspace = id
        } else if wsSlug != nil || wsName != nil {
            let slug = wsSlug ?? slugify(wsName!)
            // A name alone first names an existing workspace (`POST /workspaces` keeps names unique unless
            // told otherwise), then its slug.
            let byName = wsSlug == nil ? try db.first("SELECT id FROM workspaces WHERE tenant_id = ? AND name = ? ORDER BY created_at LIMIT 1",
                                                      [.text(caller.tenantID), .text(wsName!)], { $0.text(0) }) : nil
            if let existing = try byName ?? db.first("SELECT id FROM workspaces WHERE tenant_id = ? AND slug = ?",
                                                     [.text(caller.tenantID), .text(slug)], { $0.text(0) }) {
                workspace = existing
            } else {
                let id = IDs.uuid()
                try db.run("""
                    INSERT INTO workspaces (id, tenant_id, name, slug, external_workspace_id, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [.text(id), .text(caller.tenantID), .text(wsName ?? slug), .text(slug),
                          .of(f.raw("external_workspace_id")?.string), .text(now), .text(now)])
                workspace = id
                app.publish("workspace.created", tenantID: caller.tenantID, workspaceID: id, resourceType: "workspace",
                            resourceID: id, data: .object(["id": .string(id), "slug": .string(slug)]), actorID: caller.keyID)
            }
        }

        var project: String?
        if let id = pID {
            guard let ws = try db.first("SELECT workspace_id FROM projects WHERE id = ? AND tenant_id = ?",
                                        [.text(id), .text(caller.tenantID)], { $0.text(0) }) else {
                throw APIError.validation([("project_id", "does not name a project of this organization")])
            }
            if wsID == nil && wsSlug == nil && wsName == nil { workspace = ws }
            project = id
        } else if pSlug != nil || pName != nil {
            let slug = pSlug ?? slugify(pName!)
            if let existing = try db.first("SELECT id FROM projects WHERE workspace_id = ? AND slug = ?",
                                           [.text(workspace), .text(slug)], { $0.text(0) }) {
                project = existing
            } else {
                let id = IDs.uuid()
                try db.run("""
                    INSERT INTO projects (id, tenant_id, workspace_id, name, slug, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [.text(id), .text(caller.tenantID), .text(workspace), .text(pName ?? slug), .text(slug), .text(now), .text(now)])
                project = id
                app.publish("project.created", tenantID: caller.tenantID, workspaceID: workspace, resourceType: "project",
                            resourceID: id, data: .object(["id": .string(id), "slug": .string(slug)]), actorID: caller.keyID)
            }
        }
        return Ownership(workspaceID: workspace, projectID: project)
    }
}

/// Checks `Authorization: Bearer <key>` for routes that need one, and the route's scope.
final class AuthMiddleware: Middleware {
    let tenancy: Tenancy
    init(tenancy: Tenancy) { self.tenancy = tenancy }

    /// `Bearer <token>`, scheme case-insensitive, the token trimmed of spaces and tabs. Works on UTF-8 bytes:
    /// the Character-based split and Foundation's trimming it replaces were 12 % of a GET's instructions.
    static func bearerToken(_ h: String) -> String? {
        let u = h.utf8
        var i = u.startIndex
        while i != u.endIndex && u[i] == 0x20 { u.formIndex(after: &i) }
        let scheme = i
        while i != u.endIndex && u[i] != 0x20 { u.formIndex(after: &i) }
        guard i != u.endIndex, u.distance(from: scheme, to: i) == 6,
              zip(u[scheme..<i], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        var start = u.index(after: i)
        var end = u.endIndex
        while start != end && (u[start] == 0x20 || u[start] == 0x09) { u.formIndex(after: &start) }
        while start != end {
            let last = u.index(before: end)
            guard u[last] == 0x20 || u[last] == 0x09 else { break }
            end = last
        }
        return start == end ? nil : String(h[start..<end])
    }

    func before(_ ctx: RequestContext) throws -> Verdict {
        guard let route = ctx.route else { return .proceed }
        switch route.options.auth {
        case .none, .control:
            // Public routes still learn who is calling when a key is sent.
            if let h = ctx.header("Authorization") { ctx.principal = try tenancy.authenticate(authorization: h) }
            return .proceed
        case .apiKey(let scope):
            let missing = { APIError.unauthorized("Missing API key: send Authorization: Bearer msk_...") }
            guard let h = ctx.header("Authorization") else { throw missing() }
            guard let p = try tenancy.authenticate(authorization: h) else {
                // Told apart only on failure: a header without a bearer token, or a token no key matches.
                throw AuthMiddleware.bearerToken(h) == nil ? missing() : APIError.unauthorized("Invalid, revoked or expired API key.")
            }
            ctx.principal = p
            if let s = scope, !p.allows(s) {
                throw APIError.forbidden("This API key lacks the \(s) scope.", code: "insufficient_scope")
            }
            return .proceed
        }
    }
}

extension String {
    func trimmingCharacters(in _: TrimSet) -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
    enum TrimSet { case whitespaces }
}
