import XCTest
import TestSupport
@testable import MockAPI

/// Workspaces (reuse by external id, name conflicts, the protected default), tenant settings validation.
final class WorkspacesTests: XCTestCase {
    var server: TestServer!
    let defaultWS = "8e2d4c6a-1b3f-4a5d-8c7e-9f0a1b2c3d4e"

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() { server.stop() }

    func testReuseByExternalWorkspaceID() throws {
        let first = try server.request("POST", "/api/v1/workspaces", json: #"{"name":"@alex","external_workspace_id":"cust_1041"}"#)
        XCTAssertEqual(first.status, 201)
        XCTAssertEqual(first.object["reused"] as? Bool, false)
        let id = try XCTUnwrap(first.object["id"] as? String)
        XCTAssertEqual((first.object["data"] as? [String: Any])?["id"] as? String, id)  // E+B

        let again = try server.request("POST", "/api/v1/workspaces", json: #"{"name":"whatever","external_workspace_id":"cust_1041"}"#)
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.object["reused"] as? Bool, true)
        XCTAssertEqual(again.object["id"] as? String, id)
        XCTAssertEqual(again.object["name"] as? String, "@alex")
        let count = try server.onLoop { s in try s.app.db.scalarInt("SELECT COUNT(*) FROM workspaces WHERE external_workspace_id = 'cust_1041'") }
        XCTAssertEqual(count, 1)
    }

    func testNameConflictUnlessDuplicatesAllowed() throws {
        XCTAssertEqual(try server.request("POST", "/api/v1/workspaces", json: #"{"name":"Ops"}"#).status, 201)
        let dup = try server.request("POST", "/api/v1/workspaces", json: #"{"name":"Ops"}"#)
        XCTAssertEqual(dup.status, 409)
        let err = dup.object["error"] as? [String: Any] ?? [:]
        XCTAssertEqual(err["code"] as? String, "WORKSPACE_NAME_EXISTS")
        XCTAssertEqual((err["existing"] as? [String: Any])?["name"] as? String, "Ops")
        let twin = try server.request("POST", "/api/v1/workspaces", json: #"{"name":"Ops","allow_duplicate_name":true}"#)
        XCTAssertEqual(twin.status, 201)
        XCTAssertEqual(twin.object["slug"] as? String, "ops-2")
    }

    func testDefaultWorkspaceIsProtectedAndOthersHandTheirSandboxesBack() throws {
        XCTAssertEqual(try server.request("DELETE", "/api/v1/workspaces/\(defaultWS)").status, 409)
        let ws = try XCTUnwrap(try server.request("POST", "/api/v1/workspaces", json: #"{"name":"Temp","metadata":{"n":1}}"#).object["id"] as? String)
        let sb = try server.request("POST", "/api/v1/sandboxes", json: #"{"workspace_id":"\#(ws)"}"#)
        let sid = try XCTUnwrap((sb.object["data"] as? [String: Any])?["id"] as? String)
        let computers = try server.request("GET", "/api/v1/workspaces/\(ws)/computers")
        let items = computers.object["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.map { $0["id"] as? String }, [sid])
        XCTAssertEqual(items.first?["status"] as? String, "running")
        XCTAssertEqual(try server.request("DELETE", "/api/v1/workspaces/\(ws)").status, 204)
        XCTAssertEqual(try server.request("GET", "/api/v1/workspaces/\(ws)").status, 404)
        let moved = try server.request("GET", "/api/v1/sandboxes/\(sid)").object["data"] as? [String: Any]
        XCTAssertEqual(moved?["workspace_id"] as? String, defaultWS)
    }

    func testBrandingAndPreviewDomainValidation() throws {
        let bad = try server.request("PUT", "/api/v1/tenant/branding", json: ##"{"primary_color":"#12345","support_url":"mailto:x"}"##)
        XCTAssertEqual(bad.status, 422)
        let details = (bad.object["error"] as? [String: Any])?["details"] as? [String: Any] ?? [:]
        XCTAssertEqual(Set(details.keys), ["primary_color", "support_url"])
        let ok = try server.request("PUT", "/api/v1/tenant/branding", json: ##"{"branding":{"primary_color":"#A1b2C3"}}"##)
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.object["primary_color"] as? String, "#A1b2C3")
        XCTAssertEqual(try server.request("PUT", "/api/v1/tenant/preview-domain", json: #"{"preview_domain":"-bad-.com"}"#).status, 422)
        XCTAssertEqual(try server.request("POST", "/api/v1/tenant/preview-domain/verify").status, 409)
    }
}

/// Syntax checks for settings values, without a server.
final class SettingsValidationTests: XCTestCase {
    func testChecks() {
        XCTAssertTrue(Validate.hexColor("#00ffAA"))
        for bad in ["00ffaa", "#00ffa", "#00ffaag", "#gggggg", ""] { XCTAssertFalse(Validate.hexColor(bad), bad) }
        for ok in ["https://cdn.example.com/logo.png", "http://localhost:8080/x", "https://a.b?x=1"] { XCTAssertTrue(Validate.httpURL(ok), ok) }
        for bad in ["ftp://x.com", "https://", "https://exa mple.com", "javascript:alert(1)", "https://x.com:99999"] {
            XCTAssertFalse(Validate.httpURL(bad), bad)
        }
        XCTAssertTrue(Validate.email("help@example.com"))
        for bad in ["help", "@example.com", "a@b", "a b@example.com"] { XCTAssertFalse(Validate.email(bad), bad) }
        XCTAssertTrue(Validate.hostname("previews.example.com"))
        for bad in ["localhost", "a..com", "-a.com", "a-.com", "ex ample.com"] { XCTAssertFalse(Validate.hostname(bad), bad) }
    }
}
