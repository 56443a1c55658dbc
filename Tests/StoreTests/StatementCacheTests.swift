import XCTest
@testable import Store

final class StatementCacheTests: XCTestCase {
    func testEqualSQLSharesOneStatementAndSameLengthSQLDoesNot() throws {
        let db = try Database(path: ":memory:")
        defer { db.close() }
        try db.execute("CREATE TABLE t (a INTEGER, b INTEGER)")
        try db.run("INSERT INTO t VALUES (1, 2)")
        let built = "SELECT a FROM t" + " WHERE a = ?"
        let first = try db.prepare("SELECT a FROM t WHERE a = ?")
        XCTAssertTrue(first === (try db.prepare(built)), "equal text, different storage: one statement")
        // Same length (and so the same direct-mapped slot), different text: a different statement and result.
        let other = "SELECT b FROM t WHERE a = ?"
        XCTAssertEqual(other.utf8.count, built.utf8.count)
        XCTAssertFalse(first === (try db.prepare(other)))
        XCTAssertEqual(try db.scalarInt(built, [1]), 1)
        XCTAssertEqual(try db.scalarInt(other, [1]), 2)
        XCTAssertEqual(try db.scalarInt(built, [1]), 1)
    }
}
