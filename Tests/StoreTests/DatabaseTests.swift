import XCTest
import Foundation
@testable import Store

final class DatabaseTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "store-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let migrations = [
        Migration(1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"),
        Migration(2, "color", "ALTER TABLE things ADD COLUMN color TEXT"),
    ]

    func testMigratesFromEmptyAndOnlyOnce() throws {
        let db = try Database(path: dir + "/a.sqlite3")
        XCTAssertEqual(try db.migrate(migrations, now: "t"), [1, 2])
        XCTAssertEqual(try db.migrate(migrations, now: "t"), [])
        try db.run("INSERT INTO things (name, color) VALUES (?, ?)", ["a", "red"])
        XCTAssertEqual(try db.query("SELECT name, color FROM things").first?.string("color"), "red")
        let more = migrations + [Migration(3, "size", "ALTER TABLE things ADD COLUMN size INTEGER")]
        XCTAssertEqual(try db.migrate(more, now: "t"), [3])
    }

    func testRestartKeepsData() throws {
        do {
            let db = try Database(path: dir + "/b.sqlite3")
            try db.migrate(migrations, now: "t")
            try db.transaction { try db.run("INSERT INTO things (name) VALUES ('kept')") }
            db.close()
        }
        let again = try Database(path: dir + "/b.sqlite3")
        XCTAssertEqual(try again.migrate(migrations, now: "t"), [])
        XCTAssertEqual(try again.first("SELECT name FROM things") { $0.text(0) }, "kept")
        XCTAssertEqual(try again.first("PRAGMA journal_mode") { $0.text(0) }, "wal")
    }

    func testFailedTransactionRollsBackAndNestedSavepointsWork() throws {
        let db = try Database(path: ":memory:")
        try db.migrate(migrations, now: "t")
        XCTAssertThrowsError(try db.transaction {
            try db.run("INSERT INTO things (name) VALUES ('lost')")
            try db.run("INSERT INTO things (name) VALUES (NULL)")  // NOT NULL violation
        })
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM things"), 0)
        try db.transaction {
            try db.run("INSERT INTO things (name) VALUES ('outer')")
            _ = try? db.transaction { () throws -> Void in
                try db.run("INSERT INTO things (name) VALUES ('inner')")
                throw SQLiteError(code: 1, message: "boom", sql: nil)
            }
        }
        XCTAssertEqual(try db.query("SELECT name FROM things").map { $0.string("name") }, ["outer"])
    }

    func testBindsEveryValueKind() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v (a, b, c, d, e)")
        try db.run("INSERT INTO v VALUES (?, ?, ?, ?, ?)", [.null, .int(-7), .double(1.5), .text("é\"x"), .blob([0, 1, 255])])
        let row = try XCTUnwrap(try db.query("SELECT * FROM v").first)
        XCTAssertEqual(row.values, [.null, .int(-7), .double(1.5), .text("é\"x"), .blob([0, 1, 255])])
    }

    func testSyntaxErrorIsAValueNotACrash() {
        let db = try! Database(path: ":memory:")
        XCTAssertThrowsError(try db.run("SELEKT 1")) { e in
            XCTAssertTrue("\(e)".contains("SELEKT"))
        }
    }

    func testGroupCommitJoinsWritesIntoOneBatchAndRollsBackOnlyTheFailingTransaction() throws {
        let path = dir + "/g.sqlite3"
        do {
            let db = try Database(path: path)
            try db.migrate(migrations, now: "t")
            var opened = 0
            db.groupCommit = true
            db.onBatchOpen = { opened += 1 }
            XCTAssertFalse(db.batchOpen)
            _ = try db.first("SELECT COUNT(*) FROM things") { $0.int(0) }
            XCTAssertFalse(db.batchOpen, "a read opens no batch")
            try db.run("INSERT INTO things (name) VALUES ('plain')")
            try db.transaction { try db.run("INSERT INTO things (name) VALUES ('in-transaction')") }
            XCTAssertThrowsError(try db.transaction {
                try db.run("INSERT INTO things (name) VALUES ('undone')")
                throw SQLiteError(code: 1, message: "handler failed", sql: nil)
            })
            XCTAssertTrue(db.batchOpen)
            XCTAssertEqual(opened, 1, "one batch for the turn")
            XCTAssertTrue(db.commitBatch())
            XCTAssertFalse(db.batchOpen)
            try db.run("INSERT INTO things (name) VALUES ('next turn')")
            XCTAssertEqual(opened, 2)
            db.close()  // commits the open batch
        }
        let again = try Database(path: path)
        var names: [String] = []
        try again.forEach("SELECT name FROM things ORDER BY id") { names.append($0.text(0)); return true }
        XCTAssertEqual(names, ["plain", "in-transaction", "next turn"])
    }
}
