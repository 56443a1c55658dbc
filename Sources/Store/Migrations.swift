/// A numbered schema change. Versions are applied in ascending order, each once, in its own transaction.
public struct Migration {
    public let version: Int
    public let name: String
    public let sql: String

    public init(_ version: Int, _ name: String, _ sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension Database {
    /// Applies every migration newer than what the file records; returns the versions applied.
    @discardableResult
    public func migrate(_ migrations: [Migration], now: String) throws -> [Int] {
        try execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
            """)
        var applied = Set<Int>()
        try forEach("SELECT version FROM schema_migrations") { s in applied.insert(s.int(0)); return true }
        var done: [Int] = []
        let versions = migrations.map(\.version)
        precondition(Set(versions).count == versions.count, "duplicate migration version")
        for m in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(m.version) {
            try transaction {
                try execute(m.sql)
                try run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        [.int(Int64(m.version)), .text(m.name), .text(now)])
            }
            done.append(m.version)
        }
        return done
    }
}
