import XCTest
@testable import MockAPI
#if canImport(Glibc)
import Glibc
#endif

/// The runtime's value types, without processes or sockets: command lifecycle, sandbox timeouts, buffers,
/// request parsing, isolation argv.
final class RuntimeModelTests: XCTestCase {
    func testCommandCompletesAfterExitAndBothPipesEnd() {
        var lc = CommandLifecycle()
        XCTAssertEqual(lc.outputEnded(stderr: false), [])
        XCTAssertEqual(lc.exited(status: 3, signal: 0), [.armLinger])
        XCTAssertFalse(lc.completed)
        XCTAssertEqual(lc.outputEnded(stderr: true), [.signal(SIGKILL), .complete])
        XCTAssertTrue(lc.completed)
        XCTAssertEqual(lc.exitCode, 3)
        XCTAssertEqual(lc.status, "exited")
        XCTAssertEqual(lc.lingerElapsed(), [], "completion happens once")
    }

    func testTimeoutTermsThenKillsAndReports124() {
        var lc = CommandLifecycle()
        XCTAssertEqual(lc.timeout(), [.signal(SIGTERM), .armGrace])
        XCTAssertEqual(lc.stop(), [], "a second stop request changes nothing")
        XCTAssertEqual(lc.graceElapsed(), [.signal(SIGKILL)])
        XCTAssertEqual(lc.graceElapsed(), [], "SIGKILL is sent once")
        _ = lc.outputEnded(stderr: false)
        _ = lc.outputEnded(stderr: true)
        XCTAssertEqual(lc.exited(status: 0, signal: SIGKILL), [.signal(SIGKILL), .complete])
        XCTAssertTrue(lc.timedOut)
        XCTAssertEqual(lc.exitCode, 124)
        XCTAssertEqual(lc.status, "killed")
    }

    func testStopAfterExitDoesNothingAndSignalDeathIs128PlusN() {
        var lc = CommandLifecycle()
        XCTAssertEqual(lc.exited(status: 0, signal: SIGTERM), [.armLinger])
        XCTAssertEqual(lc.stop(), [])
        XCTAssertEqual(lc.exitCode, 128 + Int(SIGTERM))
        XCTAssertEqual(lc.status, "killed")
        XCTAssertEqual(lc.lingerElapsed(), [.signal(SIGKILL), .complete], "a leftover child holding a pipe does not hold the command")
    }

    func testKillIsImmediateAndIdempotent() {
        var lc = CommandLifecycle()
        XCTAssertEqual(lc.stop(), [.signal(SIGTERM), .armGrace])
        XCTAssertEqual(lc.kill(), [.signal(SIGKILL)])
        XCTAssertEqual(lc.kill(), [])
        XCTAssertEqual(lc.graceElapsed(), [])
        XCTAssertEqual(lc.reason, .stopped)
    }

    func testSandboxTimeoutStopsOnlyLiveExpiredNonAlwaysOn() {
        XCTAssertEqual(SandboxTimeouts.action(state: "running", alwaysOn: false, deadline: 100, now: 100), .stop)
        XCTAssertEqual(SandboxTimeouts.action(state: "creating", alwaysOn: false, deadline: 50, now: 100), .stop)
        XCTAssertNil(SandboxTimeouts.action(state: "running", alwaysOn: false, deadline: 101, now: 100))
        XCTAssertNil(SandboxTimeouts.action(state: "running", alwaysOn: true, deadline: 1, now: 100))
        XCTAssertNil(SandboxTimeouts.action(state: "running", alwaysOn: false, deadline: nil, now: 100))
        XCTAssertNil(SandboxTimeouts.action(state: "stopped", alwaysOn: false, deadline: 1, now: 100))
        // and the lifecycle accepts the stop from both live states
        XCTAssertEqual(SandboxLifecycle.next("running", .stop), "stopped")
        XCTAssertEqual(SandboxLifecycle.next("creating", .stop), "stopped")
        XCTAssertEqual(SandboxLifecycle.next("stopped", .resume), "running")
    }

    func testLogRingDropsOldestByLinesAndBytes() {
        var r = LogRing(maxLines: 3, maxBytes: 1 << 20)
        for i in 1...5 { r.append(stderr: i == 5, line: "l\(i)") }
        XCTAssertEqual(r.all.map(\.line), ["l3", "l4", "l5"])
        XCTAssertEqual(r.dropped, 2)
        XCTAssertEqual(r.tail(2).map(\.line), ["l4", "l5"])
        XCTAssertEqual(LogRing.text(r.tail(1)), "l5\n")
        XCTAssertEqual(LogRing.entries(fromJSON: r.json.encodedString), Array(r.all))

        var b = LogRing(maxLines: 100, maxBytes: 10)
        b.append(stderr: false, line: "aaaa")
        b.append(stderr: false, line: "bbbb")
        b.append(stderr: false, line: "cccc")
        XCTAssertEqual(b.all.map(\.line), ["bbbb", "cccc"])
        XCTAssertLessThanOrEqual(b.bytes, 10)
        var big = LogRing(maxLines: 10_000, maxBytes: 1 << 20)
        for i in 0..<25_000 { big.append(stderr: false, line: String(i)) }
        XCTAssertEqual(big.count, 10_000)
        XCTAssertEqual(big.all.first?.line, "15000")
    }

    func testLineSplitterAndCapture() {
        var s = LineSplitter(maxLine: 8)
        func feed(_ t: String) -> [String] { Array(t.utf8).withUnsafeBytes { s.feed($0) } }
        XCTAssertEqual(feed("a\nb"), ["a"])
        XCTAssertEqual(feed("c\n\n"), ["bc", ""])
        XCTAssertEqual(feed("0123456789"), ["01234567"])
        XCTAssertEqual(s.flush(), "89")
        XCTAssertNil(s.flush())

        var c = OutputCapture(limit: 4)
        Array("abcdef".utf8).withUnsafeBytes { c.append($0) }
        XCTAssertEqual(c.text, "abcd")
        XCTAssertTrue(c.truncated)
        XCTAssertEqual(c.totalBytes, 6)
    }

    func testCommandRequestAliasesAndLimits() throws {
        var f = FieldReader(["command": .string("ls"), "working_dir": .string("/workspace/x"), "timeout_sec": .double(2.5),
                                 "env": .object(["A": .string("1")])])
        let r = try CommandRequest.read(&f, defaultTimeoutSec: 60)
        XCTAssertEqual(r.cwd, "/workspace/x")
        XCTAssertEqual(r.timeoutMs, 2500)
        XCTAssertEqual(r.env.map(\.0), ["A"])

        var d = FieldReader(["command": .string("ls")])
        XCTAssertEqual(try CommandRequest.read(&d, defaultTimeoutSec: 60).timeoutMs, 60_000)
        var none = FieldReader(["command": .string("ls")])
        XCTAssertNil(try CommandRequest.read(&none, defaultTimeoutSec: nil).timeoutMs)

        var long = FieldReader(["command": .string("ls"), "timeout": .int(601)])
        XCTAssertThrowsError(try CommandRequest.read(&long, defaultTimeoutSec: 60)) { e in
            XCTAssertEqual((e as? APIError)?.code, "TIMEOUT_TOO_LONG")
            XCTAssertEqual((e as? APIError)?.status, 422)
        }
        var bad = FieldReader(["command": .string(""), "env": .object(["1X": .string("v"), "OK": .int(3)]), "timeout": .int(-1)])
        XCTAssertThrowsError(try CommandRequest.read(&bad, defaultTimeoutSec: 60)) { e in
            let details = (e as? APIError)?.details?.object
            XCTAssertEqual(Set(details?.keys ?? []), ["command", "env.1X", "env.OK", "timeout"])
        }
    }

    func testBwrapArgumentsBindTheSandboxAndRunTheShell() {
        let iso = Isolation(mode: .bwrap, bwrapPath: "/usr/bin/bwrap", shell: "/bin/sh", hostPath: "/usr/bin")
        let argv = iso.argv(command: "echo hi", root: "/data/sb", cwd: "/workspace/app")
        XCTAssertEqual(argv.first, "/usr/bin/bwrap")
        XCTAssertEqual(Array(argv.suffix(3)), ["/bin/sh", "-c", "echo hi"])
        let joined = argv.joined(separator: " ")
        XCTAssertTrue(joined.contains("--bind /data/sb/workspace /workspace"))
        XCTAssertTrue(joined.contains("--bind /data/sb/tmp /tmp"))
        XCTAssertTrue(joined.contains("--bind /data/sb/home /home/user"))
        XCTAssertTrue(joined.contains("--ro-bind /usr /usr"))
        XCTAssertTrue(joined.contains("--chdir /workspace/app"))
        XCTAssertTrue(argv.contains("--die-with-parent") && argv.contains("--unshare-pid"))

        let plain = Isolation(mode: .none, shell: "/bin/sh", hostPath: "/usr/bin")
        XCTAssertEqual(plain.argv(command: "x", root: "/r", cwd: "/r/workspace"), ["/bin/sh", "-c", "x"])
        let env = plain.environment(root: "/r", cwdForPWD: "/r/workspace", overlays: [[("A", "1"), ("HOME", "/elsewhere")], [("A", "2")]])
        XCTAssertTrue(env.contains("A=2"))
        XCTAssertTrue(env.contains("HOME=/elsewhere"))
        XCTAssertEqual(env.filter { $0.hasPrefix("A=") }.count, 1)
        XCTAssertTrue(iso.environment(root: "/r", cwdForPWD: "/workspace", overlays: []).contains("HOME=/home/user"))
    }
}
