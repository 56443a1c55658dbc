#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer for encoders on the hot path. An append is a capacity check and a `memcpy`;
/// `[UInt8].append(contentsOf:)` re-checks uniqueness and goes through generic sequence paths (about 80
/// instructions a call, and a GET's sandbox makes over a hundred). The owner calls `free()` (use `defer`).
struct ByteWriter {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    func free() { base.deallocate() }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    /// A copy of the bytes written so far.
    var array: [UInt8] { Array(bytes) }

    @inline(__always)
    mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private mutating func grow(_ needed: Int) {
        var c = capacity * 2
        while c < needed { c *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        p.update(from: base, count: count)
        base.deallocate()
        base = p
        capacity = c
    }

    @inline(__always)
    mutating func append(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inline(__always)
    mutating func append(_ p: UnsafeRawPointer, count n: Int) {
        reserve(n)
        ByteWriter.copy(base + count, p, n)
        count += n
    }

    /// Copies `n` bytes. Most pieces here are short (keys, ids, timestamps): word moves inline beat a call
    /// to `memcpy`; long ones still go to it.
    @inline(__always)
    static func copy(_ d: UnsafeMutablePointer<UInt8>, _ s: UnsafeRawPointer, _ n: Int) {
        if n > 64 { memcpy(d, s, n); return }
        let dst = UnsafeMutableRawPointer(d)
        if n >= 8 {
            var i = 0
            while i + 8 <= n {
                dst.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            if i < n {
                dst.storeBytes(of: s.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), toByteOffset: n - 8, as: UInt64.self)
            }
        } else {
            for i in 0..<n { d[i] = s.load(fromByteOffset: i, as: UInt8.self) }
        }
    }

    @inline(__always)
    mutating func append(_ b: UnsafeBufferPointer<UInt8>) {
        guard let p = b.baseAddress else { return }
        append(p, count: b.count)
    }

    @inline(__always)
    mutating func append(_ s: StaticString) {
        append(s.utf8Start, count: s.utf8CodeUnitCount)
    }

    mutating func append(_ a: [UInt8]) {
        a.withUnsafeBufferPointer { append($0) }
    }

    // MARK: JSON

    /// `JSON.appendString`: the string quoted and escaped.
    mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { appendJSONString(utf8: $0) }
    }

    /// The bytes as a quoted JSON string (`JSON.appendString` of the repaired String).
    mutating func appendJSONString(utf8 b: UnsafeBufferPointer<UInt8>) {
        if case .plain = JSON.classify(b) {
            let n = b.count
            reserve(n + 2)
            base[count] = 0x22
            if let p = b.baseAddress { ByteWriter.copy(base + count + 1, p, n) }
            base[count + n + 1] = 0x22
            count += n + 2
            return
        }
        append(0x22)
        appendJSONStringBody(utf8: b)
        append(0x22)
    }

    /// `JSON.appendStringBody(utf8:into:)`: plain ASCII is copied in one piece.
    mutating func appendJSONStringBody(utf8 b: UnsafeBufferPointer<UInt8>) {
        if case .plain = JSON.classify(b) {
            append(b)
        } else {
            var tmp: [UInt8] = []
            JSON.appendStringBody(utf8: b, into: &tmp)
            append(tmp)
        }
    }

    /// `JSON.appendInt`.
    mutating func appendJSONInt(_ n: Int64) {
        reserve(20)
        if n == 0 { base[count] = 0x30; count += 1; return }
        if n < 0 { base[count] = 0x2d; count += 1 }
        var v = n.magnitude
        var digits = 0
        var t = v
        while t > 0 { digits += 1; t /= 10 }
        var i = count + digits
        count = i
        while v > 0 {
            i -= 1
            base[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
            v /= 10
        }
    }
}
