import CLibUV

/// A libuv timer. Holds itself alive until `close()`; callers that own one must close it.
public final class Timer: UVHandleOwner {
    private var callback: (() -> Void)?

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_TIMER)
        uv_timer_init(loop.raw, raw)
        activate()
    }

    var raw: UnsafeMutablePointer<uv_timer_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_timer_t.self)
    }

    /// Fires after `ms` milliseconds, then every `repeatMs` if non-zero. Restarting replaces the callback.
    public func start(ms: UInt64, repeatMs: UInt64 = 0, _ cb: @escaping () -> Void) {
        guard !isClosing else { return }
        callback = cb
        uv_timer_start(raw, { t in
            guard let t = t, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(t), as: Timer.self) else { return }
            owner.callback?()
        }, ms, repeatMs)
    }

    public func stop() {
        guard !isClosing else { return }
        uv_timer_stop(raw)
    }

    /// Keeps the loop from waiting on this timer alone (a background sweeper must not keep a test's loop alive).
    public func unref() { uv_unref(handle) }

    override func willClose() { uv_timer_stop(raw) }
    override func didClose() { callback = nil }

    /// Runs `cb` once on the next loop iteration: completions never run synchronously (DESIGN style 2).
    public static func defer_(on loop: Loop, _ cb: @escaping () -> Void) {
        let t = Timer(loop: loop)
        t.start(ms: 0) { [unowned t] in
            t.close()
            cb()
        }
    }
}

/// Delivers POSIX signals (SIGINT, SIGTERM) on the loop thread.
public final class SignalWatcher: UVHandleOwner {
    private var callback: ((Int32) -> Void)?

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_SIGNAL)
        uv_signal_init(loop.raw, UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_signal_t.self))
        activate()
    }

    public func start(signal: Int32, _ cb: @escaping (Int32) -> Void) {
        callback = cb
        uv_signal_start(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_signal_t.self), { h, signum in
            guard let h = h, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: SignalWatcher.self) else { return }
            owner.callback?(signum)
        }, signal)
    }

    public func unref() { uv_unref(handle) }
    override func didClose() { callback = nil }
}

extension Timer {
    /// Runs `cb` once after `ms` milliseconds; the timer closes itself.
    public static func once(on loop: Loop, after ms: UInt64, _ cb: @escaping () -> Void) {
        let t = Timer(loop: loop)
        t.start(ms: ms) { [unowned t] in
            t.close()
            cb()
        }
    }
}
