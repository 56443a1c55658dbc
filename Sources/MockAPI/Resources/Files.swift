/// Sandbox files, both route generations (sandbox-contract §6): canonical `/fs/*` (the Python SDK tries
/// these first) and legacy `/files/*` (its fallback on 404; Go, TS and Elixir use only these). The legacy
/// `GET /files/*path` download is a catch-all; the router's literal > param > catch-all order keeps
/// `/files/tree`, `/files/stat`, `/files/write-many` (and another group's `/files/watch`) ahead of it.
enum FilesAPI: ResourceGroup {
    static let listDepthMax = 10
    static let treeDepthMax = 20
    static let nodeBudget = 10_000
    static let downloadLimit = 64 << 20

    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "files"
        let r = "sandboxes:read", w = "sandboxes:write"
        for base in ["/sandboxes/{id}/fs", "/sandboxes/{id}/files"] {
            api.post(base + "/stat", scope: r, summary: "Stat a path", tag: tag) { try stat($0) }
            api.get(base + "/tree", scope: r, summary: "Directory tree (bare node)", tag: tag) { try tree($0) }
            api.post(base + "/write-many", scope: w, summary: "Write many files (bare {written, failed})", tag: tag) { try writeMany($0) }
        }
        api.post("/sandboxes/{id}/fs/write", scope: w, summary: "Write a file", tag: tag) { try write($0, contentIsBase64: false) }
        api.post("/sandboxes/{id}/files", scope: w, summary: "Write a file (legacy: content is base64)", tag: tag) {
            try write($0, contentIsBase64: true)
        }
        api.get("/sandboxes/{id}/fs/download", scope: r, summary: "Download a file (raw bytes)", tag: tag) { try download($0, queryPath($0)) }
        api.get("/sandboxes/{id}/fs/read", scope: r, summary: "Download a file (raw bytes)", tag: tag) { try download($0, queryPath($0)) }
        api.get("/sandboxes/{id}/fs/list", scope: r, summary: "List a directory", tag: tag) { try list($0) }
        api.get("/sandboxes/{id}/files", scope: r, summary: "List a directory", tag: tag) { try list($0) }
        api.get("/sandboxes/{id}/files/*path", scope: r, summary: "Download a file (legacy, path in the URL)", tag: tag) { ctx in
            try download(ctx, SandboxPaths.fromURLPath(ctx.param("path")))
        }
        FileOpsAPI.register(app)
    }

    static func queryPath(_ ctx: RequestContext) throws -> String {
        guard let p = ctx.query["path"] else {
            throw APIError.validation([("path", "is required (query parameter)")])
        }
        return p
    }

    static func bodyPath(_ f: inout FieldReader, _ name: String = "path") throws -> String {
        let p = f.string(name, required: true, maxLength: 4096, allowEmpty: false)
        try f.finish()
        return p!
    }

    // MARK: write and read

    static func write(_ ctx: RequestContext, contentIsBase64: Bool) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let path = try bodyPath(&f)
        guard let bytes = try FileContent.decode(f.body, contentIsBase64: contentIsBase64) else {
            throw APIError.validation([("content_base64", "or content is required")])
        }
        let norm = try scope.writeFile(path, bytes)
        return .ok(.object(["path": .string(norm), "size_bytes": .int(bytes.count)]))
    }

    static func download(_ ctx: RequestContext, _ path: String) throws -> Reply {
        let scope = try FileScope.live(ctx)
        let norm = try SandboxPaths.normalize(path)
        let bytes = try FilesIO.readFile(try scope.host(norm), apiPath: norm, limit: downloadLimit)
        // The name goes into a header: drop quotes, backslashes and control bytes (no response splitting).
        let name = String(String.UnicodeScalarView(FilesIO.name(norm).unicodeScalars.filter {
            $0.value >= 0x20 && $0.value != 0x7f && $0 != "\"" && $0 != "\\"
        }))
        return .bytes(200, contentType: "application/octet-stream", bytes,
                      headers: [("Content-Disposition", "attachment; filename=\"\(name)\"")])
    }

    static func writeMany(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        let body = try ctx.bodyObject()
        guard let files = body["files"]?.array else {
            throw APIError.validation([("files", "is required: an array of {path, content_base64 | content}")])
        }
        guard files.count <= 1000 else { throw APIError.validation([("files", "must have at most 1000 items")]) }
        // Decode everything first so an oversized batch is refused before anything is written.
        var decoded: [(String, Result<[UInt8], APIError>)] = []
        var total = 0
        for (i, item) in files.enumerated() {
            guard let o = item.object, let p = o["path"]?.string, !p.isEmpty else {
                decoded.append((item["path"]?.string ?? "", .failure(APIError.validation([("files[\(i)].path", "is required")]))))
                continue
            }
            do {
                guard let bytes = try FileContent.decode(o, contentIsBase64: false) else {
                    throw APIError.validation([("files[\(i)].content_base64", "or content is required")])
                }
                total += bytes.count
                decoded.append((p, .success(bytes)))
            } catch let e as APIError {
                decoded.append((p, .failure(e)))
            }
        }
        try scope.checkSize(total, "The batch")
        var written: [JSON] = []
        var failed: [JSON] = []
        for (path, result) in decoded {
            do {
                let bytes = try result.get()
                let norm = try scope.writeFile(path, bytes)
                written.append(.object(["path": .string(norm), "size_bytes": .int(bytes.count)]))
            } catch let e as APIError {
                failed.append(.object(["path": .string(path), "error": .string(e.message), "code": .string(e.code)]))
            }
        }
        return .json(200, .object(["written": .array(written), "failed": .array(failed)]))
    }

    // MARK: stat, list, tree

    static func statJSON(_ norm: String, _ host: String) throws -> JSON {
        guard let i = FilesIO.info(host, follow: false) else { throw FilesIO.failure(ENOENT, norm) }
        var o: JSONObject = [
            "path": .string(norm), "name": .string(FilesIO.name(norm)), "size": .int(i.isDir ? 0 : i.size),
            "is_dir": .bool(i.isDir), "is_file": .bool(!i.isDir && !i.isSymlink), "is_symlink": .bool(i.isSymlink),
            "type": .string(i.isDir ? "dir" : (i.isSymlink ? "symlink" : "file")),
            "mode": .string(FilesIO.modeString(i.mode)), "modified_at": .string(Time.iso(i.mtime)),
        ]
        if i.isSymlink { o["symlink_target"] = .str(FilesIO.linkTarget(host)) }
        return .object(o)
    }

    static func stat(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let norm = try SandboxPaths.normalize(try bodyPath(&f))
        return .ok(try statJSON(norm, try scope.host(norm, followFinal: false)))
    }

    static func depth(_ ctx: RequestContext, default d: Int, max: Int) throws -> Int {
        guard let raw = ctx.query["depth"] else { return d }
        guard let n = Int(raw), n >= 0 else { throw APIError.validation([("depth", "must be a non-negative integer")]) }
        return min(n, max)
    }

    /// `{path, entries: [{name, path, size, is_dir, modified_at}]}`; `depth` > 1 flattens subdirectories in.
    static func list(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        let norm = try SandboxPaths.normalize(ctx.query["path"] ?? "/workspace")
        let depth = max(1, try self.depth(ctx, default: 1, max: listDepthMax))
        let host = try scope.host(norm)
        guard let top = FilesIO.info(host) else { throw FilesIO.failure(ENOENT, norm) }
        guard top.isDir else { throw FilesIO.failure(ENOTDIR, norm) }
        var entries: [JSON] = []
        var budget = nodeBudget
        func walk(_ dirHost: String, _ dirAPI: String, _ level: Int) throws {
            for name in try FilesIO.entries(dirHost, apiPath: dirAPI) {
                guard budget > 0 else { return }
                budget -= 1
                let h = dirHost + "/" + name
                let p = dirAPI + "/" + name
                guard let i = FilesIO.info(h, follow: false) else { continue }
                entries.append(.object([
                    "name": .string(name), "path": .string(p), "size": .int(i.isDir ? 0 : i.size), "is_dir": .bool(i.isDir),
                    "is_symlink": .bool(i.isSymlink), "type": .string(i.isDir ? "dir" : "file"),
                    "mode": .string(FilesIO.modeString(i.mode)), "modified_at": .string(Time.iso(i.mtime)),
                ]))
                if i.isDir && level < depth { try walk(h, p, level + 1) }
            }
        }
        try walk(host, norm, 1)
        return .ok(.object(["path": .string(norm), "entries": .array(entries), "truncated": .bool(budget <= 0)]))
    }

    /// Bare node `{path, name, type, size?, modified_at?, children?}` (Go decodes this route bare).
    static func tree(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        let norm = try SandboxPaths.normalize(ctx.query["path"] ?? "/workspace")
        let depth = try self.depth(ctx, default: 3, max: treeDepthMax)
        let host = try scope.host(norm)
        guard FilesIO.info(host) != nil else { throw FilesIO.failure(ENOENT, norm) }
        var budget = nodeBudget
        func node(_ h: String, _ p: String, _ remaining: Int, follow: Bool) throws -> JSON {
            budget -= 1
            guard let i = FilesIO.info(h, follow: follow) else { throw FilesIO.failure(ENOENT, p) }
            var o: JSONObject = ["path": .string(p), "name": .string(FilesIO.name(p)), "type": .string(i.isDir ? "dir" : "file")]
            if !i.isDir { o["size"] = .int(i.size) }
            o["modified_at"] = .string(Time.iso(i.mtime))
            if i.isSymlink { o["is_symlink"] = .bool(true) }
            if i.isDir && remaining > 0 {
                var children: [JSON] = []
                for name in try FilesIO.entries(h, apiPath: p) where budget > 0 {
                    children.append(try node(h + "/" + name, p + "/" + name, remaining - 1, follow: false))
                }
                o["children"] = .array(children)
            }
            return .object(o)
        }
        return .json(200, try node(host, norm, depth, follow: true))
    }
}

#if canImport(Glibc)
import Glibc
#endif
