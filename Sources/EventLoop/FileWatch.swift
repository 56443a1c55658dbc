import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// One `uv_fs_event` handle watching one path (a file, or a directory and its direct children).
/// On Linux libuv uses inotify: not recursive, and a new file shows up as RENAME then CHANGE.
/// `TreeWatch` builds recursion, debouncing and created/modified/deleted/renamed on top of this.
public final class FileWatch: UVHandleOwner {
    public struct Events: OptionSet, Equatable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// Created, deleted, moved in or out (inotify IN_CREATE, IN_DELETE, IN_MOVED_*, IN_*_SELF).
        public static let rename = Events(rawValue: Int32(UV_RENAME.rawValue))
        /// Content or attributes changed (IN_MODIFY, IN_ATTRIB).
        public static let change = Events(rawValue: Int32(UV_CHANGE.rawValue))
    }

    /// `filename` is the child's name relative to the watched directory (nil when libuv has none).
    public typealias Callback = (_ filename: String?, _ events: Events, _ error: UVError?) -> Void

    private var callback: Callback?
    public private(set) var path = ""

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_FS_EVENT)
        uv_fs_event_init(loop.raw, raw)
        activate()
    }

    var raw: UnsafeMutablePointer<uv_fs_event_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_fs_event_t.self)
    }

    /// Starts watching. Throws on ENOENT, ENOTDIR or ENOSPC (inotify watch limit); the caller still owns
    /// the handle and must `close()` it.
    public func start(path: String, _ cb: @escaping Callback) throws {
        loop.assertOnLoop()
        guard !isClosing else { throw UVError(Int32(UV_EINVAL.rawValue)) }
        callback = cb
        self.path = path
        try check(uv_fs_event_start(raw, { h, filename, events, status in
            guard let h = h, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: FileWatch.self) else { return }
            let name = filename.map { String(cString: $0) }
            owner.callback?(name, Events(rawValue: events), status < 0 ? UVError(status) : nil)
        }, path, 0))
    }

    /// uv_fs_event_stop before uv_close: no callback may run once the owner starts closing.
    override func willClose() { uv_fs_event_stop(raw) }
    override func didClose() { callback = nil }
}

/// What `lstat` says about a path (symlinks are not followed: a link is reported as itself).
public struct FileStat: Equatable {
    public var isDir: Bool
    public var size: Int64
    public var inode: UInt64
    public var mtimeNs: Int64

    public init(isDir: Bool, size: Int64, inode: UInt64, mtimeNs: Int64 = 0) {
        self.isDir = isDir
        self.size = size
        self.inode = inode
        self.mtimeNs = mtimeNs
    }

    public static func of(_ path: String) -> FileStat? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileStat(isDir: (st.st_mode & S_IFMT) == S_IFDIR, size: Int64(st.st_size), inode: UInt64(st.st_ino),
                        mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}

/// One change as a watcher reports it.
public struct FileChange: Equatable {
    public enum Kind: String { case created, modified, deleted, renamed }
    public var kind: Kind
    public var path: String
    public var oldPath: String?
    public var isDir: Bool
    public var size: Int64

    public init(kind: Kind, path: String, oldPath: String? = nil, isDir: Bool, size: Int64) {
        self.kind = kind
        self.path = path
        self.oldPath = oldPath
        self.isDir = isDir
        self.size = size
    }
}

/// Turns what was known about each touched path before a debounce window and what exists after it into
/// changes. A value with no I/O, so it is tested without a file system.
///
/// - unknown → exists: created; known → gone: deleted; known → exists: modified (directories are not
///   reported as modified: their own metadata changes whenever a child does);
/// - a deleted path whose inode now sits at another touched path is a rename (inotify's MOVED_FROM/TO
///   cookie is not exposed by libuv, the inode pairs them instead); renaming over an existing file counts.
/// - unknown → gone (a temporary file that came and went inside one window) is nothing.
public enum WatchClassifier {
    public struct Touched: Equatable {
        public var path: String
        public var before: FileStat?
        public var after: FileStat?
        public init(path: String, before: FileStat?, after: FileStat?) {
            self.path = path
            self.before = before
            self.after = after
        }
    }

    public static func classify(_ touched: [Touched]) -> [FileChange] {
        var renamedFrom: [Int: Int] = [:]  // index of the target → index of the source
        var consumedSources = Set<Int>()
        for (si, s) in touched.enumerated() {
            guard let old = s.before, s.after == nil else { continue }
            for (ti, t) in touched.enumerated() where ti != si && renamedFrom[ti] == nil {
                guard let now = t.after, now.inode == old.inode, t.before?.inode != now.inode else { continue }
                renamedFrom[ti] = si
                consumedSources.insert(si)
                break
            }
        }
        var out: [FileChange] = []
        for (i, t) in touched.enumerated() {
            if consumedSources.contains(i) { continue }
            if let si = renamedFrom[i], let now = t.after {
                out.append(FileChange(kind: .renamed, path: t.path, oldPath: touched[si].path, isDir: now.isDir, size: now.size))
                continue
            }
            switch (t.before, t.after) {
            case (nil, let now?):
                out.append(FileChange(kind: .created, path: t.path, isDir: now.isDir, size: now.size))
            case (let old?, nil):
                out.append(FileChange(kind: .deleted, path: t.path, isDir: old.isDir, size: 0))
            case (let old?, let now?):
                if old.isDir != now.isDir {  // replaced by a different kind of entry
                    out.append(FileChange(kind: .deleted, path: t.path, isDir: old.isDir, size: 0))
                    out.append(FileChange(kind: .created, path: t.path, isDir: now.isDir, size: now.size))
                } else if !now.isDir {
                    out.append(FileChange(kind: .modified, path: t.path, isDir: false, size: now.size))
                }
            case (nil, nil):
                break
            }
        }
        return out
    }
}
