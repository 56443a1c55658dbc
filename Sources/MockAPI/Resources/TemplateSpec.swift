import Foundation

/// The sandbox template build spec (TS SDK `SandboxBuildSpec`): its JSON schema (served bare by
/// `GET /sandbox-templates/build-spec`) and a validator whose errors are plain strings (Go decodes
/// `errors` as `[]string`). camelCase and snake_case spellings are both accepted.
enum TemplateSpec {
    /// field → (JSON type, description)
    static let fields: [(String, String, String)] = [
        ("from", "string", "Base image or template id to build on (required), e.g. miosa-sandbox or python:3.12"),
        ("vcpu", "integer", "vCPUs, 1-16"),
        ("memoryMib", "integer", "Memory in MiB, 256-32768"),
        ("diskMib", "integer", "Disk in MiB, 1024-81920"),
        ("steps", "array", "Build steps: objects with one of run (shell command), copy {src, dest}, env {KEY: value}"),
        ("env", "object", "Environment variables baked into the image (string values)"),
        ("workdir", "string", "Working directory, default /workspace"),
        ("user", "string", "User commands run as"),
        ("startCmd", "string", "Command started when a sandbox boots"),
        ("readyCmd", "string", "Command whose success marks the sandbox ready"),
        ("previewPort", "integer", "Port the preview URL forwards to, 1-65535"),
        ("artifactPaths", "array", "Paths collected as build artifacts (strings)"),
    ]

    static func snake(_ camel: String) -> String {
        var out = ""
        for ch in camel { if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) } }
        return out
    }

    static var schema: JSON {
        var props = JSONObject()
        for (name, type, desc) in fields {
            var p: JSONObject = ["type": .string(type), "description": .string(desc)]
            if type == "array" && name == "artifactPaths" { p["items"] = .object(["type": .string("string")]) }
            if type == "array" && name == "steps" { p["items"] = .object(["type": .string("object")]) }
            if type == "object" { p["additionalProperties"] = .object(["type": .string("string")]) }
            props[name] = .object(p)
        }
        return .object([
            "$schema": .string("https://json-schema.org/draft/2020-12/schema"),
            "$id": .string("https://api.miosa.ai/schemas/sandbox-build-spec.json"),
            "title": .string("SandboxBuildSpec"), "type": .string("object"),
            "required": .array([.string("from")]), "properties": .object(props),
            "additionalProperties": .bool(false),
            "x-aliases": .string("every camelCase field is also accepted in snake_case (memory_mib, start_cmd, ...)"),
        ])
    }

    /// Every problem with `spec`, as `field: reason` strings; empty when valid.
    static func validate(_ spec: JSON?) -> [String] {
        guard let spec = spec else { return ["build_spec: is required"] }
        guard let o = spec.object else { return ["build_spec: must be an object"] }
        var errors: [String] = []
        var known: [String: String] = [:]
        for (name, _, _) in fields { known[name] = name; known[snake(name)] = name }
        for (k, _) in o where known[k] == nil { errors.append("\(k): is not a build spec field") }
        func value(_ name: String) -> JSON? { o[name] ?? o[snake(name)] }
        func int(_ name: String, _ range: ClosedRange<Int>) {
            guard let v = value(name), !v.isNull else { return }
            guard let n = v.int else { errors.append("\(name): must be an integer"); return }
            if !range.contains(n) { errors.append("\(name): must be between \(range.lowerBound) and \(range.upperBound)") }
        }
        func string(_ name: String) {
            guard let v = value(name), !v.isNull else { return }
            if v.string?.isEmpty != false { errors.append("\(name): must be a non-empty string") }
        }
        if value("from")?.string?.isEmpty != false { errors.append("from: is required (a base image or template id)") }
        int("vcpu", 1...16)
        int("memoryMib", 256...32768)
        int("diskMib", 1024...81920)
        int("previewPort", 1...65535)
        for s in ["workdir", "user", "startCmd", "readyCmd"] { string(s) }
        if let env = value("env"), !env.isNull {
            if let e = env.object {
                for (k, v) in e where v.string == nil || !EnvAPI.isValidKey(k) { errors.append("env.\(k): must be a string under a valid variable name") }
            } else { errors.append("env: must be an object of strings") }
        }
        if let a = value("artifactPaths"), !a.isNull, a.array?.allSatisfy({ $0.string != nil }) != true {
            errors.append("artifactPaths: must be an array of strings")
        }
        if let steps = value("steps"), !steps.isNull {
            if let list = steps.array {
                for (i, step) in list.enumerated() {
                    guard let s = step.object else { errors.append("steps[\(i)]: must be an object"); continue }
                    let kinds = ["run", "copy", "env", "workdir", "user"].filter { s[$0] != nil }
                    if kinds.isEmpty && s["type"]?.string == nil {
                        errors.append("steps[\(i)]: needs one of run, copy, env, workdir, user (or a type)")
                    }
                    if let r = s["run"], r.string?.isEmpty != false && r.array == nil { errors.append("steps[\(i)].run: must be a command string") }
                }
            } else { errors.append("steps: must be an array") }
        }
        return errors
    }
}

/// Seeds a new sandbox's `/workspace` from `fixtures/templates/<template_id>/`, looked up next to the
/// fixtures file in use, then under the working directory. Absent folders mean an empty workspace.
enum TemplateSeed {
    static func folder(_ app: App, template: String) -> String? {
        // Template ids come from the store, but a tenant picks its own: never let one walk the disk.
        let ok = !template.isEmpty && !template.hasPrefix(".") && template.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
        }
        guard ok else { return nil }
        var bases: [String] = []
        if let f = app.config.fixturesPath {
            let dir = (f as NSString).deletingLastPathComponent
            bases.append((dir.isEmpty ? "." : dir) + "/templates")
        }
        bases.append(FileManager.default.currentDirectoryPath + "/fixtures/templates")
        for b in bases where FilesIO.info(b + "/" + template)?.isDir == true { return b + "/" + template }
        return nil
    }
}
