import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// A libuv error code with its message. Values, not exceptions: callers decide what a failure means.
public struct UVError: Error, CustomStringConvertible, Equatable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
    public var name: String { String(cString: uv_err_name(code)) }
    public var description: String { "\(name): \(String(cString: uv_strerror(code)))" }
    public static let eof = UVError(Int32(UV_EOF.rawValue))
}

@inline(__always)
func check(_ rc: Int32) throws {
    if rc < 0 { throw UVError(rc) }
}

/// One libuv loop. Every handle in this module belongs to exactly one `Loop` and is used only on its thread.
public final class Loop {
    public let raw: UnsafeMutablePointer<uv_loop_t>
    /// One read buffer shared by every stream on this loop: a read callback consumes its bytes before
    /// libuv asks for the next buffer, so idle connections cost no buffer memory.
    let readBuffer: UnsafeMutableRawPointer
    let readBufferSize = 64 * 1024
    private let ownerThread: pthread_t
    private var closed = false

    public init() {
        raw = .allocate(capacity: 1)
        uv_loop_init(raw)
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        ownerThread = pthread_self()
    }

    /// Runs until `stop()` or until no active handles remain.
    public func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Runs one iteration without blocking; returns true while handles are still active.
    @discardableResult
    public func runNoWait() -> Bool {
        uv_run(raw, UV_RUN_NOWAIT) != 0
    }

    @discardableResult
    public func runOnce() -> Bool {
        uv_run(raw, UV_RUN_ONCE) != 0
    }

    public func stop() { uv_stop(raw) }

    /// Loop time in milliseconds (cached per iteration by libuv).
    public var nowMs: UInt64 { uv_now(raw) }
    public func updateTime() { uv_update_time(raw) }

    public var isOnLoopThread: Bool { pthread_equal(pthread_self(), ownerThread) != 0 }

    @inline(__always)
    public func assertOnLoop() {
        assert(isOnLoopThread, "libuv handles are confined to their loop's thread")
    }

    /// Closes every handle still open, lets their close callbacks run, then frees the loop.
    public func close() {
        guard !closed else { return }
        closed = true
        uv_walk(raw, { handle, _ in
            guard let handle = handle, uv_is_closing(handle) == 0 else { return }
            if let data = handle.pointee.data {
                Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue().close()
            } else {
                uv_close(handle, nil)
            }
        }, nil)
        while uv_run(raw, UV_RUN_NOWAIT) != 0 {}
        uv_loop_close(raw)
        raw.deallocate()
        readBuffer.deallocate()
    }
}

/// Base class of every handle owner: allocates the handle, keeps itself alive while the handle is open
/// (`handle.data` holds a retained reference) and releases that reference only in the close callback,
/// which is the first moment libuv promises not to touch the handle again (uv_close docs).
public class UVHandleOwner {
    public let loop: Loop
    let handle: UnsafeMutablePointer<uv_handle_t>
    public private(set) var isClosing = false
    private var active = false

    init(loop: Loop, type: uv_handle_type) {
        self.loop = loop
        let size = uv_handle_size(type)
        handle = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            .bindMemory(to: uv_handle_t.self, capacity: 1)
    }

    /// Call once the handle is initialised: from then on it lives until `close()` completes.
    func activate() {
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        active = true
    }

    /// Idempotent. The owner stays alive until libuv's close callback has run.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        willClose()
        guard active else {
            UnsafeMutableRawPointer(handle).deallocate()
            return
        }
        uv_close(handle) { h in
            guard let h = h else { return }
            let owner = Unmanaged<UVHandleOwner>.fromOpaque(h.pointee.data).takeRetainedValue()
            h.pointee.data = nil
            owner.didClose()
            UnsafeMutableRawPointer(h).deallocate()
        }
    }

    /// Subclasses stop work here (before uv_close).
    func willClose() {}
    /// Subclasses release callbacks here (after libuv is done with the handle).
    func didClose() {}

    static func owner<T: UVHandleOwner>(_ h: UnsafeMutableRawPointer?, as: T.Type) -> T? {
        guard let h = h else { return nil }
        let handle = h.assumingMemoryBound(to: uv_handle_t.self)
        guard let data = handle.pointee.data else { return nil }
        return Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue() as? T
    }
}

/// Copies Swift strings into a NULL-terminated `char**` for the duration of `body`.
public func withCStringArray<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
    let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (i, s) in strings.enumerated() { array[i] = strdup(s) }
    array[strings.count] = nil
    defer {
        for i in 0..<strings.count { free(array[i]) }
        array.deallocate()
    }
    return try body(array)
}
