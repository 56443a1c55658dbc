import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// What to start: argv (argv[0] is the program, looked up on the child's PATH as execvp does), the whole
/// environment, the working directory, and bytes for stdin (nil gives the child /dev/null).
public struct SpawnOptions {
    public var arguments: [String]
    public var environment: [String]
    public var cwd: String?
    public var stdin: [UInt8]?
    /// Start the child in its own session and process group (`setsid`), so `signalGroup` reaches every
    /// process it starts, and a Ctrl-C in the server's terminal does not reach it.
    public var detached: Bool

    public init(arguments: [String], environment: [String], cwd: String? = nil, stdin: [UInt8]? = nil, detached: Bool = true) {
        self.arguments = arguments
        self.environment = environment
        self.cwd = cwd
        self.stdin = stdin
        self.detached = detached
    }
}

/// A child process started with `uv_spawn`, its stdout and stderr as `Pipe`s. `onExit` fires once with the
/// exit status and the terminating signal (0 if none); the process handle closes itself after it. Output may
/// still be arriving on the pipes after exit: a reader waits for both pipes' `onEnd` too.
public final class ChildProcess: UVHandleOwner {
    public private(set) var pid: Int32 = 0
    public let stdout: Pipe
    public let stderr: Pipe
    public private(set) var exitStatus: Int64?
    public private(set) var termSignal: Int32 = 0
    public var onExit: ((_ status: Int64, _ signal: Int32) -> Void)?
    private let detached: Bool

    public var hasExited: Bool { exitStatus != nil }

    /// Spawns at once; throws the `UVError` from `uv_spawn` (e.g. ENOENT for a missing program, with every
    /// handle already closed).
    public init(loop: Loop, options: SpawnOptions) throws {
        precondition(!options.arguments.isEmpty, "argv needs at least the program")
        stdout = Pipe(loop: loop)
        stderr = Pipe(loop: loop)
        detached = options.detached
        super.init(loop: loop, type: UV_PROCESS)
        let stdinPipe = options.stdin.map { _ in Pipe(loop: loop) }

        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        if let p = stdinPipe {
            stdio[0].flags = uv_stdio_flags(UV_CREATE_PIPE.rawValue | UV_READABLE_PIPE.rawValue)
            stdio[0].data.stream = p.stream
        } else {
            stdio[0].flags = UV_IGNORE  // libuv opens /dev/null for it
        }
        // "Readable"/"writable" are from the child's point of view: it writes stdout and stderr.
        stdio[1].flags = uv_stdio_flags(UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue)
        stdio[1].data.stream = stdout.stream
        stdio[2].flags = uv_stdio_flags(UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue)
        stdio[2].data.stream = stderr.stream

        let rc: Int32 = withCStringArray(options.arguments) { argv in
            withCStringArray(options.environment) { envp in
                stdio.withUnsafeMutableBufferPointer { stdioBuf in
                    var opts = uv_process_options_t()
                    opts.exit_cb = { p, status, signal in
                        guard let p = p, let owner = UVHandleOwner.owner(UnsafeMutableRawPointer(p), as: ChildProcess.self) else { return }
                        owner.exited(status: status, signal: signal)
                    }
                    opts.file = UnsafePointer(argv[0])
                    opts.args = argv
                    opts.env = envp
                    opts.stdio_count = 3
                    opts.stdio = stdioBuf.baseAddress
                    if options.detached { opts.flags = UInt32(UV_PROCESS_DETACHED.rawValue) }
                    // libuv copies nothing it needs later: argv, env and cwd are only read before exec in the
                    // child, so freeing them after uv_spawn returns is safe.
                    if let cwd = options.cwd {
                        return cwd.withCString { c in
                            opts.cwd = c
                            return uv_spawn(loop.raw, process, &opts)
                        }
                    }
                    return uv_spawn(loop.raw, process, &opts)
                }
            }
        }
        // uv_spawn initialises the handle even when it fails, so it must be closed either way (uv_spawn docs).
        activate()
        if rc < 0 {
            stdinPipe?.close()
            stdout.close()
            stderr.close()
            close()
            throw UVError(rc)
        }
        pid = process.pointee.pid
        stdinPipe?.writeAndClose(options.stdin ?? [])
        stdout.startReading()
        stderr.startReading()
    }

    var process: UnsafeMutablePointer<uv_process_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_process_t.self)
    }

    private func exited(status: Int64, signal: Int32) {
        exitStatus = status
        termSignal = signal
        let cb = onExit
        onExit = nil
        cb?(status, signal)
        close()
    }

    /// Signals the child alone. False when it has already exited (its pid may belong to someone else now).
    @discardableResult
    public func signal(_ sig: Int32) -> Bool {
        guard !hasExited, !isClosing else { return false }
        return uv_process_kill(process, sig) == 0
    }

    /// Signals the child's whole process group (it leads one when spawned detached). Still valid after the
    /// leader exited: Linux does not reuse a pid while a process group of that id has members, so
    /// `kill(-pid)` reaches only the leftovers, or fails with ESRCH when none remain.
    @discardableResult
    public func signalGroup(_ sig: Int32) -> Bool {
        guard pid > 0 else { return false }
        guard detached else { return signal(sig) }
        return kill(-pid, sig) == 0
    }

    /// Closing the handle does not stop the child (libuv only stops watching it); callers kill first.
    override func didClose() { onExit = nil }
}
