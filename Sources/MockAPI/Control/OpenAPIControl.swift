/// `GET /openapi.json`: an OpenAPI 3.1 document of every registered route (MIOSA and `/_mock/*`), built from
/// `app.router.routes` on each request, so it cannot drift from what the server answers. Served even with
/// `--no-control-api` (it only describes), without a key, and not rate limited.
enum OpenAPIControl: ResourceGroup {
    static func register(_ app: App) {
        app.router.add("GET", "/openapi.json", RouteOptions(auth: .none, rate: .exempt, summary: "This OpenAPI 3.1 document", tag: "mock")) { ctx in
            .json(200, document(ctx.app))
        }
    }

    /// `{id}` stays; a catch-all `*path` becomes `{path}` (its value may contain `/`).
    static func openAPIPath(_ pattern: String) -> (String, [(name: String, catchAll: Bool)]) {
        var params: [(String, Bool)] = []
        let segs = pattern.split(separator: "/", omittingEmptySubsequences: true).map { seg -> String in
            if seg.hasPrefix("{") && seg.hasSuffix("}") { params.append((String(seg.dropFirst().dropLast()), false)); return String(seg) }
            if seg.hasPrefix("*") { params.append((String(seg.dropFirst()), true)); return "{\(seg.dropFirst())}" }
            return String(seg)
        }
        return ("/" + segs.joined(separator: "/"), params.map { (name: $0.0, catchAll: $0.1) })
    }

    static func operationID(_ method: String, _ path: String) -> String {
        let words = path.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        return ([method.lowercased()] + words).joined(separator: "_")
    }

    static let errorRef: JSON = .object(["$ref": .string("#/components/responses/Error")])

    static func operation(_ route: Route, params: [(name: String, catchAll: Bool)], path: String) -> JSON {
        let o = route.options
        var op: JSONObject = ["operationId": .string(operationID(route.method, path))]
        if !o.summary.isEmpty { op["summary"] = .string(o.summary) }
        op["tags"] = .array([.string(o.tag.isEmpty ? "misc" : o.tag)])
        var parameters: [JSON] = params.map { p in
            var param: JSONObject = ["name": .string(p.name), "in": .string("path"), "required": .bool(true),
                                     "schema": .object(["type": .string("string")])]
            if p.catchAll { param["description"] = .string("The rest of the path; may contain `/`.") }
            return .object(param)
        }
        switch o.auth {
        case .apiKey(let scope):
            op["security"] = .array([.object(["bearerAuth": .array([])])])
            if let s = scope { op["x-miosa-scope"] = .string(s) }
            if IdempotencyMiddleware.isMutation(route.method) {
                parameters.append(.object(["name": .string("Idempotency-Key"), "in": .string("header"), "required": .bool(false),
                                           "description": .string("Replays the first response for 24 h (any non-empty string, at most 255 bytes)."),
                                           "schema": .object(["type": .string("string")])]))
            }
        case .none, .control:
            op["security"] = .array([])
        }
        if !parameters.isEmpty { op["parameters"] = .array(parameters) }
        op["x-rate-limit-scope"] = .string(o.rate.rawValue)
        var responses: JSONObject = ["2XX": .object(["description": .string("Success: `{\"data\": ...}` (lists add `page`, `meta`, `total`)")])]
        if o.rate != .exempt { responses["429"] = errorRef }
        responses["default"] = errorRef
        op["responses"] = .object(responses)
        return .object(op)
    }

    static func document(_ app: App) -> JSON {
        var paths = JSONObject()
        for route in app.router.routes where route.method != "*" {
            let (path, params) = openAPIPath(route.pattern)
            var item = paths[path]?.object ?? JSONObject()
            item[route.method.lowercased()] = operation(route, params: params, path: path)
            paths[path] = .object(item)
        }
        let limits = app.config.rateLimits
        let errorSchema: JSON = .object([
            "type": .string("object"), "required": .array([.string("error")]),
            "properties": .object([
                "error": .object(["type": .string("object"), "required": .array(["code", "message", "request_id"].map { .string($0) }),
                                  "properties": .object([
                                      "code": .object(["type": .string("string")]), "message": .object(["type": .string("string")]),
                                      "request_id": .object(["type": .string("string")]), "details": .object([:]),
                                      "retry_after": .object(["type": .string("number")]), "retry_after_ms": .object(["type": .string("integer")]),
                                  ])]),
                "code": .object(["type": .string("string")]), "message": .object(["type": .string("string")]),
                "request_id": .object(["type": .string("string")]), "retry_after": .object(["type": .string("number")]),
            ]),
        ])
        return .object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("MIOSA API (miosa-mock)"), "version": .string(MockVersion.current),
                "description": .string("""
                    Generated from the mock's route table. Rate limits per minute (x-rate-limit-scope): general \
                    \(limits.general) per workspace, auth \(limits.auth) per credential, unauthenticated \
                    \(limits.unauthenticated) per client address, exempt none\(limits.enabled ? "" : " (currently off)").
                    """),
            ]),
            "servers": .array([.object(["url": .string(app.baseURL)])]),
            "paths": .object(paths),
            "components": .object([
                "securitySchemes": .object(["bearerAuth": .object([
                    "type": .string("http"), "scheme": .string("bearer"),
                    "description": .string("A MIOSA API key (msk_...) from the fixtures, or a token the API minted."),
                ])]),
                "schemas": .object(["Error": errorSchema]),
                "responses": .object(["Error": .object([
                    "description": .string("The error envelope; a response header X-Request-Id names the request."),
                    "content": .object(["application/json": .object(["schema": .object(["$ref": .string("#/components/schemas/Error")])])]),
                ])]),
            ]),
        ])
    }
}
