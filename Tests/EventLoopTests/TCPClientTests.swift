import XCTest
@testable import EventLoop

/// Outgoing connections on one loop, run on the test thread until no handle is left.
final class TCPClientTests: XCTestCase {
    func testConnectsWritesAndReadsBack() throws {
        let loop = Loop()
        let listener = TCPListener(loop: loop)
        let port = try listener.listen(host: "127.0.0.1", port: 0)
        listener.onConnection = { peer in  // echo, then close
            peer.onRead = { bytes in peer.write(Array(bytes)); peer.shutdownAndClose() }
            peer.onEnd = { _ in peer.close() }
            peer.startReading()
        }
        var echoed: [UInt8] = []
        var inCall = true
        TCPClient.connect(loop: loop, ip: "127.0.0.1", port: port) { result in
            XCTAssertFalse(inCall, "completions never run synchronously")
            guard case .success(let c) = result else { return XCTFail("connect failed: \(result)") }
            c.onRead = { echoed += Array($0) }
            c.onEnd = { _ in c.close(); listener.close() }
            c.startReading()
            c.write(Array("ping".utf8))
        }
        inCall = false
        loop.run()
        XCTAssertEqual(String(decoding: echoed, as: UTF8.self), "ping")
        loop.close()
    }

    func testFailuresArriveOnTheLoopNeverSynchronously() {
        let loop = Loop()
        var results: [String] = []
        var inCall = true
        // Not an IP literal (no DNS in the mock): EINVAL, delivered on the next loop turn.
        TCPClient.connect(loop: loop, ip: "example.com", port: 80) { r in
            XCTAssertFalse(inCall)
            if case .failure(let e) = r { results.append(e.name) }
        }
        // Closing before the connect completes cancels it; the request still calls back exactly once.
        let pending = TCPClient.connect(loop: loop, ip: "127.0.0.1", port: 9) { r in
            if case .failure(let e) = r { results.append(e.name) }
        }
        pending.close()
        inCall = false
        loop.run()
        XCTAssertEqual(results.sorted(), ["ECANCELED", "EINVAL"])
        XCTAssertNil(TCPClient.address(ip: "::g", port: 1))
        XCTAssertNotNil(TCPClient.address(ip: "::1", port: 1))
        XCTAssertNil(TCPClient.address(ip: "127.0.0.1", port: 70_000))
        loop.close()
    }
}
