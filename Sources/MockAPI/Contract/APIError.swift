import HTTP

/// Everything a handler can fail with. One place (`ErrorRenderer`) turns it into the documented envelope.
public struct APIError: Error, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    /// Field errors, `{field: reason}` or any JSON the client should see under `error.details`.
    public var details: JSON?
    public var headers: [(String, String)] = []
    /// Extra keys inside `error` (e.g. `retry_after`), also copied to the top level.
    public var extra: JSONObject = JSONObject()

    public init(_ status: Int, _ code: String, _ message: String, details: JSON? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(status) \(code): \(message)" }

    public static func badRequest(_ message: String, code: String = "bad_request", details: JSON? = nil) -> APIError {
        APIError(400, code, message, details: details)
    }
    public static func invalidJSON(_ why: String) -> APIError {
        APIError(400, "invalid_json", "The request body is not valid JSON: \(why).")
    }
    public static func unauthorized(_ message: String = "Missing or invalid API key.") -> APIError {
        APIError(401, "unauthorized", message)
    }
    public static func forbidden(_ message: String, code: String = "forbidden") -> APIError {
        APIError(403, code, message)
    }
    public static func notFound(_ resource: String, _ id: String) -> APIError {
        APIError(404, "\(resource)_not_found", "No \(resource.replacingOccurrences(of: "_", with: " ")) with id \(id) exists.")
    }
    public static func routeNotFound(_ method: String, _ path: Substring) -> APIError {
        APIError(404, "not_found", "No route for \(method) \(path).")
    }
    public static func methodNotAllowed(_ method: String, allow: [String]) -> APIError {
        var e = APIError(405, "method_not_allowed", "\(method) is not allowed here; allowed: \(allow.joined(separator: ", ")).")
        e.headers.append(("Allow", allow.joined(separator: ", ")))
        return e
    }
    public static func conflict(_ message: String, code: String = "invalid_state") -> APIError {
        APIError(409, code, message)
    }
    /// 422 with `details` naming each bad field.
    public static func validation(_ fields: [(String, String)], message: String? = nil) -> APIError {
        let d = JSONObject(fields.map { ($0.0, JSON.string($0.1)) })
        let summary = fields.map { "\($0.0) \($0.1)" }.joined(separator: "; ")
        return APIError(422, "validation_error", message ?? "Validation failed: \(summary).", details: .object(d))
    }
    public static func payloadTooLarge(_ message: String = "The request body exceeds the size limit.") -> APIError {
        APIError(413, "payload_too_large", message)
    }
    public static func internalError(_ message: String = "An internal error occurred.") -> APIError {
        APIError(500, "internal_error", message)
    }
}

enum ErrorRenderer {
    /// `{"error": {code, message, request_id, details?}, "message", "code", "request_id"}`: the documented
    /// nested envelope plus the top-level copies the Go SDK and Python fallbacks read (platform-contract A8).
    static func body(_ e: APIError, requestID: String) -> JSON {
        var inner: JSONObject = ["code": .string(e.code), "message": .string(e.message), "request_id": .string(requestID)]
        if let d = e.details { inner["details"] = d }
        for (k, v) in e.extra { inner[k] = v }
        var outer: JSONObject = ["error": .object(inner), "message": .string(e.message), "code": .string(e.code),
                                 "request_id": .string(requestID)]
        for (k, v) in e.extra { outer[k] = v }
        return .object(outer)
    }

    static func response(_ e: APIError, requestID: String) -> HTTPResponse {
        var h = HTTPHeaders()
        h.add("Content-Type", "application/json")
        h.add("X-Request-Id", requestID)
        for (k, v) in e.headers { h.add(k, v) }
        return HTTPResponse(status: e.status, headers: h, body: body(e, requestID: requestID).encoded())
    }
}
