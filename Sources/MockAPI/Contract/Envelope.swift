/// Response shapes from the docs and the SDKs (platform-contract A7, sandbox-contract §2).
public enum Envelope {
    /// `{"data": X}`
    public static func data(_ x: JSON) -> JSON { .object(["data": x]) }

    /// `{"data": X, ...X}`: for endpoints that one SDK reads bare and another enveloped.
    public static func dataAndBare(_ x: JSONObject) -> JSON {
        var o = x
        o["data"] = .object(x)
        return .object(o)
    }

    /// The list shape every SDK can read: `data`, `page`, `meta`, `total`; cursor lists add `items` and `next_cursor`.
    public static func list(_ items: [JSON], page: Page, total: Int, cursor: CursorInfo? = nil) -> JSON {
        var o: JSONObject = [
            "data": .array(items),
            "page": .object(["page": .int(page.page), "page_size": .int(page.pageSize), "total": .int(total)]),
            "meta": .object(["page": .int(page.page), "per_page": .int(page.pageSize), "total": .int(total)]),
            "total": .int(total),
        ]
        if let c = cursor {
            o["items"] = .array(items)
            o["next_cursor"] = .str(c.next)
            o["has_more"] = .bool(c.next != nil)
        }
        return .object(o)
    }

    public struct CursorInfo {
        public let next: String?
        public init(next: String?) { self.next = next }
    }
}

/// Page parameters: `page` (from 1) and `page_size` (default 20, max 100); `per_page` and `limit` are
/// accepted as aliases of `page_size`, `offset` as an alternative to `page`. Bad values are a 400.
public struct Page {
    public let page: Int
    public let pageSize: Int
    public let offset: Int

    public static let defaultSize = 20
    public static let maxSize = 100

    public init(page: Int, pageSize: Int, offset: Int? = nil) {
        self.page = page
        self.pageSize = pageSize
        self.offset = offset ?? (page - 1) * pageSize
    }

    public init(query: Query) throws {
        func positive(_ name: String) throws -> Int? {
            guard let raw = query[name] else { return nil }
            guard let n = Int(raw), n >= 1 else {
                throw APIError.badRequest("Query parameter \(name) must be a positive integer.", code: "invalid_pagination",
                                          details: .object([name: .string("must be a positive integer")]))
            }
            return n
        }
        let size = try positive("page_size") ?? positive("per_page") ?? positive("limit") ?? Page.defaultSize
        guard size <= Page.maxSize else {
            throw APIError.badRequest("page_size must be at most \(Page.maxSize).", code: "invalid_pagination",
                                      details: .object(["page_size": .string("must be between 1 and \(Page.maxSize)")]))
        }
        var offset: Int?
        if let raw = query["offset"] {
            guard let n = Int(raw), n >= 0 else {
                throw APIError.badRequest("Query parameter offset must be a non-negative integer.", code: "invalid_pagination",
                                          details: .object(["offset": .string("must be a non-negative integer")]))
            }
            offset = n
        }
        let page = try positive("page") ?? (offset.map { $0 / size + 1 } ?? 1)
        self.init(page: page, pageSize: size, offset: offset)
    }
}
