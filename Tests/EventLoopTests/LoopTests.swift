import XCTest
@testable import EventLoop

final class LoopTests: XCTestCase {
    func testTimersFireInOrderAndCloseReleasesThem() {
        let loop = Loop()
        var fired: [Int] = []
        Timer.once(on: loop, after: 20) { fired.append(2) }
        Timer.once(on: loop, after: 1) { fired.append(1) }
        let repeating = Timer(loop: loop)
        var ticks = 0
        repeating.start(ms: 1, repeatMs: 1) {
            ticks += 1
            if ticks == 3 { repeating.close() }
        }
        loop.run()  // returns once no handle is active
        XCTAssertEqual(fired, [1, 2])
        XCTAssertEqual(ticks, 3)
        loop.close()
    }

    func testWakeupRunsWorkPostedFromAnotherThread() {
        let loop = Loop()
        let w = Wakeup(loop: loop)
        final class Flag: @unchecked Sendable { var ran = false }
        let flag = Flag()
        Thread.detachNewThread { w.post { flag.ran = true; w.close() } }
        loop.run()
        XCTAssertTrue(flag.ran)
        loop.close()
    }

    func testCloseIsIdempotentAndLoopCloseClosesLeftovers() {
        let loop = Loop()
        let t = Timer(loop: loop)
        t.close()
        t.close()
        _ = Timer(loop: loop)  // left open on purpose: Loop.close must close it
        loop.close()
    }
}
