import XCTest
@testable import MockAPI

final class JSONTests: XCTestCase {
    func testRoundTripKeepsOrderAndTypes() throws {
        let text = #"{"b":1,"a":[true,false,null],"s":"x\"y\\z\n\u0001é😀","d":1.5,"neg":-42,"o":{}}"#
        let v = try JSON.parse(text)
        XCTAssertEqual(v.object?.keys, ["b", "a", "s", "d", "neg", "o"])
        XCTAssertEqual(v["b"], .int(1))
        XCTAssertEqual(v["d"], .double(1.5))
        XCTAssertEqual(v["s"]?.string, "x\"y\\z\n\u{1}é😀")
        XCTAssertEqual(try JSON.parse(v.encodedString), v)
        XCTAssertEqual(JSON.string("a\u{1}").encodedString, #""a\u0001""#)
    }

    func testSurrogatePairsAndLargeNumbers() throws {
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00""#).string, "😀")
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSON.parse("1e3").int, 1000)
        XCTAssertEqual(JSON.int(Int64.min).encodedString, "-9223372036854775808")
        XCTAssertEqual(JSON.double(.infinity).encodedString, "null")
    }

    func testRejectsMalformedInput() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "tru", "\"\u{1}\"", "1 2", "{\"a\":1,}", "-", "1.", "\"abc"] {
            XCTAssertThrowsError(try JSON.parse(bad), "accepted \(bad.debugDescription)")
        }
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        XCTAssertThrowsError(try JSON.parse(deep))
    }
}

final class RouterTests: XCTestCase {
    func testLiteralBeatsParamBeatsCatchAll() {
        let r = Router()
        r.add("GET", "/s/{id}") { _ in .noContent }
        r.add("GET", "/s/by-name/{name}") { _ in .noContent }
        r.add("GET", "/s/{id}/files/*path") { _ in .noContent }
        r.add("GET", "/s/{id}/files/tree") { _ in .noContent }
        r.add("POST", "/s/{id}/files/stat") { _ in .noContent }

        func pattern(_ m: String, _ p: String) -> String? {
            if case .found(let route, _) = r.match(method: m, path: Substring(p)) { return route.pattern }
            return nil
        }
        XCTAssertEqual(pattern("GET", "/s/by-name/x"), "/s/by-name/{name}")
        XCTAssertEqual(pattern("GET", "/s/abc"), "/s/{id}")
        XCTAssertEqual(pattern("GET", "/s/abc/files/tree"), "/s/{id}/files/tree")
        XCTAssertEqual(pattern("GET", "/s/abc/files/stat"), "/s/{id}/files/*path")  // GET falls through to download
        XCTAssertEqual(pattern("POST", "/s/abc/files/stat"), "/s/{id}/files/stat")
        XCTAssertEqual(pattern("HEAD", "/s/abc"), "/s/{id}")
        if case .found(_, let params) = r.match(method: "GET", path: "/s/a%20b/files/dir/x%23y.txt") {
            XCTAssertEqual(params, ["id": "a b", "path": "dir/x#y.txt"])
        } else { XCTFail("no match") }
        if case .methodNotAllowed(let allow) = r.match(method: "DELETE", path: "/s/abc") {
            XCTAssertEqual(allow, ["GET", "HEAD"])
        } else { XCTFail("expected 405") }
        if case .notFound = r.match(method: "GET", path: "/nope") {} else { XCTFail("expected 404") }
    }
}

final class FixturesTests: XCTestCase {
    /// The embedded default must be the file users read and edit.
    func testEmbeddedDefaultMatchesFixturesFile() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../fixtures/default.json")
        let onDisk = try String(contentsOf: url.standardizedFileURL, encoding: .utf8)
        XCTAssertEqual(try JSON.parse(onDisk), try JSON.parse(Fixtures.defaultDocument))
        XCTAssertEqual(Fixtures.firstKey(try JSON.parse(onDisk)), "msk_live_miosamock_default_key_0000000001")
    }

    func testPathConfinement() throws {
        XCTAssertEqual(try SandboxPaths.normalize("app.py"), "/workspace/app.py")
        XCTAssertEqual(try SandboxPaths.normalize("/workspace/./a//b"), "/workspace/a/b")
        for bad in ["/etc/passwd", "/workspace/../etc", "../x", "", "/workspacex/a"] {
            XCTAssertThrowsError(try SandboxPaths.normalize(bad), bad) { e in
                XCTAssertEqual((e as? APIError)?.code, "invalid_path")
            }
        }
    }
}
