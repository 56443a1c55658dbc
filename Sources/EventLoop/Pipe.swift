import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// One end of an anonymous pipe to a child process (libuv `uv_pipe_t`). A `ChildProcess` creates these for
/// the child's stdin/stdout/stderr; the parent reads the child's output or writes its input.
public final class Pipe: UVHandleOwner {
    /// Bytes read; valid only during the call (they live in the loop's shared read buffer).
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// The child closed its end (or a read failed). Fires once; the pipe is closed right after.
    public var onEnd: (() -> Void)?
    public private(set) var isReading = false
    public private(set) var reachedEnd = false

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_NAMED_PIPE)
        uv_pipe_init(loop.raw, pipe, 0)
        activate()
    }

    var pipe: UnsafeMutablePointer<uv_pipe_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_pipe_t.self) }
    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self) }

    public func startReading() {
        guard !isClosing, !isReading, !reachedEnd else { return }
        isReading = true
        uv_read_start(stream, { h, _, buf in
            guard let h = h, let buf = buf,
                  let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: Pipe.self) else { return }
            buf.pointee.base = owner.loop.readBuffer.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = owner.loop.readBufferSize
        }, { s, nread, _ in
            guard let s = s, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(s), as: Pipe.self) else { return }
            if nread > 0 {
                owner.onRead?(UnsafeRawBufferPointer(start: owner.loop.readBuffer, count: nread))
            } else if nread < 0 {
                // UV_EOF or an error: either way nothing more will come.
                owner.finishReading()
            }
        })
    }

    /// Stops reading for now (backpressure): the child blocks once the kernel's pipe buffer is full.
    public func stopReading() {
        guard !isClosing, isReading else { return }
        isReading = false
        uv_read_stop(stream)
    }

    private func finishReading() {
        guard !reachedEnd else { return }
        reachedEnd = true
        stopReading()
        let cb = onEnd
        onEnd = nil
        cb?()
        close()
    }

    /// Writes `bytes` and then closes this end, so the child sees EOF on its stdin. The request block owns a
    /// copy of the bytes until the write callback: uv_write keeps only the pointer (DESIGN style 2).
    public func writeAndClose(_ bytes: [UInt8]) {
        guard !isClosing else { return }
        guard !bytes.isEmpty else { close(); return }
        let reqSize = uv_req_size(UV_WRITE)
        let block = UnsafeMutableRawPointer.allocate(byteCount: reqSize + bytes.count, alignment: 16)
        let req = block.bindMemory(to: uv_write_t.self, capacity: 1)
        let data = block + reqSize
        bytes.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        var buf = uv_buf_init(data.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let rc = uv_write(req, stream, &buf, 1) { req, _ in
            guard let req = req else { return }
            let s = req.pointee.handle
            UnsafeMutableRawPointer(req).deallocate()
            // Success or EPIPE (the child did not read it all): the input is done either way.
            if let s = s, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(s), as: Pipe.self) { owner.close() }
        }
        if rc < 0 {
            block.deallocate()
            close()
        }
    }

    override func willClose() {
        if isReading { uv_read_stop(stream); isReading = false }
    }

    override func didClose() {
        onRead = nil
        onEnd = nil
    }
}
