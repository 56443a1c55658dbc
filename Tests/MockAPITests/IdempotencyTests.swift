import XCTest
import Foundation
import TestSupport
@testable import MockAPI

/// Idempotency-Key replay, mismatch, in-progress, expiry, restart, scoping (IdempotencyMiddleware).
final class IdempotencyTests: XCTestCase {
    var server: TestServer!
    let temp = TempDirs()

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() {
        server?.stop()
        temp.removeAll()
    }

    /// Counts `sandbox.created` domain events: the source of webhooks, audit entries and SSE events.
    func countCreatedEvents() throws -> () -> Int {
        final class Box { var n = 0 }
        let box = Box()
        try server.onLoop { s in s.app.subscribe { if $0.type == "sandbox.created" { box.n += 1 } } }
        return { [server] in (try? server!.onLoop { _ in box.n }) ?? -1 }
    }

    func sandboxTotal(_ key: String = TestServer.key) throws -> Int {
        let list = try server.request("GET", "/api/v1/sandboxes", key: key)
        return (list.object["page"] as? [String: Any])?["total"] as? Int ?? -1
    }

    /// Headers that legitimately differ between two answers (fresh counters, the date).
    static func stableHeaders(_ r: RawHTTPClient.Response) -> [String] {
        r.headers.filter { !$0.0.lowercased().hasPrefix("x-ratelimit") && $0.0.lowercased() != "date" && !$0.0.lowercased().contains("replayed") }
            .map { "\($0.0.lowercased()): \($0.1)" }
    }

    func testReplayIsByteForByteAndRunsNothingTwice() throws {
        let events = try countCreatedEvents()
        let body = #"{"name":"idem-one","metadata":{"k":"v"}}"#
        let first = try server.request("POST", "/api/v1/sandboxes", json: body, headers: [("Idempotency-Key", "k-1")])
        XCTAssertEqual(first.status, 201)
        XCTAssertNil(first.header("Idempotent-Replayed"))
        let second = try server.request("POST", "/api/v1/sandboxes", json: body, headers: [("Idempotency-Key", "k-1")])
        XCTAssertEqual(second.status, 201)
        XCTAssertEqual(second.body, first.body)
        XCTAssertEqual(second.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(second.header("Idempotency-Replayed"), "true")
        XCTAssertEqual(second.header("X-Request-Id"), first.header("X-Request-Id"), "a replay carries the original request id")
        XCTAssertEqual(Self.stableHeaders(second), Self.stableHeaders(first))
        XCTAssertEqual(try sandboxTotal(), 1)
        XCTAssertEqual(events(), 1)
    }

    func testBodyFieldKeyAndAnyKeyShapeAreAccepted() throws {
        for key in ["0123456789abcdef0123456789abcdef", "promote:dep_1:rel_2", UUID().uuidString] {
            let body = #"{"name":"n","idempotency_key":"\#(key)"}"#
            let a = try server.request("POST", "/api/v1/sandboxes", json: body)
            let b = try server.request("POST", "/api/v1/sandboxes", json: body)
            XCTAssertEqual(a.status, 201)
            XCTAssertEqual(b.header("Idempotent-Replayed"), "true", key)
            XCTAssertEqual(a.body, b.body)
        }
        XCTAssertEqual(try sandboxTotal(), 3)
    }

    func testSameKeyDifferentRequestIs422() throws {
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"a"}"#, headers: [("Idempotency-Key", "k")]).status, 201)
        for (method, path, json) in [("POST", "/api/v1/sandboxes", #"{"name":"b"}"#), ("POST", "/api/v1/sandboxes?x=1", #"{"name":"a"}"#),
                                     ("PATCH", "/api/v1/sandboxes", #"{"name":"a"}"#)] {
            let r = try server.request(method, path, json: json, headers: [("Idempotency-Key", "k")])
            XCTAssertEqual(r.status, 422, "\(method) \(path)")
            let err = r.object["error"] as? [String: Any] ?? [:]
            XCTAssertEqual(err["code"] as? String, "idempotency_key_reused")
            XCTAssertEqual(r.object["request_id"] as? String, r.header("X-Request-Id"))
        }
        XCTAssertEqual(try sandboxTotal(), 1)
        let long = String(repeating: "k", count: 256)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", long)]).status, 400)
    }

    func testClientErrorsAreStoredServerErrorsAreNot() throws {
        let bad = try server.request("POST", "/api/v1/sandboxes", json: #"{"size":"huge"}"#, headers: [("Idempotency-Key", "bad")])
        XCTAssertEqual(bad.status, 422)
        let again = try server.request("POST", "/api/v1/sandboxes", json: #"{"size":"huge"}"#, headers: [("Idempotency-Key", "bad")])
        XCTAssertEqual(again.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(again.body, bad.body)
        // The stored error body names the original request, and so does the replayed header.
        XCTAssertEqual(again.object["request_id"] as? String, again.header("X-Request-Id"))

        final class Calls { var n = 0 }
        let calls = Calls()
        try server.onLoop { s in
            s.app.router.add("POST", "/api/v1/test/flaky") { _ in
                calls.n += 1
                if calls.n == 1 { throw APIError(503, "service_unavailable", "try again") }
                return .created(.object(["call": .int(calls.n)]))
            }
        }
        let r1 = try server.request("POST", "/api/v1/test/flaky", json: "{}", headers: [("Idempotency-Key", "f")])
        XCTAssertEqual(r1.status, 503)
        let r2 = try server.request("POST", "/api/v1/test/flaky", json: "{}", headers: [("Idempotency-Key", "f")])
        XCTAssertEqual(r2.status, 201)
        XCTAssertNil(r2.header("Idempotent-Replayed"))
        let r3 = try server.request("POST", "/api/v1/test/flaky", json: "{}", headers: [("Idempotency-Key", "f")])
        XCTAssertEqual(r3.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(r3.body, r2.body)
        XCTAssertEqual(try server.onLoop { _ in calls.n }, 2)
    }

    func testRepeatWhileRunningIs409ThenReplays() throws {
        final class Pending { var done: ((Reply) -> Void)?; var calls = 0 }
        let pending = Pending()
        try server.onLoop { s in
            s.app.router.add("POST", "/api/v1/test/slow") { _ in
                pending.calls += 1
                return .async { done in pending.done = done }
            }
        }
        let first = try RawHTTPClient(port: server.port)
        try first.send("POST /api/v1/test/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.key)\r\nIdempotency-Key: slow\r\nContent-Length: 2\r\n\r\n{}")
        // Wait (bounded) until the first request holds the key.
        var started = false
        for _ in 0..<500 where !started {
            started = try server.onLoop { _ in pending.done != nil }
            if !started { usleep(10_000) }
        }
        XCTAssertTrue(started)
        let second = try server.request("POST", "/api/v1/test/slow", json: "{}", headers: [("Idempotency-Key", "slow")])
        XCTAssertEqual(second.status, 409)
        XCTAssertEqual((second.object["error"] as? [String: Any])?["code"] as? String, "idempotency_key_in_progress")
        let other = try server.request("POST", "/api/v1/test/slow", json: #"{"x":1}"#, headers: [("Idempotency-Key", "slow")])
        XCTAssertEqual(other.status, 422)

        try server.onLoop { _ in pending.done?(.created(.object(["ok": .bool(true)]))) }
        let firstResponse = try first.readResponse()
        XCTAssertEqual(firstResponse.status, 201)
        let third = try server.request("POST", "/api/v1/test/slow", json: "{}", headers: [("Idempotency-Key", "slow")])
        XCTAssertEqual(third.status, 201)
        XCTAssertEqual(third.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(third.body, firstResponse.body)
        XCTAssertEqual(try server.onLoop { _ in pending.calls }, 1)
    }

    func testKeyExpiresAfter24HoursOfServerClock() throws {
        let body = #"{"name":"exp"}"#
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: body, headers: [("Idempotency-Key", "e")]).status, 201)
        try server.onLoop { s in s.app.clock.advance(seconds: 86_399) }
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: body, headers: [("Idempotency-Key", "e")]).header("Idempotent-Replayed"), "true")
        XCTAssertEqual(try server.request("POST", "/_mock/clock", json: #"{"advance_seconds": 2}"#, key: nil).status, 200)
        let fresh = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"other body is fine now"}"#, headers: [("Idempotency-Key", "e")])
        XCTAssertEqual(fresh.status, 201)
        XCTAssertNil(fresh.header("Idempotent-Replayed"))
        XCTAssertEqual(try sandboxTotal(), 2)
        // The sweeper drops expired rows (the lookup already ignores them).
        try server.onLoop { s in s.app.clock.advance(seconds: 86_401); s.app.service(IdempotencyMiddleware.self)!.purge() }
        XCTAssertEqual(try server.onLoop { s in try IdempotencyStore.count(s.app.db) }, 0)
    }

    func testRecordsSurviveRestartAndAreScopedToTheAPIKey() throws {
        server.stop()
        server = nil
        let dir = temp.path("miosa-idem")
        let fixtures = temp.path("miosa-idem-fixtures")
        try """
        {"tenants": [{"id": "11111111-1111-4111-8111-111111111111", "name": "T", "slug": "t",
          "workspaces": [{"id": "11111111-aaaa-4aaa-8aaa-111111111111", "name": "W", "slug": "default", "default": true}],
          "api_keys": [{"id": "11111111-0000-4000-8000-000000000001", "name": "one", "key": "msk_live_one_000000000000000000001", "scopes": ["*"]},
                       {"id": "11111111-0000-4000-8000-000000000002", "name": "two", "key": "msk_live_two_000000000000000000002", "scopes": ["*"]}]}],
         "templates": [{"id": "miosa-sandbox", "name": "S"}]}
        """.write(toFile: fixtures, atomically: true, encoding: .utf8)
        let configure: (inout Configuration) -> Void = { $0.memory = false; $0.dataDir = dir; $0.fixturesPath = fixtures }
        server = try TestServer(configure)
        let (one, two) = ("msk_live_one_000000000000000000001", "msk_live_two_000000000000000000002")
        let a = try server.request("POST", "/api/v1/sandboxes", json: "{}", key: one, headers: [("Idempotency-Key", "same")])
        let b = try server.request("POST", "/api/v1/sandboxes", json: "{}", key: two, headers: [("Idempotency-Key", "same")])
        XCTAssertEqual(a.status, 201)
        XCTAssertEqual(b.status, 201)
        XCTAssertNil(b.header("Idempotent-Replayed"), "another API key has its own key space")
        XCTAssertNotEqual(a.body, b.body)

        server.stop()
        server = try TestServer(configure)
        let again = try server.request("POST", "/api/v1/sandboxes", json: "{}", key: one, headers: [("Idempotency-Key", "same")])
        XCTAssertEqual(again.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(again.body, a.body)
        XCTAssertEqual(try sandboxTotal(one), 2)
    }

    func testReadsAndControlRoutesIgnoreTheKey() throws {
        let a = try server.request("GET", "/api/v1/sandboxes", headers: [("Idempotency-Key", "g")])
        _ = try server.request("POST", "/api/v1/sandboxes", json: "{}")
        let b = try server.request("GET", "/api/v1/sandboxes", headers: [("Idempotency-Key", "g")])
        XCTAssertNil(b.header("Idempotent-Replayed"))
        XCTAssertNotEqual(a.body, b.body)
        let c1 = try server.request("POST", "/_mock/clock", json: #"{"advance_seconds": 1}"#, key: nil, headers: [("Idempotency-Key", "c")])
        let c2 = try server.request("POST", "/_mock/clock", json: #"{"advance_seconds": 1}"#, key: nil, headers: [("Idempotency-Key", "c")])
        XCTAssertNil(c2.header("Idempotent-Replayed"))
        XCTAssertNotEqual(c1.body, c2.body)
    }
}
