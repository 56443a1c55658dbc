import Crypto
import Store

/// One `webhooks` row.
struct WebhookRecord {
    var id, tenantID, url, secret, createdAt, updatedAt: String
    var workspaceID, description: String?
    var events: [String]
    var active: Bool
    var metadata: JSON

    static let select = """
        SELECT id, tenant_id, url, secret, created_at, updated_at, workspace_id, description, events, active, metadata FROM webhooks
        """

    init(_ s: Statement) {
        id = s.text(0); tenantID = s.text(1); url = s.text(2); secret = s.text(3); createdAt = s.text(4)
        updatedAt = s.text(5); workspaceID = s.optionalText(6); description = s.optionalText(7)
        events = (try? JSON.parse(s.text(8)))?.array?.compactMap(\.string) ?? []
        active = s.bool(9)
        metadata = (try? JSON.parse(s.text(10))) ?? .object(JSONObject())
    }

    /// This tenant's webhook, else 404 (another tenant's webhook reads as missing).
    static func load(_ db: Database, id: String, tenantID: String) throws -> WebhookRecord {
        guard let r = try db.first(select + " WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenantID)], WebhookRecord.init) else {
            throw APIError.notFound("webhook", id)
        }
        return r
    }

    /// `whsec_ab…wxyz`: enough to tell secrets apart, never enough to sign.
    var secretPreview: String {
        let chars = Array(secret)
        guard chars.count > 12 else { return String(repeating: "•", count: 4) }
        return String(chars.prefix(8)) + "…" + String(chars.suffix(4))
    }

    /// The webhook as every read returns it; the plaintext secret appears only in the create response.
    func json(withSecret: Bool = false) -> JSON {
        var o: JSONObject = [
            "id": .string(id), "object": .string("webhook"), "tenant_id": .string(tenantID), "workspace_id": .str(workspaceID),
            "url": .string(url), "events": .array(events.map { .string($0) }), "active": .bool(active),
            "description": .str(description), "metadata": metadata, "secret_preview": .string(secretPreview),
            "created_at": .string(createdAt), "updated_at": .string(updatedAt),
        ]
        if withSecret { o["secret"] = .string(secret) }
        return .object(o)
    }
}

/// The event names a webhook can subscribe to (platform-contract B2: seed list, `webhook.delivered`,
/// `deployment.succeeded`), plus every type this server publishes. Subscriptions name events exactly, or
/// by a prefix glob of a category (`sandbox.*`), or `*` for all of them.
enum WebhookCatalog {
    static let categories: [(String, [String])] = [
        ("sandbox", ["sandbox.created", "sandbox.ready", "sandbox.updated", "sandbox.stopped", "sandbox.paused",
                     "sandbox.resumed", "sandbox.destroyed", "sandbox.error", "sandbox.snapshot_created",
                     "sandbox.share_created", "sandbox.env_updated"]),
        ("computer", ["computer.started", "computer.stopped", "computer.error"]),
        ("exec", ["exec.started", "exec.finished"]),
        ("process", ["process.started", "process.exited"]),
        ("file", ["file.created", "file.modified", "file.deleted", "file.renamed"]),
        ("build", ["build.completed", "build.failed", "build.timed_out"]),
        ("template", ["template.created", "template.deleted"]),
        ("run", ["run.created", "run.started", "run.completed", "run.failed", "run.cancelled"]),
        ("deployment", ["deployment.succeeded", "deployment.failed"]),
        ("workspace", ["workspace.created", "workspace.updated", "workspace.deleted"]),
        ("project", ["project.created", "project.updated", "project.moved", "project.deleted"]),
        ("tenant", ["tenant.branding_updated", "tenant.preview_domain_updated", "tenant.preview_domain_verified",
                    "tenant.preview_domain_deleted"]),
        ("api_key", ["api_key.created", "api_key.updated", "api_key.revoked", "api_key.rotated"]),
        ("scoped_token", ["scoped_token.created", "scoped_token.revoked"]),
        ("webhook", ["webhook.created", "webhook.updated", "webhook.deleted", "webhook.delivered", "webhook.failed", "webhook.test"]),
    ]
    static let workspaceScoped = ["sandbox", "computer", "exec", "process", "file", "build", "run", "deployment"]
    static let all: [String] = categories.flatMap(\.1)
    private static let known = Set(all)

    /// `GET /webhooks/events` (the Python docstring and the Go-next test name these keys).
    static var document: JSON {
        .object([
            "data": .object(JSONObject(categories.map { ($0.0, JSON.array($0.1.map { .string($0) })) })),
            "events": .array(all.map { .string($0) }),
            "workspace_scoped_categories": .array(workspaceScoped.map { .string($0) }),
            "signing": .object(["header": .string("x-miosa-signature"), "algorithm": .string("hmac-sha256"),
                                "format": .string("sha256=<hex>")]),
            "delivery_headers": .array(["x-miosa-event", "x-miosa-delivery", "x-miosa-signature"].map { .string($0) }),
        ])
    }

    /// The entries of `events` that are neither a catalog name, a category glob (`sandbox.*`) nor `*`.
    static func unknown(_ events: [String]) -> [String] {
        events.filter { e in
            if e == "*" || known.contains(e) { return false }
            if e.hasSuffix(".*") {
                let prefix = String(e.dropLast())
                return e.dropLast(2).contains("*") || !all.contains { $0.hasPrefix(prefix) }
            }
            return true
        }
    }

    /// Whether a webhook subscribed to `patterns` gets `type`. `webhook.*` events (outcomes of other deliveries)
    /// go only to webhooks that name them or `webhook.*`, never through `*`, and never to the webhook they are
    /// about: a delivery can never cause a delivery to itself.
    static func wants(_ patterns: [String], type: String, webhookID: String, aboutResource resourceID: String) -> Bool {
        if type.hasPrefix("webhook.") {
            guard resourceID != webhookID else { return false }
            return patterns.contains { $0 == type || $0 == "webhook.*" }
        }
        return patterns.contains { p in
            p == "*" || p == type || (p.hasSuffix(".*") && type.hasPrefix(p.dropLast()))
        }
    }
}

/// `X-Miosa-Signature: sha256=<lowercase hex HMAC-SHA256 of the raw body, keyed by the secret's UTF-8>`
/// (the Python SDK's `verify_signature`).
enum WebhookSignature {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func sign(body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        var out = Array("sha256=".utf8)
        out.reserveCapacity(7 + 64)
        for b in mac {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func newSecret() -> String { IDs.token("whsec_", length: 32) }
}
