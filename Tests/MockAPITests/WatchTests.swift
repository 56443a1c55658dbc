import XCTest
import TestSupport
@testable import MockAPI

/// `GET /sandboxes/{id}/files/watch` against a live server: changes written on disk in the sandbox arrive
/// as frames; watches are shared and closed with their last subscriber or their sandbox.
final class WatchTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer { $0.watchDebounceMs = 5 } }
    override func tearDown() { server?.stop() }

    func createSandbox() throws -> (id: String, workspace: String) {
        let r = try server.request("POST", "/api/v1/sandboxes", json: "{}")
        let id = try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String)
        return (id, try server.onLoop { try SandboxPaths.materialize($0.app, id) + "/workspace" })
    }

    func watchCount() throws -> Int { try server.onLoop { $0.app.service(WatchHub.self)!.watchCount } }

    func testWatchReportsDiskChangesInAPIForm() throws {
        let (id, ws) = try createSandbox()
        let c = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/files/watch?path=/workspace")
        XCTAssertEqual(c.status, 200)
        XCTAssertEqual(c.header("Content-Type"), "text/event-stream")
        try FileManager.default.createDirectory(atPath: ws + "/src", withIntermediateDirectories: true)
        try Data("print(1)\n".utf8).write(to: URL(fileURLWithPath: ws + "/src/app.py"))
        var frames = try c.events { $0.contains { $0.json["path"] as? String == "/workspace/src/app.py" } }
        let created = try XCTUnwrap(frames.first { $0.json["path"] as? String == "/workspace/src/app.py" })
        XCTAssertEqual(created.event, "created")
        XCTAssertEqual(created.json["event"] as? String, "created")
        XCTAssertEqual(created.json["type"] as? String, "created")
        XCTAssertEqual(created.json["is_dir"] as? Bool, false)
        XCTAssertEqual(created.json["size_bytes"] as? Int, 9)
        XCTAssertEqual(frames.first?.json["path"] as? String, "/workspace/src")
        XCTAssertEqual(frames.first?.json["is_dir"] as? Bool, true)

        try FileManager.default.moveItem(atPath: ws + "/src/app.py", toPath: ws + "/main.py")
        frames = try c.events { $0.contains { $0.event == "renamed" } }
        let renamed = try XCTUnwrap(frames.first { $0.event == "renamed" })
        XCTAssertEqual(renamed.json["path"] as? String, "/workspace/main.py")
        XCTAssertEqual(renamed.json["old_path"] as? String, "/workspace/src/app.py")
        try FileManager.default.removeItem(atPath: ws + "/main.py")
        XCTAssertTrue(try c.events { $0.contains { $0.event == "deleted" } }.contains { $0.json["path"] as? String == "/workspace/main.py" })
    }

    func testWatchingOneFileFiltersItsDirectory() throws {
        let (id, ws) = try createSandbox()
        try Data("a".utf8).write(to: URL(fileURLWithPath: ws + "/one.txt"))
        let c = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/files/watch?path=one.txt")
        try Data("b".utf8).write(to: URL(fileURLWithPath: ws + "/other.txt"))
        try Data("ab".utf8).write(to: URL(fileURLWithPath: ws + "/one.txt"))
        let frames = try c.events { !$0.isEmpty }
        XCTAssertEqual(frames.map { $0.json["path"] as? String }, ["/workspace/one.txt"])
        XCTAssertEqual(frames[0].event, "modified")
    }

    func testWatchesAreSharedAndClosedWithTheLastSubscriberOrTheSandbox() throws {
        let (id, ws) = try createSandbox()
        var a: SSETestClient? = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/files/watch")
        let b = try SSETestClient(port: server.port, path: "/api/v1/sandboxes/\(id)/files/watch?path=/workspace")
        XCTAssertEqual(try watchCount(), 1, "one watch for both subscribers")
        try Data().write(to: URL(fileURLWithPath: ws + "/x"))
        XCTAssertEqual(try a?.events { !$0.isEmpty }.first?.json["path"] as? String, "/workspace/x")
        XCTAssertEqual(try b.events { !$0.isEmpty }.first?.json["path"] as? String, "/workspace/x")
        a = nil
        XCTAssertTrue(try eventually { try server.onLoop { $0.app.service(SSEHub.self)!.channelCount } == 1 })
        XCTAssertEqual(try watchCount(), 1)
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)").status, 204)
        XCTAssertTrue(b.ended(), "the sandbox went: its watch streams end")
        XCTAssertEqual(try watchCount(), 0)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)/files/watch").status, 409)
    }

    func testWatchErrors() throws {
        let (id, _) = try createSandbox()
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)/files/watch?path=/workspace/missing").status, 404)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)/files/watch?path=../../etc").status, 400)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/00000000-0000-4000-8000-000000000000/files/watch").status, 404)
        XCTAssertTrue(try eventually { try watchCount() == 0 })
    }
}
