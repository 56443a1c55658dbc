import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// Outgoing TCP connections. The connected stream is an ordinary `TCPConnection` (same reads, ordered writes,
/// `shutdownAndClose`), so the client side shares every rule the server side follows.
public enum TCPClient {
    /// A socket address from an IP literal (`127.0.0.1`, `::1`); nil for anything else. No name resolution:
    /// the mock runs without DNS, so callers map `localhost` themselves.
    public static func address(ip: String, port: Int) -> sockaddr_storage? {
        guard (0...65535).contains(port) else { return nil }
        var storage = sockaddr_storage()
        let ok = withUnsafeMutablePointer(to: &storage) { sp -> Bool in
            let raw = UnsafeMutableRawPointer(sp)
            if ip.contains(":") {
                var probe = in6_addr()
                guard inet_pton(AF_INET6, ip, &probe) == 1 else { return false }
                return uv_ip6_addr(ip, Int32(port), raw.assumingMemoryBound(to: sockaddr_in6.self)) == 0
            }
            var probe = in_addr()
            guard inet_pton(AF_INET, ip, &probe) == 1 else { return false }
            return uv_ip4_addr(ip, Int32(port), raw.assumingMemoryBound(to: sockaddr_in.self)) == 0
        }
        return ok ? storage : nil
    }

    /// Connects to `ip:port`. `completion` runs once, on the loop thread, never synchronously (DESIGN style 2):
    /// with the connected stream, or with the error (the half-made connection is already closed then).
    /// Closing the returned connection before the connect completes cancels it (`ECANCELED`).
    @discardableResult
    public static func connect(loop: Loop, ip: String, port: Int,
                               _ completion: @escaping (Result<TCPConnection, UVError>) -> Void) -> TCPConnection {
        loop.assertOnLoop()
        let conn = TCPConnection(loop: loop)
        guard var addr = address(ip: ip, port: port) else {
            conn.close()
            Timer.defer_(on: loop) { completion(.failure(UVError(Int32(UV_EINVAL.rawValue)))) }
            return conn
        }
        let pending = PendingConnect(conn: conn, completion: completion)
        let req = UnsafeMutableRawPointer.allocate(byteCount: uv_req_size(UV_CONNECT), alignment: 16)
            .bindMemory(to: uv_connect_t.self, capacity: 1)
        // The request owns a retained reference to its context until the callback: libuv calls it exactly once,
        // also when the handle is closed first (status UV_ECANCELED), so the context is always released.
        req.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        let rc = withUnsafePointer(to: &addr) { ap in
            uv_tcp_connect(req, conn.tcp, UnsafeRawPointer(ap).assumingMemoryBound(to: sockaddr.self)) { req, status in
                guard let req = req else { return }
                let ctx = Unmanaged<PendingConnect>.fromOpaque(req.pointee.data).takeRetainedValue()
                UnsafeMutableRawPointer(req).deallocate()
                ctx.finish(status)
            }
        }
        if rc < 0 {
            Unmanaged<PendingConnect>.fromOpaque(req.pointee.data).release()
            UnsafeMutableRawPointer(req).deallocate()
            conn.close()
            Timer.defer_(on: loop) { completion(.failure(UVError(rc))) }
        }
        return conn
    }
}

/// What a connect request carries to its callback.
private final class PendingConnect {
    let conn: TCPConnection
    let completion: (Result<TCPConnection, UVError>) -> Void

    init(conn: TCPConnection, completion: @escaping (Result<TCPConnection, UVError>) -> Void) {
        self.conn = conn
        self.completion = completion
    }

    func finish(_ status: Int32) {
        if status < 0 || conn.isClosing {
            conn.close()
            completion(.failure(UVError(status < 0 ? status : Int32(UV_ECANCELED.rawValue))))
            return
        }
        uv_tcp_nodelay(conn.tcp, 1)
        completion(.success(conn))
    }
}
