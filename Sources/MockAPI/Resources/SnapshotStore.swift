import Foundation

/// Snapshot directories: `<data>/snapshots/<id>/workspace` (next to `<data>/sandboxes/`; in memory mode
/// both live in the server's temporary folder).
enum SnapshotStore {
    static let maxEntries = 100_000

    static func root(_ app: App) -> String { (app.sandboxesDir as NSString).deletingLastPathComponent + "/snapshots" }
    static func dir(_ app: App, _ id: String) -> String { root(app) + "/" + id }
    static func workspace(_ app: App, _ id: String) -> String { dir(app, id) + "/workspace" }

    /// Copies the entries of `from` into the existing directory `to` (symlinks stay links, see `FilesIO.copyTree`).
    static func copyWorkspace(from: String, to: String) throws {
        guard FilesIO.info(from)?.isDir == true else { return }  // nothing to copy: the new workspace starts empty
        var budget = maxEntries
        for name in try FilesIO.entries(from, apiPath: "/workspace") {
            try FilesIO.copyTree(from + "/" + name, to + "/" + name, apiPath: "/workspace/" + name, budget: &budget)
        }
    }

    /// (regular files, their total bytes) under `dir`, not following links.
    static func measure(_ dir: String) -> (Int, Int) {
        var files = 0, bytes = 0, budget = maxEntries
        func walk(_ d: String) {
            guard let names = try? FilesIO.entries(d, apiPath: d) else { return }
            for n in names where budget > 0 {
                budget -= 1
                guard let i = FilesIO.info(d + "/" + n, follow: false) else { continue }
                if i.isDir { walk(d + "/" + n) } else if !i.isSymlink { files += 1; bytes += i.size }
            }
        }
        walk(dir)
        return (files, bytes)
    }

    static func delete(_ app: App, _ id: String) {
        _ = try? app.db.run("DELETE FROM sandbox_snapshots WHERE id = ?", [.text(id)])
        try? FileManager.default.removeItem(atPath: dir(app, id))
    }

    /// Drops snapshots whose retention ran out on the server clock (rows and directories).
    static func sweep(_ app: App) {
        var expired: [String] = []
        try? app.db.forEach("SELECT id FROM sandbox_snapshots WHERE expires_at IS NOT NULL AND expires_at <= ?", [.double(app.now)]) { s in
            expired.append(s.text(0)); return true
        }
        for id in expired { delete(app, id) }
    }

    /// Records that a snapshot seeded a sandbox.
    static func touch(_ app: App, _ id: String) {
        _ = try? app.db.run("UPDATE sandbox_snapshots SET last_used_at = ?, updated_at = ? WHERE id = ?",
                        [.text(app.nowISO), .text(app.nowISO), .text(id)])
    }
}
