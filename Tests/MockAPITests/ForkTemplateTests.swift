import XCTest
import Foundation
import TestSupport
@testable import MockAPI

final class ForkTemplateTests: XCTestCase {
    var server: TestServer!
    var dir: String!

    override func setUpWithError() throws {
        // A fixtures file with its own templates/ folder next to it: seeding looks there first.
        dir = NSTemporaryDirectory() + "miosa-seed-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/templates/custom/src", withIntermediateDirectories: true)
        try "seeded".write(toFile: dir + "/templates/custom/src/hello.txt", atomically: true, encoding: .utf8)
        let doc = """
            {"tenants": [{"id": "5b0c7f1e-3c2a-4d8e-9f10-6a1b2c3d4e5f", "name": "T",
              "api_keys": [{"name": "k", "key": "\(TestServer.key)", "scopes": ["*"]}]}],
             "templates": [{"id": "custom", "name": "Custom"}, {"id": "miosa-sandbox", "name": "Default"}]}
            """
        try doc.write(toFile: dir + "/fixtures.json", atomically: true, encoding: .utf8)
        let path = dir + "/fixtures.json"
        server = try TestServer { $0.fixturesPath = path }
    }

    override func tearDown() {
        server.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func data(_ r: RawHTTPClient.Response) -> [String: Any] { r.object["data"] as? [String: Any] ?? [:] }

    func testTemplateFolderNextToTheFixturesSeedsTheWorkspace() throws {
        let id = try XCTUnwrap(data(try server.request("POST", "/api/v1/sandboxes", json: #"{"template_id":"custom"}"#))["id"] as? String)
        let r = try server.request("GET", "/api/v1/sandboxes/\(id)/fs/download?path=/workspace/src/hello.txt")
        XCTAssertEqual(r.text, "seeded")
        let plain = try XCTUnwrap(data(try server.request("POST", "/api/v1/sandboxes", json: "{}"))["id"] as? String)
        let list = data(try server.request("GET", "/api/v1/sandboxes/\(plain)/files?path=/workspace"))
        XCTAssertEqual((list["entries"] as? [Any])?.count, 0)
        try server.onLoop { s in
            XCTAssertNotNil(TemplateSeed.folder(s.app, template: "custom"))
            XCTAssertNil(TemplateSeed.folder(s.app, template: "../custom"))
            XCTAssertNil(TemplateSeed.folder(s.app, template: ".."))
        }
    }

    func testForkPublishesCreatedAndReadyAndCopiesEnv() throws {
        final class Box { var events: [(String, String?)] = [] }
        let box = Box()
        try server.onLoop { s in s.app.subscribe { e in if e.type.hasPrefix("sandbox.") { box.events.append((e.type, e.sandboxID)) } } }
        let src = try XCTUnwrap(data(try server.request("POST", "/api/v1/sandboxes",
                                                        json: #"{"name":"src","env":{"FROM_CREATE":"1"},"metadata":{"k":"v"}}"#))["id"] as? String)
        XCTAssertEqual(try server.request("PUT", "/api/v1/sandboxes/\(src)/env",
                                          json: #"{"vars":[{"key":"S","value":"x","encrypted":true}]}"#).status, 200)
        let r = try server.request("POST", "/api/v1/sandboxes/\(src)/fork", json: #"{"env":{"EXTRA":"2"}}"#)
        XCTAssertEqual(r.status, 201)
        let fork = try XCTUnwrap(r.object["id"] as? String)
        XCTAssertEqual(r.object["status"] as? String, "running")
        XCTAssertEqual(r.object["name"] as? String, "src-fork")
        XCTAssertEqual((r.object["metadata"] as? [String: Any])?["k"] as? String, "v")
        let events = try server.onLoop { _ in box.events.filter { $0.1 == fork }.map(\.0) }
        XCTAssertEqual(events, ["sandbox.created", "sandbox.ready"])
        // The copied secret keeps its real value underneath the mask (commands read the table).
        let rows = try server.onLoop { s in try EnvAPI.rows(s.app.db, fork).map { "\($0.key)=\($0.value):\($0.encrypted)" } }
        XCTAssertEqual(rows, ["EXTRA=2:false", "FROM_CREATE=1:false", "S=x:true"])
    }
}
