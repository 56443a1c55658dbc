import XCTest
import TestSupport
import Store
@testable import MockAPI

/// `SandboxRecord.encode(now:into:)` (the read path) must write exactly what `json(now:)` encodes to, and
/// `listReply` exactly what `Envelope.list` encodes to. If this fails after a change to `json(now:)`, make the
/// same change in `encode(now:into:)`.
final class SandboxEncodingTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() { server.stop() }

    func create(_ json: String) throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: json)
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String)
    }

    func body(_ reply: Reply) -> [UInt8] {
        if case .bytes(let status, let type, let bytes, let headers) = reply {
            XCTAssertEqual(status, 200)
            XCTAssertEqual(type, "application/json")
            XCTAssertTrue(headers.isEmpty)
            return bytes
        }
        XCTFail("not a bytes reply")
        return []
    }

    func testFastEncodingMatchesTheJSONTreeForVariedRecords() throws {
        _ = try create("{}")
        _ = try create(#"{"name":"q\"uo\\te\n\u0001é😀","slug":"s-1","metadata":{"a":[1,2.5,null,true],"b":{"c":"d"}},"tags":["x","y"],"#
                       + #""timeout_sec":600,"external_user_id":"u","workspace_slug":"ws","project_name":"P","size":"large","region":"eu"}"#)
        _ = try create(#"{"cpu_count":3,"memory_mb":3000,"disk_size_mb":5000,"always_on":true,"persistent":true,"idle_timeout_sec":5}"#)
        let stopped = try create(#"{"name":"stopped"}"#)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(stopped)/stop").status, 200)
        let gone = try create(#"{"name":"gone","timeout_sec":30}"#)
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(gone)").status, 204)
        let odd = try create(#"{"name":"odd"}"#)
        let compared: Int = try server.onLoop { s in
            let db = s.app.db
            // Values the API would not write: stored JSON that is not canonical, NULL region, a past deadline.
            try db.run("UPDATE sandboxes SET metadata = ?, tags = ?, region = NULL, deadline = ?, started_at = NULL WHERE id = ?",
                       [.text(#"{ "k" : 1e2, "u": "\u00e9" }"#), .text("not json"), .double(1.0), .text(odd)])
            var n = 0
            try db.forEach(SandboxRecord.select + " ORDER BY s.rowid") { st in
                let r = SandboxRecord(st)
                for now in [s.app.now, s.app.now + 3600, 0] {
                    let tree = Envelope.data(r.json(now: now)).encoded()
                    XCTAssertEqual(String(decoding: self.body(r.okReply(now: now)), as: UTF8.self), String(decoding: tree, as: UTF8.self))
                    var item: [UInt8] = []
                    r.encode(now: now, into: &item)
                    XCTAssertEqual(item, r.json(now: now).encoded())
                }
                n += 1
                return true
            }
            return n
        }
        XCTAssertEqual(compared, 6)
    }

    func testListReplyMatchesTheEnvelope() throws {
        for i in 0..<3 { _ = try create(#"{"name":"l\#(i)"}"#) }
        try server.onLoop { s in
            var records: [SandboxRecord] = []
            try s.app.db.forEach(SandboxRecord.select + " ORDER BY s.rowid") { records.append(SandboxRecord($0)); return true }
            let now = s.app.now
            for count in [0, 1, 3] {
                let page = Page(page: 2, pageSize: 7)
                var items: [UInt8] = []
                for r in records.prefix(count) {
                    if !items.isEmpty { items.append(0x2c) }
                    r.encode(now: now, into: &items)
                }
                let tree = Envelope.list(records.prefix(count).map { $0.json(now: now) }, page: page, total: 42).encoded()
                XCTAssertEqual(String(decoding: self.body(SandboxRecord.listReply(encodedItems: items, page: page, total: 42)), as: UTF8.self),
                               String(decoding: tree, as: UTF8.self))
            }
        }
        let list = try server.request("GET", "/api/v1/sandboxes?page_size=2")
        XCTAssertEqual((list.object["data"] as? [Any])?.count, 2)
        XCTAssertEqual(list.header("Content-Type"), "application/json")
    }

    /// A GET encodes straight from the SQLite row (`okReply(db, id:, tenantID:, now:)`): the same bytes as the
    /// loaded record, including values only a hand-edited store has (invalid UTF-8, escapes, a custom size,
    /// a non-ASCII size, integers stored in text columns).
    func testRowEncodingMatchesTheRecord() throws {
        _ = try create("{}")
        _ = try create(#"{"name":"q\"uo\\te\n\u0001é😀","slug":"s-1","metadata":{"a":[1,2.5,null,true]},"tags":["x"],"#
                       + #""timeout_sec":600,"external_user_id":"u","workspace_slug":"ws","project_name":"P","size":"large"}"#)
        _ = try create(#"{"cpu_count":3,"memory_mb":3000,"disk_size_mb":5000,"always_on":true,"idle_timeout_sec":5}"#)
        let stopped = try create(#"{"name":"stopped"}"#)
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(stopped)/stop").status, 200)
        let gone = try create(#"{"name":"gone","timeout_sec":30}"#)
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(gone)").status, 204)
        let odd = try create(#"{"name":"odd"}"#)
        let odder = try create(#"{"name":"odder"}"#)
        let compared: Int = try server.onLoop { s in
            let db = s.app.db
            try db.run("""
                UPDATE sandboxes SET name = CAST(X'FF41C3' AS TEXT), slug = 42, size = 'größe', region = NULL,
                    metadata = ?, tags = ?, deadline = ?, started_at = 'not a time' WHERE id = ?
                """, [.text(#"{ "k" : 1e2 }"#), .text("not json"), .double(1.0), .text(odd)])
            try db.run("UPDATE sandboxes SET size = 'custom', external_project_id = 'tab\there', stopped_at = '2020-01-01T00:00:00Z', state = 'stopped' WHERE id = ?",
                       [.text(odder)])
            var records: [SandboxRecord] = []
            try db.forEach(SandboxRecord.select + " ORDER BY s.rowid") { records.append(SandboxRecord($0)); return true }
            for r in records {
                for now in [s.app.now, s.app.now + 3600, 0] {
                    let row = self.body(try SandboxRecord.okReply(db, id: r.id, tenantID: r.tenantID, now: now))
                    XCTAssertEqual(String(decoding: row, as: UTF8.self), String(decoding: self.body(r.okReply(now: now)), as: UTF8.self))
                    XCTAssertEqual(row, self.body(r.okReply(now: now)))
                }
            }
            XCTAssertThrowsError(try SandboxRecord.okReply(db, id: records[0].id, tenantID: "another-tenant", now: 0))
            return records.count
        }
        XCTAssertEqual(compared, 7)
    }
}
