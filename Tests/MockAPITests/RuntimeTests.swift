import XCTest
import Foundation
import TestSupport
@testable import MockAPI
#if canImport(Glibc)
import Glibc
#endif

/// Real commands through a real server: exec, timeouts, truncation, concurrency, and that no process outlives
/// its sandbox or the server.
final class RuntimeTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws { server = try TestServer { $0.killGraceMs = 1_000 } }
    override func tearDown() { server?.stop() }

    func restart(_ configure: @escaping (inout Configuration) -> Void) throws {
        server.stop()
        server = try TestServer(configure)
    }

    func createSandbox(_ body: String = "{}") throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: body)
        return try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String)
    }

    func exec(_ id: String, _ body: [String: Any]) throws -> (Int, [String: Any]) {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let r = try server.request("POST", "/api/v1/sandboxes/\(id)/exec", json: json)
        return (r.status, (r.object["data"] as? [String: Any]) ?? r.object)
    }

    /// Polls (bounded, 10 s) until `cond` holds; returns whether it did.
    func eventually(_ cond: () -> Bool) -> Bool {
        for _ in 0..<1000 { if cond() { return true }; usleep(10_000) }
        return cond()
    }

    func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno != ESRCH }

    func testExecRunsPythonInTheWorkspaceWithEnv() throws {
        let id = try createSandbox(#"{"env": {"FROM_CREATE": "c"}}"#)
        let (status, d) = try exec(id, ["command": "python3 -c 'print(1 + 1)'; echo $FROM_CREATE $FOO; pwd >&2", "env": ["FOO": "bar"]])
        XCTAssertEqual(status, 200)
        XCTAssertEqual(d["stdout"] as? String, "2\nc bar\n")
        let isolated = try server.onLoop { $0.app.service(SandboxRuntime.self)!.isolation.mode == .bwrap }
        let workspace = isolated ? "/workspace" : try server.onLoop { try SandboxPaths.materialize($0.app, id) + "/workspace" }
        XCTAssertEqual(d["stderr"] as? String, workspace + "\n")
        XCTAssertEqual(d["exit_code"] as? Int, 0)
        XCTAssertEqual(d["success"] as? Bool, true)
        XCTAssertEqual(d["output"] as? String, d["stdout"] as? String)
        XCTAssertNotNil(d["duration_ms"] as? Int)

        let (_, failed) = try exec(id, ["command": "exit 5"])
        XCTAssertEqual(failed["exit_code"] as? Int, 5)
        XCTAssertEqual(failed["success"] as? Bool, false)
        let (badCwd, _) = try exec(id, ["command": "true", "cwd": "/workspace/missing"])
        XCTAssertEqual(badCwd, 400)
        let (escape, _) = try exec(id, ["command": "true", "cwd": "/etc"])
        XCTAssertEqual(escape, 400)
    }

    func testNoIsolationRunsInTheHostWorkspaceAndLeavesNoBackgroundChild() throws {
        try restart { $0.isolation = .none; $0.killGraceMs = 1_000 }
        XCTAssertEqual(try server.onLoop { $0.app.service(SandboxRuntime.self)!.isolation.mode }, .none)
        let id = try createSandbox()
        let marker = "1000.\(Int.random(in: 100_000...999_999))"
        // The background sleep keeps stdout open; the exec still finishes (linger) and takes it down.
        let (_, d) = try exec(id, ["command": "pwd; echo hi > made.txt; sleep \(marker) &"])
        let workspace = try server.onLoop { try SandboxPaths.materialize($0.app, id) + "/workspace" }
        XCTAssertEqual(d["stdout"] as? String, workspace + "\n")
        XCTAssertEqual(try String(contentsOfFile: workspace + "/made.txt", encoding: .utf8), "hi\n")
        XCTAssertTrue(eventually { processesMatching(marker) == 0 }, "nothing a command starts outlives it")
    }

    func testExecAndProcessesPublishDomainEvents() throws {
        final class Seen: @unchecked Sendable { var types: [String] = []; var data: [String: JSON] = [:]; let lock = NSLock() }
        let seen = Seen()
        try server.onLoop { s in
            s.app.subscribe { e in
                guard e.type.hasPrefix("exec.") || e.type.hasPrefix("process.") else { return }
                seen.lock.lock(); seen.types.append(e.type); seen.data[e.type] = e.data; seen.lock.unlock()
            }
        }
        let id = try createSandbox()
        _ = try exec(id, ["command": "exit 3"])
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/processes", json: #"{"command": "true"}"#).status, 201)
        XCTAssertTrue(eventually { seen.lock.lock(); defer { seen.lock.unlock() }; return seen.types.count == 4 })
        seen.lock.lock(); defer { seen.lock.unlock() }
        XCTAssertEqual(seen.types, ["exec.started", "exec.finished", "process.started", "process.exited"])
        XCTAssertEqual(seen.data["exec.finished"]?["exit_code"]?.int, 3)
        XCTAssertEqual(seen.data["process.exited"]?["status"]?.string, "exited")
        XCTAssertEqual(seen.data["process.started"]?["pid"]?.string, "1000")
    }

    func testTimeoutKillsTheCommand() throws {
        let id = try createSandbox()
        let marker = "1000.\(Int.random(in: 100_000...999_999))"
        let (status, d) = try exec(id, ["command": "echo before; sleep \(marker)", "timeout": 0.3])
        XCTAssertEqual(status, 200)
        XCTAssertEqual(d["timed_out"] as? Bool, true)
        XCTAssertEqual(d["exit_code"] as? Int, 124)
        XCTAssertEqual(d["stdout"] as? String, "before\n")
        XCTAssertTrue(eventually { processesMatching(marker) == 0 }, "the sleep was killed")
        let (tooLong, e) = try exec(id, ["command": "true", "timeout": 601])
        XCTAssertEqual(tooLong, 422)
        XCTAssertEqual(e["code"] as? String, "TIMEOUT_TOO_LONG")
    }

    func testOutputOverTheLimitIsTruncated() throws {
        try restart { $0.execMaxOutputBytes = 1024 }
        let id = try createSandbox()
        let (_, d) = try exec(id, ["command": "head -c 5000 /dev/zero | tr '\\0' a; echo small >&2"])
        XCTAssertEqual(d["truncated"] as? Bool, true)
        XCTAssertEqual((d["stdout"] as? String)?.count, 1024)
        XCTAssertEqual(d["stderr"] as? String, "small\n")
        XCTAssertEqual(d["exit_code"] as? Int, 0)
    }

    func testConcurrentExecsInOneSandbox() throws {
        let id = try createSandbox()
        let n = 4
        var results = [String?](repeating: nil, count: n)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let text: String
            do {
                let (status, d) = try exec(id, ["command": "sleep 0.2; echo \(i)"])
                text = status == 200 ? (d["stdout"] as? String ?? "no stdout") : "status \(status): \(d)"
            } catch { text = "error: \(error)" }
            lock.lock(); results[i] = text; lock.unlock()
        }
        XCTAssertEqual(results, (0..<n).map { "\($0)\n" })
    }

    func testExecNeedsARunningSandbox() throws {
        let id = try createSandbox()
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/stop").status, 200)
        let (status, e) = try exec(id, ["command": "true"])
        XCTAssertEqual(status, 409)
        XCTAssertEqual(e["code"] as? String, "invalid_state")

        try restart { $0.bootDelayMs = 60_000 }
        let booting = try createSandbox()
        let (s2, e2) = try exec(booting, ["command": "true"])
        XCTAssertEqual(s2, 409)
        XCTAssertEqual(e2["code"] as? String, "SANDBOX_NOT_COMMAND_READY")
    }

    func testDeleteKillsRunningProcessesFirst() throws {
        let id = try createSandbox()
        let marker = "1000.\(Int.random(in: 100_000...999_999))"
        let started = try server.request("POST", "/api/v1/sandboxes/\(id)/processes", json: #"{"command": "sleep \#(marker)"}"#)
        XCTAssertEqual(started.status, 201)
        let pid = try XCTUnwrap(Int(started.object["pid"] as? String ?? ""))
        let hostPID = try XCTUnwrap(try server.onLoop { $0.app.service(ProcessSupervisor.self)?.process(id, pid)?.run.hostPID })
        XCTAssertTrue(isAlive(hostPID))
        XCTAssertTrue(eventually { processesMatching(marker) > 0 })

        XCTAssertEqual(try server.request("DELETE", "/api/v1/sandboxes/\(id)").status, 204)
        // DELETE answers once the command has exited and been reaped.
        XCTAssertFalse(isAlive(hostPID), "host pid \(hostPID) is gone")
        XCTAssertTrue(eventually { processesMatching(marker) == 0 })
        let root = try server.onLoop { SandboxPaths.root($0.app, id) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root), "the sandbox directory is removed")
        let got = try server.request("GET", "/api/v1/sandboxes/\(id)/processes/\(pid)")
        XCTAssertEqual(got.object["status"] as? String, "killed")
    }

    func testNoChildIsLeftAfterTheServerStops() throws {
        let id = try createSandbox()
        let marker = "1000.\(Int.random(in: 100_000...999_999))"
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/processes", json: #"{"command": "sleep \#(marker)"}"#).status, 201)
        let hostPID = try XCTUnwrap(try server.onLoop { $0.app.service(ProcessSupervisor.self)?.process(id, 1000)?.run.hostPID })
        XCTAssertTrue(eventually { processesMatching(marker) > 0 })
        server.stop()
        server = nil
        XCTAssertFalse(isAlive(hostPID), "the direct child was killed and reaped at shutdown")
        XCTAssertTrue(eventually { processesMatching(marker) == 0 })
    }

    func testTimeoutByTheMockClockStopsTheSandboxAndItsProcesses() throws {
        let id = try createSandbox(#"{"timeout_sec": 3600}"#)
        let marker = "1000.\(Int.random(in: 100_000...999_999))"
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/processes", json: #"{"command": "sleep \#(marker)"}"#).status, 201)
        XCTAssertTrue(eventually { processesMatching(marker) > 0 })
        let before = try server.onLoop { $0.app.service(SandboxSweeper.self)!.sweep() }
        XCTAssertEqual(before, 0, "not due yet")
        let stopped = try server.onLoop { s -> Int in
            s.app.clock.advance(seconds: 3601)
            return s.app.service(SandboxSweeper.self)!.sweep()
        }
        XCTAssertEqual(stopped, 1)
        let sb = try server.request("GET", "/api/v1/sandboxes/\(id)").object["data"] as? [String: Any]
        XCTAssertEqual(sb?["state"] as? String, "stopped")
        XCTAssertTrue(sb?["timeout_remaining_ms"] is NSNull)
        XCTAssertTrue(eventually { processesMatching(marker) == 0 }, "stop ends the sandbox's processes")
        XCTAssertTrue(eventually {
            (try? self.server.request("GET", "/api/v1/sandboxes/\(id)/processes/1000").object["status"] as? String) == "killed"
        })
        // resume starts a new lifetime
        XCTAssertEqual(try server.request("POST", "/api/v1/sandboxes/\(id)/resume").status, 200)
        let resumed = try server.request("GET", "/api/v1/sandboxes/\(id)").object["data"] as? [String: Any]
        XCTAssertGreaterThan(resumed?["timeout_remaining_ms"] as? Int ?? 0, 3_500_000)
    }
}
