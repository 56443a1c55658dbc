import EventLoop
import Foundation

/// A libuv loop running on its own thread, so a test can block on sockets while the server answers.
/// Each test gets its own loop (never uv_default_loop: tests may run in parallel).
public final class ThreadedLoop {
    public private(set) var loop: Loop!
    private var wakeup: Wakeup!
    private var thread: Thread!
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    public init() {
        thread = Thread { [unowned self] in
            self.loop = Loop()
            self.wakeup = Wakeup(loop: self.loop)
            self.ready.signal()
            self.loop.run()
            self.loop.close()
            self.finished.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        ready.wait()
    }

    /// Runs `work` on the loop thread and waits for its result.
    public func sync<T>(_ work: @escaping (Loop) throws -> T) throws -> T {
        var result: Result<T, Error>!
        let done = DispatchSemaphore(value: 0)
        wakeup.post { [loop] in
            result = Result { try work(loop!) }
            done.signal()
        }
        done.wait()
        return try result.get()
    }

    /// Runs `work` on the loop thread; it calls `done` when finished (possibly later); waits for that.
    public func async(_ work: @escaping (Loop, @escaping () -> Void) -> Void) {
        let sem = DispatchSemaphore(value: 0)
        wakeup.post { [loop] in work(loop!) { sem.signal() } }
        sem.wait()
    }

    /// Stops the loop (closing every handle left) and joins the thread.
    public func stop() {
        wakeup.post { [loop] in loop!.stop() }
        finished.wait()
    }
}
