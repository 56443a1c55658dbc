import EventLoop
import HTTP

/// File watches behind `GET /sandboxes/{id}/files/watch`. One `TreeWatch` per sandbox, directory and
/// recursion, shared by every subscriber of it; closed when the last subscriber leaves or the sandbox goes.
///
/// Watched changes are sent to watch streams only, not published as `file.*` domain events: a watch exists
/// only while someone watches, so such events would come and go with clients, and writes made through the
/// files API (which publishes its own `file.*` events) would be reported twice.
final class WatchHub {
    unowned let app: App
    let hub: SSEHub

    struct Key: Hashable {
        let sandboxID: String
        let directory: String
        let recursive: Bool
    }

    final class Shared {
        let key: Key
        let tree: TreeWatch
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        init(key: Key, tree: TreeWatch) { self.key = key; self.tree = tree }
    }

    final class Subscriber {
        let channel: SSEChannel
        /// Host path of the one file wanted (when the client watches a file, its directory is watched).
        let only: String?
        init(channel: SSEChannel, only: String?) { self.channel = channel; self.only = only }
    }

    private var watches: [Key: Shared] = [:]

    init(app: App, hub: SSEHub) {
        self.app = app
        self.hub = hub
    }

    var watchCount: Int { watches.count }
    var watchedDirectoryCount: Int { watches.values.reduce(0) { $0 + $1.tree.directoryCount } }

    /// The shared watch for `key`, started if new. Throws 503 when the kernel refuses (inotify limits).
    func acquire(_ key: Key) throws -> Shared {
        if let s = watches[key] { return s }
        let tree = TreeWatch(loop: app.loop, root: key.directory, recursive: key.recursive, debounceMs: app.config.watchDebounceMs)
        do { try tree.start() } catch {
            tree.close()
            throw APIError(503, "watch_unavailable", "The directory cannot be watched: \(error).")
        }
        let shared = Shared(key: key, tree: tree)
        tree.onChanges = { [unowned self, unowned shared] changes in self.deliver(changes, to: shared) }
        watches[key] = shared
        // A client that vanished before its stream started never attaches: release the watch then.
        Timer.once(on: app.loop, after: 0) { [weak self] in self?.releaseIfUnused(key) }
        return shared
    }

    func attach(_ channel: SSEChannel, to shared: Shared, only: String?) {
        guard watches[shared.key] === shared else { channel.end(); return }  // the sandbox went meanwhile
        let sub = Subscriber(channel: channel, only: only)
        let id = ObjectIdentifier(sub)
        shared.subscribers[id] = sub
        channel.onClose.append { [weak self, weak shared] in
            guard let self = self, let shared = shared else { return }
            shared.subscribers[id] = nil
            self.releaseIfUnused(shared.key)
        }
    }

    private func releaseIfUnused(_ key: Key) {
        guard let s = watches[key], s.subscribers.isEmpty else { return }
        watches[key] = nil
        s.tree.close()
    }

    private func deliver(_ changes: [FileChange], to shared: Shared) {
        let sandboxID = shared.key.sandboxID
        let now = app.nowISO
        for change in changes {
            var o = JSONObject()
            let kind = change.kind.rawValue
            o.append("event", .string(kind))
            o.append("type", .string(kind))
            o.append("path", .string(SandboxPaths.apiPath(app, sandboxID, host: change.path)))
            o.append("is_dir", .bool(change.isDir))
            o.append("size_bytes", .int(change.isDir ? 0 : change.size))
            if let old = change.oldPath { o.append("old_path", .string(SandboxPaths.apiPath(app, sandboxID, host: old))) }
            o.append("sandbox_id", .string(sandboxID))
            o.append("timestamp", .string(now))
            let frame = SSEWriter.frame(event: kind, data: JSON.object(o).encodedString)
            for sub in Array(shared.subscribers.values) {
                if let only = sub.only, change.path != only && change.oldPath != only { continue }
                sub.channel.send(frame)
            }
        }
    }

    /// The sandbox was destroyed: its streams end and its watches close before its directories go.
    func sandboxGone(_ sandboxID: String) {
        for (key, shared) in watches where key.sandboxID == sandboxID { close(shared) }
    }

    func closeAll() {
        for shared in Array(watches.values) { close(shared) }
    }

    private func close(_ shared: Shared) {
        watches[shared.key] = nil
        shared.tree.close()
        let subs = Array(shared.subscribers.values)
        shared.subscribers = [:]
        for s in subs { s.channel.end() }
    }
}
