/// Which events a stream wants: type globs (`sandbox.*`), producers (type prefixes: `file`, `process`),
/// and path prefixes that narrow `file.*` events by `data.path`. Empty lists match everything.
public struct EventFilter: Equatable {
    public var types: [String] = []
    public var producers: [String] = []
    /// API paths (`/workspace/src`), already normalised.
    public var paths: [String] = []

    public init(types: [String] = [], producers: [String] = [], paths: [String] = []) {
        self.types = types
        self.producers = producers
        self.paths = paths
    }

    public func matches(type: String, path: @autoclosure () -> String?) -> Bool {
        if !types.isEmpty && !types.contains(where: { EventFilter.glob($0, type) }) { return false }
        if !producers.isEmpty && !producers.contains(where: { type == $0 || type.hasPrefix($0 + ".") }) { return false }
        if !paths.isEmpty && type.hasPrefix("file.") {
            guard let p = path() else { return false }
            return paths.contains { EventFilter.isUnder(p, $0) }
        }
        return true
    }

    public func matches(_ e: BusEvent) -> Bool { matches(type: e.type, path: e.dataPath) }

    /// `path` equals `prefix` or lies below it (`/workspace/srcx` is not under `/workspace/src`).
    public static func isUnder(_ path: String, _ prefix: String) -> Bool {
        if prefix == "/" || path == prefix { return true }
        return path.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/")
    }

    /// `*` matches any run of characters (dots included); everything else is literal.
    public static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0
        var star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] != 0x2a && p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count && p[pi] == 0x2a {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == 0x2a { pi += 1 }
        return pi == p.count
    }

    private static func trim(_ v: String) -> String {
        var s = Substring(v)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    /// Comma-separated values of every given query key, trimmed, empty ones dropped.
    static func list(_ q: Query, _ keys: String...) -> [String] {
        var out: [String] = []
        for k in keys {
            for v in q.all(k) {
                let s = trim(v)
                if !s.isEmpty { out.append(s) }
            }
        }
        return out
    }
}

/// Where one event subscriber is: replaying stored events after a cursor, or live. A value with no I/O
/// (DESIGN style 5): the hub performs what it decides.
///
/// The seam: recording is synchronous and fan-out later, so when a replay finds nothing more in the table,
/// every stored event up to the bus's `lastID` has been seen; live events at or below that id are skipped
/// (no duplicates) and every later one arrives by fan-out (no gaps).
public struct SubscriberState: Equatable {
    public enum Phase: Equatable {
        case replaying(after: Int64)
        case live(lastSent: Int64)
        case ended
    }
    public private(set) var phase: Phase

    /// `resumeAfter` is the client's Last-Event-ID (nil: start live at `head`, the newest id recorded).
    public init(resumeAfter: Int64?, head: Int64) {
        if let r = resumeAfter, r < head { phase = .replaying(after: max(0, r)) } else { phase = .live(lastSent: head) }
    }

    public var isReplaying: Bool { if case .replaying = phase { return true }; return false }
    public var isEnded: Bool { phase == .ended }

    /// A live event arrived: true when it should be sent. During a replay the table supplies it later.
    public mutating func offer(_ id: Int64) -> Bool {
        guard case .live(let last) = phase, id > last else { return false }
        phase = .live(lastSent: id)
        return true
    }

    /// A replay page was read (and its matching events sent). `lastRowID` is the last row read, matching or
    /// not; `exhausted` means the page was short, so the table holds nothing newer in scope.
    public mutating func replayed(lastRowID: Int64?, exhausted: Bool, head: Int64) {
        guard case .replaying(let after) = phase else { return }
        let cursor = max(after, lastRowID ?? after)
        phase = exhausted ? .live(lastSent: max(cursor, head)) : .replaying(after: cursor)
    }

    public mutating func end() { phase = .ended }
}

