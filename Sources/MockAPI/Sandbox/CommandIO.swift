/// What every command-running route reads from its body: exec, exec stream, processes, computer exec.
/// Accepts the SDK spellings: `cwd` or `working_dir`, `timeout` or `timeout_sec` (seconds, may be fractional).
public struct CommandRequest {
    public var command: String
    public var cwd: String?
    public var env: [(String, String)]
    /// nil: no timeout (processes without one).
    public var timeoutMs: UInt64?
    public var name: String?

    public static let maxTimeoutSec = 600.0
    public static let maxCommandBytes = 256 * 1024

    /// `defaultTimeoutSec` nil means "no timeout unless asked" (processes); commands must be non-empty strings.
    public static func read(_ f: inout FieldReader, commandField: String = "command", defaultTimeoutSec: Int?) throws -> CommandRequest {
        let command = f.string(commandField, required: true, maxLength: maxCommandBytes, allowEmpty: false)
        let cwd = f.string("cwd", maxLength: 4096) ?? f.string("working_dir", maxLength: 4096)
        var env: [(String, String)] = []
        if let o = f.object("env") {
            for (k, v) in o {
                guard let s = v.string else { f.fail("env.\(k)", "must be a string"); continue }
                guard isValidEnvName(k) else { f.fail("env.\(k)", "is not a valid variable name"); continue }
                env.append((k, s))
            }
        }
        let name = f.string("name", maxLength: 255)
        var timeout: Double?
        for key in ["timeout", "timeout_sec", "timeout_seconds"] where timeout == nil {
            guard let v = f.raw(key) else { continue }
            guard let d = v.double, d.isFinite else { f.fail(key, "must be a number of seconds"); break }
            if d <= 0 { f.fail(key, "must be greater than 0") }
            timeout = d
        }
        try f.finish()
        if let t = timeout, t > maxTimeoutSec {
            var e = APIError(422, "TIMEOUT_TOO_LONG", "Command timeouts are capped at \(Int(maxTimeoutSec)) seconds; asked for \(t).",
                             details: .object(["timeout": .string("must be at most \(Int(maxTimeoutSec)) seconds")]))
            e.extra["max_timeout_sec"] = .int(Int(maxTimeoutSec))
            throw e
        }
        let seconds = timeout ?? defaultTimeoutSec.map(Double.init)
        return CommandRequest(command: command ?? "", cwd: cwd, env: env,
                              timeoutMs: seconds.map { UInt64(($0 * 1000).rounded()) }, name: name)
    }

    static func isValidEnvName(_ k: String) -> Bool {
        guard let first = k.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return k.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f }
    }
}

/// Collects one output stream up to a limit; beyond it bytes are counted and dropped.
public struct OutputCapture {
    public private(set) var bytes: [UInt8] = []
    public private(set) var totalBytes = 0
    public let limit: Int

    public init(limit: Int) { self.limit = limit }

    public var truncated: Bool { totalBytes > bytes.count }
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func append(_ b: UnsafeRawBufferPointer) {
        totalBytes += b.count
        let room = limit - bytes.count
        if room > 0 { bytes.append(contentsOf: b.prefix(room)) }
    }
}

/// Splits a byte stream into lines (without the `\n`). A line longer than `maxLine` is cut into pieces so one
/// endless line cannot grow a buffer without bound.
public struct LineSplitter {
    private var partial: [UInt8] = []
    public let maxLine: Int

    public init(maxLine: Int = 64 * 1024) { self.maxLine = maxLine }

    public mutating func feed(_ b: UnsafeRawBufferPointer) -> [String] {
        var lines: [String] = []
        var rest = b[...]
        while !rest.isEmpty {
            // Take up to the next newline, but never let the partial line grow past maxLine.
            let room = maxLine - partial.count
            let window = rest.prefix(room)
            if let nl = window.firstIndex(of: 10) {
                partial.append(contentsOf: rest[rest.startIndex..<nl])
                rest = rest[(nl + 1)...]
            } else {
                partial.append(contentsOf: window)
                rest = rest[window.endIndex...]
                if partial.count < maxLine { break }
            }
            lines.append(String(decoding: partial, as: UTF8.self))
            partial.removeAll(keepingCapacity: true)
        }
        return lines
    }

    /// The unterminated last line, if any.
    public mutating func flush() -> String? {
        guard !partial.isEmpty else { return nil }
        defer { partial.removeAll() }
        return String(decoding: partial, as: UTF8.self)
    }
}
