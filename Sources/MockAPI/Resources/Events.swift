import EventLoop
import Foundation
import HTTP
import Store

/// Live event streams over SSE (sandbox-contract §11.2, platform-contract A12/B6): per sandbox, and
/// tenant-wide under two paths. Every stream replays from `Last-Event-ID` (header, or `last_event_id` /
/// `after_id` in the query) and then goes live. Also wires the event bus, the SSE hub and file watches.
enum EventsAPI: ResourceGroup {
    static var migrations: [Migration] { EventBus.migrations }

    static func register(_ app: App) {
        let bus = EventBus(app: app)
        let hub = SSEHub(app: app, bus: bus)
        let watches = WatchHub(app: app, hub: hub)
        app.register(bus)
        app.register(hub)
        app.register(watches)
        app.subscribe { e in
            if e.type == "sandbox.destroyed", let id = e.sandboxID { watches.sandboxGone(id) }
        }
        app.resetHooks.append {
            hub.endStreams(sandboxScopedOnly: true)
            watches.closeAll()
        }
        app.shutdownHooks.append {
            watches.closeAll()
            hub.close()
            bus.close()
        }

        let api = APIRoutes(app.router)
        let tag = "events"
        api.get("/sandboxes/{id}/events", scope: "sandboxes:read", summary: "Sandbox events (SSE)", tag: tag) { try sandboxStream($0) }
        api.get("/events/stream", scope: "events:read", summary: "Tenant events (SSE)", tag: tag) { try tenantStream($0) }
        api.get("/tenant/events/stream", scope: "events:read", summary: "Tenant admin events (SSE)", tag: tag) { try tenantStream($0) }
        WatchAPI.register(app)
    }

    // MARK: handlers

    static func sandboxStream(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let record = try SandboxRecord.load(app.db, id: ctx.param("id"), tenantID: c.tenantID)
        let filter = try parseFilter(ctx)
        let resume = try lastEventID(ctx)
        let hub = app.service(SSEHub.self)!
        let scope = EventBus.Scope(tenantID: c.tenantID, sandboxID: record.id)
        let destroyed = record.state == "destroyed"
        return .stream(status: 200, headers: SSEWriter.headers) { stream in
            let channel = hub.open(stream)
            // A destroyed sandbox has no future events: replay what was asked for, then end.
            if destroyed && resume == nil { channel.end(); return }
            let sub = hub.subscribe(channel, scope: scope, filter: filter, resumeAfter: resume, endOnDestroy: true)
            if destroyed && !sub.state.isReplaying { channel.end() }
        }
    }

    static func tenantStream(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        let filter = try parseFilter(ctx)
        let resume = try lastEventID(ctx)
        var scope = EventBus.Scope(tenantID: c.tenantID)
        if let s = ctx.query["scope"], s != "all" {
            if s.hasPrefix("workspace:") {
                let id = String(s.dropFirst("workspace:".count))
                guard try app.db.scalarInt("SELECT 1 FROM workspaces WHERE id = ? AND tenant_id = ?", [.text(id), .text(c.tenantID)]) != nil else {
                    throw APIError.notFound("workspace", id)
                }
                scope.workspaceID = id
            } else if s.hasPrefix("external_user:") && s.count > "external_user:".count {
                scope.externalUserID = String(s.dropFirst("external_user:".count))
            } else {
                throw APIError.validation([("scope", "must be all, workspace:{id} or external_user:{id}")])
            }
        }
        let hub = app.service(SSEHub.self)!
        return .stream(status: 200, headers: SSEWriter.headers) { stream in
            hub.subscribe(hub.open(stream), scope: scope, filter: filter, resumeAfter: resume, endOnDestroy: false)
        }
    }

    // MARK: query parsing

    /// `types`/`type` (globs), `producer`/`producers` (type prefixes), `path`/`paths` (file event paths).
    static func parseFilter(_ ctx: RequestContext) throws -> EventFilter {
        let q = ctx.query
        var f = EventFilter(types: EventFilter.list(q, "types", "type"),
                            producers: EventFilter.list(q, "producers", "producer"))
        for p in EventFilter.list(q, "paths", "path") { f.paths.append(try SandboxPaths.normalize(p)) }
        let all = f.types + f.producers + f.paths
        if all.count > 64 || all.contains(where: { $0.utf8.count > 1024 }) {
            throw APIError.validation([("types", "at most 64 types, producers and paths in all, each up to 1024 characters")])
        }
        return f
    }

    /// The resume point: `Last-Event-ID` header, else `last_event_id` or `after_id`; nil when absent.
    static func lastEventID(_ ctx: RequestContext) throws -> Int64? {
        let raw = ctx.header("Last-Event-ID") ?? ctx.query["last_event_id"] ?? ctx.query["after_id"]
        guard let text = raw?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let n = Int64(text), n >= 0 else {
            throw APIError.validation([("last_event_id", "must be a non-negative integer (an SSE id: this server sent)")])
        }
        return n
    }
}
