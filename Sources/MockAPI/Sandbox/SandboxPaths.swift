import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Maps API paths (`/workspace/app.py`, `app.py`, `/home/user/x`) onto a sandbox's root on the host and
/// refuses anything that would leave it: `..` segments, absolute paths outside the mapped roots, and
/// symlinks whose target resolves outside the sandbox root (400 `invalid_path`).
///
/// Layout: `<data>/sandboxes/<id>/` is the root; `workspace/` under it is `/workspace` in the API.
/// Relative paths are relative to `/workspace`. `/tmp/...` and `/home/user/...` map to `tmp/` and `home/`.
public enum SandboxPaths {
    public static func root(_ app: App, _ sandboxID: String) -> String { app.sandboxesDir + "/" + sandboxID }
    public static func workspace(_ app: App, _ sandboxID: String) -> String { root(app, sandboxID) + "/workspace" }

    /// Makes the sandbox's root and its three mounts if they are missing; returns the root. A sandbox's
    /// directories are made on first use (a file call, exec, a process, a watch, a preview), not at create:
    /// four mkdir(2) calls were most of a create's time, and most sandboxes a frontend or SDK test creates
    /// never touch a file. `hostPath` calls this, so every way into a sandbox's files goes through it.
    @discardableResult
    public static func materialize(_ app: App, _ sandboxID: String) throws -> String {
        let r = root(app, sandboxID)
        var missing = false
        for m in mounts where access(r + "/" + m.host, F_OK) != 0 { missing = true; break }
        guard missing else { return r }
        do {
            for m in mounts { try FileManager.default.createDirectory(atPath: r + "/" + m.host, withIntermediateDirectories: true) }
        } catch {
            throw APIError(500, "sandbox_filesystem_unavailable", "Sandbox \(sandboxID) has no filesystem on this server: \(error).")
        }
        return r
    }

    static let mounts: [(api: String, host: String)] = [("/workspace", "workspace"), ("/tmp", "tmp"), ("/home/user", "home")]

    static func invalid(_ path: String, _ why: String) -> APIError {
        APIError(400, "invalid_path", "Path \(path) \(why).", details: .object(["path": .string(why)]))
    }

    /// Normalises an API path to an absolute one under a mount (`app.py` → `/workspace/app.py`).
    public static func normalize(_ path: String) throws -> String {
        guard !path.isEmpty else { throw invalid(path, "is empty") }
        guard !path.utf8.contains(0) else { throw invalid(path, "contains a NUL byte") }
        guard path.utf8.count <= 4096 else { throw invalid(String(path.prefix(64)) + "...", "is longer than 4096 bytes") }
        let absolute = path.hasPrefix("/") ? path : "/workspace/" + path
        var parts: [Substring] = []
        for seg in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            if seg == "." { continue }
            if seg == ".." { throw invalid(path, "must not contain '..'") }
            if seg.utf8.count > 255 { throw invalid(path, "has a segment longer than 255 bytes") }
            parts.append(seg)
        }
        let norm = "/" + parts.joined(separator: "/")
        guard mounts.contains(where: { norm == $0.api || norm.hasPrefix($0.api + "/") }) else {
            throw invalid(path, "is outside the sandbox (use /workspace/...)")
        }
        return norm
    }

    /// True for `/workspace`, `/tmp` and `/home/user` themselves (never deleted, renamed or replaced).
    public static func isMountRoot(_ normalized: String) -> Bool { mounts.contains { $0.api == normalized } }

    /// The host path for an API path, confined to the sandbox root (symlinks included).
    /// A missing final component is allowed (for writes); its existing ancestors are still checked.
    /// With `followFinal` false the last component is not resolved (lstat semantics: delete or rename a
    /// symlink itself), but every directory above it is.
    public static func hostPath(_ app: App, _ sandboxID: String, _ apiPath: String, followFinal: Bool = true) throws -> String {
        let norm = try normalize(apiPath)
        let m = mounts.first { norm == $0.api || norm.hasPrefix($0.api + "/") }!
        let rootDir = try materialize(app, sandboxID)
        let host = rootDir + "/" + m.host + String(norm.dropFirst(m.api.count))
        if followFinal || isMountRoot(norm) {
            try confine(host, root: rootDir, apiPath: apiPath)
        } else {
            try confine((host as NSString).deletingLastPathComponent, root: rootDir, apiPath: apiPath)
        }
        return host
    }

    /// Resolves symlinks along the existing prefix of `host` and requires the result to stay under `root`.
    static func confine(_ host: String, root: String, apiPath: String) throws {
        let realRoot = realpathOf(root) ?? root
        var probe = host
        var suffix: [String] = []
        // Walk up to the deepest existing ancestor (the target itself may not exist yet).
        while realpathOf(probe) == nil {
            let parent = (probe as NSString).deletingLastPathComponent
            if parent == probe || parent.isEmpty { break }
            suffix.insert((probe as NSString).lastPathComponent, at: 0)
            probe = parent
        }
        guard let real = realpathOf(probe) else { return }
        if real != realRoot && !real.hasPrefix(realRoot + "/") {
            throw invalid(apiPath, "resolves outside the sandbox through a symbolic link")
        }
        // realpath() failed below `probe`: if that is because the next component is a dangling symlink,
        // a write would follow it wherever it points (possibly outside), so refuse it.
        var st = stat()
        if suffix.isEmpty == false, lstat(probe + "/" + suffix[0], &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
            throw invalid(apiPath, "goes through a dangling symbolic link")
        }
    }

    static func realpathOf(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// The API path for a host path under the sandbox root (for listings and events).
    public static func apiPath(_ app: App, _ sandboxID: String, host: String) -> String {
        let rootDir = root(app, sandboxID)
        for m in mounts {
            let base = rootDir + "/" + m.host
            if host == base { return m.api }
            if host.hasPrefix(base + "/") { return m.api + String(host.dropFirst(base.count)) }
        }
        return host
    }

    /// A path taken from a URL (`GET /files/workspace/a.txt`): absolute when it names a mount
    /// (`workspace/...`, `tmp/...`, `home/user/...`), else relative to `/workspace`.
    public static func fromURLPath(_ raw: String) -> String {
        let trimmed = raw.drop { $0 == "/" }
        let candidate = "/" + trimmed
        if mounts.contains(where: { candidate == $0.api || candidate.hasPrefix($0.api + "/") }) { return candidate }
        return String(trimmed)
    }
}
