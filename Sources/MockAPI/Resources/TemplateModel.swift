import Store

/// One `templates` row (core migration 1). JSON carries Go's fields and the TS SDK's extras.
struct TemplateRecord {
    var id, name, buildSpec, status, metadata, createdAt, updatedAt: String
    var tenantID, slug, description: String?
    var builtIn: Bool

    static let select = """
        SELECT id, name, build_spec, status, metadata, created_at, updated_at, tenant_id, slug, description, built_in FROM templates
        """

    init(_ s: Statement) {
        id = s.text(0); name = s.text(1); buildSpec = s.text(2); status = s.text(3); metadata = s.text(4)
        createdAt = s.text(5); updatedAt = s.text(6); tenantID = s.optionalText(7); slug = s.optionalText(8)
        description = s.optionalText(9); builtIn = s.bool(10)
    }

    /// A built-in or one of this tenant's templates; another tenant's reads as 404.
    static func load(_ db: Database, id: String, tenantID: String) throws -> TemplateRecord {
        guard let t = try db.first(select + " WHERE id = ? AND (tenant_id IS NULL OR tenant_id = ?)", [.text(id), .text(tenantID)],
                                   TemplateRecord.init) else { throw APIError.notFound("template", id) }
        return t
    }

    func json(_ db: Database) throws -> JSON {
        let spec = (try? JSON.parse(buildSpec)) ?? .object(JSONObject())
        func field(_ camel: String) -> JSON? { spec[camel] ?? spec[TemplateSpec.snake(camel)] }
        let current = try db.first("SELECT id FROM template_builds WHERE template_id = ? ORDER BY rowid DESC LIMIT 1", [.text(id)]) { $0.text(0) }
        return .object([
            "id": .string(id), "object": .string("sandbox_template"), "tenant_id": .str(tenantID), "name": .string(name),
            "slug": .str(slug ?? (builtIn ? id : nil)), "description": .str(description), "build_spec": spec,
            "status": .string(status), "image_ref": .string("registry.miosa.local/templates/\(id):latest"), "image_id": .string("img_\(id)"),
            "built_in": .bool(builtIn), "preview_port": field("previewPort") ?? .null,
            "workdir": field("workdir") ?? .string("/workspace"), "install_command": .null,
            "start_command": field("startCmd") ?? .null, "readiness_probe": .null,
            "artifact_paths": field("artifactPaths") ?? .array([]), "runtimes": .array([]), "tags": .array([]),
            "current_build_id": .str(current), "metadata": (try? JSON.parse(metadata)) ?? .object(JSONObject()),
            "created_at": .string(createdAt), "updated_at": .string(updatedAt),
        ])
    }
}

/// One `template_builds` row; `status` (Go) and `state` (TS) say the same thing.
struct BuildRecord {
    var id, templateID, status, buildSpec, metadata, createdAt, updatedAt: String
    var errorCode, errorMessage, startedAt, finishedAt: String?
    var durationMs: Int?

    static let select = """
        SELECT id, template_id, status, build_spec, metadata, created_at, updated_at, error_code, error_message,
               started_at, finished_at, duration_ms FROM template_builds
        """

    init(_ s: Statement) {
        id = s.text(0); templateID = s.text(1); status = s.text(2); buildSpec = s.text(3); metadata = s.text(4)
        createdAt = s.text(5); updatedAt = s.text(6); errorCode = s.optionalText(7); errorMessage = s.optionalText(8)
        startedAt = s.optionalText(9); finishedAt = s.optionalText(10); durationMs = s.optionalInt(11)
    }

    var json: JSON {
        .object([
            "id": .string(id), "object": .string("sandbox_template_build"), "template_id": .string(templateID),
            "sandbox_template_id": .string(templateID), "status": .string(status), "state": .string(status),
            "source_type": .string("build_spec"), "build_spec": (try? JSON.parse(buildSpec)) ?? .object(JSONObject()),
            "metadata": (try? JSON.parse(metadata)) ?? .object(JSONObject()), "image_id": .string("img_\(templateID)"),
            "log_url": .null, "error": .str(errorMessage), "error_code": .str(errorCode), "error_message": .str(errorMessage),
            "started_at": .str(startedAt), "finished_at": .str(finishedAt), "duration_ms": .num(durationMs),
            "created_at": .string(createdAt), "inserted_at": .string(createdAt), "updated_at": .string(updatedAt),
        ])
    }
}
