import Store

/// Loads tenants, workspaces, API keys and templates from a fixtures document into an empty store.
/// The default document is `fixtures/default.json`, embedded here so the binary serves on its own
/// (a test checks the two stay identical).
public enum Fixtures {
    public static let defaultDocument = #"""
{
  "tenants": [
    {
      "id": "5b0c7f1e-3c2a-4d8e-9f10-6a1b2c3d4e5f",
      "name": "Mock Organization",
      "slug": "mock-org",
      "plan": "pro",
      "workspaces": [
        {"id": "8e2d4c6a-1b3f-4a5d-8c7e-9f0a1b2c3d4e", "name": "Default Workspace", "slug": "default", "default": true}
      ],
      "api_keys": [
        {"id": "a3f1e5d7-2c4b-4e6a-8d9f-0b1c2d3e4f50", "name": "Default key", "key": "msk_live_miosamock_default_key_0000000001", "scopes": ["*"]}
      ]
    }
  ],
  "templates": [
    {"id": "miosa-sandbox", "name": "MIOSA Sandbox", "description": "General-purpose Linux sandbox with Python 3 and common tools."},
    {"id": "python", "name": "Python", "description": "Python 3 sandbox."},
    {"id": "node", "name": "Node.js", "description": "Node.js sandbox."}
  ]
}
"""#

    /// The first API key of the first tenant: printed at start so a user can copy it.
    public static func firstKey(_ doc: JSON) -> String? {
        doc["tenants"]?.array?.first?["api_keys"]?.array?.first?["key"]?.string
    }

    public static func load(_ doc: JSON, into db: Database, now: String, sandboxesDir: String) throws {
        guard let tenants = doc["tenants"]?.array else {
            throw APIError.badRequest("fixtures: a \"tenants\" array is required", code: "invalid_fixtures")
        }
        for t in tenants {
            guard let tid = t["id"]?.string, let name = t["name"]?.string else {
                throw APIError.badRequest("fixtures: each tenant needs id and name", code: "invalid_fixtures")
            }
            let slug = t["slug"]?.string ?? slugify(name)
            try db.run("INSERT INTO tenants (id, name, slug, plan, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [.text(tid), .text(name), .text(slug), .text(t["plan"]?.string ?? "pro"), .text(now), .text(now)])
            var sawDefault = false
            for (i, w) in (t["workspaces"]?.array ?? []).enumerated() {
                guard let wid = w["id"]?.string, let wname = w["name"]?.string else {
                    throw APIError.badRequest("fixtures: each workspace needs id and name", code: "invalid_fixtures")
                }
                let isDefault = (w["default"]?.bool ?? (i == 0)) && !sawDefault
                sawDefault = sawDefault || isDefault
                try db.run("""
                    INSERT INTO workspaces (id, tenant_id, name, slug, is_default, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [.text(wid), .text(tid), .text(wname), .text(w["slug"]?.string ?? slugify(wname)),
                          .of(isDefault), .text(now), .text(now)])
            }
            if !sawDefault {
                try db.run("""
                    INSERT INTO workspaces (id, tenant_id, name, slug, is_default, created_at, updated_at)
                    VALUES (?, ?, 'Default Workspace', 'default', 1, ?, ?)
                    """, [.text(IDs.uuid()), .text(tid), .text(now), .text(now)])
            }
            for k in t["api_keys"]?.array ?? [] {
                guard let key = k["key"]?.string, key.hasPrefix("msk_") else {
                    throw APIError.badRequest("fixtures: each api key needs a key starting with msk_", code: "invalid_fixtures")
                }
                let scopes = k["scopes"] ?? .array([.string("*")])
                try db.run("""
                    INSERT INTO api_keys (id, tenant_id, workspace_id, name, prefix, key_hash, scopes, expires_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(k["id"]?.string ?? IDs.uuid()), .text(tid), .of(k["workspace_id"]?.string),
                          .text(k["name"]?.string ?? "fixture key"), .text(String(key.prefix(16))),
                          .text(Tenancy.hash(key)), .text(scopes.encodedString), .of(k["expires_at"]?.string),
                          .text(now), .text(now)])
            }
        }
        for tpl in doc["templates"]?.array ?? [] {
            guard let id = tpl["id"]?.string else { continue }
            try db.run("""
                INSERT INTO templates (id, name, slug, description, built_in, created_at, updated_at)
                VALUES (?, ?, ?, ?, 1, ?, ?)
                """, [.text(id), .text(tpl["name"]?.string ?? id), .text(id), .of(tpl["description"]?.string), .text(now), .text(now)])
        }
    }
}
