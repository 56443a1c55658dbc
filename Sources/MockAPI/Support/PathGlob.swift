/// A glob over URL paths, for fault rules and journal filters: `*` matches any run of characters inside one
/// segment, `**` (a whole segment) matches any number of segments, none included. Segments are compared
/// percent-decoded, like the router does; empty segments (double or trailing slashes) are ignored.
public struct PathGlob {
    public let pattern: String
    private let segments: [[UInt8]]

    public init(_ pattern: String) {
        self.pattern = pattern
        segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { Array(percentDecode($0).utf8) }
    }

    public var hasWildcards: Bool { pattern.contains("*") }

    public func matches<S: StringProtocol>(_ path: S) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { Array(percentDecode($0).utf8) }
        // table[i][j]: segments[i...] match parts[j...]. Filled from the end: O(pattern × path²) at worst,
        // never exponential however many `**` a rule holds.
        let n = segments.count, m = parts.count
        var table = [[Bool]](repeating: [Bool](repeating: false, count: m + 1), count: n + 1)
        table[n][m] = true
        var i = n - 1
        while i >= 0 {
            let seg = segments[i]
            var j = m
            while j >= 0 {
                if seg == PathGlob.doubleStar {
                    table[i][j] = table[i + 1][j] || (j < m && table[i][j + 1])
                } else {
                    table[i][j] = j < m && table[i + 1][j + 1] && PathGlob.segmentMatches(seg, parts[j])
                }
                j -= 1
            }
            i -= 1
        }
        return table[0][0]
    }

    /// Also tries the path relative to `/api/v1`, so `/sandboxes/*` means what a caller of the API means.
    public func matchesAPIPath(_ path: Substring) -> Bool {
        if matches(path) { return true }
        if path.hasPrefix(APIRoutes.prefix + "/") { return matches(path.dropFirst(APIRoutes.prefix.count)) }
        return false
    }

    private static let doubleStar: [UInt8] = [0x2a, 0x2a]

    /// `*` wildcards inside one segment; classic two-pointer match with backtracking to the last star.
    static func segmentMatches(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0
        var star = -1, mark = 0
        while si < s.count {
            if pi < p.count && p[pi] != 0x2a && p[pi] == s[si] {
                pi += 1; si += 1
            } else if pi < p.count && p[pi] == 0x2a {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == 0x2a { pi += 1 }
        return pi == p.count
    }
}
