import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// The one way other threads reach a loop: `post` queues a closure (any thread), and libuv's async
/// handle runs the queue on the loop thread. uv_async_send is the only libuv call that is thread-safe.
public final class Wakeup: UVHandleOwner {
    private var mutex = pthread_mutex_t()
    private var queue: [() -> Void] = []

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_ASYNC)
        pthread_mutex_init(&mutex, nil)
        uv_async_init(loop.raw, UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_async_t.self)) { h in
            guard let h = h, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: Wakeup.self) else { return }
            owner.drain()
        }
        activate()
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Thread-safe. Closures posted after `close()` are dropped.
    public func post(_ work: @escaping () -> Void) {
        pthread_mutex_lock(&mutex)
        let closing = isClosing
        if !closing { queue.append(work) }
        pthread_mutex_unlock(&mutex)
        if !closing { uv_async_send(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_async_t.self)) }
    }

    /// An idle wakeup does not keep the loop running.
    public func unref() { uv_unref(handle) }

    private func drain() {
        pthread_mutex_lock(&mutex)
        let work = queue
        queue = []
        pthread_mutex_unlock(&mutex)
        for w in work { w() }
    }

    override func willClose() {
        pthread_mutex_lock(&mutex)
        queue = []
        pthread_mutex_unlock(&mutex)
    }
}
