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
        _ = scan(root, report: false)
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

    /// Records what is under `dir` (and watches subdirectories when recursive). With `report`, returns a
    /// `created` change for each entry found: they appeared before the directory's watch existed.
    private func scan(_ dir: String, report: Bool) -> [FileChange] {
        var out: [FileChange] = []
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
                if known[path] == nil {
                    guard known.count < maxEntries else { incomplete = true; return out }
                    known[path] = st
                    if report { out.append(FileChange(kind: .created, path: path, isDir: st.isDir, size: st.size)) }
                }
                if st.isDir && recursive {
                    try? watch(directory: path)
                    stack.append(path)
                }
            }
        }
        return out
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
        let touched = paths.map { WatchClassifier.Touched(path: $0, before: known[$0], after: FileStat.of($0)) }
        var out: [FileChange] = []
        for change in WatchClassifier.classify(touched) {
            out.append(change)
            apply(change, into: &out)
        }
        if !out.isEmpty { onChanges?(out) }
    }

    /// Updates the snapshot and the set of watched directories after `change`.
    private func apply(_ change: FileChange, into out: inout [FileChange]) {
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
            if st.isDir && recursive {
                try? watch(directory: change.path)
                // A renamed directory brings its contents along (no events for them); a new one may already
                // hold entries created before its watch existed.
                out += scan(change.path, report: change.kind == .created)
            }
        }
    }
}
