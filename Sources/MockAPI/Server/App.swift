import EventLoop
import Store
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Something that happened in the domain: a sandbox became ready, a webhook was delivered, ...
/// Publishers do not know who listens (event log, SSE, webhooks, audit log are all subscribers).
public struct DomainEvent {
    public var type: String
    public var tenantID: String
    public var workspaceID: String?
    public var sandboxID: String?
    public var resourceType: String
    public var resourceID: String
    public var data: JSON
    public var actorID: String?
    public var occurredAt: Double
    /// `data` already encoded, when the publisher has it (one sandbox object published as created and ready
    /// is encoded once); nil means encode `data`.
    public var dataText: String?

    public init(type: String, tenantID: String, workspaceID: String? = nil, sandboxID: String? = nil,
                resourceType: String, resourceID: String, data: JSON, actorID: String? = nil, occurredAt: Double,
                dataText: String? = nil) {
        self.dataText = dataText
        self.type = type
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.sandboxID = sandboxID
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.data = data
        self.actorID = actorID
        self.occurredAt = occurredAt
    }
}

/// The services one server instance runs with. Passed in, never global (DESIGN style 4).
public final class App {
    public let loop: Loop
    public let db: Database
    public let clock: Clock
    public var config: Configuration
    public var logger: Logger
    public let router = Router()
    public var middlewares: [Middleware] = []
    /// The port actually bound (after `--port 0`).
    public internal(set) var port: Int = 0
    /// Directory holding per-sandbox roots.
    public let sandboxesDir: String

    private var services: [ObjectIdentifier: AnyObject] = [:]
    private var eventSubscribers: [(DomainEvent) -> Void] = []
    /// Run after `/_mock/reset` has wiped and reloaded state (drop caches, kill processes, ...).
    public var resetHooks: [() -> Void] = []
    /// Run at shutdown, in order, before the store closes.
    public var shutdownHooks: [() -> Void] = []

    init(loop: Loop, db: Database, clock: Clock, config: Configuration, logger: Logger, sandboxesDir: String) {
        self.loop = loop
        self.db = db
        self.clock = clock
        self.config = config
        self.logger = logger
        self.sandboxesDir = sandboxesDir
    }

    public var now: Double { clock.now }
    public var nowISO: String { Time.iso(clock.now) }

    public var baseURL: String {
        let h = config.host.contains(":") ? "[\(config.host)]" : config.host
        return "http://\(h):\(port)"
    }

    // MARK: services

    public func register<T: AnyObject>(_ service: T) { services[ObjectIdentifier(T.self)] = service }
    public func service<T: AnyObject>(_ type: T.Type) -> T? { services[ObjectIdentifier(type)] as? T }

    // MARK: events

    public func subscribe(_ handler: @escaping (DomainEvent) -> Void) { eventSubscribers.append(handler) }

    public func publish(_ event: DomainEvent) {
        for s in eventSubscribers { s(event) }
    }

    /// Publishes an event stamped with the server clock.
    public func publish(_ type: String, tenantID: String, workspaceID: String? = nil, sandboxID: String? = nil,
                        resourceType: String, resourceID: String, data: JSON, actorID: String? = nil, dataText: String? = nil) {
        publish(DomainEvent(type: type, tenantID: tenantID, workspaceID: workspaceID, sandboxID: sandboxID,
                            resourceType: resourceType, resourceID: resourceID, data: data, actorID: actorID,
                            occurredAt: clock.now, dataText: dataText))
    }
}
