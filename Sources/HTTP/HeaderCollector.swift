/// Gathers header fields and values as http_parser hands them over: either may arrive in several pieces, and a
/// field ends when the next field starts (or the headers end). Shared by the request and response parsers.
struct HeaderCollector {
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var lastWasValue = false
    private(set) var headers = HTTPHeaders()

    mutating func reset() {
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        lastWasValue = false
        headers = HTTPHeaders()
    }

    mutating func field(_ bytes: UnsafeRawBufferPointer) {
        if lastWasValue { flush(); lastWasValue = false }
        field.append(contentsOf: bytes)
    }

    mutating func value(_ bytes: UnsafeRawBufferPointer) {
        lastWasValue = true
        value.append(contentsOf: bytes)
    }

    /// Ends the last field; returns every header gathered.
    mutating func finish() -> HTTPHeaders {
        flush()
        lastWasValue = false
        return headers
    }

    private mutating func flush() {
        if !field.isEmpty {
            headers.add(String(decoding: field, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
    }
}
