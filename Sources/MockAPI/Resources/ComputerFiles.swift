/// Multipart upload and raw download on the computer surface (sandbox-contract §6, last row):
/// `POST /computers/{id}/files/upload` (form field `file`, form field `path`) and
/// `GET /computers/{id}/files/download?path=`. Computers resolve sandbox ids here (a sandbox is a computer
/// with the `miosa-sandbox` template); answers are bare, like every other computer route.
enum ComputerFilesAPI: ResourceGroup {
    static func register(_ app: App) {
        let api = APIRoutes(app.router)
        let tag = "computers"
        api.post("/computers/{id}/files/upload", scope: "sandboxes:write", summary: "Upload a file (multipart/form-data)", tag: tag) {
            try upload($0)
        }
        api.get("/computers/{id}/files/download", scope: "sandboxes:read", summary: "Download a file (raw bytes)", tag: tag) { ctx in
            try FilesAPI.download(ctx, FilesAPI.queryPath(ctx))
        }
    }

    /// Multipart: the `file` part's bytes go to `path` (a directory, or a path ending in `/`, receives the
    /// part's filename; no `path` means `/workspace/<filename>`). A non-multipart body with `?path=` is
    /// written as is (`curl --data-binary @x`).
    static func upload(_ ctx: RequestContext) throws -> Reply {
        let scope = try FileScope.live(ctx)
        let contentType = ctx.header("Content-Type") ?? ""
        var bytes: [UInt8]
        var target: String?
        var filename: String?
        if let boundary = Multipart.boundary(contentType: contentType) {
            let parts = try Multipart.parse(ctx.request.body, boundary: boundary)
            guard let file = parts.first(where: { $0.name == "file" }) ?? parts.first(where: { $0.filename != nil }) else {
                throw APIError.validation([("file", "is required (a multipart form field named file)")])
            }
            bytes = file.body
            filename = file.filename
            target = parts.first(where: { $0.name == "path" || $0.name == "remote_path" })?.text ?? ctx.query["path"]
        } else if contentType.lowercased().hasPrefix("multipart/") {
            throw APIError(400, "invalid_multipart", "Content-Type \(contentType) has no usable boundary parameter.")
        } else {
            guard let p = ctx.query["path"] else {
                throw APIError.validation([("file", "is required: send multipart/form-data with file and path, or raw bytes with ?path=")])
            }
            bytes = ctx.request.body
            target = p
        }
        try scope.checkSize(bytes.count, "The upload")
        let safeName = filename.flatMap { n -> String? in
            let base = FilesIO.name(n)
            return base.isEmpty || base == "." || base == ".." ? nil : base
        }
        var path = target ?? "/workspace/"
        if path.isEmpty { path = "/workspace/" }
        let existingDir = FilesIO.info(try scope.host(path))?.isDir ?? false
        let isDirTarget = path.hasSuffix("/") || existingDir
        if isDirTarget {
            guard let n = safeName else {
                throw APIError.validation([("path", "names a directory and the file part has no filename")])
            }
            path = (path.hasSuffix("/") ? path : path + "/") + n
        }
        let norm = try scope.writeFile(path, bytes)
        return .json(200, .object([
            "success": .bool(true), "status": .string("uploaded"), "message": .string("Uploaded \(bytes.count) bytes to \(norm)."),
            "path": .string(norm), "name": .string(FilesIO.name(norm)), "size_bytes": .int(bytes.count), "size": .int(bytes.count),
        ]))
    }
}
