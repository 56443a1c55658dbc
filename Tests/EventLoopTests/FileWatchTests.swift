import XCTest
import Foundation
@testable import EventLoop

final class FileWatchTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("filewatch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func stat(_ inode: UInt64, dir: Bool = false, size: Int64 = 1) -> FileStat { FileStat(isDir: dir, size: size, inode: inode) }

    // MARK: classification (no file system)

    func testClassifierMapsBeforeAndAfterToChanges() {
        typealias T = WatchClassifier.Touched
        let out = WatchClassifier.classify([
            T(path: "/w/new", before: nil, after: stat(1, size: 5)),
            T(path: "/w/edited", before: stat(2), after: stat(2, size: 9)),
            T(path: "/w/gone", before: stat(3), after: nil),
            T(path: "/w/tmp", before: nil, after: nil),
            T(path: "/w/dir", before: stat(4, dir: true), after: stat(4, dir: true)),
        ])
        XCTAssertEqual(out, [
            FileChange(kind: .created, path: "/w/new", isDir: false, size: 5),
            FileChange(kind: .modified, path: "/w/edited", isDir: false, size: 9),
            FileChange(kind: .deleted, path: "/w/gone", isDir: false, size: 0),
        ], "a transient file is nothing; a directory's own metadata churn is not reported")
    }

    func testClassifierPairsRenamesByInodeIncludingRenameOver() {
        typealias T = WatchClassifier.Touched
        XCTAssertEqual(WatchClassifier.classify([
            T(path: "/w/a", before: stat(7), after: nil),
            T(path: "/w/b", before: nil, after: stat(7)),
        ]), [FileChange(kind: .renamed, path: "/w/b", oldPath: "/w/a", isDir: false, size: 1)])
        XCTAssertEqual(WatchClassifier.classify([
            T(path: "/w/tmp.swp", before: stat(8), after: nil),
            T(path: "/w/main.py", before: stat(9), after: stat(8)),
        ]), [FileChange(kind: .renamed, path: "/w/main.py", oldPath: "/w/tmp.swp", isDir: false, size: 1)])
        XCTAssertEqual(WatchClassifier.classify([
            T(path: "/w/x", before: stat(10), after: stat(11, dir: true)),
        ]).map(\.kind), [.deleted, .created], "replaced by a directory")
    }

    // MARK: libuv

    /// Runs `loop` until `done` or the deadline (a stuck watch fails instead of hanging).
    func run(_ loop: Loop, seconds: Double = 10, until done: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        let guardTimer = Timer(loop: loop)
        guardTimer.start(ms: 5, repeatMs: 5) {}
        while !done() && Date() < deadline { loop.runOnce() }
        guardTimer.close()
    }

    func testFileWatchReportsAChildByName() throws {
        let loop = Loop()
        defer { loop.close() }
        let w = FileWatch(loop: loop)
        var names: [String] = []
        try w.start(path: dir) { name, events, error in
            XCTAssertNil(error)
            XCTAssertFalse(events.isEmpty)
            if let n = name { names.append(n) }
        }
        FileManager.default.createFile(atPath: dir + "/hello.txt", contents: Data("hi".utf8))
        run(loop) { names.contains("hello.txt") }
        XCTAssertTrue(names.contains("hello.txt"))
        w.close()
        w.close()
        XCTAssertThrowsError(try FileWatch(loop: loop).start(path: dir + "/missing") { _, _, _ in }) { e in
            XCTAssertEqual((e as? UVError)?.name, "ENOENT")
        }
    }

    func testTreeWatchFollowsNewDirectoriesRenamesAndDeletes() throws {
        let loop = Loop()
        defer { loop.close() }
        try FileManager.default.createDirectory(atPath: dir + "/old", withIntermediateDirectories: true)
        let tree = TreeWatch(loop: loop, root: dir, debounceMs: 10)
        defer { tree.close() }
        var changes: [FileChange] = []
        tree.onChanges = { changes += $0 }
        try tree.start()
        XCTAssertEqual(tree.directoryCount, 2)
        let fm = FileManager.default
        func step(_ action: () throws -> Void, until: (FileChange) -> Bool) rethrows {
            try action()
            run(loop) { changes.contains(where: until) }
        }
        // A directory tree made at once: the files inside appear too (found by scanning the new directory).
        try step({ try fm.createDirectory(atPath: dir + "/a/b", withIntermediateDirectories: true)
                   fm.createFile(atPath: dir + "/a/b/f.txt", contents: Data("12345".utf8)) },
                 until: { $0.path == self.dir + "/a/b/f.txt" })
        XCTAssertEqual(tree.directoryCount, 4)
        // A file written later in the new subdirectory: created once, not RENAME+CHANGE twice.
        try step({ fm.createFile(atPath: dir + "/a/b/g.txt", contents: Data("x".utf8)) }, until: { $0.path == self.dir + "/a/b/g.txt" })
        try step({ try fm.moveItem(atPath: dir + "/a/b/g.txt", toPath: dir + "/old/h.txt") }, until: { $0.kind == .renamed })
        try step({ try fm.removeItem(atPath: dir + "/a") }, until: { $0.kind == .deleted && $0.path == self.dir + "/a" })
        let rel = changes.map { "\($0.kind.rawValue) \($0.path.dropFirst(dir.count))" + ($0.oldPath.map { " from \($0.dropFirst(dir.count))" } ?? "") }
        XCTAssertEqual(Array(rel.prefix(5)), [
            "created /a", "created /a/b", "created /a/b/f.txt", "created /a/b/g.txt", "renamed /old/h.txt from /a/b/g.txt",
        ])
        XCTAssertEqual(Set(rel.dropFirst(5)), ["deleted /a/b/f.txt", "deleted /a/b", "deleted /a"])
        XCTAssertEqual(changes.first { $0.path.hasSuffix("f.txt") }?.size, 5)
        XCTAssertEqual(tree.directoryCount, 2, "watches of removed directories are closed")
    }

    /// Within one debounce window: a new directory, a file moved into it, and a whole directory moved in.
    func testMovesIntoANewDirectoryStayRenames() throws {
        let loop = Loop()
        defer { loop.close() }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/pkg/lib", withIntermediateDirectories: true)
        fm.createFile(atPath: dir + "/pkg/lib/x.py", contents: Data())
        fm.createFile(atPath: dir + "/app.py", contents: Data("1".utf8))
        let tree = TreeWatch(loop: loop, root: dir, debounceMs: 50)
        defer { tree.close() }
        var changes: [FileChange] = []
        tree.onChanges = { changes += $0 }
        try tree.start()
        try fm.createDirectory(atPath: dir + "/src", withIntermediateDirectories: false)
        try fm.moveItem(atPath: dir + "/app.py", toPath: dir + "/src/main.py")
        try fm.moveItem(atPath: dir + "/pkg", toPath: dir + "/src/pkg")
        run(loop) { changes.filter { $0.kind == .renamed }.count == 2 }
        let rel = changes.map { "\($0.kind.rawValue) \($0.path.dropFirst(dir.count))" + ($0.oldPath.map { " from \($0.dropFirst(dir.count))" } ?? "") }
        XCTAssertEqual(Set(rel), ["created /src", "renamed /src/main.py from /app.py", "renamed /src/pkg from /pkg"])
        // The moved directory's contents are watched at their new place.
        fm.createFile(atPath: dir + "/src/pkg/lib/y.py", contents: Data())
        run(loop) { changes.contains { $0.path.hasSuffix("/src/pkg/lib/y.py") } }
        XCTAssertEqual(changes.last?.kind, .created)
        XCTAssertEqual(tree.directoryCount, 4)
    }

    func testNonRecursiveTreeWatchSeesOnlyDirectChildren() throws {
        let loop = Loop()
        defer { loop.close() }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let tree = TreeWatch(loop: loop, root: dir, recursive: false, debounceMs: 5)
        var changes: [FileChange] = []
        tree.onChanges = { changes += $0 }
        try tree.start()
        XCTAssertEqual(tree.directoryCount, 1)
        FileManager.default.createFile(atPath: dir + "/sub/deep.txt", contents: Data())
        FileManager.default.createFile(atPath: dir + "/top.txt", contents: Data())
        run(loop) { !changes.isEmpty }
        XCTAssertEqual(changes.map(\.path), [dir + "/top.txt"])
        tree.close()
        tree.close()
    }
}
