#if canImport(Glibc)
import Glibc
#endif

/// One part of a `multipart/form-data` body (RFC 7578). The body is a byte range of the request,
/// never decoded as text, so binary files round-trip exactly.
public struct MultipartPart {
    public var headers: [(String, String)]
    public var name: String?
    public var filename: String?
    public var contentType: String?
    public var body: [UInt8]

    public func header(_ n: String) -> String? { headers.first { $0.0.lowercased() == n.lowercased() }?.1 }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small `multipart/form-data` parser: boundary from `Content-Type`, CRLF-delimited parts, header
/// blocks up to 8 KB, at most `maxParts` parts; anything malformed is a 400 `invalid_multipart`.
public enum Multipart {
    static func bad(_ why: String) -> APIError { APIError(400, "invalid_multipart", "Malformed multipart/form-data body: \(why).") }

    /// The `boundary` parameter of a `multipart/form-data` content type (quoted or not), else nil.
    public static func boundary(contentType: String) -> String? {
        let params = parameters(contentType)
        guard params.value.lowercased() == "multipart/form-data", let b = params.params["boundary"],
              !b.isEmpty, b.utf8.count <= 70 else { return nil }
        return b
    }

    public static func parse(_ body: [UInt8], boundary: String, maxParts: Int = 100) throws -> [MultipartPart] {
        let delim = Array(("--" + boundary).utf8)
        let crlfDelim = [0x0d, 0x0a] + delim
        // The first delimiter may open the body or follow a preamble line.
        var pos: Int
        if body.count >= delim.count && Array(body[0..<delim.count]) == delim {
            pos = delim.count
        } else if let i = find(crlfDelim, in: body, from: 0) {
            pos = i + crlfDelim.count
        } else {
            throw bad("the boundary \(boundary) never appears")
        }
        var parts: [MultipartPart] = []
        while true {
            if starts(body, at: pos, with: [0x2d, 0x2d]) { return parts }  // "--": the closing delimiter
            while pos < body.count && (body[pos] == 0x20 || body[pos] == 0x09) { pos += 1 }  // transport padding
            guard starts(body, at: pos, with: [0x0d, 0x0a]) else { throw bad("a delimiter line does not end with CRLF") }
            pos += 2
            guard let headEnd = find([0x0d, 0x0a, 0x0d, 0x0a], in: body, from: pos, limit: 8192) else {
                // A part without headers starts with the blank line at once.
                if starts(body, at: pos, with: [0x0d, 0x0a]) { throw bad("a part has no Content-Disposition header") }
                throw bad("a part's header block is missing its blank line or is over 8 KB")
            }
            let headers = try parseHeaders(Array(body[pos..<headEnd]))
            let bodyStart = headEnd + 4
            guard let end = find(crlfDelim, in: body, from: bodyStart) else { throw bad("the closing boundary is missing") }
            var part = MultipartPart(headers: headers, name: nil, filename: nil, contentType: nil, body: Array(body[bodyStart..<end]))
            guard let disposition = part.header("Content-Disposition") else { throw bad("a part has no Content-Disposition header") }
            let d = parameters(disposition)
            part.name = d.params["name"]
            part.filename = d.params["filename*"].flatMap(decodeExtended) ?? d.params["filename"]
            part.contentType = part.header("Content-Type")
            parts.append(part)
            guard parts.count <= maxParts else { throw bad("more than \(maxParts) parts") }
            pos = end + crlfDelim.count
        }
    }

    static func parseHeaders(_ block: [UInt8]) throws -> [(String, String)] {
        var out: [(String, String)] = []
        // "\r\n" is one Character (a grapheme cluster) in Swift, so this splits on CRLF.
        for line in String(decoding: block, as: UTF8.self).split(separator: "\r\n" as Character) where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw bad("header line without a colon") }
            out.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                        String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        return out
    }

    /// `value; a=b; c="d; e"` → ("value", [a: b, c: "d; e"]); keys lowercased, quotes and `\` escapes removed.
    static func parameters(_ header: String) -> (value: String, params: [String: String]) {
        let chars = Array(header)
        var i = 0
        func skipSpace() { while i < chars.count && (chars[i] == " " || chars[i] == "\t") { i += 1 } }
        var value = ""
        while i < chars.count && chars[i] != ";" { value.append(chars[i]); i += 1 }
        var params: [String: String] = [:]
        while i < chars.count {
            i += 1  // the ';'
            skipSpace()
            var key = ""
            while i < chars.count && chars[i] != "=" && chars[i] != ";" { key.append(chars[i]); i += 1 }
            var val = ""
            if i < chars.count && chars[i] == "=" {
                i += 1
                skipSpace()
                if i < chars.count && chars[i] == "\"" {
                    i += 1
                    while i < chars.count && chars[i] != "\"" {
                        if chars[i] == "\\" && i + 1 < chars.count { i += 1 }
                        val.append(chars[i]); i += 1
                    }
                    i += 1
                    while i < chars.count && chars[i] != ";" { i += 1 }
                } else {
                    while i < chars.count && chars[i] != ";" { val.append(chars[i]); i += 1 }
                    val = val.trimmingCharacters(in: .whitespaces)
                }
            }
            let k = key.trimmingCharacters(in: .whitespaces).lowercased()
            if !k.isEmpty { params[k] = val }
        }
        return (value.trimmingCharacters(in: .whitespaces), params)
    }

    /// RFC 5987 `UTF-8''na%C3%AFve.txt` → `naïve.txt`.
    static func decodeExtended(_ v: String) -> String? {
        let b = Array(v.utf8)
        guard let q = (0..<max(0, b.count - 1)).first(where: { b[$0] == 0x27 && b[$0 + 1] == 0x27 }) else { return nil }
        return percentDecode(String(decoding: b[(q + 2)...], as: UTF8.self))
    }

    static func starts(_ b: [UInt8], at i: Int, with p: [UInt8]) -> Bool {
        guard i + p.count <= b.count else { return false }
        for k in 0..<p.count where b[i + k] != p[k] { return false }
        return true
    }

    /// First index of `needle` in `hay` at or after `from` (within `limit` bytes when given). memchr finds
    /// candidate first bytes (Glibc does not export memmem without _GNU_SOURCE), memcmp confirms them,
    /// so a 10 MB upload stays a single pass.
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, limit: Int? = nil) -> Int? {
        guard from <= hay.count, !needle.isEmpty else { return nil }
        let end = limit.map { min(hay.count, from + $0) } ?? hay.count
        return hay.withUnsafeBytes { h -> Int? in
            needle.withUnsafeBytes { n -> Int? in
                let base = h.baseAddress!
                var i = from
                while end - i >= n.count {
                    guard let p = memchr(base + i, Int32(n[0]), end - i - n.count + 1) else { return nil }
                    let at = UnsafeRawPointer(p) - base
                    if memcmp(base + at, n.baseAddress!, n.count) == 0 { return at }
                    i = at + 1
                }
                return nil
            }
        }
    }
}
