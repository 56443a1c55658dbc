import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One spawned sandbox command: the child process, its timers (timeout, kill grace, linger after exit), and
/// the `CommandLifecycle` deciding what happens next. Output goes to `onOutput` as it arrives; completion
/// callbacks run once, after the exit and the end of both pipes. The runtime keeps it alive until then.
public final class CommandRun {
    public let sandboxID: String
    public let command: String
    public let child: ChildProcess
    public private(set) var lifecycle = CommandLifecycle()
    public let startedMs: UInt64
    public private(set) var finishedMs: UInt64?
    /// `stderr` false for stdout. The bytes are valid only during the call.
    public var onOutput: ((_ stderr: Bool, UnsafeRawBufferPointer) -> Void)?
    private var completions: [(CommandRun) -> Void] = []
    private let loop: Loop
    private let graceMs: UInt64
    private let lingerMs: UInt64
    private var timeoutTimer: Timer?
    private var graceTimer: Timer?
    private var lingerTimer: Timer?

    /// Host pid of the direct child (bwrap in bwrap mode, the shell otherwise); it leads the process group.
    public var hostPID: Int32 { child.pid }
    public var isComplete: Bool { lifecycle.completed }
    public var durationMs: UInt64 { (finishedMs ?? loop.nowMs) &- startedMs }

    init(loop: Loop, sandboxID: String, command: String, options: SpawnOptions, timeoutMs: UInt64?,
         graceMs: UInt64, lingerMs: UInt64 = 200) throws {
        self.loop = loop
        self.sandboxID = sandboxID
        self.command = command
        self.graceMs = graceMs
        self.lingerMs = lingerMs
        loop.updateTime()
        startedMs = loop.nowMs
        child = try ChildProcess(loop: loop, options: options)
        child.stdout.onRead = { [unowned self] b in self.onOutput?(false, b) }
        child.stderr.onRead = { [unowned self] b in self.onOutput?(true, b) }
        // The pipes and the process handle close themselves; these closures hold the run until they do.
        child.stdout.onEnd = { [self] in perform(lifecycle.outputEnded(stderr: false)) }
        child.stderr.onEnd = { [self] in perform(lifecycle.outputEnded(stderr: true)) }
        child.onExit = { [self] status, signal in perform(lifecycle.exited(status: status, signal: signal)) }
        if let t = timeoutMs, t > 0 {
            let timer = Timer(loop: loop)
            timer.start(ms: t) { [weak self] in
                guard let self = self else { return }
                self.perform(self.lifecycle.timeout())
            }
            timeoutTimer = timer
        }
    }

    /// Runs `cb` when the command is complete (at once, deferred, if it already is).
    public func onComplete(_ cb: @escaping (CommandRun) -> Void) {
        if lifecycle.completed { Timer.defer_(on: loop) { cb(self) } } else { completions.append(cb) }
    }

    /// SIGTERM to the group, SIGKILL after the grace period.
    public func stop() { perform(lifecycle.stop()) }
    /// SIGKILL to the group now.
    public func kill() { perform(lifecycle.kill()) }

    /// Backpressure for streaming readers: stop reading stdout and stderr (the child blocks on a full pipe).
    public func pauseOutput() { child.stdout.stopReading(); child.stderr.stopReading() }
    public func resumeOutput() { child.stdout.startReading(); child.stderr.startReading() }

    private func perform(_ actions: [CommandLifecycle.Action]) {
        for a in actions {
            switch a {
            case .signal(let sig):
                child.signalGroup(sig)
                // A stopped (SIGSTOP) group only acts on SIGTERM once continued.
                if sig == SIGTERM { child.signalGroup(SIGCONT) }
            case .armGrace:
                let t = Timer(loop: loop)
                t.start(ms: graceMs) { [weak self] in
                    guard let self = self else { return }
                    self.perform(self.lifecycle.graceElapsed())
                }
                graceTimer = t
            case .armLinger:
                let t = Timer(loop: loop)
                t.start(ms: lingerMs) { [weak self] in
                    guard let self = self else { return }
                    self.perform(self.lifecycle.lingerElapsed())
                }
                lingerTimer = t
            case .complete:
                complete()
            }
        }
    }

    private func complete() {
        loop.updateTime()
        finishedMs = loop.nowMs
        for t in [timeoutTimer, graceTimer, lingerTimer] { t?.close() }
        timeoutTimer = nil; graceTimer = nil; lingerTimer = nil
        // Whatever a leftover child still writes is not part of this command's output.
        child.stdout.close()
        child.stderr.close()
        let cbs = completions
        completions = []
        onOutput = nil
        for cb in cbs { cb(self) }
    }
}
