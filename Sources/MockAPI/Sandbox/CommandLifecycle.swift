#if canImport(Glibc)
import Glibc
#endif

/// The life of one sandbox command as a value: what to do when it times out, is asked to stop, exits, or its
/// output ends. `CommandRun` performs the actions (signals, timers); tests drive this without processes.
///
/// A command is complete once it has exited and both output pipes are closed. A leftover background child can
/// hold a pipe open after the shell exits (in `none` isolation; bwrap's PID namespace takes them down with the
/// command), so after the exit the run waits a short linger for the pipes, then finishes anyway. Completion
/// always SIGKILLs the process group: as on MIOSA with bwrap, nothing started by a command outlives it.
public struct CommandLifecycle {
    public enum StopReason: Equatable {
        /// The command's own timeout: SIGTERM, then SIGKILL after the grace period; exit code 124.
        case timeout
        /// A user asked (process DELETE, sandbox stop/pause): SIGTERM, then SIGKILL after the grace period.
        case stopped
        /// Sandbox destroyed or server stopping: SIGKILL at once.
        case killed
    }

    public enum Action: Equatable {
        case signal(Int32)
        case armGrace
        case armLinger
        case complete
    }

    public private(set) var reason: StopReason?
    public private(set) var exitStatus: Int64?
    public private(set) var termSignal: Int32 = 0
    public private(set) var completed = false
    private var stdoutOpen = true
    private var stderrOpen = true
    private var killSent = false

    public init() {}

    public var hasExited: Bool { exitStatus != nil }

    public mutating func timeout() -> [Action] { requestStop(.timeout) }
    public mutating func stop() -> [Action] { requestStop(.stopped) }

    public mutating func kill() -> [Action] {
        guard !completed else { return [] }
        if reason == nil && !hasExited { reason = .killed }
        guard !killSent else { return [] }
        killSent = true
        return [.signal(SIGKILL)]
    }

    private mutating func requestStop(_ why: StopReason) -> [Action] {
        guard !completed, !hasExited, reason == nil else { return [] }
        reason = why
        return [.signal(SIGTERM), .armGrace]
    }

    /// The grace period after SIGTERM ran out.
    public mutating func graceElapsed() -> [Action] {
        guard !completed, !hasExited, !killSent, reason != nil else { return [] }
        killSent = true
        return [.signal(SIGKILL)]
    }

    public mutating func exited(status: Int64, signal: Int32) -> [Action] {
        guard exitStatus == nil else { return [] }
        exitStatus = status
        termSignal = signal
        return finishIfDone() ?? [.armLinger]
    }

    public mutating func outputEnded(stderr: Bool) -> [Action] {
        if stderr { stderrOpen = false } else { stdoutOpen = false }
        return finishIfDone() ?? []
    }

    /// The linger after exit ran out while a pipe was still open (a leftover child holds it).
    public mutating func lingerElapsed() -> [Action] {
        guard hasExited, !completed else { return [] }
        completed = true
        return [.signal(SIGKILL), .complete]
    }

    private mutating func finishIfDone() -> [Action]? {
        guard hasExited, !stdoutOpen, !stderrOpen, !completed else { return nil }
        completed = true
        return [.signal(SIGKILL), .complete]
    }

    public var timedOut: Bool { reason == .timeout }

    /// The exit code reported to clients: 124 after a timeout (as `timeout(1)`), 128+N for a signal (as a
    /// shell reports it), else the exit status.
    public var exitCode: Int {
        if reason == .timeout { return 124 }
        if termSignal != 0 { return 128 + Int(termSignal) }
        return Int(exitStatus ?? 0)
    }

    /// `killed` when it ended because it was signalled (by us or anyone), `exited` when it ended on its own.
    public var status: String { reason != nil || termSignal != 0 ? "killed" : "exited" }
}
