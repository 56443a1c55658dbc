import XCTest
import TestSupport
@testable import MockAPI

/// Behaviour the request hot path must keep while it is tuned for scripts/bench (no timing assertions here).
final class HotPathTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() { server.stop() }

    func testBearerSchemeIsCaseInsensitiveAndTheTokenIsTrimmed() throws {
        let key = TestServer.key
        for ok in ["Bearer \(key)", "bearer \(key)", "BEARER \(key)", "  Bearer \(key)", "Bearer   \(key) \t", "Bearer \t\(key)"] {
            let r = try server.request("GET", "/api/v1/sandboxes", key: nil, headers: [("Authorization", ok)])
            XCTAssertEqual(r.status, 200, ok)
        }
        for bad in ["Bearer", "Bearer ", "Bearer  \t ", "Basic \(key)", "Bearerx \(key)", "Beare \(key)", key, "Bearer \(key)x"] {
            let r = try server.request("GET", "/api/v1/sandboxes", key: nil, headers: [("Authorization", bad)])
            XCTAssertEqual(r.status, 401, bad)
        }
    }

    func testPathSegmentsArePercentDecodedBeforeMatching() throws {
        let id = try XCTUnwrap((try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"p"}"#)
            .object["data"] as? [String: Any])?["id"] as? String)
        let encoded = id.replacingOccurrences(of: "-", with: "%2D")
        XCTAssertEqual(try server.request("GET", "/api/v1//sandboxes/\(encoded)").status, 200)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)?x=1").status, 200)
        XCTAssertEqual(try server.request("GET", "/api/v1/sandboxes/\(id)/nope").status, 404)
    }

    func testCamelCaseAliases() {
        XCTAssertEqual(FieldReader.camel("timeout_sec"), "timeoutSec")
        XCTAssertEqual(FieldReader.camel("external_workspace_id"), "externalWorkspaceId")
        XCTAssertEqual(FieldReader.camel("name"), "name")
        XCTAssertEqual(FieldReader.camel("a__b_9c_"), "aB9c")
        XCTAssertEqual(FieldReader.camel("grüße_welt"), "grüßeWelt")
        let f = FieldReader(["timeoutSec": .int(5), "disk_size_mb": .int(2048)])
        XCTAssertEqual(f.raw("timeout_sec"), .int(5))
        XCTAssertEqual(f.raw("disk_size_mb"), .int(2048))
        XCTAssertNil(f.raw("idle_timeout_sec"))
    }
}
