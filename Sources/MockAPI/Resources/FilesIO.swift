#if canImport(Glibc)
import Glibc
#endif

/// Blocking POSIX file operations on already-confined host paths (see `SandboxPaths.hostPath`).
/// They run on the loop thread: files here are small (uploads stop at 10 MB) and a mock serves one
/// client at a time in practice; every operation maps errno onto one API error.
enum FilesIO {
    struct Info {
        var isDir: Bool
        var isSymlink: Bool
        var size: Int
        var mode: Int
        var mtime: Double
    }

    /// lstat (`follow` false) or stat; nil when the path does not exist.
    static func info(_ host: String, follow: Bool = true) -> Info? {
        var st = stat()
        let rc = follow ? stat(host, &st) : lstat(host, &st)
        guard rc == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        return Info(isDir: kind == S_IFDIR, isSymlink: kind == S_IFLNK, size: Int(st.st_size),
                    mode: Int(st.st_mode & 0o7777),
                    mtime: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    static func linkTarget(_ host: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(host, &buf, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The API error for a failed call on `apiPath`.
    static func failure(_ err: Int32, _ apiPath: String) -> APIError {
        switch err {
        case ENOENT: return APIError(404, "file_not_found", "No file or directory at \(apiPath).")
        case EISDIR: return APIError(400, "is_a_directory", "\(apiPath) is a directory; a file was expected.")
        case ENOTDIR: return APIError(400, "not_a_directory", "A component of \(apiPath) is not a directory.")
        case EEXIST: return APIError(409, "path_exists", "\(apiPath) already exists.")
        case ENOTEMPTY: return APIError(409, "directory_not_empty", "\(apiPath) is a directory that is not empty (pass recursive: true).")
        case EACCES, EPERM: return APIError(403, "permission_denied", "Permission denied for \(apiPath).")
        case ENAMETOOLONG, ELOOP: return APIError(400, "invalid_path", "Path \(apiPath) cannot be resolved.")
        case ENOSPC, EDQUOT: return APIError(507, "insufficient_storage", "No space left for \(apiPath).")
        default: return APIError(500, "filesystem_error", "File operation on \(apiPath) failed: \(String(cString: strerror(err))).")
        }
    }

    /// Reads a whole regular file; directories are 400 `is_a_directory`, files over `limit` 413.
    static func readFile(_ host: String, apiPath: String, limit: Int) throws -> [UInt8] {
        let fd = open(host, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno, apiPath) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failure(errno, apiPath) }
        if st.st_mode & S_IFMT == S_IFDIR { throw failure(EISDIR, apiPath) }
        guard Int(st.st_size) <= limit else {
            throw APIError(413, "file_too_large", "\(apiPath) is \(st.st_size) bytes; downloads are limited to \(limit) bytes.")
        }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var off = 0
        while off < out.count {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw failure(errno, apiPath) }
            if n == 0 { break }
            off += n
        }
        if off < out.count { out.removeLast(out.count - off) }  // the file shrank while we read it
        return out
    }

    /// Creates missing parent directories, then writes (truncating). Returns true when the file is new.
    @discardableResult
    static func writeFile(_ host: String, _ bytes: [UInt8], apiPath: String, mode: mode_t = 0o644) throws -> Bool {
        try makeDirectories(parentOf(host), apiPath: apiPath)
        let existed = info(host) != nil
        let fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(errno, apiPath) }
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw failure(errno, apiPath) }
            off += n
        }
        return !existed
    }

    static func parentOf(_ host: String) -> String {
        guard let i = host.lastIndex(of: "/"), i != host.startIndex else { return "/" }
        return String(host[..<i])
    }

    static func name(_ host: String) -> String {
        guard let i = host.lastIndex(of: "/") else { return host }
        return String(host[host.index(after: i)...])
    }

    /// `mkdir -p`. Returns true when the last directory was created by this call.
    @discardableResult
    static func makeDirectories(_ host: String, apiPath: String, mode: mode_t = 0o755) throws -> Bool {
        if let i = info(host) {
            if i.isDir { return false }
            throw failure(ENOTDIR, apiPath)
        }
        try makeDirectories(parentOf(host), apiPath: apiPath, mode: mode)
        if mkdir(host, mode) != 0 && errno != EEXIST { throw failure(errno, apiPath) }
        return true
    }

    /// Names in a directory (without `.` and `..`), sorted.
    static func entries(_ host: String, apiPath: String) throws -> [String] {
        guard let dir = opendir(host) else { throw failure(errno, apiPath) }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw -> String in
                let bytes = raw.bindMemory(to: UInt8.self)
                let len = bytes.firstIndex(of: 0) ?? bytes.count
                return String(decoding: bytes[0..<len], as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file, a symlink (not its target) or a whole directory tree.
    static func remove(_ host: String, apiPath: String, recursive: Bool) throws {
        guard let i = info(host, follow: false) else { throw failure(ENOENT, apiPath) }
        if !i.isDir {
            if unlink(host) != 0 { throw failure(errno, apiPath) }
            return
        }
        if recursive {
            for n in try entries(host, apiPath: apiPath) { try remove(host + "/" + n, apiPath: apiPath, recursive: true) }
        }
        if rmdir(host) != 0 { throw failure(errno == EEXIST ? ENOTEMPTY : errno, apiPath) }
    }

    /// Copies a file or tree without following symlinks (links are recreated as links, so a planted link
    /// stays a link and is still refused on read). At most `budget` entries; other file types are skipped.
    static func copyTree(_ from: String, _ to: String, apiPath: String, budget: inout Int) throws {
        guard let i = info(from, follow: false) else { throw failure(ENOENT, apiPath) }
        budget -= 1
        guard budget >= 0 else {
            throw APIError(413, "too_many_files", "Copying \(apiPath) would copy more than the allowed number of entries.")
        }
        if i.isSymlink {
            guard let target = linkTarget(from) else { throw failure(errno, apiPath) }
            if symlink(target, to) != 0 { throw failure(errno, apiPath) }
        } else if i.isDir {
            if mkdir(to, mode_t(i.mode)) != 0 && errno != EEXIST { throw failure(errno, apiPath) }
            for n in try entries(from, apiPath: apiPath) {
                try copyTree(from + "/" + n, to + "/" + n, apiPath: apiPath, budget: &budget)
            }
        } else {
            var st = stat()
            guard lstat(from, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
            let bytes = try readFile(from, apiPath: apiPath, limit: Int.max)
            _ = try writeFile(to, bytes, apiPath: apiPath, mode: mode_t(i.mode))
            _ = chmod(to, mode_t(i.mode))
        }
    }

    /// Octal permission string (`0644`).
    static func modeString(_ mode: Int) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Accepts `0755`, `"0755"`, `"755"`, `"0o755"` or the integer 493; nil when it is none of those.
    static func parseMode(_ v: JSON) -> Int? {
        if let n = v.int { return (0...0o7777).contains(n) ? n : nil }
        guard var s = v.string?.lowercased() else { return nil }
        if s.hasPrefix("0o") { s.removeFirst(2) }
        guard !s.isEmpty, s.count <= 5, let n = Int(s, radix: 8), (0...0o7777).contains(n) else { return nil }
        return n
    }
}
