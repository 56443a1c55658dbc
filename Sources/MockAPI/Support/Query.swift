/// A parsed query string; values are percent-decoded and `+` means space.
public struct Query {
    public private(set) var items: [(String, String)] = []

    public init(_ raw: Substring?) {
        guard let raw = raw, !raw.isEmpty else { return }
        for part in raw.split(separator: "&", omittingEmptySubsequences: true) {
            if let eq = part.firstIndex(of: "=") {
                items.append((percentDecode(part[..<eq], plusIsSpace: true),
                              percentDecode(part[part.index(after: eq)...], plusIsSpace: true)))
            } else {
                items.append((percentDecode(part, plusIsSpace: true), ""))
            }
        }
    }

    /// The first value, or nil. An empty value counts as absent.
    public subscript(_ name: String) -> String? {
        for (k, v) in items where k == name { return v.isEmpty ? nil : v }
        return nil
    }

    /// Every value of a repeated key, plus `key[]` and comma-separated forms.
    public func all(_ name: String) -> [String] {
        var out: [String] = []
        for (k, v) in items where k == name || k == name + "[]" {
            out.append(contentsOf: v.split(separator: ",").map(String.init))
        }
        return out
    }

    public func bool(_ name: String) -> Bool? {
        guard let v = self[name]?.lowercased() else { return nil }
        if ["true", "1", "yes"].contains(v) { return true }
        if ["false", "0", "no"].contains(v) { return false }
        return nil
    }
}

/// Decodes %XX escapes (invalid escapes are kept as they are).
public func percentDecode<S: StringProtocol>(_ s: S, plusIsSpace: Bool = false) -> String {
    // Most segments have nothing to decode: answer without copying them into an array first.
    guard s.utf8.contains(0x25) || (plusIsSpace && s.utf8.contains(0x2b)) else { return String(s) }
    var bytes = Array(s.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    func hexVal(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
    while i < bytes.count {
        let c = bytes[i]
        if c == 0x25, i + 2 < bytes.count, let h = hexVal(bytes[i + 1]), let l = hexVal(bytes[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else if c == 0x2b && plusIsSpace {
            out.append(0x20)
            i += 1
        } else {
            out.append(c)
            i += 1
        }
    }
    bytes = out
    return String(decoding: bytes, as: UTF8.self)
}
