import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// Watches a directory tree: one `FileWatch` per directory (inotify is not recursive), watches added for
/// directories created later and dropped for removed ones, notifications debounced into batches and turned
/// into created/modified/deleted/renamed by comparing a snapshot of what existed with what exists now.
///
/// File-system reads (lstat, readdir) run synchronously on the loop thread: they hit the page cache of a
/// local sandbox directory and are bounded by `maxDirectories` and `maxEntries`.
public final class TreeWatch {
    public let loop: Loop
    public let root: String
    public let recursive: Bool
    public let debounceMs: UInt64
    public let maxDirectories: Int
    public let maxEntries: Int
    /// Called on the loop thread with each debounced batch, in notification order.
    public var onChanges: (([FileChange]) -> Void)?
    /// A watch could not be added (inotify limit) or a limit was reached: later changes may be missed.
    public private(set) var incomplete = false

    private var watches: [String: FileWatch] = [:]
    private var known: [String: FileStat] = [:]
    private var touchedOrder: [String] = []
    private var touchedSet = Set<String>()
    private var timer: Timer?
    private var armed = false
    private var closed = false

    public init(loop: Loop, root: String, recursive: Bool = true, debounceMs: UInt64 = 20,
                maxDirectories: Int = 4096, maxEntries: Int = 200_000) {
        self.loop = loop
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.recursive = recursive
        self.debounceMs = debounceMs
        self.maxDirectories = maxDirectories
        self.maxEntries = maxEntries
    }

    public var directoryCount: Int { watches.count }
    public var isClosed: Bool { closed }

    /// Snapshots the tree and starts watching. Throws when the root itself cannot be watched.
    public func start() throws {
        loop.assertOnLoop()
        guard let st = FileStat.of(root), st.isDir else { throw UVError(Int32(UV_ENOTDIR.rawValue)) }
        try watch(directory: root)
        scan(root)
    }

    /// Stops every watch and the debounce timer. Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        timer?.close()
        timer = nil
        for w in watches.values { w.close() }
        watches.removeAll()
        known.removeAll()
        onChanges = nil
    }

    // MARK: watches

    private func watch(directory dir: String) throws {
        guard watches[dir] == nil else { return }
        guard watches.count < maxDirectories else { incomplete = true; return }
        let w = FileWatch(loop: loop)
        do {
            try w.start(path: dir) { [weak self] name, _, error in
                guard let self = self, !self.closed, error == nil else { return }
                // Without a name the event is about the directory itself; its parent's watch reports that.
                guard let name = name, !name.isEmpty else { return }
                self.touch(dir + "/" + name)
            }
        } catch {
            w.close()
            if dir == root { throw error }
            incomplete = true
            return
        }
        watches[dir] = w
    }

    private func unwatch(under dir: String) {
        for (path, w) in watches where path == dir || path.hasPrefix(dir + "/") {
            w.close()
            watches[path] = nil
        }
        for path in known.keys where path.hasPrefix(dir + "/") { known[path] = nil }
    }

    /// Visits every entry under `dir`, depth first (into subdirectories only when recursive), until
    /// `visit` returns false.
    private func walk(_ dir: String, _ visit: (String, FileStat) -> Bool) {
        var stack = [dir]
        while let d = stack.popLast() {
            guard let handle = opendir(d) else { continue }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                let path = d + "/" + name
                guard let st = FileStat.of(path) else { continue }
                if !visit(path, st) { return }
                if st.isDir && recursive { stack.append(path) }
            }
        }
    }

    /// Records what is under `dir` without reporting it, watching subdirectories when recursive.
    private func scan(_ dir: String) {
        walk(dir) { path, st in
            guard known[path] != nil || known.count < maxEntries else { incomplete = true; return false }
            known[path] = st
            if st.isDir && recursive { try? watch(directory: path) }
            return true
        }
    }

    // MARK: debounce

    private func touch(_ path: String) {
        if touchedSet.insert(path).inserted { touchedOrder.append(path) }
        guard !armed else { return }
        armed = true
        if timer == nil { timer = Timer(loop: loop) }
        timer!.start(ms: debounceMs) { [weak self] in self?.flush() }
    }

    private func flush() {
        armed = false
        guard !closed else { return }
        let paths = touchedOrder
        touchedOrder = []
        touchedSet = []
        var touched: [WatchClassifier.Touched] = []
        var listed = Set(paths)
        for p in paths {
            let before = known[p], after = FileStat.of(p)
            touched.append(WatchClassifier.Touched(path: p, before: before, after: after))
            // A directory that appeared may already hold entries made before its watch existed: they count as
            // touched too, so a file moved into a brand-new directory still pairs up as a rename.
            guard recursive, let a = after, a.isDir, before?.isDir != true else { continue }
            walk(p) { path, st in
                guard known.count + touched.count < maxEntries else { incomplete = true; return false }
                if known[path] == nil && listed.insert(path).inserted {
                    touched.append(WatchClassifier.Touched(path: path, before: nil, after: st))
                }
                return true
            }
        }
        var changes = WatchClassifier.classify(touched)
        // A directory moved in brings its contents along: they are not new files.
        let movedDirs = changes.filter { $0.kind == .renamed && $0.isDir }.map(\.path)
        if !movedDirs.isEmpty {
            changes.removeAll { c in c.kind == .created && movedDirs.contains { c.path.hasPrefix($0 + "/") } }
        }
        for change in changes { apply(change) }
        if !changes.isEmpty { onChanges?(changes) }
    }

    /// Updates the snapshot and the set of watched directories after `change`.
    private func apply(_ change: FileChange) {
        if let old = change.oldPath {
            known[old] = nil
            if change.isDir { unwatch(under: old) }
        }
        switch change.kind {
        case .deleted:
            known[change.path] = nil
            if change.isDir { unwatch(under: change.path) }
        case .created, .modified, .renamed:
            guard let st = FileStat.of(change.path) else { return }
            if known[change.path] == nil && known.count >= maxEntries { incomplete = true; return }
            known[change.path] = st
            guard st.isDir && recursive else { return }
            try? watch(directory: change.path)
            if change.kind == .renamed { scan(change.path) }
        }
    }
}
