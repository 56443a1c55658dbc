import HTTP

/// Who may call a route.
public enum AuthRequirement {
    /// An API key with this scope (nil: any valid key).
    case apiKey(scope: String?)
    /// No credential (health, public share links, invite previews).
    case none
    /// The `/_mock/*` control API: no key, can be switched off.
    case control
}

/// Which rate-limit bucket a route counts against (rest-api-conventions: rate limits).
public enum RateScope: String {
    case general, auth, unauthenticated, exempt
}

public struct RouteOptions {
    public var auth: AuthRequirement
    public var rate: RateScope
    public var summary: String
    public var tag: String

    public init(auth: AuthRequirement = .apiKey(scope: nil), rate: RateScope? = nil, summary: String = "", tag: String = "") {
        self.auth = auth
        if let r = rate { self.rate = r } else {
            switch auth {
            case .apiKey: self.rate = .general
            case .none: self.rate = .unauthenticated
            case .control: self.rate = .exempt
            }
        }
        self.summary = summary
        self.tag = tag
    }
}

public typealias Handler = (RequestContext) throws -> Reply

public final class Route {
    public let method: String
    public let pattern: String
    public let options: RouteOptions
    public let handler: Handler
    /// Parameter names in path order (`{id}` and `*rest`).
    let paramNames: [String]

    init(method: String, pattern: String, options: RouteOptions, handler: @escaping Handler, paramNames: [String]) {
        self.method = method
        self.pattern = pattern
        self.options = options
        self.handler = handler
        self.paramNames = paramNames
    }
}

public enum RouteMatch {
    case found(Route, [String: String])
    case methodNotAllowed([String])
    case notFound
}

/// Method + path pattern → handler. Literal segments beat `{param}` segments, which beat a `*rest`
/// catch-all, so `/sandboxes/by-name/{name}` wins over `/sandboxes/{id}` and `/files/tree` over `/files/*path`
/// (sandbox-contract §4 and §6 routing hazards). A path that exists with other methods is a 405 with `Allow`.
public final class Router {
    final class Node {
        var literals: [String: Node] = [:]
        var param: Node?
        var wildcard: [String: Route] = [:]
        var routes: [String: Route] = [:]
    }

    private let root = Node()
    public private(set) var routes: [Route] = []

    public init() {}

    public func add(_ method: String, _ pattern: String, _ options: RouteOptions = RouteOptions(), _ handler: @escaping Handler) {
        var node = root
        var names: [String] = []
        let segs = pattern.split(separator: "/", omittingEmptySubsequences: true)
        for (i, seg) in segs.enumerated() {
            if seg.hasPrefix("{") && seg.hasSuffix("}") {
                names.append(String(seg.dropFirst().dropLast()))
                if node.param == nil { node.param = Node() }
                node = node.param!
            } else if seg.hasPrefix("*") {
                precondition(i == segs.count - 1, "a catch-all must be last: \(pattern)")
                names.append(String(seg.dropFirst()))
                let r = Route(method: method, pattern: pattern, options: options, handler: handler, paramNames: names)
                precondition(node.wildcard[method] == nil, "duplicate route \(method) \(pattern)")
                node.wildcard[method] = r
                routes.append(r)
                return
            } else {
                let key = String(seg)
                if node.literals[key] == nil { node.literals[key] = Node() }
                node = node.literals[key]!
            }
        }
        precondition(node.routes[method] == nil, "duplicate route \(method) \(pattern)")
        let r = Route(method: method, pattern: pattern, options: options, handler: handler, paramNames: names)
        node.routes[method] = r
        routes.append(r)
    }

    public func match(method: String, path: Substring) -> RouteMatch {
        // Split on the byte '/': a Character-based split walks grapheme clusters (7 % of a GET's instructions).
        let segs = path.utf8.split(separator: 0x2f, omittingEmptySubsequences: true).map { percentDecode(Substring($0)) }
        var values: [String] = []
        var allowed: [String] = []
        var found: (Route, [String])?

        func pick(_ table: [String: Route]) -> Route? {
            if let r = table[method] { return r }
            if method == "HEAD", let r = table["GET"] { return r }
            return nil
        }

        func visit(_ node: Node, _ i: Int) -> Bool {
            if i == segs.count {
                if let r = pick(node.routes) { found = (r, values); return true }
                allowed.append(contentsOf: node.routes.keys)
                return false
            }
            if let next = node.literals[segs[i]], visit(next, i + 1) { return true }
            if let p = node.param {
                values.append(segs[i])
                if visit(p, i + 1) { return true }
                values.removeLast()
            }
            if !node.wildcard.isEmpty {
                if let r = pick(node.wildcard) {
                    found = (r, values + [segs[i...].joined(separator: "/")])
                    return true
                }
                allowed.append(contentsOf: node.wildcard.keys)
            }
            return false
        }

        if visit(root, 0), let (route, vals) = found {
            var params: [String: String] = [:]
            for (n, v) in zip(route.paramNames, vals) { params[n] = v }
            return .found(route, params)
        }
        if !allowed.isEmpty {
            var set = Array(Set(allowed))
            if set.contains("GET") && !set.contains("HEAD") { set.append("HEAD") }
            return .methodNotAllowed(set.sorted())
        }
        return .notFound
    }
}

/// Registers MIOSA routes under `/api/v1`.
public struct APIRoutes {
    public let router: Router
    public static let prefix = "/api/v1"

    public init(_ router: Router) { self.router = router }

    public func get(_ path: String, scope: String? = nil, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add("GET", APIRoutes.prefix + path, RouteOptions(auth: .apiKey(scope: scope), summary: summary, tag: tag), h)
    }
    public func post(_ path: String, scope: String? = nil, rate: RateScope? = nil, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add("POST", APIRoutes.prefix + path, RouteOptions(auth: .apiKey(scope: scope), rate: rate, summary: summary, tag: tag), h)
    }
    public func put(_ path: String, scope: String? = nil, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add("PUT", APIRoutes.prefix + path, RouteOptions(auth: .apiKey(scope: scope), summary: summary, tag: tag), h)
    }
    public func patch(_ path: String, scope: String? = nil, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add("PATCH", APIRoutes.prefix + path, RouteOptions(auth: .apiKey(scope: scope), summary: summary, tag: tag), h)
    }
    public func delete(_ path: String, scope: String? = nil, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add("DELETE", APIRoutes.prefix + path, RouteOptions(auth: .apiKey(scope: scope), summary: summary, tag: tag), h)
    }
    /// A route reachable without an API key (public links).
    public func publicRoute(_ method: String, _ path: String, summary: String = "", tag: String = "", _ h: @escaping Handler) {
        router.add(method, APIRoutes.prefix + path, RouteOptions(auth: .none, summary: summary, tag: tag), h)
    }
}
