import XCTest
import TestSupport
@testable import MockAPI

/// API keys end to end on a real server: scope checks, the auth cache flushed by every key change, the auth
/// rate limit on key creation, scoped tokens expiring by the server clock.
final class ApiKeysTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        server = try TestServer { $0.rateLimits.auth = 3 }
        // A minute boundary, frozen: the auth window cannot roll over mid-test.
        try server.onLoop { s in s.app.clock.set(1_800_000_000) }
    }
    override func tearDown() { server.stop() }

    func createKey(_ body: String, key: String = TestServer.key) throws -> [String: Any] {
        let r = try server.request("POST", "/api/v1/api-keys", json: body, key: key)
        XCTAssertEqual(r.status, 201, r.text)
        return r.object["data"] as? [String: Any] ?? [:]
    }

    func testRevokedKeyIsRefusedOnTheVeryNextRequest() throws {
        let k = try createKey(#"{"name":"victim","scopes":["sandboxes:read"]}"#)
        let token = try XCTUnwrap(k["token"] as? String)
        XCTAssertTrue(token.hasPrefix("msk_live_"))
        XCTAssertEqual(token.count, 9 + 32)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)  // served from the cache
        XCTAssertEqual(try server.request("DELETE", "/api/v1/api-keys/\(k["id"]!)").status, 204)
        let refused = try server.request("GET", "/api/v1/sandboxes", key: token)
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual((refused.object["error"] as? [String: Any])?["code"] as? String, "unauthorized")
        // The stored row keeps only a hash.
        let stored = try server.onLoop { s in
            try s.app.db.first("SELECT key_hash, status FROM api_keys WHERE id = ?", [.text(k["id"] as! String)]) { ($0.text(0), $0.text(1)) }
        }
        XCTAssertEqual(stored?.0, Tenancy.hash(token))
        XCTAssertEqual(stored?.1, "revoked")
    }

    func testRotatedOldKeyIsRefusedAndNewOneWorks() throws {
        let k = try createKey(#"{"name":"rot"}"#)
        let old = try XCTUnwrap(k["token"] as? String)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: old).status, 200)
        let r = try server.request("POST", "/api/v1/api-keys/\(k["id"]!)/rotate")
        XCTAssertEqual(r.status, 200)
        let fresh = try XCTUnwrap((r.object["data"] as? [String: Any])?["token"] as? String)
        XCTAssertNotEqual(fresh, old)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: old).status, 401)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: fresh).status, 200)
    }

    func testDisabledKeyIsRefusedUntilEnabled() throws {
        let k = try createKey(#"{"name":"d"}"#)
        let token = k["token"] as! String
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        XCTAssertEqual(try server.request("PATCH", "/api/v1/api-keys/\(k["id"]!)", json: #"{"status":"disabled"}"#).status, 200)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 401)
        XCTAssertEqual(try server.request("PATCH", "/api/v1/api-keys/\(k["id"]!)", json: #"{"status":"active"}"#).status, 200)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
    }

    func testScopesLimitWhatAKeyMayDoAndGrant() throws {
        let k = try createKey(#"{"name":"narrow","scopes":["sandboxes:read","api_keys:write"]}"#)
        let token = k["token"] as! String
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        let denied = try server.request("POST", "/api/v1/sandboxes", json: "{}", key: token)
        XCTAssertEqual(denied.status, 403)
        XCTAssertEqual((denied.object["error"] as? [String: Any])?["code"] as? String, "insufficient_scope")
        // api_keys:write implies api_keys:read.
        XCTAssertEqual(try server.request("GET", "/api/v1/api-keys", key: token).status, 200)
        // No escalation: a key cannot hand out what it lacks.
        XCTAssertEqual(try server.request("POST", "/api/v1/api-keys", json: #"{"name":"x","scopes":["*"]}"#, key: token).status, 403)
        let unknown = try server.request("POST", "/api/v1/api-keys", json: #"{"name":"x","scopes":["sandboxes:fly"]}"#)
        XCTAssertEqual(unknown.status, 422)
        XCTAssertNotNil(((unknown.object["error"] as? [String: Any])?["details"] as? [String: Any])?["scopes"])
    }

    func testCreatingKeysIsAnAuthEndpoint() throws {
        for i in 0..<3 {
            let r = try server.request("POST", "/api/v1/api-keys", json: #"{"name":"k\#(i)"}"#)
            XCTAssertEqual(r.status, 201)
            XCTAssertEqual(r.header("X-RateLimit-Limit"), "3")
        }
        let limited = try server.request("POST", "/api/v1/api-keys", json: #"{"name":"k4"}"#)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("Retry-After"), "60")
        // Nothing was created by the refused call; reads count as general traffic.
        let list = try server.request("GET", "/api/v1/api-keys")
        XCTAssertEqual(list.header("X-RateLimit-Limit"), "300")
        XCTAssertEqual(list.object["total"] as? Int, 4)  // the fixture key and three new ones
        try server.onLoop { s in s.app.clock.advance(seconds: 60) }
        XCTAssertEqual(try server.request("POST", "/api/v1/api-keys", json: #"{"name":"k5"}"#).status, 201)
    }

    func testScopedTokenExpiresByTheServerClock() throws {
        let ws = "8e2d4c6a-1b3f-4a5d-8c7e-9f0a1b2c3d4e"
        let r = try server.request("POST", "/api/v1/tokens/scoped",
                                   json: #"{"user_id":"u1","workspace_id":"\#(ws)","expires_in_seconds":30,"scopes":["sandboxes:read"]}"#)
        XCTAssertEqual(r.status, 201)
        let data = r.object["data"] as? [String: Any] ?? [:]
        let token = try XCTUnwrap(data["token"] as? String)
        XCTAssertEqual(data["expires_at"] as? String, Time.iso(1_800_000_030))
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes", json: "{}", key: token).status, 403)
        try server.onLoop { s in s.app.clock.advance(seconds: 29) }
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        try server.onLoop { s in s.app.clock.advance(seconds: 1) }
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 401)
        let tooLong = try server.request("POST", "/api/v1/tokens/scoped", json: #"{"user_id":"u","workspace_id":"\#(ws)","expires_in_seconds":86401}"#)
        XCTAssertEqual(tooLong.status, 422)
    }

    func testLastUsedIsWrittenAtMostOnceAMinute() throws {
        let k = try createKey(#"{"name":"used"}"#)
        let token = k["token"] as! String
        let id = k["id"] as! String
        func lastUsed() throws -> String? {
            try server.onLoop { s in try s.app.db.first("SELECT last_used_at FROM api_keys WHERE id = ?", [.text(id)]) { $0.optionalText(0) } ?? nil }
        }
        XCTAssertNil(try lastUsed())
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes", key: token).status, 200)
        XCTAssertEqual(try lastUsed(), Time.iso(1_800_000_000))
        try server.onLoop { s in s.app.clock.advance(seconds: 30) }
        _ = try server.request("GET", "/api/v1/sandboxes", key: token)
        XCTAssertEqual(try lastUsed(), Time.iso(1_800_000_000))
        try server.onLoop { s in s.app.clock.advance(seconds: 31) }
        _ = try server.request("GET", "/api/v1/sandboxes", key: token)
        XCTAssertEqual(try lastUsed(), Time.iso(1_800_000_061))
    }
}

/// The scope grammar and grants, without a server.
final class ScopeRulesTests: XCTestCase {
    func p(_ scopes: [String]) -> Principal { Principal(tenantID: "t", workspaceID: "w", keyID: "k", keyName: "n", scopes: scopes) }

    func testGrants() {
        XCTAssertTrue(p(["*"]).allows("webhooks:write"))
        XCTAssertTrue(p(["sandboxes:write"]).allows("sandboxes:read"))
        XCTAssertFalse(p(["sandboxes:read"]).allows("sandboxes:write"))
        XCTAssertTrue(p(["sandboxes:*"]).allows("sandboxes:write"))
        XCTAssertFalse(p(["sandboxes:*"]).allows("templates:read"))
        XCTAssertTrue(p(["sandboxes:exec"]).allows("sandboxes:exec"))
        XCTAssertTrue(p(["sandboxes:exec"]).allows("sandboxes:read"))
        XCTAssertFalse(p(["sandboxes:exec"]).allows("sandboxes:write"))
        XCTAssertFalse(p(["sandboxes:write"]).allows("sandboxes:exec"))
        XCTAssertTrue(p(["sandboxes:create"]).allows("sandboxes:create"))
        XCTAssertTrue(p(["sandboxes:write"]).allows("sandboxes:create"))
        XCTAssertFalse(p(["sandboxes:create"]).allows("sandboxes:write"))  // create-only cannot delete
        XCTAssertFalse(p(["sandboxes:exec"]).allows("templates:read"))
    }

    func testCoverage() {
        XCTAssertFalse(Scopes.covers(p(["sandboxes:write"]), "sandboxes:exec"))
        XCTAssertTrue(Scopes.covers(p(["sandboxes:write"]), "sandboxes:create"))
        XCTAssertTrue(Scopes.covers(p(["sandboxes:*"]), "sandboxes:exec"))
        XCTAssertFalse(Scopes.covers(p(["sandboxes:write"]), "sandboxes:*"))
        XCTAssertFalse(Scopes.covers(p(["sandboxes:*"]), "*"))
        XCTAssertTrue(Scopes.covers(p(["*"]), "intelligence:*"))
        XCTAssertThrowsError(try Scopes.requireCovered(["sandboxes:read", "api_keys:write"], by: p(["sandboxes:read"])))
    }

    func testKnownScopes() {
        let groups = ["sandboxes", "api_keys"]
        for ok in ["*", "sandboxes:read", "sandboxes:write", "api_keys:*", "sandboxes:exec", "intelligence:*"] {
            XCTAssertTrue(Scopes.isKnown(ok, groups: groups), ok)
        }
        for bad in ["", "sandboxes", "sandboxes:fly", "rockets:read", ":read", "intelligence:read"] {
            XCTAssertFalse(Scopes.isKnown(bad, groups: groups), bad)
        }
        XCTAssertTrue(Scopes.isKnown("templates:build", groups: groups, routeScopes: ["templates:build"]))
    }
}
