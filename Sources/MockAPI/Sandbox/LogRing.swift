/// The last lines a process printed, bounded in lines and bytes (oldest dropped first). A value type:
/// appending is amortised O(1) (a head index, compacted now and then).
public struct LogRing {
    public struct Entry: Equatable {
        public let stderr: Bool
        public let line: String
    }

    private var entries: [Entry] = []
    private var head = 0
    public private(set) var bytes = 0
    /// Lines dropped from the front so far.
    public private(set) var dropped = 0
    public let maxLines: Int
    public let maxBytes: Int

    public init(maxLines: Int = 10_000, maxBytes: Int = 1 << 20) {
        self.maxLines = maxLines
        self.maxBytes = maxBytes
    }

    public var count: Int { entries.count - head }
    public var all: ArraySlice<Entry> { entries[head...] }

    public mutating func append(stderr: Bool, line: String) {
        entries.append(Entry(stderr: stderr, line: line))
        bytes += line.utf8.count + 1
        while count > maxLines || (bytes > maxBytes && count > 1) {
            bytes -= entries[head].line.utf8.count + 1
            head += 1
            dropped += 1
        }
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// The last `n` entries (all when `n` <= 0).
    public func tail(_ n: Int) -> ArraySlice<Entry> {
        n <= 0 || n >= count ? all : entries[(entries.count - n)...]
    }

    /// `[[stream, line], ...]` for storage.
    public var json: JSON {
        .array(all.map { .array([.string($0.stderr ? "stderr" : "stdout"), .string($0.line)]) })
    }

    public static func entries(fromJSON text: String) -> [Entry] {
        guard let arr = (try? JSON.parse(text))?.array else { return [] }
        return arr.compactMap { pair in
            guard let p = pair.array, p.count == 2, let s = p[0].string, let l = p[1].string else { return nil }
            return Entry(stderr: s == "stderr", line: l)
        }
    }

    /// Log text as the logs route returns it: one line per entry, each ending in `\n`.
    public static func text<S: Sequence>(_ entries: S) -> String where S.Element == Entry {
        var out = ""
        for e in entries { out += e.line; out += "\n" }
        return out
    }
}
