import CLibUV

/// Runs a callback on every loop iteration just before the loop polls for I/O and may block: libuv's prepare
/// phase, after the timers and before the poll (libuv "Design overview": the loop iteration). Whatever the
/// timers, the I/O callbacks and the close callbacks of the turn before did, this sees it before the loop sleeps.
/// Unreferenced: it never keeps a loop alive on its own.
public final class BeforePoll: UVHandleOwner {
    private var callback: (() -> Void)?

    public init(loop: Loop, _ cb: @escaping () -> Void) {
        callback = cb
        super.init(loop: loop, type: UV_PREPARE)
        uv_prepare_init(loop.raw, raw)
        activate()
        uv_prepare_start(raw) { h in
            guard let h = h, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: BeforePoll.self) else { return }
            owner.callback?()
        }
        uv_unref(handle)
    }

    var raw: UnsafeMutablePointer<uv_prepare_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_prepare_t.self)
    }

    override func willClose() { uv_prepare_stop(raw) }
    override func didClose() { callback = nil }
}
