#if canImport(Glibc)
import Glibc
#endif

/// The live sandbox a file route addresses, and what every file handler needs from it: confined host
/// paths, the upload limit, content decoding and `file.*` domain events.
struct FileScope {
    let app: App
    let caller: Principal
    let sandbox: SandboxRecord

    /// Loads the sandbox of the caller's tenant (404 across tenants) and requires it to serve files:
    /// `running`, or `paused` with `persistent` (the SDKs' own client-side rule). 409 otherwise.
    static func live(_ ctx: RequestContext, id: String? = nil) throws -> FileScope {
        let c = try ctx.caller
        let r = try SandboxRecord.load(ctx.app.db, id: id ?? ctx.param("id"), tenantID: c.tenantID)
        try requireLive(r)
        return FileScope(app: ctx.app, caller: c, sandbox: r)
    }

    static func requireLive(_ r: SandboxRecord) throws {
        if r.state == "running" || (r.state == "paused" && r.persistent) { return }
        if r.state == "creating" {
            var e = APIError(409, "SANDBOX_STARTING", "Sandbox \(r.id) is still starting; retry shortly.")
            e.headers.append(("Retry-After", "1"))
            e.extra["retryable"] = .bool(true)
            e.extra["retry_after"] = .int(1)
            throw e
        }
        throw APIError(409, "sandbox_not_running", "Sandbox \(r.id) is \(r.state); files are served while it is running.")
    }

    func host(_ apiPath: String, followFinal: Bool = true) throws -> String {
        try SandboxPaths.hostPath(app, sandbox.id, apiPath, followFinal: followFinal)
    }

    var uploadLimit: Int { app.config.maxUploadBytes }

    func checkSize(_ n: Int, _ what: String) throws {
        if n > uploadLimit {
            throw APIError.payloadTooLarge("\(what) is \(n) bytes; uploads are limited to \(uploadLimit) bytes (10 MB).")
        }
    }

    /// Publishes `file.created|modified|deleted|renamed` for a change made through the API.
    func publish(_ kind: String, path: String, isDir: Bool, size: Int, oldPath: String? = nil) {
        var data: JSONObject = ["path": .string(path), "is_dir": .bool(isDir), "size_bytes": .int(size)]
        if let o = oldPath { data["old_path"] = .string(o) }
        app.publish("file.\(kind)", tenantID: sandbox.tenantID, workspaceID: sandbox.workspaceID, sandboxID: sandbox.id,
                    resourceType: "file", resourceID: path, data: .object(data), actorID: caller.keyID)
    }

    /// Writes a file and publishes `file.created` or `file.modified`. Returns the normalised API path.
    @discardableResult
    func writeFile(_ apiPath: String, _ bytes: [UInt8]) throws -> String {
        let norm = try SandboxPaths.normalize(apiPath)
        try checkSize(bytes.count, norm)
        let host = try host(norm)
        if FilesIO.info(host)?.isDir == true { throw FilesIO.failure(EISDIR, norm) }
        let created = try FilesIO.writeFile(host, bytes, apiPath: norm)
        publish(created ? "created" : "modified", path: norm, isDir: false, size: bytes.count)
        return norm
    }
}

/// How file content arrives in JSON bodies: `content_base64` is always base64; `content` is base64 on the
/// legacy `POST /files` route (the Python SDK's comment: "the legacy /files route decodes content as
/// base64") and verbatim text elsewhere; `encoding: "base64" | "utf-8"` overrides either default.
enum FileContent {
    /// The decoded bytes, or nil when neither field is present. Bad base64 is a 422 naming the field.
    static func decode(_ o: JSONObject, contentIsBase64: Bool) throws -> [UInt8]? {
        let f = FieldReader(o)
        let encoding = f.raw("encoding")?.string?.lowercased()
        if let b = f.raw("content_base64") {
            guard let s = b.string else { throw APIError.validation([("content_base64", "must be a string")]) }
            guard let bytes = base64Decode(s) else { throw APIError.validation([("content_base64", "is not valid base64")]) }
            return bytes
        }
        guard let c = f.raw("content") else { return nil }
        guard let s = c.string else { throw APIError.validation([("content", "must be a string")]) }
        let asBase64 = encoding.map { $0 == "base64" } ?? contentIsBase64
        if !asBase64 { return Array(s.utf8) }
        guard let bytes = base64Decode(s) else {
            throw APIError.validation([("content", "is not valid base64 (send encoding: \"utf-8\" for plain text)")])
        }
        return bytes
    }

    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "-"))] = 62  // URL-safe alphabet too
        t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    /// Standard or URL-safe base64; whitespace ignored, padding optional. Nil on any other byte.
    /// Works on the contiguous UTF-8 buffer into a preallocated output: uploads are up to ~14 MB of text.
    static func base64Decode(_ input: String) -> [UInt8]? {
        var text = input
        return text.withUTF8 { src -> [UInt8]? in
            table.withUnsafeBufferPointer { t -> [UInt8]? in
                var failed = false
                let out = [UInt8](unsafeUninitializedCapacity: src.count / 4 * 3 + 3) { dst, written in
                    var acc: UInt32 = 0
                    var bits = 0
                    var padding = 0
                    var n = 0
                    for c in src {
                        if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { continue }
                        if c == 0x3d { padding += 1; continue }  // '='
                        let v = t[Int(c)]
                        if v == 0xFF || padding > 0 { failed = true; break }  // a stray byte, or data after padding
                        acc = (acc << 6) | UInt32(v)
                        bits += 6
                        if bits >= 8 {
                            bits -= 8
                            dst[n] = UInt8(truncatingIfNeeded: acc >> UInt32(bits))
                            n += 1
                        }
                    }
                    // A lone trailing character cannot encode a byte.
                    if bits >= 6 || padding > 2 { failed = true }
                    written = n
                }
                return failed ? nil : out
            }
        }
    }

    static func base64Encode(_ bytes: [UInt8]) -> String {
        let chars = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [chars[Int(n >> 18)], chars[Int(n >> 12 & 63)], chars[Int(n >> 6 & 63)], chars[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [chars[Int(n >> 18)], chars[Int(n >> 12 & 63)], 0x3d, 0x3d]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [chars[Int(n >> 18)], chars[Int(n >> 12 & 63)], chars[Int(n >> 6 & 63)], 0x3d]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
