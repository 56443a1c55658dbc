#if canImport(Glibc)
import Glibc
#endif

/// Directory and path operations no SDK sends on a sandbox (INFER, sandbox-contract §6): shaped after
/// the computer file surface (`mkdir {path, recursive, mode}`, `rename {from, to}`, `copy {from, to,
/// recursive}`, `chmod {path, mode}`, `DELETE {path, recursive}`), served under `/files/*` and `/fs/*`.
enum FileOpsAPI {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "files"
        let w = "sandboxes:write"
        for base in ["/sandboxes/{id}/fs", "/sandboxes/{id}/files"] {
            api.post(base + "/mkdir", scope: w, summary: "Make a directory (INFER)", tag: tag) { try mkdir($0) }
            api.post(base + "/rename", scope: w, summary: "Rename or move a path (INFER)", tag: tag) { try rename($0) }
            api.post(base + "/move", scope: w, summary: "Rename or move a path (INFER)", tag: tag) { try rename($0) }
            api.post(base + "/copy", scope: w, summary: "Copy a file or tree (INFER)", tag: tag) { try copy($0) }
            api.post(base + "/chmod", scope: w, summary: "Change mode bits (INFER)", tag: tag) { try chmod($0) }
            api.post(base + "/delete", scope: w, summary: "Delete a path (INFER)", tag: tag) { try delete($0, path: nil) }
            api.delete(base, scope: w, summary: "Delete a path: JSON {path, recursive} or ?path= (INFER)", tag: tag) { try delete($0, path: nil) }
        }
        api.delete("/sandboxes/{id}/files/*path", scope: w, summary: "Delete the path in the URL (INFER)", tag: tag) { ctx in
            try delete(ctx, path: SandboxPaths.fromURLPath(ctx.param("path")))
        }
    }

    static func mkdir(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let path = f.string("path", required: true, maxLength: 4096, allowEmpty: false)
        let recursive = f.bool("recursive") ?? true
        let mode = try modeField(&f, default: 0o755)
        try f.finish()
        let norm = try SandboxPaths.normalize(path!)
        let host = try scope.host(norm)
        if let i = FilesIO.info(host) {
            if i.isDir && recursive { return .ok(result(norm, host)) }  // mkdir -p on an existing directory is fine
            throw FilesIO.failure(EEXIST, norm)
        }
        if recursive {
            try FilesIO.makeDirectories(host, apiPath: norm, mode: mode_t(mode))
        } else if Glibc.mkdir(host, mode_t(mode)) != 0 {
            throw FilesIO.failure(errno, norm)
        }
        _ = Glibc.chmod(host, mode_t(mode))  // mkdir's mode is filtered by the umask; the caller asked for this one
        scope.publish("created", path: norm, isDir: true, size: 0)
        return .json(201, Envelope.data(result(norm, host)))
    }

    static func rename(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let from = f.string("from", maxLength: 4096, allowEmpty: false) ?? f.string("source", maxLength: 4096, allowEmpty: false)
        let to = f.string("to", maxLength: 4096, allowEmpty: false) ?? f.string("destination", maxLength: 4096, allowEmpty: false)
        if from == nil { f.fail("from", "is required") }
        if to == nil { f.fail("to", "is required") }
        try f.finish()
        let (src, dst) = (try SandboxPaths.normalize(from!), try SandboxPaths.normalize(to!))
        if SandboxPaths.isMountRoot(src) || SandboxPaths.isMountRoot(dst) {
            throw APIError(400, "invalid_path", "\(SandboxPaths.isMountRoot(src) ? src : dst) is a mount root and cannot be renamed.")
        }
        if dst.hasPrefix(src + "/") { throw APIError(400, "invalid_path", "Cannot move \(src) into itself.") }
        let srcHost = try scope.host(src, followFinal: false)
        let dstHost = try scope.host(dst, followFinal: false)
        guard let info = FilesIO.info(srcHost, follow: false) else { throw FilesIO.failure(ENOENT, src) }
        try FilesIO.makeDirectories(FilesIO.parentOf(dstHost), apiPath: dst)
        if Glibc.rename(srcHost, dstHost) != 0 { throw FilesIO.failure(errno, errno == ENOENT ? src : dst) }
        scope.publish("renamed", path: dst, isDir: info.isDir, size: info.isDir ? 0 : info.size, oldPath: src)
        return .ok(result(dst, dstHost, extra: ["old_path": .string(src)]))
    }

    static func copy(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let from = f.string("from", maxLength: 4096, allowEmpty: false) ?? f.string("source", maxLength: 4096, allowEmpty: false)
        let to = f.string("to", maxLength: 4096, allowEmpty: false) ?? f.string("destination", maxLength: 4096, allowEmpty: false)
        let recursive = f.bool("recursive") ?? false
        if from == nil { f.fail("from", "is required") }
        if to == nil { f.fail("to", "is required") }
        try f.finish()
        let (src, dst) = (try SandboxPaths.normalize(from!), try SandboxPaths.normalize(to!))
        if dst == src || dst.hasPrefix(src + "/") { throw APIError(400, "invalid_path", "Cannot copy \(src) onto or into itself.") }
        let srcHost = try scope.host(src)
        let dstHost = try scope.host(dst)
        guard let info = FilesIO.info(srcHost) else { throw FilesIO.failure(ENOENT, src) }
        if info.isDir && !recursive {
            throw APIError(400, "is_a_directory", "\(src) is a directory; pass recursive: true to copy it.")
        }
        if let existing = FilesIO.info(dstHost), existing.isDir != info.isDir || info.isDir {
            throw FilesIO.failure(EEXIST, dst)
        }
        try FilesIO.makeDirectories(FilesIO.parentOf(dstHost), apiPath: dst)
        var budget = FilesAPI.nodeBudget
        try FilesIO.copyTree(srcHost, dstHost, apiPath: src, budget: &budget)
        scope.publish("created", path: dst, isDir: info.isDir, size: info.isDir ? 0 : info.size)
        return .ok(result(dst, dstHost))
    }

    static func chmod(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var f = try ctx.fields()
        let path = f.string("path", required: true, maxLength: 4096, allowEmpty: false)
        let mode = try modeField(&f, default: nil)
        try f.finish()
        let norm = try SandboxPaths.normalize(path!)
        let host = try scope.host(norm)
        if Glibc.chmod(host, mode_t(mode)) != 0 { throw FilesIO.failure(errno, norm) }
        let info = FilesIO.info(host)
        scope.publish("modified", path: norm, isDir: info?.isDir ?? false, size: info.map { $0.isDir ? 0 : $0.size } ?? 0)
        return .ok(result(norm, host))
    }

    /// Path from the JSON body (`{path, recursive}`), else `?path=` (`&recursive=true`).
    static func delete(_ ctx: RequestContext, path urlPath: String?) throws -> Reply {
        let scope = try FileScope.live(ctx)
        var path = urlPath
        var recursive = ctx.query.bool("recursive") ?? false
        if path == nil {
            var f = try ctx.fields()
            path = f.string("path", maxLength: 4096, allowEmpty: false) ?? ctx.query["path"]
            recursive = f.bool("recursive") ?? recursive
            if path == nil { f.fail("path", "is required (JSON body or ?path=)") }
            try f.finish()
        }
        let norm = try SandboxPaths.normalize(path!)
        if SandboxPaths.isMountRoot(norm) { throw APIError(400, "invalid_path", "\(norm) is a mount root and cannot be deleted.") }
        let host = try scope.host(norm, followFinal: false)
        guard let info = FilesIO.info(host, follow: false) else { throw FilesIO.failure(ENOENT, norm) }
        try FilesIO.remove(host, apiPath: norm, recursive: recursive)
        scope.publish("deleted", path: norm, isDir: info.isDir, size: info.isDir ? 0 : info.size)
        return .noContent
    }

    static func modeField(_ f: inout FieldReader, default d: Int?) throws -> Int {
        guard let raw = f.raw("mode") else {
            if let d = d { return d }
            f.fail("mode", "is required (octal string such as \"0755\")")
            try f.finish()
            return 0
        }
        guard let m = FilesIO.parseMode(raw) else {
            f.fail("mode", "must be an octal string such as \"0755\" or an integer up to 4095")
            try f.finish()
            return 0
        }
        return m
    }

    static func result(_ norm: String, _ host: String, extra: JSONObject = [:]) -> JSON {
        let i = FilesIO.info(host, follow: false)
        var o: JSONObject = ["success": .bool(true), "path": .string(norm), "is_dir": .bool(i?.isDir ?? false),
                             "size": .int(i.map { $0.isDir ? 0 : $0.size } ?? 0),
                             "mode": .string(FilesIO.modeString(i?.mode ?? 0))]
        o.merge(extra)
        return .object(o)
    }
}
