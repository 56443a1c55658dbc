import XCTest
import Foundation
import TestSupport
@testable import MockAPI

/// `/_mock/faults`, `/_mock/requests`, `/_mock/clock`, `/_mock/reset`, `--no-control-api`.
final class ControlAPITests: XCTestCase {
    var server: TestServer!
    let temp = TempDirs()

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() {
        server?.stop()
        temp.removeAll()
    }

    func control(_ method: String, _ path: String, _ json: String? = nil) throws -> RawHTTPClient.Response {
        try server.request(method, path, json: json, key: nil)
    }

    func journal(_ query: String = "") throws -> [[String: Any]] {
        try control("GET", "/_mock/requests" + query).object["data"] as? [[String: Any]] ?? []
    }

    // MARK: faults

    func testFaultFiresTimesThenStopsAndOnlyMatchesItsMethodAndPath() throws {
        let add = try control("POST", "/_mock/faults", #"{"method":"POST","path_pattern":"/sandboxes","status":503,"times":2}"#)
        XCTAssertEqual(add.status, 201)
        let id = try XCTUnwrap((add.object["data"] as? [String: Any])?["id"] as? String)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes").status, 200, "GET is not faulted")
        for _ in 0..<2 {
            let r = try server.request("POST", "/api/v1/sandboxes", json: "{}")
            XCTAssertEqual(r.status, 503)
            XCTAssertEqual((r.object["error"] as? [String: Any])?["code"] as? String, "service_unavailable")
            XCTAssertEqual(r.object["request_id"] as? String, r.header("X-Request-Id"))
        }
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: "{}").status, 201)
        let rules = try control("GET", "/_mock/faults").object["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(rules.first?["hits"] as? Int, 2)
        XCTAssertEqual(rules.first?["exhausted"] as? Bool, true)
        XCTAssertEqual(try control("DELETE", "/_mock/faults/\(id)").status, 204)
        XCTAssertEqual(try control("DELETE", "/_mock/faults/\(id)").status, 404)
    }

    func testFaultGlobCodeMessageRetryAfterAndDeleteAll() throws {
        XCTAssertEqual(try control("POST", "/_mock/faults", #"{"path_pattern":"/api/v1/sandboxes/*/stop","status":429,"error_code":"slow_down","message":"easy","retry_after":2}"#).status, 201)
        XCTAssertEqual(try control("POST", "/_mock/faults", #"{"path_pattern":"/_mock/**","status":500}"#).status, 201)
        let id = try XCTUnwrap((try server.request("POST", "/api/v1/sandboxes", json: "{}").object["data"] as? [String: Any])?["id"] as? String)
        let r = try server.request("POST", "/api/v1/sandboxes/\(id)/stop")
        XCTAssertEqual(r.status, 429)
        XCTAssertEqual(r.header("Retry-After"), "2")
        let err = r.object["error"] as? [String: Any] ?? [:]
        XCTAssertEqual(err["code"] as? String, "slow_down")
        XCTAssertEqual(err["message"] as? String, "easy")
        XCTAssertEqual(err["retry_after_ms"] as? Int, 2000)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/resume").status, 409, "other actions pass through")
        XCTAssertEqual(try control("GET", "/_mock/clock").status, 200, "control routes are never faulted")
        XCTAssertEqual((try control("DELETE", "/_mock/faults").object["data"] as? [String: Any])?["deleted"] as? Int, 2)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/stop").status, 200)
    }

    func testFaultValidation() throws {
        for bad in [#"{"status":503}"#, #"{"path_pattern":"sandboxes","status":503}"#, #"{"path_pattern":"/x"}"#,
                    #"{"path_pattern":"/x","status":200}"#, #"{"path_pattern":"/x","status":503,"probability":2}"#,
                    #"{"path_pattern":"/x","delay_ms":-1}"#, #"{"path_pattern":"/x","status":503,"times":0}"#,
                    #"{"path_pattern":"/x","status":503,"method":"FETCH"}"#, "[1]"] {
            let r = try control("POST", "/_mock/faults", bad)
            XCTAssertTrue(r.status == 422 || r.status == 400, "\(bad) -> \(r.status)")
        }
        XCTAssertEqual((try control("GET", "/_mock/faults").object["data"] as? [Any])?.count, 0)
    }

    func testDelayOnlyFaultStillAnswersNormally() throws {
        XCTAssertEqual(try control("POST", "/_mock/faults", #"{"method":"GET","path_pattern":"/sandboxes","delay_ms":50,"times":1}"#).status, 201)
        let r = try server.request("GET", "/api/v1/sandboxes")
        XCTAssertEqual(r.status, 200)
        let entry = try XCTUnwrap(try journal().last)
        XCTAssertNotNil(entry["fault_id"] as? String)
        XCTAssertGreaterThanOrEqual(entry["duration_ms"] as? Int ?? 0, 50)
    }

    // MARK: journal

    func testJournalRecordsFiltersAndClears() throws {
        _ = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "j")])
        _ = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "j")])
        _ = try server.request("GET", "/api/v1/sandboxes?page_size=5")
        _ = try control("GET", "/_mock/health")
        let all = try journal()
        XCTAssertEqual(all.map { $0["method"] as? String }, ["POST", "POST", "GET"], "control requests are not recorded")
        XCTAssertEqual(all[0]["status"] as? Int, 201)
        XCTAssertEqual(all[0]["idempotency_key"] as? String, "j")
        XCTAssertEqual(all[0]["replayed"] as? Bool, false)
        XCTAssertEqual(all[1]["replayed"] as? Bool, true)
        XCTAssertEqual(all[1]["request_id"] as? String, all[0]["request_id"] as? String)
        XCTAssertEqual(all[2]["query"] as? String, "page_size=5")
        XCTAssertEqual(all[2]["path"] as? String, "/api/v1/sandboxes")
        XCTAssertEqual(try journal("?method=get").count, 1)
        XCTAssertEqual(try journal("?path=/sandboxes&method=POST").count, 2)
        XCTAssertEqual(try journal("?path=/api/v1/sand").count, 3)
        XCTAssertEqual(try journal("?path=/sand").count, 3)
        XCTAssertEqual(try journal("?path=/api/**").count, 3)
        XCTAssertEqual(try journal("?path=/other/*").count, 0)
        XCTAssertEqual(try journal("?limit=1").first?["method"] as? String, "GET", "limit keeps the newest")
        XCTAssertEqual(try control("GET", "/_mock/requests?limit=0").status, 400)
        XCTAssertEqual(try control("DELETE", "/_mock/requests").status, 200)
        XCTAssertEqual(try journal().count, 0)
    }

    func testJournalIsBounded() throws {
        server.stop()
        server = try TestServer { $0.journalSize = 3 }
        for i in 0..<5 { _ = try server.request("GET", "/api/v1/sandboxes?i=\(i)") }
        let entries = try control("GET", "/_mock/requests").object
        XCTAssertEqual((entries["data"] as? [[String: Any]])?.map { $0["query"] as? String }, ["i=2", "i=3", "i=4"])
        XCTAssertEqual(entries["capacity"] as? Int, 3)
        XCTAssertEqual(entries["recorded"] as? Int, 5)
    }

    // MARK: clock

    func testClockAdvanceSetResumeAndValidation() throws {
        let before = try XCTUnwrap((try control("GET", "/_mock/clock").object["data"] as? [String: Any]))
        XCTAssertEqual(before["mode"] as? String, "real")
        let set = try control("POST", "/_mock/clock", #"{"set":"2030-01-02T03:04:05Z"}"#).object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(set["mode"] as? String, "frozen")
        XCTAssertEqual(set["now"] as? String, "2030-01-02T03:04:05Z")
        let adv = try control("POST", "/_mock/clock", #"{"advance_seconds": 3600}"#).object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(adv["now"] as? String, "2030-01-02T04:04:05Z")
        // New resources are stamped with the moved clock.
        let sb = try server.request("POST", "/api/v1/sandboxes", json: "{}").object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(sb["created_at"] as? String, "2030-01-02T04:04:05Z")
        let real = try control("POST", "/_mock/clock", #"{"mode":"real"}"#).object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(real["mode"] as? String, "real")
        XCTAssertTrue((real["now"] as? String ?? "").hasPrefix("2030-01-02T04:0"), "resumes from the frozen instant: \(real)")
        for bad in ["{}", #"{"advance_seconds":"soon"}"#, #"{"set":"yesterday"}"#, #"{"mode":"paused"}"#] {
            XCTAssertEqual(try control("POST", "/_mock/clock", bad).status, 422, bad)
        }
    }

    func testClockSurvivesRestart() throws {
        server.stop()
        let dir = temp.path("miosa-clock")
        let configure: (inout Configuration) -> Void = { $0.memory = false; $0.dataDir = dir }
        server = try TestServer(configure)
        XCTAssertEqual(try control("POST", "/_mock/clock", #"{"set":"2031-05-06T07:08:09Z"}"#).status, 200)
        server.stop()
        server = try TestServer(configure)
        let c = try control("GET", "/_mock/clock").object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(c["now"] as? String, "2031-05-06T07:08:09Z")
        XCTAssertEqual(c["mode"] as? String, "frozen")
    }

    // MARK: reset

    func testResetWipesStateAndEveryControlList() throws {
        _ = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "z")])
        _ = try control("POST", "/_mock/faults", #"{"path_pattern":"/nothing","status":500}"#)
        _ = try control("POST", "/_mock/clock", #"{"advance_seconds": 999}"#)
        XCTAssertEqual(try control("POST", "/_mock/reset").status, 200)
        XCTAssertEqual(try journal().count, 0)
        XCTAssertEqual((try control("GET", "/_mock/faults").object["data"] as? [Any])?.count, 0)
        let clock = try control("GET", "/_mock/clock").object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(clock["offset_seconds"] as? Double ?? -1, 0)
        XCTAssertEqual(try server.onLoop { s in try IdempotencyStore.count(s.app.db) }, 0)
        let list = try server.request("GET", "/api/v1/sandboxes")
        XCTAssertEqual((list.object["page"] as? [String: Any])?["total"] as? Int, 0)
        // The key is free again: the same request runs anew.
        let again = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "z")])
        XCTAssertEqual(again.status, 201)
        XCTAssertNil(again.header("Idempotent-Replayed"))
        // Fixtures are back: the default key still works.
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes").status, 200)
    }

    func testNoControlAPIKeepsHealthOnly() throws {
        server.stop()
        server = try TestServer { $0.controlAPI = false }
        XCTAssertEqual(try control("GET", "/_mock/health").status, 200)
        for (m, p) in [("POST", "/_mock/reset"), ("GET", "/_mock/clock"), ("GET", "/_mock/faults"), ("GET", "/_mock/requests")] {
            XCTAssertEqual(try control(m, p).status, 404, p)
        }
    }
}

/// Path globs used by fault rules and journal filters.
final class PathGlobTests: XCTestCase {
    func testSegmentsAndDoubleStar() {
        let cases: [(String, String, Bool)] = [
            ("/sandboxes", "/sandboxes", true), ("/sandboxes", "/sandboxes/", true), ("/sandboxes", "/sandboxes/1", false),
            ("/sandboxes/*", "/sandboxes/abc", true), ("/sandboxes/*", "/sandboxes/abc/stop", false),
            ("/sandboxes/*/stop", "/sandboxes/abc/stop", true), ("/sandboxes/**", "/sandboxes", true),
            ("/sandboxes/**", "/sandboxes/a/b/c", true), ("/**/stop", "/api/v1/sandboxes/x/stop", true),
            ("/**/stop", "/api/v1/sandboxes/x/start", false), ("/sand*", "/sandboxes", true), ("/*boxes", "/sandboxes", true),
            ("/s*x*s", "/sandboxes", true), ("/s*q*s", "/sandboxes", false), ("/**", "/", true), ("/a/**/b/**/c", "/a/x/b/y/z/c", true),
            ("/files/*", "/files/a%2Fb", true),
        ]
        for (pattern, path, want) in cases {
            XCTAssertEqual(PathGlob(pattern).matches(path), want, "\(pattern) ~ \(path)")
        }
        XCTAssertTrue(PathGlob("/sandboxes/*").matchesAPIPath("/api/v1/sandboxes/x"))
        XCTAssertFalse(PathGlob("/sandboxes/*").matchesAPIPath("/other/v1/sandboxes/x"))
    }

    func testManyDoubleStarsStayCheap() {
        let pattern = "/" + Array(repeating: "**", count: 30).joined(separator: "/") + "/z"
        let path = "/" + Array(repeating: "a", count: 200).joined(separator: "/")
        XCTAssertFalse(PathGlob(pattern).matches(path))
    }
}
