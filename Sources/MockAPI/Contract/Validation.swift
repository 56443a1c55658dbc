/// Reads typed fields from a request body, collecting every problem into one 422.
/// Accepts the camelCase spellings some SDKs send (`timeoutSec` for `timeout_sec`).
public struct FieldReader {
    public let body: JSONObject
    public private(set) var problems: [(String, String)] = []

    public init(_ body: JSONObject) { self.body = body }

    static func camel(_ snake: String) -> String {
        // Field names are ASCII: fold them as bytes (the Character path below was a fifth of a create's
        // instructions, since every absent field is looked up under both spellings).
        if !snake.utf8.contains(0x5f) { return snake }
        if snake.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(snake.utf8.count)
            var upper = false
            for b in snake.utf8 {
                if b == 0x5f { upper = true; continue }
                bytes.append(upper && b >= 0x61 && b <= 0x7a ? b - 0x20 : b)
                upper = false
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        var upper = false
        for ch in snake {
            if ch == "_" { upper = true; continue }
            out.append(upper ? Character(ch.uppercased()) : ch)
            upper = false
        }
        return out
    }

    /// The raw value under the snake_case name or its camelCase alias; JSON null counts as absent.
    public func raw(_ name: String) -> JSON? {
        if let v = body[name], !v.isNull { return v }
        // The camelCase alias is matched byte by byte against the keys actually sent: a create reads ~20
        // fields and sends few, so building every alias string was most of the cost.
        guard name.utf8.contains(0x5f) else { return nil }
        for (k, v) in body.pairs where !v.isNull && FieldReader.isCamel(k, of: name) { return v }
        return nil
    }

    /// True when `key` is `snake` in camelCase (`timeoutSec` for `timeout_sec`); ASCII names only, as `camel`.
    static func isCamel(_ key: String, of snake: String) -> Bool {
        var k = key.utf8.makeIterator()
        var upper = false
        for b in snake.utf8 {
            if b == 0x5f { upper = true; continue }
            guard let c = k.next() else { return false }
            let want = upper && b >= 0x61 && b <= 0x7a ? b - 0x20 : b
            if c != want { return false }
            upper = false
        }
        return k.next() == nil
    }

    public func has(_ name: String) -> Bool { raw(name) != nil }

    /// True when the key is present, even as null (PATCH semantics: null clears).
    public func present(_ name: String) -> Bool { body.has(name) || body.has(FieldReader.camel(name)) }

    public mutating func fail(_ name: String, _ why: String) { problems.append((name, why)) }

    public mutating func string(_ name: String, required: Bool = false, maxLength: Int = 1024, allowEmpty: Bool = true) -> String? {
        guard let v = raw(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard let s = v.string else { fail(name, "must be a string"); return nil }
        if !allowEmpty && s.isEmpty { fail(name, "must not be empty"); return nil }
        if s.utf8.count > maxLength { fail(name, "must be at most \(maxLength) bytes"); return nil }
        return s
    }

    public mutating func int(_ name: String, required: Bool = false, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let v = raw(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard let n = v.int else { fail(name, "must be an integer"); return nil }
        if let lo = min, n < lo { fail(name, "must be at least \(lo)"); return nil }
        if let hi = max, n > hi { fail(name, "must be at most \(hi)"); return nil }
        return n
    }

    public mutating func bool(_ name: String) -> Bool? {
        guard let v = raw(name) else { return nil }
        guard let b = v.bool else { fail(name, "must be a boolean"); return nil }
        return b
    }

    public mutating func object(_ name: String) -> JSONObject? {
        guard let v = raw(name) else { return nil }
        guard let o = v.object else { fail(name, "must be an object"); return nil }
        return o
    }

    public mutating func stringArray(_ name: String, maxCount: Int = 100) -> [String]? {
        guard let v = raw(name) else { return nil }
        guard let a = v.array else { fail(name, "must be an array of strings"); return nil }
        var out: [String] = []
        for item in a {
            guard let s = item.string else { fail(name, "must be an array of strings"); return nil }
            out.append(s)
        }
        if out.count > maxCount { fail(name, "must have at most \(maxCount) items"); return nil }
        return out
    }

    /// A slug (lowercase letters, digits, single dashes, ≤ 63 bytes); an invalid one is recorded and read as nil.
    public mutating func slug(_ name: String) -> String? {
        guard let s = string(name, maxLength: 63) else { return nil }
        guard isValidSlug(s) else { fail(name, "must be lowercase letters, digits and single dashes"); return nil }
        return s
    }

    public mutating func oneOf(_ name: String, _ allowed: [String]) -> String? {
        guard let s = string(name) else { return nil }
        guard allowed.contains(s) else { fail(name, "must be one of: \(allowed.joined(separator: ", "))"); return nil }
        return s
    }

    /// Throws the collected 422, if any.
    public func finish() throws {
        if !problems.isEmpty { throw APIError.validation(problems) }
    }
}

/// Slugs: lowercase letters, digits and single dashes.
public func isValidSlug(_ s: String) -> Bool {
    guard !s.isEmpty, s.utf8.count <= 63 else { return false }
    var prev: UInt8 = 0
    for c in s.utf8 {
        let ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d
        if !ok { return false }
        if c == 0x2d && prev == 0x2d { return false }
        prev = c
    }
    return s.utf8.first != 0x2d && s.utf8.last != 0x2d
}

/// Lowercases and dashes a display name into a slug.
public func slugify(_ name: String) -> String {
    var out = ""
    var dash = false
    for ch in name.lowercased().unicodeScalars {
        if (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") {
            out.unicodeScalars.append(ch)
            dash = false
        } else if !dash && !out.isEmpty {
            out.append("-")
            dash = true
        }
    }
    while out.hasSuffix("-") { out.removeLast() }
    return out.isEmpty ? "item" : String(out.prefix(63))
}
