import XCTest
import TestSupport
@testable import MockAPI

final class SandboxesTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() { server.stop() }

    func testCreateGetListDelete() throws {
        let created = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"one","metadata":{"k":"v"},"timeout_sec":60}"#)
        XCTAssertEqual(created.status, 201)
        let data = created.object["data"] as? [String: Any] ?? [:]
        let id = try XCTUnwrap(data["id"] as? String)
        XCTAssertTrue(IDs.isUUID(id))
        XCTAssertEqual(data["state"] as? String, "running")
        XCTAssertEqual((data["metadata"] as? [String: Any])?["k"] as? String, "v")
        XCTAssertNotNil(created.header("X-Request-Id"))

        let got = try server.request("GET", "/api/v1/sandboxes/\(id)")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual((got.object["data"] as? [String: Any])?["name"] as? String, "one")

        let list = try server.request("GET", "/api/v1/sandboxes?page_size=1")
        let page = list.object["page"] as? [String: Any] ?? [:]
        XCTAssertEqual(page["page_size"] as? Int, 1)
        XCTAssertEqual(page["total"] as? Int, 1)

        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)").status, 204)
        let after = try server.request("GET", "/api/v1/sandboxes/\(id)")
        XCTAssertEqual((after.object["data"] as? [String: Any])?["state"] as? String, "destroyed")
        XCTAssertEqual((try server.request("GET", "/api/v1/sandboxes").object["page"] as? [String: Any])?["total"] as? Int, 0)
    }

    func testValidationNamesEachField() throws {
        let r = try server.request("POST", "/api/v1/sandboxes", json: #"{"name": 5, "timeout_sec": "x", "size": "huge"}"#)
        XCTAssertEqual(r.status, 422)
        let err = r.object["error"] as? [String: Any] ?? [:]
        XCTAssertEqual(err["code"] as? String, "validation_error")
        let details = err["details"] as? [String: Any] ?? [:]
        XCTAssertEqual(Set(details.keys), ["name", "timeout_sec", "size"])
        XCTAssertEqual(r.object["request_id"] as? String, r.header("X-Request-Id"))
    }

    func testInvalidTransitionIsConflict() throws {
        let id = try XCTUnwrap((try server.request("POST", "/api/v1/sandboxes", json: "{}").object["data"] as? [String: Any])?["id"] as? String)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/resume").status, 409)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/stop").status, 200)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/stop").status, 409)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/resume").status, 200)
    }

    func testBootDelayKeepsCreatingThenRunning() throws {
        server.stop()
        server = try TestServer { $0.bootDelayMs = 150 }
        let data = try XCTUnwrap(try server.request("POST", "/api/v1/sandboxes", json: "{}").object["data"] as? [String: Any])
        XCTAssertEqual(data["state"] as? String, "creating")
        let id = try XCTUnwrap(data["id"] as? String)
        let ready = try server.request("GET", "/api/v1/sandboxes/\(id)/readiness/stream")
        XCTAssertTrue(ready.text.contains("event: ready"), ready.text)
        XCTAssertEqual((try server.request("GET", "/api/v1/sandboxes/\(id)").object["data"] as? [String: Any])?["state"] as? String, "running")
    }
}
