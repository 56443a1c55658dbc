import EventLoop
import HTTP

/// One open SSE response. Writes whole frames and enforces the per-subscriber buffer: a client that reads
/// slower than events arrive is disconnected once `limit` bytes wait for it, so it costs the server no more.
public final class SSEChannel {
    public let stream: HTTPStream
    let limit: Int
    public private(set) var aborted = false
    /// Runs once when the response is over (client gone, stream ended, server stopping).
    var onClose: [() -> Void] = []

    init(stream: HTTPStream, limit: Int) {
        self.stream = stream
        self.limit = limit
    }

    public var isOpen: Bool { !aborted && stream.isOpen }
    public var bufferedBytes: Int { stream.bufferedBytes }

    /// False once the channel is closed (or was just cut off for overflowing).
    @discardableResult
    public func send(_ frame: [UInt8]) -> Bool {
        guard isOpen else { return false }
        stream.write(frame)
        if stream.bufferedBytes > limit {
            aborted = true
            stream.abort()  // the close callback (next loop turn) frees the subscriber and its buffers
            return false
        }
        return true
    }

    public func end() {
        guard isOpen else { return }
        stream.end()
    }
}

/// Every open SSE channel (for heartbeats) and every event subscriber (for fan-out and replay).
public final class SSEHub {
    unowned let app: App
    let bus: EventBus
    private var channels: [ObjectIdentifier: SSEChannel] = [:]
    private var heartbeat: Timer?
    private var subscribers: [ObjectIdentifier: EventSubscriber] = [:]
    private var bySandbox: [String: [ObjectIdentifier: EventSubscriber]] = [:]
    private var byTenant: [String: [ObjectIdentifier: EventSubscriber]] = [:]
    static let replayPageSize = 256

    init(app: App, bus: EventBus) {
        self.app = app
        self.bus = bus
        bus.listen { [unowned self] batch in self.deliver(batch) }
    }

    public var channelCount: Int { channels.count }
    public var subscriberCount: Int { subscribers.count }

    var bufferLimit: Int { max(64 * 1024, app.config.sseBufferBytes) }

    /// Registers a stream that just started; it gets heartbeats until it closes.
    public func open(_ stream: HTTPStream) -> SSEChannel {
        let ch = SSEChannel(stream: stream, limit: bufferLimit)
        let key = ObjectIdentifier(ch)
        channels[key] = ch
        // Weak: with answers held for the loop turn's commit, a stream can close after the hub let the channel go.
        stream.onClose = { [weak self, weak ch] in
            self?.channels[key] = nil
            guard let ch = ch else { return }
            let hooks = ch.onClose
            ch.onClose = []
            for h in hooks { h() }
            self?.stopHeartbeatIfIdle()
        }
        startHeartbeat()
        return ch
    }

    private func startHeartbeat() {
        guard heartbeat == nil else { return }
        let ms = max(1, app.config.sseHeartbeatMs)
        let t = Timer(loop: app.loop)
        t.start(ms: ms, repeatMs: ms) { [unowned self] in
            let frame = SSEWriter.commentFrame("keepalive")
            for ch in Array(channels.values) { ch.send(frame) }
        }
        heartbeat = t
    }

    private func stopHeartbeatIfIdle() {
        guard channels.isEmpty else { return }
        heartbeat?.close()
        heartbeat = nil
    }

    // MARK: event subscribers

    /// Subscribes `channel` to events in `scope` passing `filter`. With `resumeAfter` (Last-Event-ID) the
    /// stored events after it are replayed first. `endOnDestroy`: a sandbox stream ends after `sandbox.destroyed`.
    @discardableResult
    func subscribe(_ channel: SSEChannel, scope: EventBus.Scope, filter: EventFilter, resumeAfter: Int64?, endOnDestroy: Bool) -> EventSubscriber {
        let sub = EventSubscriber(channel: channel, scope: scope, filter: filter, endOnDestroy: endOnDestroy,
                                  state: SubscriberState(resumeAfter: resumeAfter, head: bus.lastID))
        let key = ObjectIdentifier(sub)
        subscribers[key] = sub
        if let s = scope.sandboxID { bySandbox[s, default: [:]][key] = sub } else { byTenant[scope.tenantID, default: [:]][key] = sub }
        channel.onClose.append { [weak self] in self?.remove(sub) }
        if sub.state.isReplaying { pump(sub) }
        return sub
    }

    private func remove(_ sub: EventSubscriber) {
        let key = ObjectIdentifier(sub)
        sub.state.end()
        subscribers[key] = nil
        if let s = sub.scope.sandboxID {
            bySandbox[s]?[key] = nil
            if bySandbox[s]?.isEmpty == true { bySandbox[s] = nil }
        } else {
            byTenant[sub.scope.tenantID]?[key] = nil
            if byTenant[sub.scope.tenantID]?.isEmpty == true { byTenant[sub.scope.tenantID] = nil }
        }
    }

    /// Replays stored events page by page; pauses while the client's buffer is half full and resumes when the
    /// socket drains, so a long replay never trips the overflow cut-off.
    private func pump(_ sub: EventSubscriber) {
        let highWater = sub.channel.limit / 2
        while case .replaying(let after) = sub.state.phase {
            guard sub.channel.isOpen else { return }
            let rows: [BusEvent]
            do { rows = try bus.page(after: after, scope: sub.scope, limit: SSEHub.replayPageSize) } catch {
                app.logger.error("event replay failed: \(error)")
                sub.channel.end()
                return
            }
            for (i, e) in rows.enumerated() where sub.inScope(e) {
                guard sub.handle(e, frame: nil) else { return }
                if sub.channel.bufferedBytes > highWater && i < rows.count - 1 {
                    sub.state.replayed(lastRowID: e.id, exhausted: false, head: bus.lastID)
                    sub.channel.stream.onDrain = { [weak self, weak sub] in
                        guard let self = self, let sub = sub else { return }
                        sub.channel.stream.onDrain = nil
                        self.pump(sub)
                    }
                    return
                }
            }
            sub.state.replayed(lastRowID: rows.last?.id, exhausted: rows.count < SSEHub.replayPageSize, head: bus.lastID)
        }
    }

    private func deliver(_ batch: [BusEvent]) {
        for e in batch {
            var frame: [UInt8]?
            let candidates = [e.sandboxID.flatMap { bySandbox[$0] }, byTenant[e.tenantID]]
            for group in candidates {
                guard let group = group else { continue }
                for sub in group.values where sub.inScope(e) && sub.state.offer(e.id) {
                    if frame == nil && sub.filter.matches(e) { frame = e.frame() }
                    _ = sub.handle(e, frame: frame)
                }
            }
        }
    }

    /// Ends every stream scoped to a sandbox (reset wiped them), or all of them.
    func endStreams(sandboxScopedOnly: Bool) {
        for sub in Array(subscribers.values) where !sandboxScopedOnly || sub.scope.sandboxID != nil { sub.channel.end() }
    }

    func close() {
        for ch in Array(channels.values) { ch.end() }
        heartbeat?.close()
        heartbeat = nil
    }
}

/// One event stream's subscription: its channel, where it reads, what it wants, where it is.
final class EventSubscriber {
    let channel: SSEChannel
    let scope: EventBus.Scope
    let filter: EventFilter
    let endOnDestroy: Bool
    var state: SubscriberState

    init(channel: SSEChannel, scope: EventBus.Scope, filter: EventFilter, endOnDestroy: Bool, state: SubscriberState) {
        self.channel = channel
        self.scope = scope
        self.filter = filter
        self.endOnDestroy = endOnDestroy
        self.state = state
    }

    func inScope(_ e: BusEvent) -> Bool {
        guard e.tenantID == scope.tenantID else { return false }
        if let s = scope.sandboxID, e.sandboxID != s { return false }
        if let w = scope.workspaceID, e.workspaceID != w { return false }
        if let u = scope.externalUserID, e.externalUserID != u { return false }
        return true
    }

    /// Sends `e` when the filter wants it (`frame` is its encoding when the caller has one). A sandbox
    /// stream ends after its sandbox's `sandbox.destroyed`, filtered out or not. False once the channel is done.
    func handle(_ e: BusEvent, frame: [UInt8]?) -> Bool {
        if filter.matches(e) {
            guard channel.send(frame ?? e.frame()) else { return false }
        }
        if endOnDestroy && e.type == "sandbox.destroyed" {
            state.end()
            channel.end()
            return false
        }
        return true
    }
}
