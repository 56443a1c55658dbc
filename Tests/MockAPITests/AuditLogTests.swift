import XCTest
import Foundation
import TestSupport
@testable import MockAPI

final class AuditLogTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer { $0.rateLimits.enabled = false } }
    override func tearDown() { server.stop() }

    func sandbox(_ name: String, headers: [(String, String)] = []) throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"\#(name)"}"#, headers: headers)
        XCTAssertEqual(r.status, 201, r.text)
        return (r.object["data"] as? [String: Any])?["id"] as? String ?? ""
    }

    func page(_ query: String) throws -> [String: Any] {
        let r = try server.request("GET", "/api/v1/audit-log?" + query)
        XCTAssertEqual(r.status, 200, r.text)
        return r.object
    }

    func ids(_ page: [String: Any]) -> [String] { (page["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }

    func testCursorPagingWalksNewestFirstAndEndsWithNull() throws {
        var created: [String] = []
        for i in 0..<5 { created.append(try sandbox("audit-\(i)")) }
        var seen: [String] = []
        var resources: [String] = []
        var cursor: String?
        for _ in 0..<5 {
            let p = try page("type=sandbox.created&limit=2" + (cursor.map { "&after=\($0)" } ?? ""))
            let items = p["data"] as? [[String: Any]] ?? []
            XCTAssertEqual(p["total"] as? Int, 5)
            XCTAssertEqual((p["items"] as? [[String: Any]])?.count, items.count, "items mirrors data")
            seen += items.compactMap { $0["id"] as? String }
            resources += items.compactMap { $0["resource_id"] as? String }
            cursor = p["next_cursor"] as? String
            if cursor == nil { break }
            XCTAssertEqual(cursor, items.last?["id"] as? String, "next_cursor is the last item's id")
        }
        XCTAssertNil(cursor)
        XCTAssertEqual(seen.count, 5)
        XCTAssertEqual(Set(seen).count, 5)
        XCTAssertEqual(resources, created.reversed(), "newest first")

        // Page mode walks the same order.
        let second = try page("type=sandbox.created&page=2&per_page=2")
        XCTAssertEqual(ids(second), Array(seen[2..<4]))
        XCTAssertEqual((second["meta"] as? [String: Any])?["per_page"] as? Int, 2)
        XCTAssertEqual(ids(try page("type=sandbox.created&page=3&page_size=2")), [seen[4]])
        XCTAssertEqual((try page("")["page"] as? [String: Any])?["page_size"] as? Int, 100, "the Python SDK's documented default")
        XCTAssertEqual(try server.request("GET", "/api/v1/audit-log?after=nope").status, 400)
        XCTAssertEqual(try server.request("GET", "/api/v1/audit-log?limit=101").status, 400)
    }

    func testEntryShapeAndFilters() throws {
        let id = try sandbox("shape")
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/stop").status, 200)
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)").status, 204)
        let all = try page("resource_id=\(id)")
        let actions = (all["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        XCTAssertEqual(actions, ["sandbox.destroyed", "sandbox.stopped", "sandbox.created"], "ready is a state report, not an action")
        let entry = try XCTUnwrap((all["data"] as? [[String: Any]])?.last)
        XCTAssertEqual(entry["actor_id"] as? String, "a3f1e5d7-2c4b-4e6a-8d9f-0b1c2d3e4f50")
        XCTAssertEqual(entry["actor_type"] as? String, "api_key")
        XCTAssertEqual(entry["resource"] as? String, "sandbox")
        XCTAssertEqual(entry["resource_type"] as? String, "sandbox")
        XCTAssertEqual(entry["created_at"] as? String, entry["inserted_at"] as? String)
        XCTAssertTrue(entry.keys.contains("ip_address"))
        XCTAssertEqual((entry["metadata"] as? [String: Any])?["name"] as? String, "shape")

        XCTAssertEqual(ids(try page("action=sandbox.stopped")).count, 1)
        XCTAssertEqual(ids(try page("type=sandbox.*&resource_id=\(id)")).count, 3)
        XCTAssertEqual(ids(try page("resource=sandbox&actor_id=a3f1e5d7-2c4b-4e6a-8d9f-0b1c2d3e4f50")).count, 3)
        XCTAssertEqual(ids(try page("actor_id=someone-else")).count, 0)
        XCTAssertEqual(ids(try page("since=2999-01-01T00:00:00Z")).count, 0)
        XCTAssertEqual(ids(try page("until=2000-01-01T00:00:00Z")).count, 0)
        XCTAssertEqual(ids(try page("since=2000-01-01T00:00:00Z&resource_id=\(id)")).count, 3)
        XCTAssertEqual(try server.request("GET", "/api/v1/audit-log?since=yesterday").status, 400)
    }

    func testIdempotentReplayAddsNoEntry() throws {
        let key = [("Idempotency-Key", UUID().uuidString)]
        let id = try sandbox("once", headers: key)
        let again = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"once"}"#, headers: key)
        XCTAssertEqual(again.header("Idempotent-Replayed"), "true")
        XCTAssertEqual(ids(try page("resource_id=\(id)&type=sandbox.created")).count, 1)
        XCTAssertEqual(ids(try page("type=sandbox.created")).count, 1)
    }

    func testEntriesRollBackWithTheirAction() throws {
        // An action whose transaction fails leaves no entry (the writer runs inside the publisher's transaction).
        try server.onLoop { s in
            let app = s.app
            _ = try? app.db.transaction { () throws -> Void in
                app.publish("sandbox.updated", tenantID: "5b0c7f1e-3c2a-4d8e-9f10-6a1b2c3d4e5f", resourceType: "sandbox",
                            resourceID: "ghost", data: .object([:]), actorID: nil)
                throw APIError.internalError("rolled back")
            }
        }
        XCTAssertEqual(ids(try page("resource_id=ghost")).count, 0)
        try server.onLoop { s in
            s.app.publish("sandbox.stopped", tenantID: "5b0c7f1e-3c2a-4d8e-9f10-6a1b2c3d4e5f", resourceType: "sandbox",
                          resourceID: "timer", data: .object([:]), actorID: nil)
        }
        let system = try XCTUnwrap((try page("resource_id=timer")["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(system["actor_type"] as? String, "system")
        XCTAssertTrue(system["actor_id"] is NSNull)
    }

    func testMetadataDropsSecretsInAnyCaseAndKeepsTheRest() {
        for k in ["secret", "client_SECRET", "accessToken", "Password2", "share_url", "x-TOKEN-y"] {
            XCTAssertTrue(AuditLogWriter.isSensitive(k), k)
        }
        for k in ["name", "tok", "secre", "passwor", "share", "share_url_x", ""] {
            XCTAssertFalse(AuditLogWriter.isSensitive(k), k)
        }
        let e = DomainEvent(type: "sandbox.created", tenantID: "t", workspaceID: nil, sandboxID: "s", resourceType: "sandbox",
                            resourceID: "s", data: .object(["name": .string("n"), "api_token": .string("x"), "size": .int(2)]),
                            actorID: nil, occurredAt: 0)
        XCTAssertEqual(AuditLogWriter.metadata(e).encodedString, #"{"name":"n","size":2}"#)
    }

    func testAuditIDsAreTimeOrderedVersion7UUIDs() {
        let a = IDs.uuidV7(wallMs: 1_700_000_000_000), b = IDs.uuidV7(wallMs: 1_700_000_000_001)
        for id in [a, b] {
            XCTAssertTrue(IDs.isUUID(id), id)
            let chars = Array(id)
            XCTAssertEqual(chars[14], "7", id)                     // version
            XCTAssertTrue("89ab".contains(chars[19]), id)          // RFC variant
        }
        XCTAssertTrue(a.hasPrefix("018bcfe5-6800-"), a)          // 1_700_000_000_000 ms = 0x018bcfe56800
        XCTAssertLessThan(a, b)
        XCTAssertNotEqual(IDs.uuidV7(wallMs: 5), IDs.uuidV7(wallMs: 5))
    }
}
