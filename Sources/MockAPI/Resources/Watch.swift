import EventLoop
import HTTP

/// `GET /sandboxes/{id}/files/watch[?path=/workspace][&recursive=true]`: file changes in a sandbox as SSE
/// (sandbox-contract §11.6). Frames: `event: created|modified|deleted|renamed` and
/// `data: {"event", "type", "path", "is_dir", "size_bytes", "old_path"?, "sandbox_id", "timestamp"}`.
/// Changes made by any means are seen: the files API, processes in the sandbox, or the host file system.
enum WatchAPI {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        api.get("/sandboxes/{id}/files/watch", scope: "sandboxes:read", summary: "Watch files (SSE)", tag: "files") { try watch($0) }
    }

    static func watch(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let record = try SandboxRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        guard record.state != "destroyed" else {
            throw APIError.conflict("Sandbox \(record.id) is destroyed; there is nothing to watch.", code: "sandbox_destroyed")
        }
        let apiPath = ctx.query["path"] ?? "/workspace"
        let host = try SandboxPaths.hostPath(app, record.id, apiPath)
        guard let st = FileStat.of(host) else {
            throw APIError(404, "file_not_found", "Nothing exists at \(apiPath) in sandbox \(record.id).",
                           details: .object(["path": .string(apiPath)]))
        }
        // A file is watched through its directory (inotify reports renames and deletions of an entry there).
        let directory = st.isDir ? host : String(host[..<(host.lastIndex(of: "/") ?? host.endIndex)])
        let recursive = st.isDir ? (ctx.query.bool("recursive") ?? true) : false
        let watches = app.service(WatchHub.self)!
        let hub = app.service(SSEHub.self)!
        let shared = try watches.acquire(WatchHub.Key(sandboxID: record.id, directory: directory, recursive: recursive))
        return .stream(status: 200, headers: SSEWriter.headers) { stream in
            watches.attach(hub.open(stream), to: shared, only: st.isDir ? nil : host)
        }
    }
}
