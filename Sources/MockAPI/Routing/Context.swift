import HTTP
import Logging

/// What a handler returns. `.async` answers later (exec, long operations); `.stream` starts a chunked body.
public enum Reply {
    case json(Int, JSON)
    case jsonWithHeaders(Int, JSON, [(String, String)])
    case noContent
    case bytes(Int, contentType: String, [UInt8], headers: [(String, String)])
    case error(APIError)
    case response(HTTPResponse)
    case async((@escaping (Reply) -> Void) -> Void)
    case stream(status: Int, headers: [(String, String)], start: (HTTPStream) -> Void)

    public static func ok(_ data: JSON) -> Reply { .json(200, Envelope.data(data)) }
    public static func created(_ data: JSON) -> Reply { .json(201, Envelope.data(data)) }
}

/// The authenticated caller: an API key bound to a tenant (organization), with scopes.
public struct Principal {
    /// The fields live in one immutable object: every request copies its principal a few times (auth cache,
    /// context, `ctx.caller`), and a copy is then one retain instead of six.
    private final class Fields {
        let tenantID: String
        let workspaceID: String
        let keyID: String
        let keyName: String
        let scopes: [String]

        init(tenantID: String, workspaceID: String, keyID: String, keyName: String, scopes: [String]) {
            self.tenantID = tenantID
            self.workspaceID = workspaceID
            self.keyID = keyID
            self.keyName = keyName
            self.scopes = scopes
        }
    }

    private let fields: Fields

    public var tenantID: String { fields.tenantID }
    /// The workspace requests default to (the key's own, else the tenant's default).
    public var workspaceID: String { fields.workspaceID }
    public var keyID: String { fields.keyID }
    public var keyName: String { fields.keyName }
    public var scopes: [String] { fields.scopes }

    public init(tenantID: String, workspaceID: String, keyID: String, keyName: String, scopes: [String]) {
        fields = Fields(tenantID: tenantID, workspaceID: workspaceID, keyID: keyID, keyName: keyName, scopes: scopes)
    }

    /// `*`, the exact scope, `<group>:*`, and any scope of the group for `<group>:read` all grant.
    public func allows(_ scope: String) -> Bool {
        if scopes.contains("*") || scopes.contains(scope) { return true }
        guard let colon = scope.firstIndex(of: ":") else { return false }
        let group = scope[..<colon]
        if scopes.contains("\(group):*") { return true }
        // Any scope of a group (`write`, `exec`, `create`) implies reading it.
        if scope.hasSuffix(":read") && scopes.contains(where: { $0.hasPrefix(group + ":") }) { return true }
        // `<group>:create` (platform-contract A3) is the narrow part of write: create routes ask for it, and a
        // write key has it; a create-only key still cannot update, stop or delete.
        if scope.hasSuffix(":create") && scopes.contains("\(group):write") { return true }
        return false
    }
}

/// Everything about one request as it moves through middleware and handler.
public final class RequestContext {
    public let request: HTTPRequest
    public let requestID: String
    /// unowned(unsafe): the App outlives every request (it owns the dispatcher, the router and the middleware
    /// that run one, and shutdown drains the connections first); a checked `unowned` cost an atomic
    /// retain/release on each of the several `ctx.app` reads per request.
    public unowned(unsafe) let app: App
    public internal(set) var route: Route?
    var routeParams = RouteParams()
    /// The path parameters by name (percent-decoded).
    public var params: [String: String] { routeParams.dictionary }
    public var principal: Principal?
    /// Loop time when the request arrived (ms).
    public let startedMs: UInt64
    /// Headers added to whatever response goes out (rate-limit counters, replay markers).
    public var responseHeaders: [(String, String)] = []
    /// Per-request state for middleware (e.g. the idempotency record being filled).
    public var storage: [String: Any] = [:]

    // The built-in middleware's per-request state, typed: a `storage` entry cost a String hash, an
    // existential box and a dynamic cast on every request.
    /// What the rate limiter counted this request against (`RateLimitMiddleware.after` writes the headers).
    var rateDecision: RateLimitMiddleware.Decision?
    /// The Idempotency-Key this request carried (header or body), for the journal.
    var idempotencyKey: String?
    /// The idempotency claim this request holds while it runs.
    var idempotencyClaim: IdempotencyMiddleware.Claim?
    /// Set when the answer is a stored replay: the original request's id.
    var idempotencyReplayOf: String?
    /// The injected fault rule that matched, if any.
    var faultID: String?
    /// A delay-only fault's wait before the handler.
    var faultDelayMs: UInt64?
    /// Set by the dispatcher when the reply is a stream (its head is what `after` sees).
    var isStreamReply = false
    public var logger: Logger { app.logger }

    init(request: HTTPRequest, requestID: String, app: App) {
        self.request = request
        self.requestID = requestID
        self.app = app
        self.startedMs = app.loop.nowMs
    }

    public lazy var query: Query = Query(request.query)

    public var method: String { request.method }
    public var path: Substring { request.path }

    public func param(_ name: String) -> String { routeParams[name] ?? "" }

    /// The caller; routes with `.apiKey` auth always have one.
    public var caller: Principal {
        get throws {
            guard let p = principal else { throw APIError.unauthorized() }
            return p
        }
    }

    private var parsedBody: JSON?

    /// The JSON body; an empty body reads as `{}`. Malformed JSON is a 400 `invalid_json`.
    public func body() throws -> JSON {
        if let b = parsedBody { return b }
        let bytes = request.body
        let isBlank = bytes.allSatisfy { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }
        if isBlank { parsedBody = .object(JSONObject()); return parsedBody! }
        do {
            let v = try JSON.parse(bytes)
            parsedBody = v
            return v
        } catch let e as JSONParseError {
            throw APIError.invalidJSON(e.description)
        }
    }

    /// The body as an object (`null` counts as `{}`); anything else is a 400.
    public func bodyObject() throws -> JSONObject {
        let b = try body()
        if case .null = b { return JSONObject() }
        guard let o = b.object else {
            throw APIError.badRequest("The request body must be a JSON object.", code: "invalid_body")
        }
        return o
    }

    public func fields() throws -> FieldReader { FieldReader(try bodyObject()) }

    public func header(_ name: String) -> String? { request.headers[name] }
}

/// Decides, before the handler runs, whether to go on, answer at once, or wait first.
public enum Verdict {
    case proceed
    case answer(Reply)
    case delay(UInt64)
}

/// Cross-cutting behaviour around every route. `before` runs in order; `after` runs in reverse order
/// for each middleware whose `before` ran, on every response including errors (for streams: the head).
public protocol Middleware: AnyObject {
    func before(_ ctx: RequestContext) throws -> Verdict
    func after(_ ctx: RequestContext, _ response: inout HTTPResponse)
}

extension Middleware {
    public func before(_ ctx: RequestContext) throws -> Verdict { .proceed }
    public func after(_ ctx: RequestContext, _ response: inout HTTPResponse) {}
}
