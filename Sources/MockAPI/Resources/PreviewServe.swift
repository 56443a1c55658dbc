/// `GET /api/v1/preview/{sandbox_id}/{path}?mt=<preview token>` or `?ms=<share id>`: the public URL a
/// preview token or share hands out, served without an API key. It serves the sandbox's `/workspace` as
/// static files (`index.html` for a directory), the closest a mock gets to "the app on port N".
/// Missing token 401, unknown or foreign token 401, revoked or expired 410, sandbox not running 409.
/// The first request sets a path-scoped cookie so the page's relative links work without the query.
enum PreviewServe {
    static let cookie = "miosa_preview"

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        api.publicRoute("GET", "/preview/{sandbox_id}", summary: "Serve a sandbox preview (token in ?mt= or ?ms=)", tag: "previews") {
            try serve($0, path: "")
        }
        api.publicRoute("GET", "/preview/{sandbox_id}/*path", summary: "Serve a sandbox preview (token in ?mt= or ?ms=)", tag: "previews") {
            try serve($0, path: $0.param("path"))
        }
    }

    static func cookieToken(_ ctx: RequestContext) -> String? {
        guard let h = ctx.header("Cookie") else { return nil }
        for pair in h.split(separator: ";") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == cookie {
                return String(kv[1]).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    static func serve(_ ctx: RequestContext, path: String) throws -> Reply {
        let app = ctx.app
        let sandboxID = ctx.param("sandbox_id")
        let fromQuery = ctx.query["mt"] ?? ctx.query["ms"]
        guard let token = fromQuery ?? cookieToken(ctx) else {
            throw APIError(401, "preview_token_required", "This preview needs ?mt=<preview token> or ?ms=<share id>.")
        }
        let expectedKind = token.hasPrefix("ms_") ? "share" : "preview"
        let row = try app.db.first("""
            SELECT kind, sandbox_id, tenant_id, expires_at, revoked_at FROM sandbox_access_tokens WHERE token = ?
            """, [.text(token)]) { s in (s.text(0), s.text(1), s.text(2), s.isNull(3) ? nil : s.double(3), s.optionalText(4)) }
        guard let (kind, tokenSandbox, tenantID, expiresAt, revokedAt) = row, kind == expectedKind, tokenSandbox == sandboxID else {
            throw APIError(401, "invalid_preview_token", "The preview token or share id is not valid for this sandbox.")
        }
        let label = kind == "share" ? "share link" : "preview token"
        if revokedAt != nil { throw APIError(410, "\(kind)_revoked", "This \(label) was revoked.") }
        if let e = expiresAt, e <= app.now { throw APIError(410, "\(kind)_expired", "This \(label) expired at \(Time.iso(e)).") }
        let sandbox = try SandboxRecord.load(app.db, id: sandboxID, tenantID: tenantID)
        if sandbox.state == "destroyed" { throw APIError(410, "sandbox_destroyed", "Sandbox \(sandboxID) is destroyed.") }
        try FileScope.requireLive(sandbox)

        var apiPath = "/workspace/" + path
        var host = try SandboxPaths.hostPath(app, sandboxID, apiPath)
        if FilesIO.info(host)?.isDir == true {
            apiPath = (apiPath.hasSuffix("/") ? apiPath : apiPath + "/") + "index.html"
            host = try SandboxPaths.hostPath(app, sandboxID, apiPath)
        }
        let bytes = try FilesIO.readFile(host, apiPath: apiPath, limit: FilesAPI.downloadLimit)
        var headers: [(String, String)] = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
        if fromQuery != nil {
            headers.append(("Set-Cookie", "\(cookie)=\(token); Path=\(APIRoutes.prefix)/preview/\(sandboxID); HttpOnly; SameSite=Lax"))
        }
        return .bytes(200, contentType: contentType(apiPath), bytes, headers: headers)
    }

    static func contentType(_ path: String) -> String {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json"
        case "txt", "md", "py", "sh", "ts", "tsx", "jsx", "yaml", "yml", "toml": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "wasm": return "application/wasm"
        case "woff2": return "font/woff2"
        case "pdf": return "application/pdf"
        default: return "application/octet-stream"
        }
    }
}
