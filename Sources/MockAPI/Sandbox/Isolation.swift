import EventLoop
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How sandbox commands are confined. `bwrap`: bubblewrap gives each command its own mount, PID, IPC and UTS
/// namespaces with the sandbox's directories at `/workspace`, `/tmp` and `/home/user`, as on MIOSA. `none`: a
/// plain child process whose working directory is the sandbox's workspace on the host.
public enum IsolationMode: String {
    case bwrap, none
}

/// The isolation the server asked for; `auto` picks `bwrap` when it is installed and passes a probe.
public enum IsolationSetting: String, CaseIterable {
    case auto, bwrap, none
}

/// Builds the argv and environment for one sandbox command in the chosen mode. Pure: tested without spawning.
public struct Isolation {
    public let mode: IsolationMode
    /// Absolute path of the bwrap binary (bwrap mode).
    public let bwrapPath: String
    /// Shell used for `sh -c <command>`: bash when the host has it.
    public let shell: String
    /// Host PATH for `none` mode (the sandbox sees the host's tools where they are).
    public let hostPath: String

    /// The PATH a bwrap sandbox sees (the host's /usr is mounted read-only, so /usr/local/bin is there too).
    public static let sandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public init(mode: IsolationMode, bwrapPath: String = "/usr/bin/bwrap", shell: String? = nil, hostPath: String? = nil) {
        self.mode = mode
        self.bwrapPath = bwrapPath
        self.shell = shell ?? (access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh")
        self.hostPath = hostPath ?? ProcessInfo.processInfo.environment["PATH"] ?? Isolation.sandboxPath
    }

    /// The bwrap arguments that build a sandbox's filesystem: host system directories read-only, the sandbox's
    /// own directories writable, fresh /proc and /dev, and no process outliving the server (`--die-with-parent`).
    public func bwrapArguments(root: String, cwd: String) -> [String] {
        var a = [bwrapPath, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        // Merged-/usr hosts have /bin, /lib ... as symlinks into /usr: recreate the links, bind real directories.
        for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = Isolation.symlinkTarget(dir) {
                a += ["--symlink", target, dir]
            } else if Isolation.isDirectory(dir) {
                a += ["--ro-bind", dir, dir]
            }
        }
        a += ["--ro-bind", "/etc", "/etc"]
        if Isolation.isDirectory("/opt") { a += ["--ro-bind", "/opt", "/opt"] }
        a += ["--proc", "/proc", "--dev", "/dev",
              "--bind", root + "/tmp", "/tmp",
              "--bind", root + "/home", "/home/user",
              "--bind", root + "/workspace", "/workspace",
              "--chdir", cwd]
        return a
    }

    /// argv for running `command` through the shell. `cwd` is an API path (`/workspace/x`) in bwrap mode and
    /// the host path in `none` mode.
    public func argv(command: String, root: String, cwd: String) -> [String] {
        let shellArgs = [shell, "-c", command]
        switch mode {
        case .bwrap: return bwrapArguments(root: root, cwd: cwd) + shellArgs
        case .none: return shellArgs
        }
    }

    /// The environment: a clean base, then the sandbox's variables, then the request's (later wins).
    public func environment(root: String, cwdForPWD: String, overlays: [[(String, String)]]) -> [String] {
        var env: [(String, String)] = []
        switch mode {
        case .bwrap:
            env = [("PATH", Isolation.sandboxPath), ("HOME", "/home/user"), ("TMPDIR", "/tmp")]
        case .none:
            env = [("PATH", hostPath), ("HOME", root + "/home"), ("TMPDIR", root + "/tmp")]
        }
        env += [("USER", "user"), ("LOGNAME", "user"), ("SHELL", shell), ("LANG", "C.UTF-8"), ("TERM", "xterm"),
                ("PWD", cwdForPWD), ("MIOSA_SANDBOX", "1"), ("PYTHONUNBUFFERED", "1")]
        var order: [String] = env.map(\.0)
        var values: [String: String] = Dictionary(env, uniquingKeysWith: { _, b in b })
        for layer in overlays {
            for (k, v) in layer {
                if values[k] == nil { order.append(k) }
                values[k] = v
            }
        }
        return order.map { "\($0)=\(values[$0]!)" }
    }

    static func symlinkTarget(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Finds bwrap on PATH (or the usual places).
    public static func findBwrap() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let p = dir + "/bwrap"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// Decides the mode at start. For `auto` and `bwrap`, runs `bwrap ... true` once in a scratch root: bwrap
    /// can be installed yet unusable (no user namespaces in a container). Blocking, but only at start and ~ms.
    public static func resolve(_ setting: IsolationSetting, scratchRoot: String) -> (Isolation?, String) {
        if setting == .none { return (Isolation(mode: .none), "isolation none (commands run on the host, cwd = the sandbox's workspace)") }
        guard let bwrap = findBwrap() else {
            return setting == .bwrap ? (nil, "--isolation bwrap: bwrap not found on PATH (install the bubblewrap package)")
                : (Isolation(mode: .none), "isolation none: bwrap not found (install bubblewrap for /workspace paths)")
        }
        let iso = Isolation(mode: .bwrap, bwrapPath: bwrap)
        let fm = FileManager.default
        for sub in ["workspace", "tmp", "home"] { try? fm.createDirectory(atPath: scratchRoot + "/" + sub, withIntermediateDirectories: true) }
        defer { try? fm.removeItem(atPath: scratchRoot) }
        let status = runBlocking(iso.argv(command: "test -d /workspace", root: scratchRoot, cwd: "/workspace"))
        if status == 0 { return (iso, "isolation bwrap (\(bwrap)): /workspace, /tmp, /home/user per sandbox, own PID namespace") }
        let why = "bwrap probe failed (exit code \(status))"
        return setting == .bwrap ? (nil, "--isolation bwrap: \(why)")
            : (Isolation(mode: .none), "isolation none: \(why); commands run on the host")
    }

    /// Why `setting` cannot be honoured (a bwrap requirement that fails its probe), or nil.
    public static func check(_ setting: IsolationSetting) -> String? {
        let scratch = NSTemporaryDirectory() + "miosa-mock-probe-" + IDs.token("", length: 8)
        let (iso, line) = resolve(setting, scratchRoot: scratch)
        return iso == nil ? line : nil
    }

    /// posix_spawn + waitpid with stdio on /dev/null; returns the exit code (128+N for signal N), or -1.
    static func runBlocking(_ argv: [String]) -> Int32 {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in [Int32(0), 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let rc: Int32 = withCStringArray(argv) { a in
            posix_spawn(&pid, argv[0], &actions, nil, a, environ)
        }
        guard rc == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import: decode the status by hand.
        let sig = status & 0x7f
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }
}
