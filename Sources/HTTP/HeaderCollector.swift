/// Gathers header fields and values as http_parser hands them over: either may arrive in several pieces, and a
/// field ends when the next field starts (or the headers end). Shared by the request and response parsers.
///
/// A field or value that arrives in one piece (the usual case) is kept as a pointer into the parser's input
/// and becomes a String straight from there; only a split one is copied. The input is valid for one
/// `http_parser_execute` call, so the parsers call `endOfInput()` after each: pieces still held are copied then.
struct HeaderCollector {
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var fieldPiece: UnsafeRawBufferPointer?
    private var valuePiece: UnsafeRawBufferPointer?
    private var lastWasValue = false
    private(set) var headers = HTTPHeaders()

    mutating func reset() {
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        fieldPiece = nil
        valuePiece = nil
        lastWasValue = false
        headers = HTTPHeaders()
    }

    mutating func field(_ bytes: UnsafeRawBufferPointer) {
        if lastWasValue { flush(); lastWasValue = false }
        if field.isEmpty && fieldPiece == nil {
            fieldPiece = bytes
        } else {
            spill()
            field.append(contentsOf: bytes)
        }
    }

    mutating func value(_ bytes: UnsafeRawBufferPointer) {
        lastWasValue = true
        if value.isEmpty && valuePiece == nil {
            valuePiece = bytes
        } else {
            spill()
            value.append(contentsOf: bytes)
        }
    }

    /// The parser's input buffer is about to go away: copy what still points into it.
    mutating func endOfInput() { spill() }

    private mutating func spill() {
        if let p = fieldPiece { field.append(contentsOf: p); fieldPiece = nil }
        if let p = valuePiece { value.append(contentsOf: p); valuePiece = nil }
    }

    /// Ends the last field; returns every header gathered.
    mutating func finish() -> HTTPHeaders {
        flush()
        lastWasValue = false
        return headers
    }

    private mutating func flush() {
        if (fieldPiece?.count ?? 0) > 0 || !field.isEmpty {
            let name = fieldPiece.map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: field, as: UTF8.self)
            let text = valuePiece.map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: value, as: UTF8.self)
            if headers.fields.isEmpty { headers = HTTPHeaders(capacity: 8) }
            headers.add(name, text)
        }
        fieldPiece = nil
        valuePiece = nil
        if !field.isEmpty { field.removeAll(keepingCapacity: true) }
        if !value.isEmpty { value.removeAll(keepingCapacity: true) }
    }
}
