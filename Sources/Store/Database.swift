import CSQLite3

public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let sql: String?
    public var description: String { "SQLite error \(code): \(message)" + (sql.map { " in `\($0.prefix(120))`" } ?? "") }
    public var isConstraintViolation: Bool { code & 0xff == SQLITE_CONSTRAINT }
}

/// A value bound to or read from a statement.
public enum SQLValue: Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(nilLiteral: ()) { self = .null }

    public static func of(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    public static func of(_ i: Int?) -> SQLValue { i.map { .int(Int64($0)) } ?? .null }
    public static func of(_ b: Bool?) -> SQLValue { b.map { .int($0 ? 1 : 0) } ?? .null }
    public static func of(_ d: Double?) -> SQLValue { d.map { .double($0) } ?? .null }
}

/// SQLite's "copy the bytes now" destructor; the C macro is not importable.
let SQLITE_TRANSIENT_PTR = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A prepared statement, cached by SQL text and reset after each use.
public final class Statement {
    @usableFromInline let raw: OpaquePointer
    public let sql: String
    unowned let db: Database

    init(db: Database, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db.raw, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let s = stmt else { throw db.error(rc, sql: sql) }
        raw = s
        self.sql = sql
        self.db = db
    }

    deinit { sqlite3_finalize(raw) }

    func bind(_ args: [SQLValue]) throws {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
        for (i, v) in args.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(raw, idx)
            case .int(let n): rc = sqlite3_bind_int64(raw, idx, n)
            case .double(let d): rc = sqlite3_bind_double(raw, idx, d)
            case .text(let s):
                // withUTF8: no copy for a native string (passing `s` as a pointer argument made a
                // ContiguousArray copy); the explicit length spares SQLite a strlen.
                var s = s
                rc = s.withUTF8 { b in
                    guard b.count > 0, let base = b.baseAddress else { return sqlite3_bind_text(raw, idx, "", 0, SQLITE_TRANSIENT_PTR) }
                    return base.withMemoryRebound(to: CChar.self, capacity: b.count) {
                        sqlite3_bind_text(raw, idx, $0, Int32(b.count), SQLITE_TRANSIENT_PTR)
                    }
                }
            case .blob(let b):
                rc = b.withUnsafeBytes { sqlite3_bind_blob(raw, idx, $0.baseAddress, Int32(b.count), SQLITE_TRANSIENT_PTR) }
            }
            if rc != SQLITE_OK { throw db.error(rc, sql: sql) }
        }
    }

    // Column readers, valid while a row is current.
    public var columnCount: Int { Int(sqlite3_column_count(raw)) }
    public func columnName(_ i: Int) -> String { String(cString: sqlite3_column_name(raw, Int32(i))) }
    public func isNull(_ i: Int) -> Bool { sqlite3_column_type(raw, Int32(i)) == SQLITE_NULL }
    public func int(_ i: Int) -> Int { Int(sqlite3_column_int64(raw, Int32(i))) }
    public func int64(_ i: Int) -> Int64 { sqlite3_column_int64(raw, Int32(i)) }
    public func double(_ i: Int) -> Double { sqlite3_column_double(raw, Int32(i)) }
    public func bool(_ i: Int) -> Bool { sqlite3_column_int64(raw, Int32(i)) != 0 }
    public func text(_ i: Int) -> String {
        guard let p = sqlite3_column_text(raw, Int32(i)) else { return "" }
        let n = Int(sqlite3_column_bytes(raw, Int32(i)))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    public func optionalText(_ i: Int) -> String? { isNull(i) ? nil : text(i) }
    /// The column's text as UTF-8 bytes (other types converted, as `text` does); nil when it is NULL. The
    /// bytes are SQLite's own buffer, valid only until the next step, reset or type-changing read of this
    /// column: encoders copy them out at once instead of making a String per column.
    @inlinable
    public func textBytes(_ i: Int32) -> UnsafeBufferPointer<UInt8>? {
        guard let p = sqlite3_column_text(raw, i) else { return nil }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(raw, i)))
    }
    public func optionalInt(_ i: Int) -> Int? { isNull(i) ? nil : int(i) }
    public func blob(_ i: Int) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(raw, Int32(i)))
        guard n > 0, let p = sqlite3_column_blob(raw, Int32(i)) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
    public func value(_ i: Int) -> SQLValue {
        switch sqlite3_column_type(raw, Int32(i)) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .int(int64(i))
        case SQLITE_FLOAT: return .double(double(i))
        case SQLITE_BLOB: return .blob(blob(i))
        default: return .text(text(i))
        }
    }
}

/// A materialised row, for code off the hot path.
public struct Row {
    public let columns: [String]
    public let values: [SQLValue]

    public subscript(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }
    public func string(_ name: String) -> String? {
        switch self[name] {
        case .text(let s): return s
        case .int(let n): return String(n)
        case .double(let d): return String(d)
        default: return nil
        }
    }
    public func int(_ name: String) -> Int? {
        switch self[name] {
        case .int(let n): return Int(n)
        case .double(let d): return Int(d)
        case .text(let s): return Int(s)
        default: return nil
        }
    }
    public func double(_ name: String) -> Double? {
        switch self[name] {
        case .int(let n): return Double(n)
        case .double(let d): return d
        default: return nil
        }
    }
    public func bool(_ name: String) -> Bool { (int(name) ?? 0) != 0 }
}

/// One SQLite connection, used only on the loop thread (DESIGN: thread confinement).
public final class Database {
    let raw: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]
    /// Direct-mapped by SQL length in front of `cache`: a hit compares one string (equal storage is one
    /// word; otherwise memcmp) instead of hashing the whole SQL text (4 % of a GET's instructions).
    private var recent = [Statement?](repeating: nil, count: 32)
    private var transactionDepth = 0

    /// Group commit, off until the server turns it on. While on, the first write of a loop turn opens one
    /// transaction that every later write of the turn joins (a top-level `transaction {}` becomes a savepoint in
    /// it, so a failing request still undoes only its own changes), and the server ends it with `commitBatch()`
    /// once per turn, before it sends the answers that depend on it (HTTPServer.cork).
    /// Why: in WAL mode a commit writes every page the transaction changed to the log (and every 1000 pages a
    /// checkpoint writes them again and syncs). A create changes a dozen pages (the row, its indexes, the event,
    /// the audit entry, the idempotency record); the concurrent creates of one turn share most of them (the
    /// tables' last leaves), so one commit per turn writes each shared page once instead of once per request.
    public var groupCommit = false
    /// Called when a batch opens (the server starts holding answers).
    public var onBatchOpen: (() -> Void)?
    public private(set) var batchOpen = false

    /// Process-wide SQLite configuration, applied once before the first connection opens (swift_once makes
    /// it thread-safe). Memory statistics off: they lock a global mutex around every SQLite allocation.
    private static let configured: Void = { _ = csqlite3_disable_memstatus() }()

    /// `path` ":memory:" keeps everything in memory.
    public init(path: String) throws {
        _ = Database.configured
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let d = db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let d = db { sqlite3_close_v2(d) }
            throw SQLiteError(code: rc, message: msg, sql: nil)
        }
        raw = d
        self.path = path
        sqlite3_busy_timeout(raw, 5000)
        if path != ":memory:" {
            // One process owns the store. Exclusive locking, set before WAL is first used, keeps the WAL index
            // in heap memory and the locks held, so a read no longer takes and drops a lock on the -shm file
            // (two fcntl(2) calls per statement). Another process opening the file meanwhile gets SQLITE_BUSY.
            try execute("PRAGMA locking_mode=EXCLUSIVE")
            try execute("PRAGMA journal_mode=WAL")
            // NORMAL in WAL mode: a commit survives a crash of this process; only power loss can drop the last ones.
            try execute("PRAGMA synchronous=NORMAL")
            // A checkpoint copies every page changed since the last one back into the database and syncs twice;
            // at the default (1000 pages) a run of creates checkpointed every ~150 of them, rewriting the same
            // index leaves each time. 16384 pages (64 MiB of log) amortise that; the log is cut back to that size.
            try execute("PRAGMA wal_autocheckpoint=16384")
            try execute("PRAGMA journal_size_limit=67108864")
        }
        try execute("PRAGMA foreign_keys=ON")
        // Savepoints (a request's transaction inside the loop turn's batch) journal the pages they change so
        // they can roll back; in a temporary file that was a write(2) per page, more than the commit itself.
        try execute("PRAGMA temp_store=MEMORY")
        // 32 MiB of page cache (default 2 MiB): the index leaves a write touches stay in memory instead of being
        // read back from the log or the file. Pages are allocated as used, so an idle server stays small.
        try execute("PRAGMA cache_size=-32768")
    }

    deinit { close() }

    private var isClosed = false
    public func close() {
        guard !isClosed else { return }
        if batchOpen { _ = commitBatch() }  // a failed commit has rolled back; nothing more to do
        isClosed = true
        cache.removeAll()
        recent = [Statement?](repeating: nil, count: 32)
        if path != ":memory:" { sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", nil, nil, nil) }
        sqlite3_close_v2(raw)
    }

    func error(_ rc: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(raw)), sql: sql)
    }

    /// Runs one or more statements with no parameters.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(raw, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg, sql: sql)
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        let slot = sql.utf8.count & 31
        if let s = recent[slot], s.sql == sql { return s }
        if let s = cache[sql] { recent[slot] = s; return s }
        let s = try Statement(db: self, sql: sql)
        cache[sql] = s
        recent[slot] = s
        return s
    }

    /// Runs a cached parameterless statement (transaction control): sqlite3_exec would parse it every time.
    private func step(_ sql: String) throws {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.raw) }
        let rc = sqlite3_step(s.raw)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc, sql: sql) }
    }

    private func openBatchIfNeeded() throws {
        guard groupCommit, !batchOpen, transactionDepth == 0, !isClosed else { return }
        try step("BEGIN IMMEDIATE")
        batchOpen = true
        transactionDepth = 1
        onBatchOpen?()
    }

    /// Ends the turn's batch: true when its changes are saved (or there was none). False when they are lost:
    /// SQLite already rolled the transaction back (disk full, I/O error) or the commit failed; the caller then
    /// answers the requests that were waiting on it with an error.
    public func commitBatch() -> Bool {
        guard batchOpen else { return true }
        batchOpen = false
        transactionDepth = 0
        if sqlite3_get_autocommit(raw) != 0 { return false }
        do {
            try step("COMMIT")
            return true
        } catch {
            _ = try? step("ROLLBACK")
            return false
        }
    }

    /// Runs a statement for its effect; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ args: [SQLValue] = []) throws -> Int {
        try openBatchIfNeeded()
        let s = try prepare(sql)
        try s.bind(args)
        defer { sqlite3_reset(s.raw) }
        let rc = sqlite3_step(s.raw)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc, sql: sql) }
        return Int(sqlite3_changes(raw))
    }

    /// Calls `body` for each row with the statement positioned on it; return false to stop early.
    public func forEach(_ sql: String, _ args: [SQLValue] = [], _ body: (Statement) throws -> Bool) throws {
        let s = try prepare(sql)
        try s.bind(args)
        defer { sqlite3_reset(s.raw) }
        while true {
            let rc = sqlite3_step(s.raw)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc, sql: sql) }
            if try !body(s) { return }
        }
    }

    /// The first row, read by `body`, or nil.
    public func first<T>(_ sql: String, _ args: [SQLValue] = [], _ body: (Statement) throws -> T) throws -> T? {
        var out: T?
        try forEach(sql, args) { s in out = try body(s); return false }
        return out
    }

    public func query(_ sql: String, _ args: [SQLValue] = []) throws -> [Row] {
        var rows: [Row] = []
        var columns: [String]?
        try forEach(sql, args) { s in
            if columns == nil { columns = (0..<s.columnCount).map { s.columnName($0) } }
            rows.append(Row(columns: columns!, values: (0..<s.columnCount).map { s.value($0) }))
            return true
        }
        return rows
    }

    public func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws -> Int? {
        try first(sql, args) { $0.isNull(0) ? nil : $0.int(0) } ?? nil
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(raw) }

    /// All or nothing; nests with savepoints.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try openBatchIfNeeded()
        let depth = transactionDepth
        if depth == 0 { try step("BEGIN IMMEDIATE") } else { try step("SAVEPOINT sp\(depth)") }
        transactionDepth += 1
        do {
            let result = try body()
            transactionDepth -= 1
            if depth == 0 { try step("COMMIT") } else { try step("RELEASE sp\(depth)") }
            return result
        } catch {
            transactionDepth -= 1
            if depth == 0 { _ = try? step("ROLLBACK") } else {
                _ = try? step("ROLLBACK TO sp\(depth)")
                _ = try? step("RELEASE sp\(depth)")
            }
            throw error
        }
    }
}
