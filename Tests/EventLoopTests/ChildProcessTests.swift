import XCTest
import Foundation
@testable import EventLoop
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class ChildProcessTests: XCTestCase {
    let env = ["PATH=/usr/local/bin:/usr/bin:/bin"]

    /// Runs the loop until `done` or 10 s of loop time (a bound, not a timing assertion).
    func run(_ loop: Loop, until done: () -> Bool) {
        let guardTimer = EventLoop.Timer(loop: loop)
        var expired = false
        guardTimer.start(ms: 10_000) { expired = true; loop.stop() }
        guardTimer.unref()
        while !done() && !expired { loop.runOnce() }
        guardTimer.close()
        XCTAssertFalse(expired, "loop bound reached")
    }

    func testCapturesStdoutStderrAndExitStatus() throws {
        let loop = Loop()
        let p = try ChildProcess(loop: loop, options: SpawnOptions(
            arguments: ["/bin/sh", "-c", "echo out; echo err >&2; echo $FOO; pwd; exit 7"],
            environment: env + ["FOO=bar"], cwd: "/tmp"))
        var out: [UInt8] = [], err: [UInt8] = []
        var ends = 0
        var exit: (Int64, Int32)?
        p.stdout.onRead = { out.append(contentsOf: $0) }
        p.stderr.onRead = { err.append(contentsOf: $0) }
        p.stdout.onEnd = { ends += 1 }
        p.stderr.onEnd = { ends += 1 }
        p.onExit = { exit = ($0, $1) }
        XCTAssertGreaterThan(p.pid, 0)
        run(loop) { exit != nil && ends == 2 }
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "out\nbar\n/tmp\n")
        XCTAssertEqual(String(decoding: err, as: UTF8.self), "err\n")
        XCTAssertEqual(exit?.0, 7)
        XCTAssertEqual(exit?.1, 0)
        loop.close()
    }

    func testStdinIsWrittenThenClosed() throws {
        let loop = Loop()
        let p = try ChildProcess(loop: loop, options: SpawnOptions(arguments: ["cat"], environment: env, stdin: Array("piped\n".utf8)))
        var out: [UInt8] = []
        var exited = false
        var ended = false
        p.stdout.onRead = { out.append(contentsOf: $0) }
        p.stdout.onEnd = { ended = true }
        p.onExit = { _, _ in exited = true }
        run(loop) { exited && ended }
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "piped\n")
        loop.close()
    }

    func testMissingProgramThrowsAndLeavesNoOpenHandle() {
        let loop = Loop()
        XCTAssertThrowsError(try ChildProcess(loop: loop, options: SpawnOptions(arguments: ["/nonexistent/program"], environment: env))) { e in
            XCTAssertEqual((e as? UVError)?.name, "ENOENT")
        }
        loop.run()  // returns only if every handle was closed
        loop.close()
    }

    /// A detached child leads its own process group: signalling the group reaches a grandchild too.
    func testSignalGroupKillsGrandchildren() throws {
        let loop = Loop()
        let marker = "1000.\(getpid())\(Int.random(in: 1000...9999))"
        let p = try ChildProcess(loop: loop, options: SpawnOptions(
            arguments: ["/bin/sh", "-c", "sleep \(marker) & echo started; wait"], environment: env))
        var started = false
        var exit: (Int64, Int32)?
        p.stdout.onRead = { if String(decoding: $0, as: UTF8.self).contains("started") { started = true } }
        p.onExit = { exit = ($0, $1) }
        run(loop) { started }
        XCTAssertTrue(processesMatching(marker) > 0, "the grandchild runs")
        XCTAssertTrue(p.signalGroup(SIGKILL))
        run(loop) { exit != nil }
        XCTAssertEqual(exit?.1, SIGKILL)
        XCTAssertFalse(p.signal(SIGTERM), "no signal once it has exited")
        // The grandchild was reparented when the shell died; poll (bounded) until the kernel has removed it.
        var tries = 0
        while processesMatching(marker) > 0 && tries < 500 { usleep(10_000); tries += 1 }
        XCTAssertEqual(processesMatching(marker), 0)
        loop.close()
    }
}
