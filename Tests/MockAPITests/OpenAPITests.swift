import XCTest
import TestSupport
@testable import MockAPI

/// `/openapi.json` is generated from the route table: every registered route must be in it.
final class OpenAPITests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer() }
    override func tearDown() { server.stop() }

    func testEveryRegisteredRouteIsDocumented() throws {
        let r = try server.request("GET", "/openapi.json", key: nil)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.object["openapi"] as? String, "3.1.0")
        let paths = try XCTUnwrap(r.object["paths"] as? [String: [String: Any]])
        let routes = try server.onLoop { s in s.app.router.routes.map { ($0.method, $0.pattern, $0.options) } }
        XCTAssertGreaterThan(routes.count, 10)
        for (method, pattern, options) in routes {
            let (path, params) = OpenAPIControl.openAPIPath(pattern)
            let op = try XCTUnwrap(paths[path]?[method.lowercased()] as? [String: Any], "\(method) \(pattern) missing")
            let names = (op["parameters"] as? [[String: Any]] ?? []).filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String }
            XCTAssertEqual(names, params.map(\.name), pattern)
            XCTAssertEqual(op["x-rate-limit-scope"] as? String, options.rate.rawValue)
            let security = op["security"] as? [[String: Any]] ?? []
            if case .apiKey = options.auth { XCTAssertEqual(security.first?.keys.first, "bearerAuth", pattern) } else { XCTAssertTrue(security.isEmpty, pattern) }
        }
        let schemes = (r.object["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]]
        XCTAssertEqual(schemes?["bearerAuth"]?["scheme"] as? String, "bearer")
        XCTAssertNotNil(paths["/_mock/faults/{id}"]?["delete"])
        let ids = paths.values.flatMap { $0.values }.compactMap { ($0 as? [String: Any])?["operationId"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count, "operationIds are unique")
    }

    func testRoutesAddedLaterAppearToo() throws {
        try server.onLoop { s in s.app.router.add("POST", "/api/v1/test/files/*path", RouteOptions(rate: .auth, summary: "x")) { _ in .noContent } }
        let paths = try XCTUnwrap(try server.request("GET", "/openapi.json", key: nil).object["paths"] as? [String: [String: Any]])
        let op = try XCTUnwrap(paths["/api/v1/test/files/{path}"]?["post"] as? [String: Any])
        XCTAssertEqual(op["x-rate-limit-scope"] as? String, "auth")
    }
}
