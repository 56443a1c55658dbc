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

    static let mounts: [(api: String, host: String)] = [("/workspace", "workspace"), ("/tmp", "tmp"), ("/home/user", "home")]

    static func invalid(_ path: String, _ why: String) -> APIError {
        APIError(400, "invalid_path", "Path \(path) \(why).", details: .object(["path": .string(why)]))
    }

    /// Normalises an API path to an absolute one under a mount (`app.py` → `/workspace/app.py`).
    public static func normalize(_ path: String) throws -> String {
        guard !path.isEmpty else { throw invalid(path, "is empty") }
        guard !path.utf8.contains(0) else { throw invalid(path, "contains a NUL byte") }
        let absolute = path.hasPrefix("/") ? path : "/workspace/" + path
        var parts: [Substring] = []
        for seg in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            if seg == "." { continue }
            if seg == ".." { throw invalid(path, "must not contain '..'") }
            parts.append(seg)
        }
        let norm = "/" + parts.joined(separator: "/")
        guard mounts.contains(where: { norm == $0.api || norm.hasPrefix($0.api + "/") }) else {
            throw invalid(path, "is outside the sandbox (use /workspace/...)")
        }
        return norm
    }

    /// The host path for an API path, confined to the sandbox root (symlinks included).
    /// `mustExist` false allows a missing final component (for writes), still checking its parent.
    public static func hostPath(_ app: App, _ sandboxID: String, _ apiPath: String) throws -> String {
        let norm = try normalize(apiPath)
        let m = mounts.first { norm == $0.api || norm.hasPrefix($0.api + "/") }!
        let rootDir = root(app, sandboxID)
        let host = rootDir + "/" + m.host + String(norm.dropFirst(m.api.count))
        try confine(host, root: rootDir, apiPath: apiPath)
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
        // A dangling symlink as the last component would be followed by a write: refuse it.
        var st = stat()
        if suffix.isEmpty == false, lstat(probe + "/" + suffix[0], &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
            throw invalid(apiPath, "is a symbolic link that leads outside the sandbox")
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
}
