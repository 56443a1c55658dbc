import Store

/// One row of `workspaces`, as both SDKs read it (platform-contract B8): Python validates `id` and `name`,
/// Go decodes `metadata` as `map[string]string`, so metadata values are stored as strings.
struct WorkspaceRecord {
    var id: String
    var tenantID: String
    var name: String
    var slug: String
    var description: String?
    var metadata: String
    var externalWorkspaceID: String?
    var externalUserID: String?
    var isDefault: Bool
    var createdAt: String
    var updatedAt: String

    static let select = """
        SELECT id, tenant_id, name, slug, description, metadata, external_workspace_id, external_user_id, is_default,
               created_at, updated_at FROM workspaces
        """

    init(_ s: Statement) {
        id = s.text(0); tenantID = s.text(1); name = s.text(2); slug = s.text(3); description = s.optionalText(4)
        metadata = s.text(5); externalWorkspaceID = s.optionalText(6); externalUserID = s.optionalText(7)
        isDefault = s.bool(8); createdAt = s.text(9); updatedAt = s.text(10)
    }

    static func load(_ db: Database, id: String, tenantID: String) throws -> WorkspaceRecord {
        guard let w = try db.first(select + " WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenantID)], WorkspaceRecord.init) else {
            throw APIError.notFound("workspace", id)
        }
        return w
    }

    func json(reused: Bool? = nil) -> JSONObject {
        var o = JSONObject()
        o.append("id", .string(id))
        o.append("object", .string("workspace"))
        o.append("name", .string(name))
        o.append("slug", .string(slug))
        o.append("tenant_id", .string(tenantID))
        o.append("description", .str(description))
        o.append("metadata", WorkspaceRecord.stringMap((try? JSON.parse(metadata))?.object ?? JSONObject()))
        o.append("external_workspace_id", .str(externalWorkspaceID))
        o.append("external_user_id", .str(externalUserID))
        o.append("is_default", .bool(isDefault))
        o.append("created_at", .string(createdAt))
        o.append("updated_at", .string(updatedAt))
        if let r = reused { o.append("reused", .bool(r)) }
        return o
    }

    /// `{k: v}` with every value a string: strings as they are, anything else as its JSON text.
    static func stringMap(_ o: JSONObject) -> JSON {
        .object(JSONObject(o.map { k, v in (k, v.string.map(JSON.string) ?? .string(v.encodedString)) }))
    }

    /// A slug free in this tenant: `base`, else `base-2`, `base-3`, ...
    static func freeSlug(_ db: Database, tenantID: String, base: String) throws -> String {
        var candidate = base
        var n = 1
        while try db.scalarInt("SELECT 1 FROM workspaces WHERE tenant_id = ? AND slug = ?", [.text(tenantID), .text(candidate)]) != nil {
            n += 1
            let suffix = "-\(n)"
            candidate = String(base.prefix(63 - suffix.count)) + suffix
        }
        return candidate
    }
}
