import HTTP
#if canImport(Glibc)
import Glibc
#endif

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

/// The path parameters of a matched route, in pattern order (`{id}` and `*rest`). Most routes have one:
/// it is stored inline, so a request with one parameter allocates only its value.
public struct RouteParams {
    var names: [String] = []
    var first: String?
    var rest: [String] = []

    public subscript(name: String) -> String? {
        guard let v0 = first else { return nil }
        for (i, n) in names.enumerated() where n == name { return i == 0 ? v0 : rest[i - 1] }
        return nil
    }

    public var dictionary: [String: String] {
        var d: [String: String] = [:]
        for (i, n) in names.enumerated() where i == 0 ? first != nil : i - 1 < rest.count {
            d[n] = i == 0 ? first! : rest[i - 1]
        }
        return d
    }

    mutating func append(_ v: String) {
        if first == nil { first = v } else { rest.append(v) }
    }
}

/// Method + path pattern → handler. Literal segments beat `{param}` segments, which beat a `*rest`
/// catch-all, so `/sandboxes/by-name/{name}` wins over `/sandboxes/{id}` and `/files/tree` over `/files/*path`
/// (sandbox-contract §4 and §6 routing hazards). A path that exists with other methods is a 405 with `Allow`.
///
/// Routes are added to a mutable trie; the first match freezes it into `Frozen` nodes (all `let`, literals as
/// byte arrays) that `match` walks over the path's UTF-8 bytes in place: no String per segment, no hashing, no
/// dictionary of parameters. A segment is percent-decoded first only when the path contains `%`.
public final class Router {
    final class Node {
        var literals: [(key: String, node: Node)] = []
        var param: Node?
        var wildcard: [(method: String, route: Route)] = []
        var routes: [(method: String, route: Route)] = []

        func literal(_ key: String) -> Node? { literals.first { $0.key == key }?.node }
    }

    /// An immutable copy of a `Node` for matching.
    final class Frozen {
        struct Literal {
            let bytes: [UInt8]
            let name: String
            let isASCII: Bool
            let node: Frozen
        }
        let literals: [Literal]
        let param: Frozen?
        let wildcard: [(method: String, route: Route)]
        let routes: [(method: String, route: Route)]

        init(_ n: Node) {
            literals = n.literals.map {
                Literal(bytes: Array($0.key.utf8), name: $0.key, isASCII: $0.key.utf8.allSatisfy { $0 < 0x80 }, node: Frozen($0.node))
            }
            param = n.param.map(Frozen.init)
            wildcard = n.wildcard
            routes = n.routes
        }
    }

    private let root = Node()
    private var frozen: Frozen?
    public private(set) var routes: [Route] = []

    public init() {}

    public func add(_ method: String, _ pattern: String, _ options: RouteOptions = RouteOptions(), _ handler: @escaping Handler) {
        frozen = nil
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
                precondition(!node.wildcard.contains { $0.method == method }, "duplicate route \(method) \(pattern)")
                node.wildcard.append((method, r))
                routes.append(r)
                return
            } else {
                let key = String(seg)
                if let next = node.literal(key) {
                    node = next
                } else {
                    let next = Node()
                    node.literals.append((key, next))
                    node = next
                }
            }
        }
        precondition(!node.routes.contains { $0.method == method }, "duplicate route \(method) \(pattern)")
        let r = Route(method: method, pattern: pattern, options: options, handler: handler, paramNames: names)
        node.routes.append((method, r))
        routes.append(r)
    }

    public func match(method: String, path: Substring) -> RouteMatch {
        switch find(method: method, path: path) {
        case .found(let route, let params): return .found(route, params.dictionary)
        case .methodNotAllowed(let allow): return .methodNotAllowed(allow)
        case .notFound: return .notFound
        }
    }

    enum Found {
        case found(Route, RouteParams)
        case methodNotAllowed([String])
        case notFound
    }

    /// `match` without building a dictionary of parameters (the dispatcher's path).
    func find(method: String, path: Substring) -> Found {
        let trie: Frozen
        if let f = frozen { trie = f } else { trie = Frozen(root); frozen = trie }
        if let r = path.utf8.withContiguousStorageIfAvailable({ Router.find(trie, method: method, path: $0) }) { return r }
        var copy = String(path)
        return copy.withUTF8 { Router.find(trie, method: method, path: $0) }
    }

    private static func find(_ trie: Frozen, method: String, path: UnsafeBufferPointer<UInt8>) -> Found {
        // Segments are the non-empty runs between `/` bytes: at most one per two bytes, plus one.
        let found: Found? = withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>.self, capacity: path.count / 2 + 1) { segs in
            var count = 0
            var special: UInt8 = 0  // OR of the bytes: bit 7 set means some byte is not ASCII
            var i = 0
            let n = path.count
            while i < n {
                if path[i] == 0x2f { i += 1; continue }
                let start = i
                while i < n && path[i] != 0x2f {
                    let b = path[i]
                    if b == 0x25 { return nil }  // percent-encoded: the decoding path below
                    special |= b
                    i += 1
                }
                segs[count] = UnsafeBufferPointer(rebasing: path[start..<i])
                count += 1
            }
            return Matcher.run(trie, method: method, segs: UnsafeBufferPointer(rebasing: segs[0..<count]), ascii: special < 0x80)
        }
        if let f = found { return f }
        // Decode every segment (the shared `percentDecode`) into one buffer; `/` stays a separator (a decoded
        // `%2F` is part of its segment, which is why this does not decode the path as a whole and split afterwards).
        var decoded: [UInt8] = []
        decoded.reserveCapacity(path.count)
        var bounds: [Int] = []  // segment i is decoded[bounds[2i] ..< bounds[2i+1]]
        for seg in path.split(separator: 0x2f) {
            bounds.append(decoded.count)
            decoded.append(contentsOf: percentDecode(String(decoding: seg, as: UTF8.self)).utf8)
            bounds.append(decoded.count)
        }
        let decodedASCII = decoded.allSatisfy { $0 < 0x80 }
        let count = bounds.count / 2
        return decoded.withUnsafeBufferPointer { d in
            withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>.self, capacity: count) { segs in
                for k in 0..<count {
                    segs[k] = UnsafeBufferPointer(rebasing: d[bounds[2 * k] ..< bounds[2 * k + 1]])
                }
                return Matcher.run(trie, method: method, segs: UnsafeBufferPointer(segs), ascii: decodedASCII)
            }
        }
    }

    /// The backtracking walk: literal, then `{param}`, then `*rest`, as the routing rules above say.
    private struct Matcher {
        let method: String
        let segs: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>
        /// Every segment is ASCII: equal text is equal bytes. (Otherwise a literal is compared as a String,
        /// with the Unicode equivalence the earlier String-keyed trie had.)
        let ascii: Bool
        /// Segment index of each `{param}` on the current path through the trie (at most one per segment).
        let paramSegs: UnsafeMutableBufferPointer<Int>
        var paramCount = 0
        var allowed: [String] = []
        var found: Route?
        var wildcardFrom = -1

        static func run(_ trie: Frozen, method: String, segs: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>, ascii: Bool) -> Found {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: segs.count) { paramSegs in
                var m = Matcher(method: method, segs: segs, ascii: ascii, paramSegs: paramSegs)
                return m.run(trie)
            }
        }

        private init(method: String, segs: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>, ascii: Bool,
                     paramSegs: UnsafeMutableBufferPointer<Int>) {
            self.method = method
            self.segs = segs
            self.ascii = ascii
            self.paramSegs = paramSegs
        }

        private mutating func run(_ trie: Frozen) -> Found {
            if visit(trie, 0), let route = found {
                var params = RouteParams(names: route.paramNames)
                for k in 0..<paramCount { params.append(String(decoding: segs[paramSegs[k]], as: UTF8.self)) }
                if wildcardFrom >= 0 {
                    var bytes: [UInt8] = []
                    for i in wildcardFrom..<segs.count {
                        if i > wildcardFrom { bytes.append(0x2f) }
                        bytes.append(contentsOf: segs[i])
                    }
                    params.append(String(decoding: bytes, as: UTF8.self))
                }
                return .found(route, params)
            }
            if !allowed.isEmpty {
                var set = Array(Set(allowed))
                if set.contains("GET") && !set.contains("HEAD") { set.append("HEAD") }
                return .methodNotAllowed(set.sorted())
            }
            return .notFound
        }

        func pick(_ table: [(method: String, route: Route)]) -> Route? {
            for e in table where e.method == method { return e.route }
            if method == "HEAD" { for e in table where e.method == "GET" { return e.route } }
            return nil
        }

        func same(_ seg: UnsafeBufferPointer<UInt8>, _ lit: Frozen.Literal) -> Bool {
            if seg.count == lit.bytes.count && lit.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, seg.baseAddress!, seg.count) == 0 }) {
                return true
            }
            if ascii && lit.isASCII { return false }
            return String(decoding: seg, as: UTF8.self) == lit.name
        }

        mutating func visit(_ node: Frozen, _ i: Int) -> Bool {
            if i == segs.count {
                if let r = pick(node.routes) { found = r; return true }
                for e in node.routes { allowed.append(e.method) }
                return false
            }
            let seg = segs[i]
            for lit in node.literals where same(seg, lit) {
                if visit(lit.node, i + 1) { return true }
                break
            }
            if let p = node.param {
                paramSegs[paramCount] = i
                paramCount += 1
                if visit(p, i + 1) { return true }
                paramCount -= 1
            }
            if !node.wildcard.isEmpty {
                if let r = pick(node.wildcard) { found = r; wildcardFrom = i; return true }
                for e in node.wildcard { allowed.append(e.method) }
            }
            return false
        }
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
