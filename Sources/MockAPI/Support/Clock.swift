#if canImport(Glibc)
import Glibc
#endif

/// The server's notion of now. Every expiry (idempotency records, tokens, rate windows, sandbox timeouts)
/// reads it, so `/_mock/clock` can move time for tests. Real mode = wall clock + offset; frozen = fixed.
public final class Clock {
    public private(set) var offsetSeconds: Double = 0
    public private(set) var frozenAt: Double?

    public init() {}

    public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds since the Unix epoch.
    public var now: Double { frozenAt ?? (Clock.wallClock() + offsetSeconds) }

    public var mode: String { frozenAt == nil ? "real" : "frozen" }

    public func advance(seconds: Double) {
        if let f = frozenAt { frozenAt = f + seconds } else { offsetSeconds += seconds }
    }

    /// Freezes time at `epoch`.
    public func set(_ epoch: Double) { frozenAt = epoch }

    /// Real time again, keeping the current offset from the wall clock.
    public func resume() {
        if let f = frozenAt { offsetSeconds = f - Clock.wallClock() }
        frozenAt = nil
    }

    /// Back to the wall clock exactly.
    public func reset() { offsetSeconds = 0; frozenAt = nil }

    public func restore(offset: Double, frozenAt: Double?) {
        self.offsetSeconds = offset
        self.frozenAt = frozenAt
    }
}

public enum Time {
    /// `2026-05-17T10:00:00Z`: the shape both SDKs parse (sandbox-contract §1).
    public static func iso(_ epoch: Double) -> String {
        var t = time_t(epoch.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ n: Int32, _ w: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; nil when it is not that.
    public static func parse(_ s: String) -> Double? {
        var s = s
        return s.withUTF8 { parse(utf8: $0) }
    }

    /// `parse` over UTF-8 bytes in place (a GET parses `started_at` straight from the SQLite row).
    public static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> Double? {
        guard b.count >= 19 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            var v = 0
            for i in from..<(from + len) {
                guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), b[4] == 0x2d, let mo = num(5, 2), b[7] == 0x2d, let d = num(8, 2),
              b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              let h = num(11, 2), b[13] == 0x3a, let mi = num(14, 2), b[16] == 0x3a, let se = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        var frac = 0.0
        if i < b.count && b[i] == 0x2e {
            i += 1
            var scale = 0.1
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { frac += Double(b[i] - 0x30) * scale; scale /= 10; i += 1 }
        }
        var offset = 0
        if i < b.count {
            if b[i] == 0x5a || b[i] == 0x7a { i += 1 }
            else if b[i] == 0x2b || b[i] == 0x2d {
                let sign = b[i] == 0x2d ? -1 : 1
                guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3a, let om = num(i + 4, 2) else { return nil }
                offset = sign * (oh * 3600 + om * 60)
                i += 6
            } else { return nil }
        }
        guard i == b.count else { return nil }
        var tmv = tm()
        tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
        tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(se)
        let t = timegm(&tmv)
        return Double(t) + frac - Double(offset)
    }
}
