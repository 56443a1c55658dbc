import XCTest
import EventLoop
import TestSupport
@testable import MockAPI

/// Event bus, SSE hub and the event streams, against a live server on port 0.
final class EventsTests: XCTestCase {
    var server: TestServer!
    let tenant = "5b0c7f1e-3c2a-4d8e-9f10-6a1b2c3d4e5f"

    override func setUpWithError() throws {
        server = try TestServer { $0.sseHeartbeatMs = 60_000; $0.rateLimits.enabled = false }  // 1000 streams in one test
    }
    override func tearDown() { server?.stop() }

    func restart(_ configure: @escaping (inout Configuration) -> Void) throws {
        server.stop()
        server = try TestServer(configure)
    }

    func createSandbox(key: String = TestServer.key) throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: "{}", key: key)
        return try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String, r.text)
    }

    func publish(_ type: String, count: Int = 1, sandbox: String? = nil, data: @escaping (Int) -> JSON = { .object(["n": .int($0)]) }) throws {
        let tenant = self.tenant
        try server.onLoop { s in
            for i in 0..<count {
                s.app.publish(type, tenantID: tenant, sandboxID: sandbox, resourceType: "test", resourceID: "r", data: data(i))
            }
        }
    }

    func hub() throws -> (subscribers: Int, channels: Int) {
        try server.onLoop { s in let h = s.app.service(SSEHub.self)!; return (h.subscriberCount, h.channelCount) }
    }

    // MARK: values without sockets

    func testSubscriberStateSeamSkipsWhatReplayCoveredAndNothingElse() {
        var s = SubscriberState(resumeAfter: 3, head: 10)
        XCTAssertEqual(s.phase, .replaying(after: 3))
        XCTAssertFalse(s.offer(11), "live events wait while replaying: the table supplies them")
        s.replayed(lastRowID: 8, exhausted: false, head: 11)
        XCTAssertEqual(s.phase, .replaying(after: 8))
        s.replayed(lastRowID: 11, exhausted: true, head: 12)
        XCTAssertEqual(s.phase, .live(lastSent: 12), "everything recorded up to the head was read")
        XCTAssertFalse(s.offer(11))
        XCTAssertFalse(s.offer(12))
        XCTAssertTrue(s.offer(13))
        XCTAssertFalse(s.offer(13), "no duplicates")
        XCTAssertEqual(SubscriberState(resumeAfter: nil, head: 5).phase, .live(lastSent: 5))
        XCTAssertEqual(SubscriberState(resumeAfter: 9, head: 5).phase, .live(lastSent: 5), "an id from the future starts live")
        s.end()
        XCTAssertFalse(s.offer(99))
    }

    func testFilterGlobsProducersAndPaths() {
        XCTAssertTrue(EventFilter.glob("sandbox.*", "sandbox.ready"))
        XCTAssertTrue(EventFilter.glob("*", "anything.at.all"))
        XCTAssertTrue(EventFilter.glob("*.created", "file.created"))
        XCTAssertFalse(EventFilter.glob("sandbox.*", "sandboxes.ready"))
        XCTAssertFalse(EventFilter.glob("sandbox.ready", "sandbox.ready2"))
        let f = EventFilter(types: [], producers: ["file", "process"], paths: ["/workspace/src"])
        XCTAssertTrue(f.matches(type: "process.exited", path: nil))
        XCTAssertFalse(f.matches(type: "sandbox.ready", path: nil))
        XCTAssertTrue(f.matches(type: "file.modified", path: "/workspace/src/a.py"))
        XCTAssertFalse(f.matches(type: "file.modified", path: "/workspace/srcx/a.py"))
        XCTAssertFalse(f.matches(type: "file.modified", path: nil))
    }

    // MARK: streams

    func testSandboxStreamFramesALiveEvent() throws {
        let id = try createSandbox()
        let c = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events")
        XCTAssertEqual(c.status, 200)
        XCTAssertEqual(c.header("Content-Type"), "text/event-stream")
        XCTAssertEqual(c.header("Cache-Control"), "no-cache")
        XCTAssertNotNil(c.header("X-Request-Id"))
        XCTAssertTrue(try eventually { try hub().subscribers == 1 })
        XCTAssertEqual(try server.request("PATCH", "/api/v1/sandboxes/\(id)", json: #"{"name":"renamed"}"#).status, 200)
        let frames = try c.events { $0.contains { $0.event == "sandbox.updated" } }
        XCTAssertEqual(frames.count, 1, "created/ready happened before the subscription and are not replayed without an id")
        let f = frames[0]
        let body = f.json
        XCTAssertEqual(body["type"] as? String, "sandbox.updated")
        XCTAssertEqual(body["id"] as? String, f.id)
        XCTAssertEqual(body["sandbox_id"] as? String, id)
        XCTAssertEqual(body["tenant_id"] as? String, tenant)
        XCTAssertNotNil(body["timestamp"] as? String)
        XCTAssertEqual((body["data"] as? [String: Any])?["name"] as? String, "renamed")
        XCTAssertFalse(f.data.contains("\n"), "single-line JSON")
    }

    func testHeartbeatCommentOnAnIdleStream() throws {
        try restart { $0.sseHeartbeatMs = 30 }
        let c = try SSETestClient(port: server.port, path: "/api/v1/events/stream")
        XCTAssertEqual(try c.comment(), "keepalive")
    }

    func testReplayFromLastEventIDThenLive() throws {
        let id = try createSandbox()  // sandbox.created, sandbox.ready
        for n in 0..<3 { _ = try server.request("PATCH", "/api/v1/sandboxes/\(id)", json: #"{"name":"n\#(n)"}"#) }
        let all = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events", headers: [("Last-Event-ID", "0")])
        let replayed = try all.events { $0.count == 5 }
        XCTAssertEqual(replayed.map { $0.event ?? "" }, ["sandbox.created", "sandbox.ready", "sandbox.updated", "sandbox.updated", "sandbox.updated"])
        let ids = replayed.compactMap { Int($0.id ?? "") }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, 5)

        // Resume after the second event, by query: only the three updates.
        let resumed = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events?last_event_id=\(ids[1])")
        XCTAssertEqual(try resumed.events { $0.count == 3 }.compactMap { Int($0.id ?? "") }, Array(ids[2...]))
        // Then live, once each.
        _ = try server.request("POST", "/api/v1/sandboxes/\(id)/stop")
        for c in [all, resumed] {
            let frames = try c.events { $0.contains { $0.event == "sandbox.stopped" } }
            XCTAssertEqual(frames.filter { $0.event == "sandbox.stopped" }.count, 1)
            XCTAssertEqual(Set(frames.compactMap(\.id)).count, frames.count, "no duplicates at the seam")
        }
    }

    /// Events keep arriving while a client replays more than one page: every one arrives, once, in order.
    func testReplaySeamHasNoGapsOrDuplicatesWhilePublishing() throws {
        let total = 700
        try publish("test.burst", count: 300)
        try server.onLoop { [tenant] s in
            var n = 300
            let t = Timer(loop: s.app.loop)
            t.start(ms: 1, repeatMs: 1) {
                for _ in 0..<2 where n < total {
                    s.app.publish("test.burst", tenantID: tenant, resourceType: "test", resourceID: "r", data: .object(["n": .int(n)]))
                    n += 1
                }
                if n >= total { t.close() }
            }
        }
        let c = try SSETestClient(port: server.port, path: "/api/v1/events/stream?types=test.*&last_event_id=0")
        let frames = try c.events(timeout: 20) { $0.count >= total }
        XCTAssertEqual(frames.count, total)
        XCTAssertEqual(frames.compactMap { ($0.json["data"] as? [String: Any])?["n"] as? Int }, Array(0..<total))
        let ids = frames.compactMap { Int64($0.id ?? "") }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, total)
    }

    /// A request that publishes, pipelined with a replaying subscription on one connection: both handlers run
    /// in one read callback, so the replay reads the new row while its fan-out is still pending. It must
    /// arrive once, not twice.
    func testSeamWhenReplayOverlapsPendingFanOut() throws {
        let id = try createSandbox()
        let raw = try RawHTTPClient(port: server.port)
        let auth = "Authorization: Bearer \(TestServer.key)\r\n"
        let body = #"{"name":"seam"}"#
        try raw.send("PATCH /api/v1/sandboxes/\(id) HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\n" +
                     "Content-Length: \(body.utf8.count)\r\n\r\n\(body)" +
                     "GET /api/v1/sandboxes/\(id)/events?last_event_id=0 HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        XCTAssertEqual(try raw.readResponse().status, 200)
        let c = try SSETestClient(adopting: raw)
        XCTAssertEqual(c.status, 200)
        _ = try server.request("POST", "/api/v1/sandboxes/\(id)/stop")
        let frames = try c.events { $0.contains { $0.event == "sandbox.stopped" } }
        XCTAssertEqual(frames.map { $0.event ?? "" }, ["sandbox.created", "sandbox.ready", "sandbox.updated", "sandbox.stopped"])
    }

    func testSandboxStreamProducerTypeAndPathFilters() throws {
        let id = try createSandbox()
        let files = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events?producers=file,process&paths=src")
        let typed = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events?type=process.*")
        XCTAssertTrue(try eventually { try hub().subscribers == 2 })
        try publish("file.created", sandbox: id) { _ in .object(["path": .string("/workspace/other.py")]) }
        try publish("file.created", sandbox: id) { _ in .object(["path": .string("/workspace/src/a.py")]) }
        try publish("sandbox.updated", sandbox: id)
        try publish("process.started", sandbox: id) { _ in .object(["pid": .string("7")]) }
        let got = try files.events { $0.count >= 2 }
        XCTAssertEqual(got.map { $0.event ?? "" }, ["file.created", "process.started"])
        XCTAssertEqual((got[0].json["data"] as? [String: Any])?["path"] as? String, "/workspace/src/a.py")
        XCTAssertEqual(try typed.events { !$0.isEmpty }.map { $0.event ?? "" }, ["process.started"])
    }

    func testTenantStreamFiltersScopesAndIsolation() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contract/fixtures.json").path
        try restart { $0.fixturesPath = fixtures }
        let keyA = "msk_live_tenant_a_full_key_000000000001", keyB = "msk_live_tenant_b_full_key_000000000001"
        let wsA = "11111111-aaaa-4aaa-8aaa-111111111111"
        let typed = try SSETestClient(port: server.port, path: "/api/v1/events/stream?types=sandbox.ready&tenant_wide=true", key: keyA)
        let scoped = try SSETestClient(port: server.port, path: "/api/v1/tenant/events/stream?scope=workspace:\(wsA)", key: keyA)
        XCTAssertTrue(try eventually { try hub().subscribers == 2 })
        let b = try createSandbox(key: keyB)
        let a = try createSandbox(key: keyA)
        let ready = try typed.events { !$0.isEmpty }
        XCTAssertEqual(ready.map { $0.event ?? "" }, ["sandbox.ready"])
        XCTAssertEqual(ready[0].json["sandbox_id"] as? String, a, "tenant B's sandbox \(b) is invisible")
        XCTAssertEqual(try scoped.events { $0.count >= 2 }.map { $0.json["sandbox_id"] as? String }, [a, a])

        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(a)/events", key: keyB).status, 404)
        XCTAssertEqual(try server.request("GET", "/api/v1/events/stream", key: "msk_live_tenant_a_readonly_key_0000002").status, 403)
        let badScope = try server.request("GET", "/api/v1/tenant/events/stream?scope=planet:x", key: keyA)
        XCTAssertEqual(badScope.status, 422)
        XCTAssertNotNil((badScope.object["error"] as? [String: Any])?["details"])
        XCTAssertEqual(try server.request("GET", "/api/v1/tenant/events/stream?scope=workspace:nope", key: keyA).status, 404)
        XCTAssertEqual(try server.request("GET", "/api/v1/events/stream", key: keyA, headers: [("Last-Event-ID", "abc")]).status, 422)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(a)/events?path=/etc", key: keyA).status, 400)
    }

    func testSandboxStreamEndsAfterDestroy() throws {
        let id = try createSandbox()
        let c = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events?types=file.*")
        XCTAssertTrue(try eventually { try hub().subscribers == 1 })
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)").status, 204)
        XCTAssertTrue(c.ended(), "the stream ends even when its filter hides sandbox.destroyed")
        XCTAssertTrue(try eventually { try hub() == (0, 0) })
        // A destroyed sandbox: its history on request, then the end.
        let history = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events?after_id=0")
        XCTAssertEqual(try history.events { _ in false }.last?.event, "sandbox.destroyed")
    }

    func testClosedClientFreesItsSubscription() throws {
        let id = try createSandbox()
        var c: SSETestClient? = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events")
        XCTAssertEqual(c?.status, 200)
        XCTAssertTrue(try eventually { try hub() == (1, 1) })
        c = nil  // closes the socket
        XCTAssertTrue(try eventually { try hub() == (0, 0) })
        XCTAssertTrue(try eventually { try server.onLoop { $0.connectionCount } == 0 })
    }

    func testSlowClientIsCutOffInsteadOfBuffering() throws {
        try restart { $0.sseBufferBytes = 64 * 1024 }
        let id = try createSandbox()
        let stalled = try StalledClient(port: server.port, request:
            "GET /api/v1/sandboxes/\(id)/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.key)\r\n\r\n")
        XCTAssertTrue(try eventually { try hub().subscribers == 1 })
        let blob = JSON.string(String(repeating: "x", count: 16 * 1024))
        var batches = 0
        // 1 MB per batch; the kernel's socket buffers absorb a few MB before the server's own buffer fills.
        while try hub().subscribers > 0 && batches < 64 {
            try publish("test.big", count: 64, sandbox: id) { _ in .object(["blob": blob]) }
            batches += 1
            _ = try eventually(timeout: 0.2) { try hub().subscribers == 0 }
        }
        XCTAssertEqual(try hub().subscribers, 0, "cut off after \(batches) MB")
        XCTAssertTrue(try eventually { try server.onLoop { $0.connectionCount } == 0 })
        withExtendedLifetime(stalled) {}
        // The server is still fine for everyone else.
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)").status, 200)
    }

    func testThousandSubscribersOnOneSandboxAllGetTheEvent() throws {
        let n = 1000
        let limit = raiseOpenFileLimit(to: rlim_t(2 * n + 256))
        try XCTSkipIf(limit < rlim_t(2 * n + 64), "open-file limit \(limit) is too low for \(n) sockets on each side")
        let id = try createSandbox()
        var clients: [SSETestClient] = []
        for _ in 0..<n { clients.append(try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/events")) }
        XCTAssertTrue(try eventually { try hub().subscribers == n })
        XCTAssertEqual(try server.request("PATCH", "/api/v1/sandboxes/\(id)", json: #"{"name":"fan-out"}"#).status, 200)
        var ids = Set<String>()
        for c in clients {
            let frames = try c.events { $0.contains { $0.event == "sandbox.updated" } }
            ids.insert(frames.first { $0.event == "sandbox.updated" }?.id ?? "missing")
        }
        XCTAssertEqual(ids.count, 1, "every subscriber got the same event: \(ids.prefix(3))")
        XCTAssertFalse(ids.contains("missing"))
        clients = []
        XCTAssertTrue(try eventually { try hub() == (0, 0) })
    }

    func testPurgeBoundsTheLogAndIDsStayMonotonic() throws {
        try restart { $0.eventsMaxRows = 5 }
        try publish("test.fill", count: 20)
        let (left, lastBefore) = try server.onLoop { s -> (Int, Int64) in
            let bus = s.app.service(EventBus.self)!
            bus.purge()
            return (try s.app.db.scalarInt("SELECT COUNT(*) FROM events") ?? -1, bus.lastID)
        }
        XCTAssertEqual(left, 5)
        try server.onLoop { try $0.reset() }
        try publish("test.after-reset")
        let c = try SSETestClient(port: server.port, path: "/api/v1/events/stream?last_event_id=0")
        let frames = try c.events { !$0.isEmpty }
        XCTAssertEqual(frames.map { $0.event ?? "" }, ["test.after-reset"])
        XCTAssertGreaterThan(Int64(frames[0].id ?? "") ?? 0, lastBefore, "ids are never reused, even after a reset")
    }

    func testEventIDsSurviveARestart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("events-restart-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try restart { $0.memory = false; $0.dataDir = dir }
        _ = try createSandbox()
        try restart { $0.memory = false; $0.dataDir = dir }
        _ = try createSandbox()
        let c = try SSETestClient(port: server.port, path: "/api/v1/events/stream", headers: [("Last-Event-ID", "0")])
        XCTAssertEqual(try c.events { $0.count == 4 }.map { $0.id ?? "" }, ["1", "2", "3", "4"])
    }

    /// Go's SDK sends SSE GETs with a chunked body it never finishes: the body timeout must clean that up.
    func testChunkedGETWithUnfinishedBodyIsClosedByTheBodyTimeout() throws {
        try restart { $0.http.bodyTimeoutMs = 200 }
        let id = try createSandbox()
        let c = try RawHTTPClient(port: server.port)
        try c.send("GET /api/v1/sandboxes/\(id)/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.key)\r\n" +
                   "Accept: text/event-stream\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnull")
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)").status, 200, "the server is not wedged meanwhile")
        XCTAssertEqual(try c.readResponse().status, 408)
        XCTAssertTrue(c.isClosedByPeer())
        XCTAssertTrue(try eventually { try server.onLoop { $0.connectionCount } == 0 })
        XCTAssertEqual(try hub().subscribers, 0)
    }
}
