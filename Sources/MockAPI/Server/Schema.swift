import Store

/// The core schema. Later resource groups add their own migrations (see `ResourceGroup.migrations`);
/// version ranges keep them apart: 1–99 core, 100–199 idempotency/rate/control, 200–299 sandbox runtime,
/// 300–399 events and streams, 400–499 platform resources.
enum Schema {
    static let core: [Migration] = [
        Migration(1, "tenancy and sandboxes", """
            CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE,
                plan TEXT NOT NULL DEFAULT 'pro', status TEXT NOT NULL DEFAULT 'active',
                metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE TABLE workspaces (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                name TEXT NOT NULL, slug TEXT NOT NULL, description TEXT, metadata TEXT NOT NULL DEFAULT '{}',
                external_workspace_id TEXT, external_user_id TEXT, is_default INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (tenant_id, slug));
            CREATE TABLE projects (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                name TEXT NOT NULL, slug TEXT NOT NULL, description TEXT, metadata TEXT NOT NULL DEFAULT '{}',
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (workspace_id, slug));
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                workspace_id TEXT REFERENCES workspaces(id) ON DELETE SET NULL,
                name TEXT NOT NULL, prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
                scopes TEXT NOT NULL DEFAULT '["*"]', status TEXT NOT NULL DEFAULT 'active',
                expires_at TEXT, last_used_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE templates (
                id TEXT PRIMARY KEY, tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
                name TEXT NOT NULL, slug TEXT, description TEXT, build_spec TEXT NOT NULL DEFAULT '{}',
                status TEXT NOT NULL DEFAULT 'ready', metadata TEXT NOT NULL DEFAULT '{}',
                built_in INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE TABLE sandboxes (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                workspace_id TEXT, project_id TEXT,
                name TEXT, slug TEXT, state TEXT NOT NULL, template_id TEXT NOT NULL,
                size TEXT NOT NULL, cpu_count INTEGER NOT NULL, memory_mb INTEGER NOT NULL, disk_size_mb INTEGER NOT NULL,
                region TEXT, timeout_sec INTEGER, idle_timeout_sec INTEGER,
                always_on INTEGER NOT NULL DEFAULT 0, persistent INTEGER NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', env TEXT NOT NULL DEFAULT '{}',
                external_workspace_id TEXT, external_user_id TEXT, external_project_id TEXT,
                boot_ms INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL, started_at TEXT, ready_at TEXT, stopped_at TEXT, destroyed_at TEXT,
                updated_at TEXT NOT NULL,
                -- epoch seconds (server clock) when a non-always-on sandbox times out; NULL = never
                deadline REAL);
            CREATE INDEX sandboxes_tenant_state ON sandboxes (tenant_id, state);
            CREATE INDEX sandboxes_tenant_name ON sandboxes (tenant_id, name);
            CREATE INDEX sandboxes_tenant_slug ON sandboxes (tenant_id, slug);
            """),
        Migration(2, "sandbox environment variables", """
            CREATE TABLE sandbox_env (
                sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
                key TEXT NOT NULL, value TEXT NOT NULL, encrypted INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (sandbox_id, key));
            """),
        // Lists are "this tenant's sandboxes, newest first": an index on tenant_id carries the rowid in order,
        // so SQLite walks it backwards instead of sorting every row of the tenant in a temporary B-tree.
        Migration(3, "sandbox list order", "CREATE INDEX sandboxes_tenant ON sandboxes (tenant_id);"),
    ]
}

/// A resource group: its routes, and the migrations its tables need.
public protocol ResourceGroup {
    static var migrations: [Migration] { get }
    static func register(_ app: App)
}

extension ResourceGroup {
    public static var migrations: [Migration] { [] }
}
