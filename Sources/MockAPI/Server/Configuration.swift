import HTTP

/// Everything the server can be told at start (flags and environment map onto this in `main.swift`).
public struct Configuration {
    public var host = "127.0.0.1"
    public var port = 8787
    /// Where the SQLite file and sandbox directories live.
    public var dataDir = ".miosa-mock"
    /// Keep state in memory only (sandbox directories go to a temporary folder removed at exit).
    public var memory = false
    /// A fixtures JSON file; nil loads the embedded default.
    public var fixturesPath: String?
    /// How long a new sandbox stays `creating` before it is `running`.
    public var bootDelayMs: UInt64 = 0
    /// Serve `/_mock/*`.
    public var controlAPI = true
    /// Largest request body (JSON APIs); file routes allow base64 of `maxUploadBytes`.
    public var maxBodyBytes = 10 * 1024 * 1024
    public var maxUploadBytes = 10 * 1024 * 1024
    public var http = HTTPServerConfiguration()
    /// Log each request at info level.
    public var logRequests = true
    public var shutdownGraceMs: UInt64 = 5_000
    /// Per-minute request limits (rest-api-conventions: rate limits); `rateLimits.enabled = false` turns them off.
    public var rateLimits = RateLimits()
    /// How many requests `/_mock/requests` remembers (oldest dropped first); 0 keeps none.
    public var journalSize = 1000
    /// SSE: a `: keepalive` comment on every open stream this often.
    public var sseHeartbeatMs: UInt64 = 15_000
    /// SSE: unsent bytes a subscriber may hold before it is disconnected (a slow reader costs no more).
    public var sseBufferBytes = 1 << 20
    /// Event log (replay by Last-Event-ID): rows kept, and age in seconds by the server clock.
    public var eventsMaxRows = 100_000
    public var eventsMaxAgeSec: Double = 7 * 86_400
    /// File watch: notifications within this window are merged into one change per path.
    public var watchDebounceMs: UInt64 = 20
    /// How sandbox commands are confined: `auto` (bwrap when it works), `bwrap` (required), `none`.
    public var isolation: IsolationSetting = .auto
    /// Exec timeout when a request gives none (seconds); requests may ask for up to 600.
    public var execDefaultTimeoutSec = 60
    /// Output kept per stream of one exec (stdout and stderr each); beyond it `truncated: true`.
    public var execMaxOutputBytes = 10 * 1024 * 1024
    /// Between SIGTERM and SIGKILL when a command is stopped or times out.
    public var killGraceMs: UInt64 = 5_000
    /// Webhooks: the wait before each retry (the first attempt is immediate), so attempts = count + 1.
    /// Measured on the server clock: `/_mock/clock` advance makes retries due.
    public var webhookRetryDelaysMs: [UInt64] = [1_000, 5_000, 25_000]
    /// Webhooks: one deadline for connect and a complete response.
    public var webhookTimeoutMs: UInt64 = 10_000
    /// Webhooks: attempts in flight at once (the rest wait in the outbox).
    public var webhookConcurrency = 16
    /// One SQLite commit per loop turn for all the writes of that turn (Database.groupCommit); off: one per write.
    /// Either way an answer is sent only after its changes are committed.
    public var groupCommit = true

    public init() {}

    public var databasePath: String { memory ? ":memory:" : dataDir + "/miosa-mock.sqlite3" }
}
