import ArgumentParser
import EventLoop
import Logging
import MockAPI
#if canImport(Glibc)
import Glibc
#endif

/// Reads an environment variable (flags win over the environment, which wins over defaults).
func env(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
}

struct MiosaMock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "miosa-mock",
        abstract: "A local, stateful mock of the MIOSA cloud API.",
        version: MockVersion.current,
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the MIOSA API on a local port.",
        discussion: """
            Prints `listening http://HOST:PORT` as its first line once the port is bound, then the base URL \
            and an API key. Every flag has an environment fallback (shown in brackets).
            """)

    @Option(help: "Address to bind. [MIOSA_MOCK_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to bind; 0 picks a free one. [MIOSA_MOCK_PORT] (default: 8787)")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite file and sandbox roots. [MIOSA_MOCK_DATA_DIR] (default: .miosa-mock)")
    var dataDir: String?

    @Flag(help: "Keep all state in memory; nothing survives a restart. [MIOSA_MOCK_MEMORY=1]")
    var memory = false

    @Option(help: "Fixtures JSON (tenants, workspaces, API keys, templates) loaded into an empty store. [MIOSA_MOCK_FIXTURES] (default: embedded)")
    var fixtures: String?

    @Option(name: .customLong("boot-delay-ms"), help: "How long new sandboxes stay `creating`. [MIOSA_MOCK_BOOT_DELAY_MS] (default: 0)")
    var bootDelayMs: Int?

    @Flag(name: .customLong("no-control-api"), help: "Do not serve /_mock/* (health stays). [MIOSA_MOCK_CONTROL_API=off]")
    var noControlAPI = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error. [MIOSA_MOCK_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Flag(name: .customLong("quiet-requests"), help: "Log requests at debug level instead of info. [MIOSA_MOCK_QUIET_REQUESTS=1]")
    var quietRequests = false

    @Option(name: .customLong("idle-timeout-ms"), help: "Close idle keep-alive connections after this long. [MIOSA_MOCK_IDLE_TIMEOUT_MS] (default: 75000)")
    var idleTimeoutMs: Int?

    @Option(name: .customLong("header-timeout-ms"), help: "Time allowed to receive a request's headers. [MIOSA_MOCK_HEADER_TIMEOUT_MS] (default: 10000)")
    var headerTimeoutMs: Int?

    @Option(name: .customLong("group-commit"), help: "on or off: one SQLite commit per loop turn for all its writes (answers still wait for their commit). [MIOSA_MOCK_GROUP_COMMIT] (default: on)")
    var groupCommit: String?

    @Option(name: .customLong("rate-limit"), help: "on or off: enforce the per-minute rate limits. [MIOSA_MOCK_RATE_LIMIT] (default: on)")
    var rateLimit: String?

    @Option(name: .customLong("rate-limit-general"), help: "Requests per minute per workspace. [MIOSA_MOCK_RATE_LIMIT_GENERAL] (default: 300)")
    var rateLimitGeneral: Int?

    @Option(name: .customLong("rate-limit-auth"), help: "Requests per minute per credential on auth endpoints. [MIOSA_MOCK_RATE_LIMIT_AUTH] (default: 20)")
    var rateLimitAuth: Int?

    @Option(name: .customLong("rate-limit-unauthenticated"), help: "Requests per minute per client address without a key. [MIOSA_MOCK_RATE_LIMIT_UNAUTHENTICATED] (default: 60)")
    var rateLimitUnauthenticated: Int?

    @Option(name: .customLong("journal-size"), help: "Requests kept by /_mock/requests; 0 keeps none. [MIOSA_MOCK_JOURNAL_SIZE] (default: 1000)")
    var journalSize: Int?

    @Option(name: .customLong("sse-heartbeat-ms"), help: "Send `: keepalive` on open SSE streams this often. [MIOSA_MOCK_SSE_HEARTBEAT_MS] (default: 15000)")
    var sseHeartbeatMs: Int?

    @Option(name: .customLong("sse-buffer-bytes"), help: "Unsent bytes an SSE client may hold before it is disconnected. [MIOSA_MOCK_SSE_BUFFER_BYTES] (default: 1048576)")
    var sseBufferBytes: Int?

    @Option(name: .customLong("events-max-rows"), help: "Events kept for Last-Event-ID replay (also 7 days at most). [MIOSA_MOCK_EVENTS_MAX_ROWS] (default: 100000)")
    var eventsMaxRows: Int?

    @Option(name: .customLong("watch-debounce-ms"), help: "File watch: merge changes to a path within this window. [MIOSA_MOCK_WATCH_DEBOUNCE_MS] (default: 20)")
    var watchDebounceMs: Int?
    @Option(help: "Sandbox command isolation: auto, bwrap, none. [MIOSA_MOCK_ISOLATION] (default: auto = bwrap when it works)")
    var isolation: String?

    @Option(name: .customLong("exec-timeout"), help: "Default exec timeout in seconds (requests may ask up to 600). [MIOSA_MOCK_EXEC_TIMEOUT] (default: 60)")
    var execTimeout: Int?

    @Option(name: .customLong("exec-max-output"), help: "Bytes of stdout and of stderr kept per exec; more is truncated. [MIOSA_MOCK_EXEC_MAX_OUTPUT] (default: 10485760)")
    var execMaxOutput: Int?

    @Option(name: .customLong("kill-grace-ms"), help: "Between SIGTERM and SIGKILL when a command is stopped or times out. [MIOSA_MOCK_KILL_GRACE_MS] (default: 5000)")
    var killGraceMs: Int?

    @Option(name: .customLong("webhook-retry-delays-ms"), help: "Waits before each webhook retry, comma-separated (`off`: no retries); attempts = count + 1; server clock. [MIOSA_MOCK_WEBHOOK_RETRY_DELAYS_MS] (default: 1000,5000,25000)")
    var webhookRetryDelaysMs: String?

    @Option(name: .customLong("webhook-timeout-ms"), help: "Deadline for a webhook delivery (connect + response). [MIOSA_MOCK_WEBHOOK_TIMEOUT_MS] (default: 10000)")
    var webhookTimeoutMs: Int?

    /// `1000,5000,25000` → delays; `off`, `none` or an empty string mean no retries. Nil when malformed.
    static func delays(_ text: String) -> [UInt64]? {
        if ["off", "none"].contains(text.lowercased()) { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: true).map { $0.filter { $0 != " " } }
        let values = parts.compactMap { UInt64($0) }
        guard values.count == parts.count, values.count <= 20, values.allSatisfy({ $0 <= 86_400_000 }) else { return nil }
        return values
    }

    func validate() throws {
        if let i = isolation, IsolationSetting(rawValue: i) == nil { throw ValidationError("--isolation must be auto, bwrap or none") }
        if let t = execTimeout, !(1...600).contains(t) { throw ValidationError("--exec-timeout must be 1...600") }
        if let m = execMaxOutput, m < 1024 { throw ValidationError("--exec-max-output must be at least 1024") }
        if let g = killGraceMs, g < 0 { throw ValidationError("--kill-grace-ms must be >= 0") }
        if let d = webhookRetryDelaysMs, Serve.delays(d) == nil {
            throw ValidationError("--webhook-retry-delays-ms must be up to 20 comma-separated millisecond values (each at most 86400000)")
        }
        if let t = webhookTimeoutMs, !(1...600_000).contains(t) { throw ValidationError("--webhook-timeout-ms must be 1...600000") }
        if let p = port, !(0...65535).contains(p) { throw ValidationError("--port must be 0...65535") }
        if let b = bootDelayMs, b < 0 { throw ValidationError("--boot-delay-ms must be >= 0") }
        if let r = rateLimit, Serve.onOff(r) == nil { throw ValidationError("--rate-limit must be on or off") }
        if let g = groupCommit, Serve.onOff(g) == nil { throw ValidationError("--group-commit must be on or off") }
        for (name, v) in [("general", rateLimitGeneral), ("auth", rateLimitAuth), ("unauthenticated", rateLimitUnauthenticated)] {
            if let n = v, !(1...1_000_000_000).contains(n) { throw ValidationError("--rate-limit-\(name) must be 1...1000000000") }
        }
        if let j = journalSize, !(0...1_000_000).contains(j) { throw ValidationError("--journal-size must be 0...1000000") }
        if let l = logLevel, Logger.Level(rawValue: l) == nil { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
    }

    func configuration() throws -> Configuration {
        var c = Configuration()
        c.host = host ?? env("MIOSA_MOCK_HOST") ?? c.host
        if let p = port ?? env("MIOSA_MOCK_PORT").flatMap({ Int($0) }) { c.port = p }
        c.dataDir = dataDir ?? env("MIOSA_MOCK_DATA_DIR") ?? c.dataDir
        c.memory = memory || ["1", "true", "yes"].contains(env("MIOSA_MOCK_MEMORY")?.lowercased() ?? "")
        c.fixturesPath = fixtures ?? env("MIOSA_MOCK_FIXTURES")
        if let b = bootDelayMs ?? env("MIOSA_MOCK_BOOT_DELAY_MS").flatMap({ Int($0) }) { c.bootDelayMs = UInt64(max(0, b)) }
        c.controlAPI = !(noControlAPI || ["0", "off", "false", "no"].contains(env("MIOSA_MOCK_CONTROL_API")?.lowercased() ?? ""))
        c.logRequests = !(quietRequests || ["1", "true", "yes"].contains(env("MIOSA_MOCK_QUIET_REQUESTS")?.lowercased() ?? ""))
        if let v = idleTimeoutMs ?? env("MIOSA_MOCK_IDLE_TIMEOUT_MS").flatMap({ Int($0) }) { c.http.idleTimeoutMs = UInt64(max(1, v)) }
        if let v = headerTimeoutMs ?? env("MIOSA_MOCK_HEADER_TIMEOUT_MS").flatMap({ Int($0) }) { c.http.headerTimeoutMs = UInt64(max(1, v)) }
        if let v = rateLimit ?? env("MIOSA_MOCK_RATE_LIMIT"), let on = Serve.onOff(v) { c.rateLimits.enabled = on }
        if let v = groupCommit ?? env("MIOSA_MOCK_GROUP_COMMIT"), let on = Serve.onOff(v) { c.groupCommit = on }
        if let n = rateLimitGeneral ?? env("MIOSA_MOCK_RATE_LIMIT_GENERAL").flatMap({ Int($0) }) { c.rateLimits.general = max(1, n) }
        if let n = rateLimitAuth ?? env("MIOSA_MOCK_RATE_LIMIT_AUTH").flatMap({ Int($0) }) { c.rateLimits.auth = max(1, n) }
        if let n = rateLimitUnauthenticated ?? env("MIOSA_MOCK_RATE_LIMIT_UNAUTHENTICATED").flatMap({ Int($0) }) { c.rateLimits.unauthenticated = max(1, n) }
        if let n = journalSize ?? env("MIOSA_MOCK_JOURNAL_SIZE").flatMap({ Int($0) }) { c.journalSize = min(max(0, n), 1_000_000) }
        if let v = sseHeartbeatMs ?? env("MIOSA_MOCK_SSE_HEARTBEAT_MS").flatMap({ Int($0) }) { c.sseHeartbeatMs = UInt64(max(1, v)) }
        if let v = sseBufferBytes ?? env("MIOSA_MOCK_SSE_BUFFER_BYTES").flatMap({ Int($0) }) { c.sseBufferBytes = max(64 * 1024, v) }
        if let v = eventsMaxRows ?? env("MIOSA_MOCK_EVENTS_MAX_ROWS").flatMap({ Int($0) }) { c.eventsMaxRows = max(1, v) }
        if let v = watchDebounceMs ?? env("MIOSA_MOCK_WATCH_DEBOUNCE_MS").flatMap({ Int($0) }) { c.watchDebounceMs = UInt64(max(0, v)) }
        if let raw = isolation ?? env("MIOSA_MOCK_ISOLATION") {
            guard let v = IsolationSetting(rawValue: raw.lowercased()) else { throw ValidationError("MIOSA_MOCK_ISOLATION must be auto, bwrap or none") }
            c.isolation = v
        }
        if let v = execTimeout ?? env("MIOSA_MOCK_EXEC_TIMEOUT").flatMap({ Int($0) }) { c.execDefaultTimeoutSec = min(600, max(1, v)) }
        if let v = execMaxOutput ?? env("MIOSA_MOCK_EXEC_MAX_OUTPUT").flatMap({ Int($0) }) { c.execMaxOutputBytes = max(1024, v) }
        if let v = killGraceMs ?? env("MIOSA_MOCK_KILL_GRACE_MS").flatMap({ Int($0) }) { c.killGraceMs = UInt64(max(0, v)) }
        if let d = (webhookRetryDelaysMs ?? env("MIOSA_MOCK_WEBHOOK_RETRY_DELAYS_MS")).flatMap(Serve.delays) { c.webhookRetryDelaysMs = d }
        if let v = webhookTimeoutMs ?? env("MIOSA_MOCK_WEBHOOK_TIMEOUT_MS").flatMap({ Int($0) }) { c.webhookTimeoutMs = UInt64(min(max(1, v), 600_000)) }
        return c
    }

    static func onOff(_ v: String) -> Bool? {
        switch v.lowercased() {
        case "on", "1", "true", "yes": return true
        case "off", "0", "false", "no": return false
        default: return nil
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        setvbuf(stdout, nil, _IOLBF, 0)
        let level = Logger.Level(rawValue: logLevel ?? env("MIOSA_MOCK_LOG_LEVEL") ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let config = try configuration()
        if config.isolation == .bwrap, let problem = Isolation.check(.bwrap) {
            FileHandleStderr.write("miosa-mock: cannot start: \(problem)\n")
            throw ExitCode(1)
        }
        let loop = Loop()
        let server: MockServer
        let port: Int
        do {
            server = try MockServer(configuration: config, loop: loop)
            port = try server.start()
        } catch {
            FileHandleStderr.write("miosa-mock: cannot start: \(error)\n")
            throw ExitCode(1)
        }
        print("listening \(server.app.baseURL)")
        print("base_url \(server.app.baseURL)/api/v1")
        if let key = Fixtures.firstKey(server.fixtures) { print("api_key \(key)") }
        print("storage \(config.memory ? "memory" : config.databasePath)")
        _ = port

        var watchers: [SignalWatcher] = []
        for sig in [SIGINT, SIGTERM] {
            let w = SignalWatcher(loop: loop)
            w.start(signal: sig) { signum in
                server.app.logger.info("signal \(signum): shutting down")
                for w in watchers { w.close() }
                server.app.service(SandboxRuntime.self)?.beginShutdown()
                server.shutdown { loop.stop() }
            }
            watchers.append(w)
        }
        loop.run()
        loop.close()
    }
}

enum FileHandleStderr {
    static func write(_ s: String) { fputs(s, stderr) }
}

MiosaMock.main()
