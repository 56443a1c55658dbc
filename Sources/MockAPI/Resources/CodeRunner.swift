import EventLoop
import Foundation

/// Code cells: `POST /sandboxes/{id}/code/run` `{code, language?, context?, timeout?}` → E `{ok, stdout, stderr,
/// result, language}` (sandbox-contract §5), and the Python runner behind `/computers/{id}/exec/python`.
///
/// Each cell runs in a fresh `python3` or `node` (no interpreter state is kept between cells; `context` is
/// accepted and ignored). Like a notebook, the value of a final expression comes back as `result` (JSON, or its
/// repr when it is not JSON-encodable). The cell and a small runner are written under the sandbox's `/tmp`.
enum CodeRunner {
    enum Language: String { case python, javascript }

    static func language(_ raw: String?) -> Language? {
        switch (raw ?? "python").lowercased() {
        case "python", "python3", "py": return .python
        case "javascript", "js", "node", "nodejs": return .javascript
        default: return nil
        }
    }

    static func run(_ ctx: RequestContext) throws -> Reply {
        let c = try ctx.caller
        let app = ctx.app
        var f = try ctx.fields()
        let langRaw = f.string("language", maxLength: 32)
        _ = f.string("context", maxLength: 255)
        let lang = language(langRaw)
        if lang == nil { f.fail("language", "must be python or javascript") }
        let req = try CommandRequest.read(&f, commandField: "code", defaultTimeoutSec: app.config.execDefaultTimeoutSec)
        let sb = try ExecAPI.runningSandbox(app, id: ctx.param("id"), tenantID: c.tenantID)
        let answer = AsyncAnswer()
        try runCell(app, sb, code: req.command, language: lang!, request: req, notebook: true, actorID: c.keyID) { run, out, err, result in
            let lc = run.lifecycle
            answer.resolve(.ok(.object([
                "ok": .bool(lc.exitCode == 0 && !lc.timedOut), "stdout": .string(out.text), "stderr": .string(err.text),
                "result": result, "language": .string(lang!.rawValue), "exit_code": .int(lc.exitCode),
                "duration_ms": .int(Int64(run.durationMs)), "timed_out": .bool(lc.timedOut),
                "truncated": .bool(out.truncated || err.truncated),
            ])))
        }
        return answer.reply
    }

    /// Writes the cell, runs it, reads the final expression's value (`notebook`), cleans up, calls `done`.
    static func runCell(_ app: App, _ sb: SandboxRecord, code: String, language: Language, request: CommandRequest,
                        notebook: Bool, actorID: String?,
                        _ done: @escaping (CommandRun, OutputCapture, OutputCapture, JSON) -> Void) throws {
        let runtime = app.service(SandboxRuntime.self)!
        let name = ".miosa-cell-" + IDs.token("", length: 12)
        let hostDir = try SandboxPaths.materialize(app, sb.id) + "/tmp/" + name
        let sandboxDir = runtime.isolation.mode == .bwrap ? "/tmp/" + name : hostDir
        let ext = language == .python ? "py" : "js"
        do {
            try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
            try code.write(toFile: hostDir + "/cell." + ext, atomically: false, encoding: .utf8)
            if notebook {
                try (language == .python ? pythonRunner : nodeRunner).write(toFile: hostDir + "/run." + ext, atomically: false, encoding: .utf8)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: hostDir)
            throw APIError.internalError("Could not write the code cell into the sandbox: \(error).")
        }
        let program = language == .python ? "python3" : "node"
        var req = request
        req.command = notebook ? "\(program) \(shellQuote(sandboxDir + "/run." + ext)) \(shellQuote(sandboxDir))"
                               : "\(program) \(shellQuote(sandboxDir + "/cell." + ext))"
        do {
            try ExecAPI.runToCompletion(app, sb, req, actorID: actorID) { run, out, err in
                var result = JSON.null
                if let text = try? String(contentsOfFile: hostDir + "/result.json", encoding: .utf8) {
                    result = (try? JSON.parse(text)) ?? .string(text)
                }
                try? FileManager.default.removeItem(atPath: hostDir)
                done(run, out, err, result)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: hostDir)
            throw error
        }
    }

    /// Single-quotes a word for `sh -c`.
    static func shellQuote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Runs `cell.py` as `__main__`; a final expression's value goes to `result.json`; tracebacks omit this file.
    static let pythonRunner = #"""
        import ast, json, sys, traceback
        d = sys.argv[1]
        with open(d + "/cell.py", encoding="utf-8") as fh:
            src = fh.read()
        sys.argv = ["<cell>"]
        g = {"__name__": "__main__", "__builtins__": __builtins__}
        try:
            tree = ast.parse(src, "<cell>", "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, "<cell>", "exec"), g)
            if last is not None:
                v = eval(compile(last, "<cell>", "eval"), g)
                if v is not None:
                    try:
                        s = json.dumps(v)
                    except (TypeError, ValueError):
                        s = json.dumps(repr(v))
                    with open(d + "/result.json", "w", encoding="utf-8") as out:
                        out.write(s)
        except SystemExit:
            raise
        except BaseException:
            et, ev, tb = sys.exc_info()
            traceback.print_exception(et, ev, tb.tb_next)
            sys.exit(1)
        """#

    /// Runs `cell.js` in this context (so `require` works); a final expression's value (awaited when it is a
    /// promise) goes to `result.json`.
    static let nodeRunner = #"""
        const fs = require('fs'), vm = require('vm'), path = require('path');
        const d = process.argv[2];
        const code = fs.readFileSync(path.join(d, 'cell.js'), 'utf8');
        globalThis.require = require;
        const fail = (e) => { console.error(e && e.stack ? e.stack : String(e)); process.exitCode = 1; };
        let r;
        try { r = vm.runInThisContext(code, { filename: '<cell>' }); } catch (e) { fail(e); r = undefined; }
        if (!process.exitCode) Promise.resolve(r).then((v) => {
          if (v === undefined) return;
          let s;
          try { s = JSON.stringify(v); } catch (e) { s = undefined; }
          if (s === undefined) s = JSON.stringify(String(v));
          fs.writeFileSync(path.join(d, 'result.json'), s);
        }, fail);
        """#
}
