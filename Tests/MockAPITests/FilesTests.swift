import XCTest
import Foundation
import TestSupport
@testable import MockAPI

final class FilesTests: XCTestCase {
    var server: TestServer!
    var outside: String!

    override func setUpWithError() throws {
        server = try TestServer()
        outside = NSTemporaryDirectory() + "miosa-files-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        server.stop()
        try? FileManager.default.removeItem(atPath: outside)
    }

    func createSandbox() throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: "{}")
        return try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String)
    }

    func workspace(_ id: String) throws -> String { try server.onLoop { try SandboxPaths.materialize($0.app, id) + "/workspace" } }

    func write(_ id: String, _ path: String, _ content: String) throws -> RawHTTPClient.Response {
        try server.request("POST", "/api/v1/sandboxes/\(id)/fs/write", json: #"{"path":"\#(path)","content":"\#(content)"}"#)
    }

    func code(_ r: RawHTTPClient.Response) -> String? { (r.object["error"] as? [String: Any])?["code"] as? String }

    func testNormalizeRefusesDotDotAndPathsOutsideTheMounts() throws {
        XCTAssertEqual(try SandboxPaths.normalize("app.py"), "/workspace/app.py")
        XCTAssertEqual(try SandboxPaths.normalize("/workspace/./a//b/"), "/workspace/a/b")
        XCTAssertEqual(try SandboxPaths.normalize("/home/user/.bashrc"), "/home/user/.bashrc")
        XCTAssertEqual(try SandboxPaths.normalize("/tmp"), "/tmp")
        for bad in ["", "../x", "/workspace/../etc/passwd", "a/../../b", "/etc/passwd", "/home/other", "/workspacex/a", "/", "a\u{0}b"] {
            XCTAssertThrowsError(try SandboxPaths.normalize(bad), bad) { e in XCTAssertEqual((e as? APIError)?.code, "invalid_path", bad) }
        }
        XCTAssertEqual(SandboxPaths.fromURLPath("workspace/a b"), "/workspace/a b")
        XCTAssertEqual(SandboxPaths.fromURLPath("home/user/x"), "/home/user/x")
        XCTAssertEqual(SandboxPaths.fromURLPath("app.py"), "app.py")
    }

    func testRequestsWithDotDotOrOutsidePathsAreInvalidPath() throws {
        let id = try createSandbox()
        for bad in ["../escape.txt", "/workspace/../../escape.txt", "/etc/passwd"] {
            let r = try write(id, bad, "x")
            XCTAssertEqual(r.status, 400, bad)
            XCTAssertEqual(code(r), "invalid_path", bad)
        }
        let r = try server.request("GET", "/api/v1/sandboxes/\(id)/files/workspace/%2E%2E/%2E%2E/x")
        XCTAssertEqual(code(r), "invalid_path")
        XCTAssertFalse(FileManager.default.fileExists(atPath: try workspace(id) + "/../escape.txt"))
    }

    func testSymlinkPlantedOutOfTheRootIsRefused() throws {
        let id = try createSandbox()
        let ws = try workspace(id)
        try FileManager.default.createSymbolicLink(atPath: ws + "/escape", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: ws + "/direct", withDestinationPath: outside + "/secret.txt")
        let read = try server.request("GET", "/api/v1/sandboxes/\(id)/fs/download?path=/workspace/escape/secret.txt")
        XCTAssertEqual(read.status, 400)
        XCTAssertEqual(code(read), "invalid_path")
        XCTAssertEqual(code(try server.request("GET", "/api/v1/sandboxes/\(id)/fs/download?path=/workspace/direct")), "invalid_path")
        XCTAssertEqual(code(try write(id, "/workspace/escape/planted.txt", "x")), "invalid_path")
        XCTAssertEqual(code(try write(id, "/workspace/direct", "overwritten")), "invalid_path")
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside + "/planted.txt"))
        XCTAssertEqual(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8), "secret")
        let tree = try server.request("GET", "/api/v1/sandboxes/\(id)/files/tree?path=/workspace&depth=5")
        XCTAssertEqual(tree.status, 200)
        XCTAssertFalse(tree.text.contains("secret.txt"), "the tree must not follow a link out of the sandbox")
        // Deleting the link removes the link, never its target.
        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)/files?path=/workspace/escape").status, 204)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside + "/secret.txt"))
    }

    func testDanglingSymlinkIsNotFollowedByAWrite() throws {
        let id = try createSandbox()
        let ws = try workspace(id)
        try FileManager.default.createSymbolicLink(atPath: ws + "/dangling", withDestinationPath: outside + "/made-by-write.txt")
        try FileManager.default.createSymbolicLink(atPath: ws + "/dangling-dir", withDestinationPath: outside + "/newdir")
        XCTAssertEqual(code(try write(id, "/workspace/dangling", "x")), "invalid_path")
        XCTAssertEqual(code(try write(id, "/workspace/dangling-dir/f.txt", "x")), "invalid_path")
        let mk = try server.request("POST", "/api/v1/sandboxes/\(id)/files/mkdir", json: #"{"path":"/workspace/dangling-dir/sub"}"#)
        XCTAssertEqual(code(mk), "invalid_path")
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside + "/made-by-write.txt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside + "/newdir"))
    }

    func testControlCharactersInANameNeverReachAHeader() throws {
        let id = try createSandbox()
        XCTAssertEqual(try write(id, #"/workspace/evil\r\nSet-Cookie: x=1\".txt"#, "payload").status, 200)
        let r = try server.request("GET", "/api/v1/sandboxes/\(id)/fs/download?path=/workspace/evil%0D%0ASet-Cookie:%20x=1%22.txt")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "payload")
        XCTAssertNil(r.header("Set-Cookie"))
        XCTAssertEqual(r.header("Content-Disposition"), "attachment; filename=\"evilSet-Cookie: x=1.txt\"")
    }

    func testUploadOver10MBIs413AndExactly10MBIsAccepted() throws {
        let id = try createSandbox()
        let limit = 10 * 1024 * 1024
        let over = FileContent.base64Encode([UInt8](repeating: 7, count: limit + 1))
        let r = try server.request("POST", "/api/v1/sandboxes/\(id)/fs/write", json: #"{"path":"big.bin","content_base64":"\#(over)"}"#)
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(code(r), "payload_too_large")
        XCTAssertFalse(FileManager.default.fileExists(atPath: try workspace(id) + "/big.bin"))
        let exact = FileContent.base64Encode([UInt8](repeating: 7, count: limit))
        let ok = try server.request("POST", "/api/v1/sandboxes/\(id)/files", json: #"{"path":"big.bin","content":"\#(exact)"}"#)
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: try workspace(id) + "/big.bin")[.size] as? NSNumber)?.intValue, limit)
        // Multipart counts decoded file bytes too.
        let boundary = "zz"
        var body = Array("--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.bin\"\r\n\r\n".utf8)
        body += [UInt8](repeating: 1, count: limit + 1) + Array("\r\n--zz--\r\n".utf8)
        let c = try RawHTTPClient(port: server.port)
        try c.send("POST /api/v1/computers/\(id)/files/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.key)\r\n" +
                   "Content-Type: multipart/form-data; boundary=\(boundary)\r\nContent-Length: \(body.count)\r\n\r\n")
        try c.send(body)
        let mr = try c.readResponse()
        XCTAssertEqual(mr.status, 413)
        XCTAssertEqual(code(mr), "payload_too_large")
    }

    func testAPIWritesPublishFileEvents() throws {
        final class Box { var events: [DomainEvent] = [] }
        let box = Box()
        try server.onLoop { s in s.app.subscribe { e in if e.type.hasPrefix("file.") { box.events.append(e) } } }
        let id = try createSandbox()
        XCTAssertEqual(try write(id, "/workspace/e.txt", "abc").status, 200)
        XCTAssertEqual(try write(id, "/workspace/e.txt", "abcd").status, 200)
        _ = try server.request("POST", "/api/v1/sandboxes/\(id)/files/rename", json: #"{"from":"/workspace/e.txt","to":"/workspace/f.txt"}"#)
        _ = try server.request("POST", "/api/v1/sandboxes/\(id)/files/mkdir", json: #"{"path":"/workspace/d"}"#)
        _ = try server.request("DELETE", "/api/v1/sandboxes/\(id)/files", json: #"{"path":"/workspace/f.txt"}"#)
        let events = try server.onLoop { _ in box.events }
        XCTAssertEqual(events.map(\.type), ["file.created", "file.modified", "file.renamed", "file.created", "file.deleted"])
        XCTAssertEqual(events.map { $0.data["path"]?.string }, ["/workspace/e.txt", "/workspace/e.txt", "/workspace/f.txt", "/workspace/d", "/workspace/f.txt"])
        XCTAssertEqual(events[1].data["size_bytes"], .int(4))
        XCTAssertEqual(events[2].data["old_path"]?.string, "/workspace/e.txt")
        XCTAssertEqual(events[3].data["is_dir"], .bool(true))
        XCTAssertTrue(events.allSatisfy { $0.sandboxID == id })
    }

    func testPreviewTokensAndSnapshotsExpireOnTheMockClock() throws {
        let id = try createSandbox()
        _ = try write(id, "/workspace/index.html", "hi")
        let tok = try server.request("POST", "/api/v1/sandboxes/\(id)/preview-token", json: #"{"expires_in":60}"#)
        let token = try XCTUnwrap(tok.object["token"] as? String)
        let url = "/api/v1/preview/\(id)/?mt=\(token)"
        XCTAssertEqual(try server.request("GET", url, key: nil).text, "hi")
        let snap = try server.request("POST", "/api/v1/sandboxes/\(id)/snapshots", json: #"{"retention_seconds":3600}"#)
        let snapID = try XCTUnwrap((snap.object["data"] as? [String: Any])?["id"] as? String)
        try server.onLoop { $0.app.clock.advance(seconds: 61) }
        let expired = try server.request("GET", url, key: nil)
        XCTAssertEqual(expired.status, 410)
        XCTAssertEqual(code(expired), "preview_expired")
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/restore/\(snapID)", json: "{}").status, 201)
        try server.onLoop { $0.app.clock.advance(seconds: 3600) }
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/restore/\(snapID)", json: "{}").status, 404)
        let list = try server.request("GET", "/api/v1/sandboxes/\(id)/snapshots")
        XCTAssertEqual((list.object["data"] as? [Any])?.count, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: try server.onLoop { SnapshotStore.dir($0.app, snapID) }))
    }
}
