import XCTest
import TestSupport
@testable import MockAPI

/// Per-minute limits by scope, the 429 shape, recovery by the server clock (RateLimitMiddleware).
final class RateLimitTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        server = try TestServer { c in
            c.rateLimits.general = 3
            c.rateLimits.auth = 2
            c.rateLimits.unauthenticated = 2
        }
        // Freeze the clock at the start of a minute so the window cannot roll over mid-test.
        try server.onLoop { s in s.app.clock.set(1_800_000_000) }
    }
    override func tearDown() { server.stop() }

    func testGeneralLimitGives429WithHintsThenRecoversWhenTheClockMoves() throws {
        for i in 0..<3 {
            let r = try server.request("GET", "/api/v1/sandboxes")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.header("X-RateLimit-Limit"), "3")
            XCTAssertEqual(r.header("X-RateLimit-Remaining"), String(2 - i))
            XCTAssertEqual(r.header("X-RateLimit-Reset"), "1800000060")
        }
        try server.onLoop { s in s.app.clock.advance(seconds: 15) }
        let limited = try server.request("POST", "/api/v1/sandboxes", json: "{}")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("Retry-After"), "45")
        XCTAssertEqual(limited.header("X-RateLimit-Remaining"), "0")
        let err = limited.object["error"] as? [String: Any] ?? [:]
        XCTAssertEqual(err["code"] as? String, "rate_limited")
        XCTAssertEqual(err["retry_after"] as? Int, 45)
        XCTAssertEqual(err["retry_after_ms"] as? Int, 45_000)
        XCTAssertEqual(limited.object["retry_after"] as? Int, 45)
        XCTAssertEqual(limited.object["request_id"] as? String, limited.header("X-Request-Id"))

        try server.onLoop { s in s.app.clock.advance(seconds: 45) }
        let again = try server.request("GET", "/api/v1/sandboxes")
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.header("X-RateLimit-Remaining"), "2")
        // Nothing was created by the limited POST.
        XCTAssertEqual((again.object["page"] as? [String: Any])?["total"] as? Int, 0)
    }

    func testAuthScopeIsPerCredentialAndSeparateFromGeneral() throws {
        try server.onLoop { s in
            s.app.router.add("POST", "/api/v1/test/mint", RouteOptions(rate: .auth)) { _ in .created(.object(["token": .string("t")])) }
        }
        XCTAssertEqual(try server.request("POST", "/api/v1/test/mint").header("X-RateLimit-Limit"), "2")
        XCTAssertEqual(try server.request("POST", "/api/v1/test/mint").status, 201)
        XCTAssertEqual(try server.request("POST", "/api/v1/test/mint").status, 429)
        // The workspace's general budget is untouched.
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes").header("X-RateLimit-Remaining"), "2")
    }

    func testUnauthenticatedIsPerAddressAndControlIsExempt() throws {
        XCTAssertEqual(try server.request("GET", "/api/v1/nothing-here", key: nil).status, 404)
        XCTAssertEqual(try server.request("GET", "/api/v1/nothing-here", key: nil).status, 404)
        let limited = try server.request("GET", "/api/v1/nothing-here", key: nil)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("X-RateLimit-Limit"), "2")
        // With a key the same route counts against the workspace instead.
        XCTAssertEqual(try server.request("GET", "/api/v1/nothing-here").status, 404)
        for _ in 0..<5 {
            let h = try server.request("GET", "/_mock/health", key: nil)
            XCTAssertEqual(h.status, 200)
            XCTAssertNil(h.header("X-RateLimit-Limit"))
        }
    }

    /// A missing or invalid key is an unauthenticated request: counted per address, and its 401 carries counters.
    func testBadKeysCountAsUnauthenticatedAndTheir401sCarryCounters() throws {
        for remaining in ["1", "0"] {
            let r = try server.request("GET", "/api/v1/sandboxes", key: "msk_live_not_a_real_key")
            XCTAssertEqual(r.status, 401)
            XCTAssertEqual(r.header("X-RateLimit-Limit"), "2")
            XCTAssertEqual(r.header("X-RateLimit-Remaining"), remaining)
        }
        let limited = try server.request("GET", "/api/v1/sandboxes", key: nil)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("Retry-After"), "60")
        // A valid key still has its workspace's own budget.
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes").status, 200)
    }

    func testReplaysCountButNeverCarryStaleCounters() throws {
        let a = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "r")])
        let b = try server.request("POST", "/api/v1/sandboxes", json: "{}", headers: [("Idempotency-Key", "r")])
        XCTAssertEqual(a.header("X-RateLimit-Remaining"), "2")
        XCTAssertEqual(b.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(b.header("X-RateLimit-Remaining"), "1")
        XCTAssertEqual(b.headers.filter { $0.0 == "X-RateLimit-Remaining" }.count, 1)
    }

    func testOffMeansNoLimitAndNoHeaders() throws {
        server.stop()
        server = try TestServer { c in c.rateLimits.enabled = false; c.rateLimits.general = 1 }
        for _ in 0..<5 {
            let r = try server.request("GET", "/api/v1/sandboxes")
            XCTAssertEqual(r.status, 200)
            XCTAssertNil(r.header("X-RateLimit-Limit"))
        }
    }
}
