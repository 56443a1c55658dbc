/// A JSON value with object keys kept in insertion order, so encoded bodies are stable byte for byte.
/// Hand-written because Foundation's JSONSerialization in the request path cut throughput to ~0.2x
/// (DESIGN, measured facts); objects here are small, so ordered pairs beat dictionaries.
public enum JSON: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ v: Int) -> JSON { .int(Int64(v)) }
    public static func str(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    public static func num(_ i: Int?) -> JSON { i.map { .int(Int64($0)) } ?? .null }

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var object: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    /// Integers, and doubles with no fraction.
    public var int: Int? {
        switch self {
        case .int(let n): return Int(exactly: n)
        case .double(let d): return d.rounded() == d && abs(d) < 9e15 ? Int(d) : nil
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let n): return Double(n)
        case .double(let d): return d
        default: return nil
        }
    }

    /// JSON has one number type: `.int(2)` equals `.double(2.0)` (the encoder writes integral doubles as integers).
    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y && Int64(exactly: y) == x
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

public struct JSONObject: Equatable, ExpressibleByDictionaryLiteral, Sequence {
    public private(set) var pairs: [(String, JSON)]

    public init() { pairs = [] }
    /// An empty object with room for `capacity` keys (builders that know their size skip regrowth).
    public init(capacity: Int) {
        pairs = []
        pairs.reserveCapacity(capacity)
    }
    public init(_ pairs: [(String, JSON)]) { self.pairs = pairs }
    public init(dictionaryLiteral elements: (String, JSON)...) { pairs = elements }

    public subscript(key: String) -> JSON? {
        get {
            for (k, v) in pairs where k == key { return v }
            return nil
        }
        set {
            if let i = pairs.firstIndex(where: { $0.0 == key }) {
                if let v = newValue { pairs[i].1 = v } else { pairs.remove(at: i) }
            } else if let v = newValue {
                pairs.append((key, v))
            }
        }
    }

    public var keys: [String] { pairs.map(\.0) }
    public var isEmpty: Bool { pairs.isEmpty }
    public var count: Int { pairs.count }
    public func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }
    public func makeIterator() -> IndexingIterator<[(String, JSON)]> { pairs.makeIterator() }

    /// Appends without checking for a duplicate key (builders that know their keys are unique).
    public mutating func append(_ key: String, _ value: JSON) { pairs.append((key, value)) }

    public mutating func merge(_ other: JSONObject) { for (k, v) in other.pairs { self[k] = v } }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.pairs.count == b.pairs.count else { return false }
        for (k, v) in a.pairs where b[k] != v { return false }
        return true
    }
}

// MARK: - Encoding

extension JSON {
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        encode(into: &out)
        return out
    }

    public var encodedString: String { String(decoding: encoded(), as: UTF8.self) }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: JSON.appendLiteral("null", into: &out)
        case .bool(let b): JSON.appendLiteral(b ? "true" : "false", into: &out)
        case .int(let n): JSON.appendInt(n, into: &out)
        case .double(let d):
            if !d.isFinite { JSON.appendLiteral("null", into: &out) }
            else if d.rounded() == d && abs(d) < 1e15 { JSON.appendInt(Int64(d), into: &out) }
            else { out.append(contentsOf: "\(d)".utf8) }
        case .string(let s): JSON.appendString(s, into: &out)
        case .array(let a):
            out.append(0x5b)
            var first = true
            for v in a {
                if !first { out.append(0x2c) }
                first = false
                v.encode(into: &out)
            }
            out.append(0x5d)
        case .object(let o):
            out.append(0x7b)
            var first = true
            for (k, v) in o.pairs {
                if !first { out.append(0x2c) }
                first = false
                JSON.appendString(k, into: &out)
                out.append(0x3a)
                v.encode(into: &out)
            }
            out.append(0x7d)
        }
    }

    @inline(__always)
    static func appendLiteral(_ s: StaticString, into out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    static func appendInt(_ n: Int64, into out: inout [UInt8]) {
        if n == 0 { out.append(0x30); return }
        var v = n.magnitude
        var buf: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var i = 20
        withUnsafeMutableBytes(of: &buf) { p in
            while v > 0 {
                i -= 1
                p[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            }
            if n < 0 { out.append(0x2d) }
            out.append(contentsOf: p[i..<20])
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` quoted and escaped. Most strings (ids, timestamps, keys) need no escape: they are
    /// checked 8 bytes at a time and copied in one piece.
    static func appendString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes in
            if needsEscape(bytes) { appendEscaped(bytes, into: &out) } else { out.append(contentsOf: bytes) }
        }
        if done == nil {
            let bytes = Array(s.utf8)
            bytes.withUnsafeBufferPointer { appendEscaped($0, into: &out) }
        }
        out.append(0x22)
    }

    /// Appends UTF-8 bytes as the body of a JSON string (no quotes): the same bytes as `appendString` of
    /// `String(decoding: bytes, as: UTF8.self)` (which repairs invalid UTF-8) without its quotes, and without
    /// making the String when the bytes are plain ASCII.
    static func appendStringBody(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        switch classify(bytes) {
        case .plain: out.append(contentsOf: bytes)
        case .asciiNeedsEscape: appendEscaped(bytes, into: &out)
        case .nonASCII:
            var s = String(decoding: bytes, as: UTF8.self)
            s.withUTF8 { b in if needsEscape(b) { appendEscaped(b, into: &out) } else { out.append(contentsOf: b) } }
        }
    }

    enum ByteClass { case plain, asciiNeedsEscape, nonASCII }

    /// Plain: every byte is ASCII, none a control character, `"` or `\\` (copied as they are). SWAR as in
    /// `needsEscape`, with the high bit of every byte also checked.
    @inline(__always)
    static func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> ByteClass {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return .plain }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var escape: UInt64 = 0
        var high: UInt64 = 0
        @inline(__always) func word(_ w: UInt64) {
            let quote = w ^ (ones &* 0x22)
            let slash = w ^ (ones &* 0x5c)
            escape |= ((w &- ones &* 0x20) & ~w) | ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash)
            high |= w
        }
        if n >= 8 {
            var i = 0
            while i + 8 <= n {
                word(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                i += 8
            }
            // The tail as one more word ending at the last byte (overlapping bytes already seen is harmless).
            if i < n { word(UnsafeRawPointer(base + n - 8).loadUnaligned(as: UInt64.self)) }
        } else {
            var w: UInt64 = 0
            // Pad with a plain byte (space) so the padding triggers nothing.
            for k in 0..<8 { w |= UInt64(k < n ? base[k] : 0x20) << (8 * UInt64(k)) }
            word(w)
        }
        // (A byte >= 0x80 can make the escape masks misfire, but then the answer is nonASCII anyway.)
        if high & highs != 0 { return .nonASCII }
        return escape & highs != 0 ? .asciiNeedsEscape : .plain
    }

    /// Whether any byte is a control character, `"` or `\\`. SWAR: for each 64-bit word, a byte below 0x20,
    /// or one equal to 0x22 or 0x5c after an XOR, sets its high bit in the masks (exact for "any").
    @inline(__always)
    static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return false }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i + 8 <= n {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let quote = w ^ (ones &* 0x22)
            let slash = w ^ (ones &* 0x5c)
            let hits = ((w &- ones &* 0x20) & ~w) | ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash)
            if hits & highs != 0 { return true }
            i += 8
        }
        while i < n {
            let c = base[i]
            if c < 0x20 || c == 0x22 || c == 0x5c { return true }
            i += 1
        }
        return false
    }

    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var start = 0
        for i in 0..<bytes.count {
            let c = bytes[i]
            if c >= 0x20 && c != 0x22 && c != 0x5c { continue }
            if i > start { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
            start = i + 1
            switch c {
            case 0x22: out.append(0x5c); out.append(0x22)
            case 0x5c: out.append(0x5c); out.append(0x5c)
            case 0x0a: out.append(0x5c); out.append(0x6e)
            case 0x0d: out.append(0x5c); out.append(0x72)
            case 0x09: out.append(0x5c); out.append(0x74)
            default:
                out.append(contentsOf: [0x5c, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xf)]])
            }
        }
        if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
    }
}

// MARK: - Parsing

public struct JSONParseError: Error, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSON {
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(bytes: buf)
            p.skipWS()
            let v = try p.value(depth: 0)
            p.skipWS()
            if p.i != buf.count { throw p.fail("unexpected trailing characters") }
            return v
        }
    }

    public static func parse(_ text: String) throws -> JSON { try parse(Array(text.utf8)) }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    static let maxDepth = 256

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

    mutating func skipWS() {
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { i += 1 } else { break }
        }
    }

    mutating func literal(_ word: StaticString, _ v: JSON) throws -> JSON {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of input") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
        i += n
        return v
    }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < JSONParser.maxDepth else { throw fail("nesting too deep") }
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case 0x7b: return try object(depth: depth)
        case 0x5b: return try array(depth: depth)
        case 0x22: return .string(try string())
        case 0x74: return try literal("true", .bool(true))
        case 0x66: return try literal("false", .bool(false))
        case 0x6e: return try literal("null", .null)
        case 0x2d, 0x30...0x39: return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func object(depth: Int) throws -> JSON {
        i += 1
        var o = JSONObject()
        skipWS()
        if i < bytes.count && bytes[i] == 0x7d { i += 1; return .object(o) }
        while true {
            skipWS()
            guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a string key") }
            let k = try string()
            skipWS()
            guard i < bytes.count, bytes[i] == 0x3a else { throw fail("expected ':'") }
            i += 1
            skipWS()
            let v = try value(depth: depth + 1)
            o[k] = v  // a repeated key keeps the last value, as most parsers do
            skipWS()
            guard i < bytes.count else { throw fail("unexpected end of input") }
            if bytes[i] == 0x2c { i += 1; continue }
            if bytes[i] == 0x7d { i += 1; return .object(o) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws -> JSON {
        i += 1
        var a: [JSON] = []
        skipWS()
        if i < bytes.count && bytes[i] == 0x5d { i += 1; return .array(a) }
        while true {
            skipWS()
            a.append(try value(depth: depth + 1))
            skipWS()
            guard i < bytes.count else { throw fail("unexpected end of input") }
            if bytes[i] == 0x2c { i += 1; continue }
            if bytes[i] == 0x5d { i += 1; return .array(a) }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("bad unicode escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            v <<= 4
            switch c {
            case 0x30...0x39: v |= UInt32(c - 0x30)
            case 0x61...0x66: v |= UInt32(c - 0x61 + 10)
            case 0x41...0x46: v |= UInt32(c - 0x41 + 10)
            default: throw fail("bad unicode escape")
            }
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x22 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == 0x5c { break }
            if c < 0x20 { throw fail("control character in string") }
            i += 1
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
            if c < 0x20 { throw fail("control character in string") }
            if c != 0x5c { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5c: out.append(0x5c)
            case 0x2f: out.append(0x2f)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0c)
            case 0x6e: out.append(0x0a)
            case 0x72: out.append(0x0d)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    if i + 6 <= bytes.count && bytes[i] == 0x5c && bytes[i + 1] == 0x75 {
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("bad surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else { scalar = 0xFFFD }
                } else if scalar >= 0xDC00 && scalar < 0xE000 { scalar = 0xFFFD }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: throw fail("bad escape")
            }
        }
        throw fail("unterminated string")
    }

    mutating func number() throws -> JSON {
        let start = i
        var isInt = true
        if bytes[i] == 0x2d { i += 1 }
        guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("bad number") }
        if bytes[i] == 0x30 { i += 1 } else { while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 } }
        if i < bytes.count && bytes[i] == 0x2e {
            isInt = false
            i += 1
            guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("bad number") }
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
        }
        if i < bytes.count && (bytes[i] == 0x65 || bytes[i] == 0x45) {
            isInt = false
            i += 1
            if i < bytes.count && (bytes[i] == 0x2b || bytes[i] == 0x2d) { i += 1 }
            guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("bad number") }
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if isInt, let n = Int64(text) { return .int(n) }
        guard let d = Double(text) else { throw fail("bad number") }
        return .double(d)
    }
}
