import Crypto
import Foundation
import Store

/// One row of `api_keys`. `kind` tells the credentials apart: `key` (a tenant key, `msk_live_…`),
/// `scoped_key` (an L2 delegation key bound to an external user, `msk_u_…`) and `scoped_token` (a short-lived
/// JWT-shaped delegation token). All three authenticate the same way: by the SHA-256 of the bearer value.
struct KeyRecord {
    var id: String
    var tenantID: String
    var workspaceID: String?
    var name: String
    var prefix: String
    var scopes: [String]
    var status: String
    var expiresAt: String?
    var lastUsedAt: String?
    var createdAt: String
    var updatedAt: String
    var revokedAt: String?
    var kind: String
    var externalUserID: String?
    var userID: String?
    var createdBy: String?

    static let select = """
        SELECT id, tenant_id, workspace_id, name, prefix, scopes, status, expires_at, last_used_at, created_at,
               updated_at, revoked_at, kind, external_user_id, user_id, created_by FROM api_keys
        """

    init(_ s: Statement) {
        id = s.text(0); tenantID = s.text(1); workspaceID = s.optionalText(2); name = s.text(3); prefix = s.text(4)
        scopes = (try? JSON.parse(s.text(5)))?.array?.compactMap(\.string) ?? []
        status = s.text(6); expiresAt = s.optionalText(7); lastUsedAt = s.optionalText(8); createdAt = s.text(9)
        updatedAt = s.text(10); revokedAt = s.optionalText(11); kind = s.text(12); externalUserID = s.optionalText(13)
        userID = s.optionalText(14); createdBy = s.optionalText(15)
    }

    /// A credential of this tenant whose kind is one of `kinds`; 404 otherwise (another tenant's id looks missing).
    static func load(_ db: Database, id: String, tenantID: String, kinds: [String] = ["key", "scoped_key"]) throws -> KeyRecord {
        let marks = kinds.map { _ in "?" }.joined(separator: ",")
        guard let r = try db.first(select + " WHERE id = ? AND tenant_id = ? AND kind IN (\(marks))",
                                   [.text(id), .text(tenantID)] + kinds.map { .text($0) }, KeyRecord.init) else {
            throw kinds == ["scoped_token"] ? APIError.notFound("scoped_token", id) : APIError.notFound("api_key", id)
        }
        return r
    }

    /// One page of the caller's rows of these kinds (a SQL list of quoted literals), newest first, with the
    /// `status` / `include_revoked` filters and exact-match `filters` from the query string.
    static func listReply(_ ctx: RequestContext, kinds: String, filters: [String]) throws -> Reply {
        let c = try ctx.caller
        let q = ctx.query
        let page = try Page(query: q)
        var whereSQL = "tenant_id = ? AND kind IN (\(kinds))"
        var args: [SQLValue] = [.text(c.tenantID)]
        if let s = q["status"] {
            guard let (sql, a) = statusFilter(s, now: ctx.app.now) else {
                throw APIError.badRequest("status must be active, disabled, revoked or expired.", code: "invalid_filter")
            }
            whereSQL += sql; args += a
        } else if q.bool("include_revoked") != true {
            whereSQL += " AND status != 'revoked'"
        }
        for key in filters {
            if let v = q[key] { whereSQL += " AND \(key) = ?"; args.append(.text(v)) }
        }
        let db = ctx.app.db
        let total = try db.scalarInt("SELECT COUNT(*) FROM api_keys WHERE " + whereSQL, args) ?? 0
        var items: [JSON] = []
        let now = ctx.app.now
        try db.forEach(select + " WHERE " + whereSQL + " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                       args + [.of(page.pageSize), .of(page.offset)]) { s in
            items.append(KeyRecord(s).json(now: now)); return true
        }
        return .json(200, Envelope.list(items, page: page, total: total))
    }

    /// SQL for a `status` list filter (`expired` is derived from `expires_at`, not stored), or nil when unknown.
    static func statusFilter(_ status: String, now: Double) -> (String, [SQLValue])? {
        let at = SQLValue.text(Time.iso(now))
        switch status {
        case "expired": return (" AND status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?", [at])
        case "active": return (" AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)", [at])
        case "disabled", "revoked": return (" AND status = ?", [.text(status)])
        default: return nil
        }
    }

    /// `active`, `disabled`, `revoked`, or `expired` (an active credential past `expires_at` by the server clock).
    func effectiveStatus(now: Double) -> String {
        if status == "active", let e = expiresAt, let t = Time.parse(e), t <= now { return "expired" }
        return status
    }

    func json(now: Double) -> JSON {
        var o = JSONObject()
        o.append("id", .string(id))
        o.append("object", .string(kind == "scoped_token" ? "scoped_token" : "api_key"))
        o.append("kind", .string(kind))
        o.append("tenant_id", .string(tenantID))
        o.append("workspace_id", .str(workspaceID))
        o.append("name", .string(name))
        o.append("prefix", .string(prefix))
        o.append("scopes", .array(scopes.map { .string($0) }))
        o.append("status", .string(effectiveStatus(now: now)))
        if kind == "scoped_key" {
            o.append("external_user_id", .str(externalUserID))
            o.append("end_user", .object(["external_user_id": .str(externalUserID), "scopes": .array(scopes.map { .string($0) }),
                                          "parent_key_id": .str(createdBy)]))
        }
        if kind == "scoped_token" { o.append("user_id", .str(userID)) }
        o.append("created_by", .str(createdBy))
        o.append("expires_at", .str(expiresAt))
        o.append("last_used_at", .str(lastUsedAt))
        o.append("created_at", .string(createdAt))
        o.append("updated_at", .string(updatedAt))
        o.append("revoked_at", .str(revokedAt))
        return .object(o)
    }

    /// The create and rotate answer: the key object plus the one-time plaintext as `token` and `key`
    /// (platform-contract B7: Python reads either name).
    func jsonWithSecret(_ plaintext: String, now: Double) -> JSON {
        guard case .object(var o) = json(now: now) else { return .null }
        o.append("token", .string(plaintext))
        o.append("key", .string(plaintext))
        return .object(o)
    }
}

/// New credentials: random secrets (system CSPRNG), stored only as hashes.
enum KeyMint {
    static func tenantKey() -> String { IDs.token("msk_live_", length: 32) }
    static func userKey() -> String { IDs.token("msk_u_", length: 32) }
    static func prefix(_ secret: String) -> String { String(secret.prefix(16)) }

    /// A JWT-shaped token (`header.claims.signature`, base64url) so clients that decode claims (`exp`, `sub`)
    /// can. The server never verifies the signature: it looks the token up by hash like any key, so the
    /// signature is an HMAC under a throwaway random key.
    static func jwt(claims: JSON) -> String {
        let header = b64url(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let body = b64url(claims.encoded())
        let signing = header + "." + body
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signing.utf8), using: SymmetricKey(size: .bits256))
        return signing + "." + b64url(Array(mac))
    }

    static func b64url(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    struct NewKey {
        var tenantID: String
        var workspaceID: String?
        var name: String
        var scopes: [String]
        var expiresAt: String?
        var kind = "key"
        var externalUserID: String?
        var userID: String?
        var createdBy: String?
    }

    /// Inserts a credential row for `secret` and returns it. The auth cache needs no flush for a new key.
    static func insert(_ app: App, _ k: NewKey, secret: String, id: String = IDs.uuid()) throws -> KeyRecord {
        let now = app.nowISO
        try app.db.run("""
            INSERT INTO api_keys (id, tenant_id, workspace_id, name, prefix, key_hash, scopes, status, expires_at,
                created_at, updated_at, kind, external_user_id, user_id, created_by)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(k.tenantID), .of(k.workspaceID), .text(k.name), .text(prefix(secret)),
                  .text(Tenancy.hash(secret)), .text(Scopes.encode(k.scopes)), .of(k.expiresAt), .text(now), .text(now),
                  .text(k.kind), .of(k.externalUserID), .of(k.userID), .of(k.createdBy)])
        return try KeyRecord.load(app.db, id: id, tenantID: k.tenantID, kinds: [k.kind])
    }
}

/// Which scope strings a credential may carry (platform-contract A3 REC): `*`, `<group>:read|write|*` for
/// every group a registered route is scoped to, every scope a route requires (`sandboxes:exec`), and the
/// action scopes the SDK docs name. All read off the route table, so a group added later needs no list.
enum Scopes {
    static let seen: Set<String> = ["sandboxes:create", "sandboxes:exec", "intelligence:*"]
    static let actions: Set<String> = ["read", "write", "*"]
    static let maxCount = 100

    static func routeScopes(_ app: App) -> Set<String> {
        var out = Set<String>()
        for r in app.router.routes { if case .apiKey(let s?) = r.options.auth { out.insert(s) } }
        return out
    }

    static func groups(_ app: App) -> [String] {
        Set(routeScopes(app).compactMap { s in s.firstIndex(of: ":").map { String(s[..<$0]) } }).sorted()
    }

    static func isKnown(_ scope: String, groups: [String], routeScopes: Set<String> = []) -> Bool {
        if scope == "*" || seen.contains(scope) || routeScopes.contains(scope) { return true }
        guard let colon = scope.firstIndex(of: ":") else { return false }
        return groups.contains(String(scope[..<colon])) && actions.contains(String(scope[scope.index(after: colon)...]))
    }

    /// Reads `field` as a list of known scopes (deduplicated, order kept); problems go to `f`.
    static func read(_ f: inout FieldReader, _ field: String, app: App) -> [String]? {
        guard let list = f.stringArray(field, maxCount: maxCount) else { return nil }
        let groups = Scopes.groups(app)
        let routes = Scopes.routeScopes(app)
        let unknown = list.filter { !isKnown($0, groups: groups, routeScopes: routes) }
        if !unknown.isEmpty {
            f.fail(field, "unknown scope(s) \(unknown.joined(separator: ", ")); use *, <group>:read|write|* "
                   + "(groups: \(groups.joined(separator: ", "))) or \(seen.sorted().joined(separator: ", "))")
            return nil
        }
        var seenOnce = Set<String>()
        return list.filter { seenOnce.insert($0).inserted }
    }

    /// 403 unless the caller holds every scope it tries to hand out (no escalation through a new key).
    static func requireCovered(_ scopes: [String], by caller: Principal) throws {
        let missing = scopes.filter { !covers(caller, $0) }
        guard missing.isEmpty else {
            throw APIError.forbidden("A credential cannot grant scopes its creator lacks: \(missing.joined(separator: ", ")).",
                                     code: "insufficient_scope")
        }
    }

    /// What the creator may do, it may grant; `<group>:create` (which opens write routes) needs write.
    /// `sandboxes:exec` is its own permission: write does not cover it.
    static func covers(_ p: Principal, _ scope: String) -> Bool {
        p.allows(scope)
    }

    static func encode(_ scopes: [String]) -> String { JSON.array(scopes.map { .string($0) }).encodedString }
}
