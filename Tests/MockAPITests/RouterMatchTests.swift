import XCTest
@testable import MockAPI

/// The router matches on the path's bytes. These tests hold it to the String-based matcher it replaced
/// (`reference` below, kept verbatim in spirit: split, percent-decode each segment, String-keyed trie walk),
/// over routes shaped like the real ones and paths with escapes, empty segments and non-ASCII bytes.
final class RouterMatchTests: XCTestCase {
    typealias Table = [(method: String, pattern: String)]

    static let table: Table = [
        ("GET", "/api/v1/sandboxes"), ("POST", "/api/v1/sandboxes"), ("GET", "/api/v1/sandboxes/{id}"),
        ("PATCH", "/api/v1/sandboxes/{id}"), ("DELETE", "/api/v1/sandboxes/{id}"),
        ("GET", "/api/v1/sandboxes/by-name/{name}"), ("POST", "/api/v1/sandboxes/{id}/stop"),
        ("GET", "/api/v1/sandboxes/{id}/files/*path"), ("PUT", "/api/v1/sandboxes/{id}/files/*path"),
        ("GET", "/api/v1/sandboxes/{id}/files/tree"), ("POST", "/api/v1/sandboxes/{id}/files/stat"),
        ("GET", "/api/v1/Käse/{id}"), ("GET", "/_mock/health"), ("DELETE", "/_mock/faults/{id}"), ("GET", "/x/*rest"),
    ]

    /// The earlier matcher, for comparison: the same rules over decoded Strings.
    static func reference(_ table: Table, method: String, path: String) -> RouteMatch {
        let segs = path.utf8.split(separator: 0x2f, omittingEmptySubsequences: true).map { percentDecode(Substring($0)) }
        var best: (pattern: String, values: [String])?
        var allowed: [String] = []
        func patternSegs(_ p: String) -> [Substring] { p.split(separator: "/", omittingEmptySubsequences: true) }
        // Walk the patterns as the trie would: literal before param before catch-all at every depth.
        func visit(_ candidates: [(String, String)], _ i: Int, _ values: [String]) -> Bool {
            if i == segs.count {
                let here = candidates.filter { patternSegs($0.1).count == i }
                if let r = here.first(where: { $0.0 == method }) ?? (method == "HEAD" ? here.first(where: { $0.0 == "GET" }) : nil) {
                    best = (r.1, values); return true
                }
                allowed += here.map(\.0)
                return false
            }
            let deeper = candidates.filter { patternSegs($0.1).count > i }
            let lits = deeper.filter { let s = patternSegs($0.1)[i]; return !s.hasPrefix("{") && !s.hasPrefix("*") && String(s) == segs[i] }
            if !lits.isEmpty, visit(lits, i + 1, values) { return true }
            let params = deeper.filter { patternSegs($0.1)[i].hasPrefix("{") }
            if !params.isEmpty, visit(params, i + 1, values + [segs[i]]) { return true }
            let wild = deeper.filter { patternSegs($0.1)[i].hasPrefix("*") }
            if !wild.isEmpty {
                if let r = wild.first(where: { $0.0 == method }) ?? (method == "HEAD" ? wild.first(where: { $0.0 == "GET" }) : nil) {
                    best = (r.1, values + [segs[i...].joined(separator: "/")]); return true
                }
                allowed += wild.map(\.0)
            }
            return false
        }
        if visit(table.map { ($0.method, $0.pattern) }, 0, []), let b = best {
            let names = patternSegs(b.pattern).compactMap { s -> String? in
                if s.hasPrefix("{") { return String(s.dropFirst().dropLast()) }
                if s.hasPrefix("*") { return String(s.dropFirst()) }
                return nil
            }
            var params: [String: String] = [:]
            for (n, v) in zip(names, b.values) { params[n] = v }
            let route = Route(method: method, pattern: b.pattern, options: RouteOptions(), handler: { _ in .noContent }, paramNames: names)
            return .found(route, params)
        }
        if !allowed.isEmpty {
            var set = Array(Set(allowed))
            if set.contains("GET") && !set.contains("HEAD") { set.append("HEAD") }
            return .methodNotAllowed(set.sorted())
        }
        return .notFound
    }

    func describe(_ m: RouteMatch) -> String {
        switch m {
        case .found(let r, let p): return "found \(r.pattern) \(p.sorted { $0.key < $1.key })"
        case .methodNotAllowed(let a): return "405 \(a)"
        case .notFound: return "404"
        }
    }

    func testMatchesTheStringMatcher() {
        let router = Router()
        for (m, p) in RouterMatchTests.table { router.add(m, p) { _ in .noContent } }
        let paths = [
            "/api/v1/sandboxes", "/api/v1/sandboxes/", "//api//v1///sandboxes//abc//", "/api/v1/sandboxes/abc",
            "/api/v1/sandboxes/by-name/x", "/api/v1/sandboxes/by-name", "/api/v1/%73andboxes/abc", "/api/v1/sandboxes/a%2Fb",
            "/api/v1/sandboxes/a%20b/files/dir/x%23y.txt", "/api/v1/sandboxes/abc/files/tree", "/api/v1/sandboxes/abc/files/stat",
            "/api/v1/sandboxes/abc/files", "/api/v1/sandboxes/abc/files/a//b/", "/api/v1/sandboxes/%zz", "/api/v1/sandboxes/%4",
            "/api/v1/sandboxes/a%4/b", "/api/v1/sandboxes/%E2%84%AA", "/api/v1/sandboxes/%FF%FE/files/%C3",
            "/api/v1/K%C3%A4se/1", "/api/v1/Ka%CC%88se/1", "/api/v1/Käse/2", "/_mock/health", "/_mock/faults/f1",
            "/_mock/faults", "/x", "/x/", "/x/a/b/c", "/x/%2F", "/", "", "/nope", "/api/v1/sandboxes/abc/stop",
        ]
        for path in paths {
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
                let got = router.match(method: method, path: Substring(path))
                let want = RouterMatchTests.reference(RouterMatchTests.table, method: method, path: path)
                XCTAssertEqual(describe(got), describe(want), "\(method) \(path)")
            }
        }
    }

    func testParamsByName() throws {
        let router = Router()
        router.add("GET", "/s/{a}/t/{b}/*rest") { _ in .noContent }
        guard case .found(_, let params) = router.match(method: "GET", path: "/s/1/t/%32/x/%79") else { return XCTFail("no match") }
        XCTAssertEqual(params, ["a": "1", "b": "2", "rest": "x/y"])
        guard case .found(_, let p) = router.find(method: "GET", path: "/s/1/t/2/z") else { return XCTFail("no match") }
        XCTAssertEqual(p["a"], "1")
        XCTAssertEqual(p["b"], "2")
        XCTAssertEqual(p["rest"], "z")
        XCTAssertNil(p["nope"])
    }
}
