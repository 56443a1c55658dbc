import Store
#if canImport(Glibc)
import Glibc
#endif

/// Size tiers shared by every SDK (sandbox-contract §3).
public struct SandboxSize {
    public let name: String
    public let cpu: Int
    public let memoryMB: Int
    public let diskMB: Int

    public static let tiers: [SandboxSize] = [
        SandboxSize(name: "xs", cpu: 1, memoryMB: 2048, diskMB: 10240),
        SandboxSize(name: "small", cpu: 2, memoryMB: 4096, diskMB: 10240),
        SandboxSize(name: "medium", cpu: 4, memoryMB: 8192, diskMB: 20480),
        SandboxSize(name: "large", cpu: 8, memoryMB: 16384, diskMB: 40960),
        SandboxSize(name: "xl", cpu: 16, memoryMB: 32768, diskMB: 81920),
    ]
    public static let small = tiers[1]
    public static func named(_ n: String) -> SandboxSize? { tiers.first { $0.name == n || (n == "xlarge" && $0.name == "xl") } }

    public var contractID: String {
        name == "custom" ? "sandbox/custom-\(cpu)x\(memoryMB)x\(diskMB)@v1" : "sandbox/\(name)@v1"
    }
}

/// The sandbox lifecycle as a value: which action is allowed from which state (409 otherwise).
public enum SandboxLifecycle {
    public enum Action: String { case becomeReady, stop, pause, resume, start, destroy, fail }

    /// The next state, or nil when the action is not allowed from `state`.
    public static func next(_ state: String, _ action: Action) -> String? {
        switch (state, action) {
        case ("destroyed", .destroy): return "destroyed"
        case ("destroyed", _): return nil
        case (_, .destroy): return "destroyed"
        case (_, .fail): return "error"
        case ("creating", .becomeReady): return "running"
        case ("creating", .stop): return "stopped"
        case ("running", .stop), ("paused", .stop): return "stopped"
        case ("running", .pause): return "paused"
        case ("paused", .resume), ("paused", .start), ("stopped", .resume), ("stopped", .start), ("error", .resume), ("error", .start):
            return "running"
        default: return nil
        }
    }

    /// States in which commands, files and processes are served.
    public static func isLive(_ state: String) -> Bool { state == "running" }
}

/// One sandbox row, read with `SandboxRecord.select`.
public struct SandboxRecord {
    public var id: String
    public var name: String?
    public var slug: String?
    public var state: String
    public var templateID: String
    public var size: String
    public var cpu: Int
    public var memoryMB: Int
    public var diskMB: Int
    public var tenantID: String
    public var workspaceID: String?
    public var workspaceSlug: String?
    public var workspaceName: String?
    public var projectID: String?
    public var projectSlug: String?
    public var projectName: String?
    public var externalWorkspaceID: String?
    public var externalUserID: String?
    public var externalProjectID: String?
    public var persistent: Bool
    public var alwaysOn: Bool
    public var timeoutSec: Int?
    public var idleTimeoutSec: Int?
    public var bootMs: Int
    public var metadata: String
    public var tags: String
    public var region: String?
    public var createdAt: String
    public var startedAt: String?
    public var readyAt: String?
    public var stoppedAt: String?
    public var destroyedAt: String?
    public var updatedAt: String
    public var deadline: Double?

    public static let select = """
        SELECT s.id, s.name, s.slug, s.state, s.template_id, s.size, s.cpu_count, s.memory_mb, s.disk_size_mb,
               s.tenant_id, s.workspace_id, w.slug, w.name, s.project_id, p.slug, p.name,
               s.external_workspace_id, s.external_user_id, s.external_project_id, s.persistent, s.always_on,
               s.timeout_sec, s.idle_timeout_sec, s.boot_ms, s.metadata, s.tags, s.region,
               s.created_at, s.started_at, s.ready_at, s.stopped_at, s.destroyed_at, s.updated_at, s.deadline
        FROM sandboxes s LEFT JOIN workspaces w ON w.id = s.workspace_id LEFT JOIN projects p ON p.id = s.project_id
        """

    public init(_ s: Statement) {
        id = s.text(0); name = s.optionalText(1); slug = s.optionalText(2); state = s.text(3)
        templateID = s.text(4); size = s.text(5); cpu = s.int(6); memoryMB = s.int(7); diskMB = s.int(8)
        tenantID = s.text(9); workspaceID = s.optionalText(10); workspaceSlug = s.optionalText(11)
        workspaceName = s.optionalText(12); projectID = s.optionalText(13); projectSlug = s.optionalText(14)
        projectName = s.optionalText(15); externalWorkspaceID = s.optionalText(16); externalUserID = s.optionalText(17)
        externalProjectID = s.optionalText(18); persistent = s.bool(19); alwaysOn = s.bool(20)
        timeoutSec = s.optionalInt(21); idleTimeoutSec = s.optionalInt(22); bootMs = s.int(23)
        metadata = s.text(24); tags = s.text(25); region = s.optionalText(26)
        createdAt = s.text(27); startedAt = s.optionalText(28); readyAt = s.optionalText(29)
        stoppedAt = s.optionalText(30); destroyedAt = s.optionalText(31); updatedAt = s.text(32)
        deadline = s.isNull(33) ? nil : s.double(33)
    }

    /// Built once: concatenating per call made a new 750-byte string (and statement-cache key) each time.
    static let selectByID = select + " WHERE s.id = ? AND s.tenant_id = ?"

    /// Loads a sandbox of this tenant; 404 `sandbox_not_found` otherwise (another tenant's id looks missing).
    public static func load(_ db: Database, id: String, tenantID: String) throws -> SandboxRecord {
        guard let r = try db.first(selectByID, [.text(id), .text(tenantID)], SandboxRecord.init) else {
            throw APIError.notFound("sandbox", id)
        }
        return r
    }

    // Most sandboxes have no metadata or tags: skip the parser for the stored "{}" and "[]".
    public var metadataJSON: JSON { metadata == "{}" ? .object(JSONObject()) : (try? JSON.parse(metadata)) ?? .object(JSONObject()) }
    public var tagsJSON: JSON { tags == "[]" ? .array([]) : (try? JSON.parse(tags)) ?? .array([]) }
    public var isReady: Bool { state == "running" }

    /// The sandbox object every SDK reads (sandbox-contract §3); `status` mirrors `state` for computer-shaped readers.
    public func json(now: Double) -> JSON {
        var o = JSONObject(capacity: 52)
        o.append("id", .string(id))
        o.append("object", .string("sandbox"))
        o.append("name", .str(name))
        o.append("slug", .str(slug))
        o.append("state", .string(state))
        o.append("status", .string(state))
        o.append("ready", .bool(isReady))
        o.append("template_id", .string(templateID))
        o.append("size", .string(size))
        o.append("cpu_count", .int(cpu))
        o.append("memory_mb", .int(memoryMB))
        o.append("disk_size_mb", .int(diskMB))
        let contract = contractID
        o.append("resource_contract", .object([
            "id": .string(contract), "version": .string("v1"), "product": .string("sandbox"), "size": .string(size),
            "vcpus": .int(cpu), "memory_mb": .int(memoryMB), "disk_size_mb": .int(diskMB),
        ]))
        o.append("tenant_id", .string(tenantID))
        o.append("owner_id", .null)
        o.append("workspace_id", .str(workspaceID))
        o.append("workspace_slug", .str(workspaceSlug))
        o.append("workspace_name", .str(workspaceName))
        o.append("project_id", .str(projectID))
        o.append("project_slug", .str(projectSlug))
        o.append("project_name", .str(projectName))
        o.append("external_workspace_id", .str(externalWorkspaceID))
        o.append("external_user_id", .str(externalUserID))
        o.append("external_project_id", .str(externalProjectID))
        o.append("persistent", .bool(persistent))
        o.append("always_on", .bool(alwaysOn))
        o.append("timeout_sec", .num(timeoutSec))
        o.append("idle_timeout_sec", .num(idleTimeoutSec))
        o.append("timeout_remaining_ms", timeoutRemainingMs(now: now).map { .int($0) } ?? .null)
        o.append("boot_ms", .int(bootMs))
        o.append("total_runtime_sec", .int(runtimeSeconds(now: now)))
        o.append("boot_path", .string("warm_pool"))
        o.append("region", .str(region ?? "local"))
        o.append("preview_url", .null)
        o.append("preview_domain", .null)
        o.append("metadata", metadataJSON)
        o.append("tags", tagsJSON)
        o.append("created_at", .string(createdAt))
        o.append("inserted_at", .string(createdAt))
        o.append("started_at", .str(startedAt))
        o.append("ready_at", .str(readyAt))
        o.append("stopped_at", .str(stoppedAt))
        o.append("destroyed_at", .str(destroyedAt))
        o.append("updated_at", .string(updatedAt))
        return .object(o)
    }

    var contractID: String { SandboxSize(name: size, cpu: cpu, memoryMB: memoryMB, diskMB: diskMB).contractID }

    func timeoutRemainingMs(now: Double) -> Int64? { SandboxRecord.timeoutRemainingMs(self, now: now) }

    func runtimeSeconds(now: Double) -> Int { SandboxRecord.runtimeSeconds(self, now: now) }

    // One formula for the record (`json`) and for the row encoder (`encodeFields`).
    static func timeoutRemainingMs<F: SandboxFields>(_ f: F, now: Double) -> Int64? {
        f.double(.deadline).map { Int64(max(0, ($0 - now) * 1000)) }
    }

    static func runtimeSeconds<F: SandboxFields>(_ f: F, now: Double) -> Int {
        guard let t = f.time(.startedAt) else { return 0 }
        let end = f.time(.destroyedAt) ?? (f.textIs(.state, "running") ? now : (f.time(.stoppedAt) ?? now))
        return max(0, Int(end - t))
    }

    /// Readiness as the SDK waiters read it (sandbox-contract §11.3): `ready`, `status`, every platform component.
    public func readinessJSON() -> JSON {
        let status = isReady ? "ready" : (state == "creating" ? "starting" : state)
        let componentNames = ["command_agent", "process_control", "resource_contract", "clock", "identity",
                              "durability", "filesystem", "internal_probe"]
        var comps = JSONObject()
        for n in componentNames { comps.append(n, .object(["status": .string(isReady ? "ready" : "pending")])) }
        return .object([
            "sandbox_id": .string(id), "ready": .bool(isReady), "status": .string(status), "state": .string(state),
            "components": .object(comps), "ready_at": .str(readyAt),
        ])
    }
}

// MARK: - Encoding without the tree

/// Reads (GET, list) answer with bytes written straight from the record: building the 44-key `JSON` tree,
/// encoding it and freeing it was a third of a GET's instructions. `encode(now:into:)` writes exactly the
/// bytes of `json(now:).encode(into:)`; SandboxEncodingTests holds the two together: change both or neither.
/// The one encoder (`encodeFields`) reads either a loaded record or, for a GET, the statement's current row
/// (`SandboxRow`), which skips making ~25 Strings that would be freed right after encoding.
extension SandboxRecord {
    public func encode(now: Double, into o: inout [UInt8]) {
        var w = ByteWriter(capacity: 1536)
        defer { w.free() }
        SandboxRecord.encodeFields(self, now: now, into: &w)
        o.append(contentsOf: w.bytes)
    }

    /// Column positions in `select`.
    enum Column: Int32 {
        case id = 0, name, slug, state, templateID, size, cpu, memoryMB, diskMB,
             tenantID, workspaceID, workspaceSlug, workspaceName, projectID, projectSlug, projectName,
             externalWorkspaceID, externalUserID, externalProjectID, persistent, alwaysOn,
             timeoutSec, idleTimeoutSec, bootMs, metadata, tags, region,
             createdAt, startedAt, readyAt, stoppedAt, destroyedAt, updatedAt, deadline

        /// Read with `text`/`int` (NULL reads as "" or 0) rather than `optionalText`/`optionalInt` by `init`.
        var isRequired: Bool {
            switch self {
            case .id, .state, .templateID, .size, .cpu, .memoryMB, .diskMB, .tenantID, .bootMs, .metadata, .tags,
                 .createdAt, .updatedAt: return true
            default: return false
            }
        }
    }

    static func encodeFields<F: SandboxFields>(_ f: F, now: Double, into o: inout ByteWriter) {
        @inline(__always) func lit(_ s: StaticString) { o.append(s) }
        @inline(__always) func str(_ c: Column) { if !f.appendString(c, into: &o) { lit("null") } }
        @inline(__always) func num(_ c: Column) { if let n = f.int(c) { o.appendJSONInt(Int64(n)) } else { lit("null") } }
        func bool(_ b: Bool) { lit(b ? "true" : "false") }
        let isReady = f.textIs(.state, "running")
        lit("{\"id\":"); str(.id)
        lit(",\"object\":\"sandbox\",\"name\":"); str(.name)
        lit(",\"slug\":"); str(.slug)
        lit(",\"state\":"); str(.state)
        lit(",\"status\":"); str(.state)
        lit(",\"ready\":"); bool(isReady)
        lit(",\"template_id\":"); str(.templateID)
        lit(",\"size\":"); str(.size)
        lit(",\"cpu_count\":"); num(.cpu)
        lit(",\"memory_mb\":"); num(.memoryMB)
        lit(",\"disk_size_mb\":"); num(.diskMB)
        // `SandboxSize.contractID`, written in place.
        lit(",\"resource_contract\":{\"id\":")
        if f.textIs(.size, "custom") {
            lit("\"sandbox/custom-"); num(.cpu); lit("x"); num(.memoryMB); lit("x"); num(.diskMB); lit("@v1\"")
        } else {
            lit("\"sandbox/"); f.appendStringBody(.size, into: &o); lit("@v1\"")
        }
        lit(",\"version\":\"v1\",\"product\":\"sandbox\",\"size\":"); str(.size)
        lit(",\"vcpus\":"); num(.cpu)
        lit(",\"memory_mb\":"); num(.memoryMB)
        lit(",\"disk_size_mb\":"); num(.diskMB)
        lit("},\"tenant_id\":"); str(.tenantID)
        lit(",\"owner_id\":null,\"workspace_id\":"); str(.workspaceID)
        lit(",\"workspace_slug\":"); str(.workspaceSlug)
        lit(",\"workspace_name\":"); str(.workspaceName)
        lit(",\"project_id\":"); str(.projectID)
        lit(",\"project_slug\":"); str(.projectSlug)
        lit(",\"project_name\":"); str(.projectName)
        lit(",\"external_workspace_id\":"); str(.externalWorkspaceID)
        lit(",\"external_user_id\":"); str(.externalUserID)
        lit(",\"external_project_id\":"); str(.externalProjectID)
        lit(",\"persistent\":"); bool(f.bool(.persistent))
        lit(",\"always_on\":"); bool(f.bool(.alwaysOn))
        lit(",\"timeout_sec\":"); num(.timeoutSec)
        lit(",\"idle_timeout_sec\":"); num(.idleTimeoutSec)
        lit(",\"timeout_remaining_ms\":")
        if let ms = timeoutRemainingMs(f, now: now) { o.appendJSONInt(ms) } else { lit("null") }
        lit(",\"boot_ms\":"); num(.bootMs)
        lit(",\"total_runtime_sec\":"); o.appendJSONInt(Int64(runtimeSeconds(f, now: now)))
        lit(",\"boot_path\":\"warm_pool\",\"region\":")
        if !f.appendString(.region, into: &o) { lit("\"local\"") }
        lit(",\"preview_url\":null,\"preview_domain\":null,\"metadata\":")
        // `metadataJSON` / `tagsJSON`
        if f.textIs(.metadata, "{}") { lit("{}") } else {
            o.append(((try? JSON.parse(f.text(.metadata) ?? "")) ?? .object(JSONObject())).encoded())
        }
        lit(",\"tags\":")
        if f.textIs(.tags, "[]") { lit("[]") } else {
            o.append(((try? JSON.parse(f.text(.tags) ?? "")) ?? .array([])).encoded())
        }
        lit(",\"created_at\":"); str(.createdAt)
        lit(",\"inserted_at\":"); str(.createdAt)
        lit(",\"started_at\":"); str(.startedAt)
        lit(",\"ready_at\":"); str(.readyAt)
        lit(",\"stopped_at\":"); str(.stoppedAt)
        lit(",\"destroyed_at\":"); str(.destroyedAt)
        lit(",\"updated_at\":"); str(.updatedAt)
        lit("}")
    }

    /// 200 `{"data": sandbox}`: the same response as `.ok(json(now:))`.
    public func okReply(now: Double) -> Reply { reply(200, now: now) }

    /// `{"data": <sandbox>}` with the byte encoder, as `status`.
    public func reply(_ status: Int, now: Double) -> Reply {
        var body: [UInt8] = []
        body.reserveCapacity(1536)
        JSON.appendLiteral("{\"data\":", into: &body)
        encode(now: now, into: &body)
        body.append(0x7d)
        return .bytes(status, contentType: Dispatcher.jsonContentType, body, headers: [])
    }

    /// `load(db, id:, tenantID:).okReply(now:)`, encoded from the row as SQLite returns it (the GET hot path:
    /// it still reads SQLite on every request, it only skips the intermediate record).
    public static func okReply(_ db: Database, id: String, tenantID: String, now: Double) throws -> Reply {
        var w = ByteWriter(capacity: 2048)
        defer { w.free() }
        w.append("{\"data\":")
        let found = try db.first(selectByID, [.text(id), .text(tenantID)]) { s -> Bool in
            encodeFields(SandboxRow(statement: s), now: now, into: &w)
            return true
        }
        guard found != nil else { throw APIError.notFound("sandbox", id) }
        w.append(0x7d)
        return .bytes(200, contentType: Dispatcher.jsonContentType, w.array, headers: [])
    }

    /// 200 list envelope around already encoded, comma-separated items: the same bytes as
    /// `Envelope.list(items, page:, total:)`, whose first key is `data` (asserted by the tests).
    public static func listReply(encodedItems: [UInt8], page: Page, total: Int) -> Reply {
        let empty = Envelope.list([], page: page, total: total).encoded()  // {"data":[],"page":...
        var body: [UInt8] = []
        body.reserveCapacity(empty.count + encodedItems.count)
        body.append(contentsOf: empty[0..<9])
        body.append(contentsOf: encodedItems)
        body.append(contentsOf: empty[9...])
        return .bytes(200, contentType: Dispatcher.jsonContentType, body, headers: [])
    }
}

/// What `SandboxRecord.encodeFields` reads, column by column, with `SandboxRecord.init`'s NULL rules.
protocol SandboxFields {
    /// Appends the text column as a JSON string; false (nothing appended) when it is an optional one that is NULL.
    func appendString(_ c: SandboxRecord.Column, into o: inout ByteWriter) -> Bool
    /// The same without the quotes (a required column).
    func appendStringBody(_ c: SandboxRecord.Column, into o: inout ByteWriter)
    /// Whether the text equals an ASCII literal. (Byte equality is String equality here: no literal used
    /// has a canonical equivalent outside ASCII.)
    func textIs(_ c: SandboxRecord.Column, _ literal: StaticString) -> Bool
    func text(_ c: SandboxRecord.Column) -> String?
    func int(_ c: SandboxRecord.Column) -> Int?
    func bool(_ c: SandboxRecord.Column) -> Bool
    func double(_ c: SandboxRecord.Column) -> Double?
    /// The text column parsed with `Time.parse`; nil when NULL or not a timestamp.
    func time(_ c: SandboxRecord.Column) -> Double?
}

extension SandboxRecord: SandboxFields {
    func text(_ c: Column) -> String? {
        switch c {
        case .id: return id
        case .name: return name
        case .slug: return slug
        case .state: return state
        case .templateID: return templateID
        case .size: return size
        case .tenantID: return tenantID
        case .workspaceID: return workspaceID
        case .workspaceSlug: return workspaceSlug
        case .workspaceName: return workspaceName
        case .projectID: return projectID
        case .projectSlug: return projectSlug
        case .projectName: return projectName
        case .externalWorkspaceID: return externalWorkspaceID
        case .externalUserID: return externalUserID
        case .externalProjectID: return externalProjectID
        case .metadata: return metadata
        case .tags: return tags
        case .region: return region
        case .createdAt: return createdAt
        case .startedAt: return startedAt
        case .readyAt: return readyAt
        case .stoppedAt: return stoppedAt
        case .destroyedAt: return destroyedAt
        case .updatedAt: return updatedAt
        case .cpu, .memoryMB, .diskMB, .persistent, .alwaysOn, .timeoutSec, .idleTimeoutSec, .bootMs, .deadline:
            return nil
        }
    }

    func appendString(_ c: Column, into o: inout ByteWriter) -> Bool {
        guard let s = text(c) else { return false }
        o.appendJSONString(s)
        return true
    }

    func appendStringBody(_ c: Column, into o: inout ByteWriter) {
        var s = text(c) ?? ""
        s.withUTF8 { o.appendJSONStringBody(utf8: $0) }
    }

    func textIs(_ c: Column, _ literal: StaticString) -> Bool {
        guard let s = text(c) else { return false }
        return s.utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    func int(_ c: Column) -> Int? {
        switch c {
        case .cpu: return cpu
        case .memoryMB: return memoryMB
        case .diskMB: return diskMB
        case .bootMs: return bootMs
        case .timeoutSec: return timeoutSec
        case .idleTimeoutSec: return idleTimeoutSec
        default: return nil
        }
    }

    func bool(_ c: Column) -> Bool {
        switch c {
        case .persistent: return persistent
        case .alwaysOn: return alwaysOn
        default: return false
        }
    }

    func double(_ c: Column) -> Double? { c == .deadline ? deadline : nil }

    func time(_ c: Column) -> Double? { text(c).flatMap(Time.parse) }
}

/// The current row of a statement running `SandboxRecord.select`, read in place.
struct SandboxRow: SandboxFields {
    let statement: Statement

    func appendString(_ c: SandboxRecord.Column, into o: inout ByteWriter) -> Bool {
        if let b = statement.textBytes(c.rawValue) {
            o.appendJSONString(utf8: b)
        } else if c.isRequired {
            o.append("\"\"")
        } else {
            return false
        }
        return true
    }

    func appendStringBody(_ c: SandboxRecord.Column, into o: inout ByteWriter) {
        if let b = statement.textBytes(c.rawValue) { o.appendJSONStringBody(utf8: b) }
    }

    func textIs(_ c: SandboxRecord.Column, _ literal: StaticString) -> Bool {
        guard let b = statement.textBytes(c.rawValue), b.count == literal.utf8CodeUnitCount else {
            return !c.isRequired ? false : literal.utf8CodeUnitCount == 0 && statement.isNull(Int(c.rawValue))
        }
        return b.count == 0 || memcmp(b.baseAddress!, literal.utf8Start, b.count) == 0
    }

    func text(_ c: SandboxRecord.Column) -> String? {
        if let b = statement.textBytes(c.rawValue) { return String(decoding: b, as: UTF8.self) }
        return c.isRequired ? "" : nil
    }

    func int(_ c: SandboxRecord.Column) -> Int? {
        if !c.isRequired && statement.isNull(Int(c.rawValue)) { return nil }
        return statement.int(Int(c.rawValue))
    }

    func bool(_ c: SandboxRecord.Column) -> Bool { statement.bool(Int(c.rawValue)) }

    func double(_ c: SandboxRecord.Column) -> Double? {
        statement.isNull(Int(c.rawValue)) ? nil : statement.double(Int(c.rawValue))
    }

    func time(_ c: SandboxRecord.Column) -> Double? {
        statement.textBytes(c.rawValue).flatMap(Time.parse(utf8:))
    }
}
