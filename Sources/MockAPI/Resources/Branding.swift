import Store

/// White-label branding (platform-contract B1): `/tenant/branding` (GET, PUT, DELETE) and Go's
/// `/settings/branding` (GET, PUT). PUT takes Python's `{"branding": {...}}` or the flat object Go and the
/// seed docs send, and merges: keys given are set, a key given as null is cleared, others stay. Reads show
/// every key of the union (null when unset) plus `updated_at`.
enum BrandingAPI: ResourceGroup {
    enum Kind { case text(Int), url, email, color }

    static let fields: [(String, Kind)] = [
        ("product_name", .text(100)), ("app_name", .text(100)), ("logo_url", .url), ("favicon_url", .url),
        ("support_url", .url), ("support_email", .email), ("primary_color", .color), ("background_color", .color),
        ("custom_css", .text(64 * 1024)),
    ]
    /// Keys a client may echo back from a read; ignored on write.
    static let readOnly: Set<String> = ["updated_at", "tenant_id"]

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "tenant"
        for base in ["/tenant/branding", "/settings/branding"] {
            api.get(base, scope: "tenant:read", summary: "Branding", tag: tag) { ctx in
                let c = try ctx.caller
                return .json(200, Envelope.dataAndBare(try load(ctx.app, c.tenantID)))
            }
            api.put(base, scope: "tenant:write", summary: "Set branding (merge; null clears a key)", tag: tag) { try set($0) }
        }
        api.delete("/tenant/branding", scope: "tenant:write", summary: "Reset branding", tag: tag) { ctx in
            let c = try ctx.caller
            try TenantSettings.update(ctx.app, c.tenantID, "branding = '{}', branding_updated_at = ?", [.text(ctx.app.nowISO)])
            ctx.app.publish("tenant.branding_updated", tenantID: c.tenantID, resourceType: "tenant", resourceID: c.tenantID,
                            data: .object(JSONObject()), actorID: c.keyID)
            return .noContent
        }
    }

    static func stored(_ app: App, _ tenantID: String) throws -> (JSONObject, String?) {
        let row = try app.db.first("SELECT branding, branding_updated_at FROM tenant_settings WHERE tenant_id = ?", [.text(tenantID)]) {
            ($0.text(0), $0.optionalText(1))
        }
        return ((try? JSON.parse(row?.0 ?? "{}"))?.object ?? JSONObject(), row?.1)
    }

    static func load(_ app: App, _ tenantID: String) throws -> JSONObject {
        let (values, updatedAt) = try stored(app, tenantID)
        var o = JSONObject()
        o.append("tenant_id", .string(tenantID))
        for (name, _) in fields { o.append(name, values[name] ?? .null) }
        o.append("updated_at", .str(updatedAt))
        return o
    }

    static func set(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var body = try ctx.bodyObject()
        if let inner = body["branding"] {
            guard let o = inner.object else { throw APIError.validation([("branding", "must be an object")]) }
            body = o
        }
        var (values, _) = try stored(app, c.tenantID)
        var problems: [(String, String)] = []
        let known = Set(fields.map(\.0))
        for (k, _) in body where !known.contains(k) && !readOnly.contains(k) {
            problems.append((k, "is not a branding key (\(fields.map(\.0).joined(separator: ", ")))"))
        }
        for (name, kind) in fields {
            guard let v = body[name] else { continue }
            if v.isNull { values[name] = nil; continue }
            guard let s = v.string else { problems.append((name, "must be a string or null")); continue }
            if let why = check(s, kind) { problems.append((name, why)); continue }
            values[name] = .string(s)
        }
        guard problems.isEmpty else { throw APIError.validation(problems) }
        try TenantSettings.update(app, c.tenantID, "branding = ?, branding_updated_at = ?",
                                  [.text(JSON.object(values).encodedString), .text(app.nowISO)])
        let result = try load(app, c.tenantID)
        app.publish("tenant.branding_updated", tenantID: c.tenantID, resourceType: "tenant", resourceID: c.tenantID,
                    data: .object(result), actorID: c.keyID)
        return .json(200, Envelope.dataAndBare(result))
    }

    static func check(_ s: String, _ kind: Kind) -> String? {
        switch kind {
        case .text(let max): return s.utf8.count > max ? "must be at most \(max) bytes" : nil
        case .url: return Validate.httpURL(s) ? nil : "must be an http(s) URL"
        case .email: return Validate.email(s) ? nil : "must be an email address"
        case .color: return Validate.hexColor(s) ? nil : "must be a color as #rrggbb"
        }
    }
}

/// Small syntax checks for settings values (no network, no DNS).
enum Validate {
    static func hexColor(_ s: String) -> Bool {
        let b = Array(s.utf8)
        return b.count == 7 && b[0] == 0x23 && b[1...].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }
    }

    /// `http://` or `https://`, a host name (or IPv4, or localhost), optional port and path; at most 2048 bytes.
    static func httpURL(_ s: String) -> Bool {
        guard s.utf8.count <= 2048 else { return false }
        let lower = s.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") { rest = s.dropFirst(8) } else if lower.hasPrefix("http://") { rest = s.dropFirst(7) } else { return false }
        guard !rest.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else { return false }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var host = Substring(authority)
        if let colon = host.lastIndex(of: ":") {
            guard let port = Int(host[host.index(after: colon)...]), port > 0, port < 65536 else { return false }
            host = host[..<colon]
        }
        return host == "localhost" || hostname(String(host))
    }

    static func email(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard s.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, !parts[0].contains(" ") else { return false }
        return hostname(String(parts[1]))
    }

    /// A DNS name with at least two labels: letters, digits and inner dashes, each label 1–63 bytes.
    static func hostname(_ s: String) -> Bool {
        guard s.utf8.count <= 253 else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for l in labels {
            let b = Array(l.utf8)
            guard !b.isEmpty, b.count <= 63, b.first != 0x2d, b.last != 0x2d else { return false }
            for c in b where !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == 0x2d) { return false }
        }
        return true
    }
}
