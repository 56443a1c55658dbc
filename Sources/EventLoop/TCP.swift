import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket. Each accepted peer becomes a `TCPConnection` handed to `onConnection`.
public final class TCPListener: UVHandleOwner {
    public var onConnection: ((TCPConnection) -> Void)?
    public private(set) var port: Int = 0

    public init(loop: Loop) {
        super.init(loop: loop, type: UV_TCP)
        uv_tcp_init(loop.raw, tcp)
        activate()
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_tcp_t.self) }
    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self) }

    /// Binds and listens; returns the bound port (useful with port 0).
    @discardableResult
    public func listen(host: String, port: Int, backlog: Int32 = 1024) throws -> Int {
        var storage = sockaddr_storage()
        try withUnsafeMutablePointer(to: &storage) { sp in
            let addr = UnsafeMutableRawPointer(sp)
            if host.contains(":") {
                try check(uv_ip6_addr(host, Int32(port), addr.assumingMemoryBound(to: sockaddr_in6.self)))
            } else {
                try check(uv_ip4_addr(host, Int32(port), addr.assumingMemoryBound(to: sockaddr_in.self)))
            }
            try check(uv_tcp_bind(tcp, addr.assumingMemoryBound(to: sockaddr.self), 0))
        }
        try check(uv_listen(stream, backlog) { server, status in
            guard status >= 0, let server = server,
                  let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(server), as: TCPListener.self) else { return }
            owner.accept()
        })
        var name = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &name) { np in
            _ = uv_tcp_getsockname(tcp, UnsafeMutableRawPointer(np).assumingMemoryBound(to: sockaddr.self), &len)
        }
        let family = name.ss_family
        self.port = withUnsafePointer(to: &name) { np -> Int in
            let raw = UnsafeRawPointer(np)
            if family == sa_family_t(AF_INET6) {
                return Int(UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port))
            }
            return Int(UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port))
        }
        return self.port
    }

    private func accept() {
        let conn = TCPConnection(loop: loop)
        if uv_accept(stream, conn.stream) == 0 {
            uv_tcp_nodelay(conn.tcp, 1)
            onConnection?(conn)
        } else {
            conn.close()
        }
    }

    override func didClose() { onConnection = nil }
}

/// One accepted TCP stream. Reads go to `onRead`; writes are queued in order; `onClose` fires once.
public final class TCPConnection: UVHandleOwner {
    /// Bytes read; valid only during the call.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// End of stream or read error (the connection is not closed automatically).
    public var onEnd: ((UVError) -> Void)?
    /// Every queued write has reached the kernel.
    public var onDrain: (() -> Void)?
    public var onClose: (() -> Void)?
    public private(set) var isReading = false
    private var pendingWrites = 0

    init(loop: Loop) {
        super.init(loop: loop, type: UV_TCP)
        uv_tcp_init(loop.raw, tcp)
        activate()
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_tcp_t.self) }
    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self) }

    /// Bytes handed to libuv but not yet written to the socket.
    public var writeQueueSize: Int { isClosing ? 0 : uv_stream_get_write_queue_size(stream) }

    public var peerAddress: String {
        var name = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &name) { np in
            uv_tcp_getpeername(tcp, UnsafeMutableRawPointer(np).assumingMemoryBound(to: sockaddr.self), &len)
        }
        guard rc == 0 else { return "unknown" }
        var buf = [CChar](repeating: 0, count: 64)
        let family = name.ss_family
        withUnsafePointer(to: &name) { np in
            let raw = UnsafeRawPointer(np)
            if family == sa_family_t(AF_INET6) {
                _ = uv_ip6_name(raw.assumingMemoryBound(to: sockaddr_in6.self), &buf, buf.count)
            } else {
                _ = uv_ip4_name(raw.assumingMemoryBound(to: sockaddr_in.self), &buf, buf.count)
            }
        }
        return String(cString: buf)
    }

    public func startReading() {
        guard !isClosing, !isReading else { return }
        isReading = true
        uv_read_start(stream, { h, _, buf in
            guard let h = h, let buf = buf,
                  let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(h), as: TCPConnection.self) else { return }
            buf.pointee.base = owner.loop.readBuffer.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = owner.loop.readBufferSize
        }, { s, nread, _ in
            guard let s = s, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(s), as: TCPConnection.self) else { return }
            if nread > 0 {
                owner.onRead?(UnsafeRawBufferPointer(start: owner.loop.readBuffer, count: nread))
            } else if nread < 0 {
                owner.stopReading()
                owner.onEnd?(UVError(Int32(nread)))
            }
        })
    }

    public func stopReading() {
        guard !isClosing, isReading else { return }
        isReading = false
        uv_read_stop(stream)
    }

    /// Queues bytes for writing, in order. Tries a direct write first; whatever the kernel did not take is
    /// copied into a request that owns its bytes until the write callback (uv_write keeps only the pointer).
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosing, bytes.count > 0 else { return }
        var offset = 0
        if pendingWrites == 0 {
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)),
                                  UInt32(bytes.count))
            let n = uv_try_write(stream, &buf, 1)
            if n == bytes.count { return }
            if n > 0 { offset = Int(n) }
            else if n != Int32(UV_EAGAIN.rawValue) && n < 0 { return }  // the read side will see the error
        }
        let remaining = bytes.count - offset
        let reqSize = uv_req_size(UV_WRITE)
        let block = UnsafeMutableRawPointer.allocate(byteCount: reqSize + remaining, alignment: 16)
        let req = block.bindMemory(to: uv_write_t.self, capacity: 1)
        let data = block + reqSize
        data.copyMemory(from: bytes.baseAddress! + offset, byteCount: remaining)
        var buf = uv_buf_init(data.assumingMemoryBound(to: CChar.self), UInt32(remaining))
        pendingWrites += 1
        let rc = uv_write(req, stream, &buf, 1) { req, _ in
            guard let req = req else { return }
            let streamPtr = req.pointee.handle
            UnsafeMutableRawPointer(req).deallocate()
            guard let s = streamPtr, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(s), as: TCPConnection.self) else { return }
            owner.pendingWrites -= 1
            if owner.pendingWrites == 0 && !owner.isClosing { owner.onDrain?() }
        }
        if rc < 0 {
            pendingWrites -= 1
            block.deallocate()
        }
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    public var hasPendingWrites: Bool { pendingWrites > 0 }

    /// Flushes queued writes, sends FIN, then closes. `uv_close` alone would cancel pending writes.
    public func shutdownAndClose() {
        guard !isClosing else { return }
        stopReading()
        let req = UnsafeMutableRawPointer.allocate(byteCount: uv_req_size(UV_SHUTDOWN), alignment: 16)
            .bindMemory(to: uv_shutdown_t.self, capacity: 1)
        let rc = uv_shutdown(req, stream) { req, _ in
            guard let req = req else { return }
            let s = req.pointee.handle
            UnsafeMutableRawPointer(req).deallocate()
            if let s = s, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(s), as: TCPConnection.self) {
                owner.close()
            }
        }
        if rc < 0 {
            UnsafeMutableRawPointer(req).deallocate()
            close()
        }
    }

    override func willClose() {
        if isReading { uv_read_stop(stream); isReading = false }
    }

    override func didClose() {
        let cb = onClose
        onRead = nil; onEnd = nil; onDrain = nil; onClose = nil
        cb?()
    }
}
