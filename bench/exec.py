#!/usr/bin/env python3
"""Exec latency: `POST /sandboxes/{id}/exec {"command": "true"}` against spawning the same thing directly.

Usage: bench/exec.py BASE_URL API_KEY [--runs N] [--warmup N]
  BASE_URL like http://127.0.0.1:8787/api/v1 (a URL without /api/v1 gets it appended).

The floor is what one command costs without HTTP, JSON or the server: `bwrap <the server's flags> sh -c true`
spawned from here (or `sh -c true` when the server runs without bwrap), timed the same way. Prints p50/p99 of
both and their ratio, then one JSON line (the last line of output) for scripts/bench.
Needs only the standard library and httpx (the contract venv has it). Everything stays on loopback.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

MAX_RUNS = 5000


def percentile(values, p):
    s = sorted(values)
    if not s:
        return 0.0
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def bwrap_argv(bwrap, root, shell):
    """The same arguments the server's Isolation.bwrapArguments builds (Sources/MockAPI/Sandbox/Isolation.swift)."""
    a = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
         "--ro-bind", "/usr", "/usr"]
    for d in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]:
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    a += ["--ro-bind", "/etc", "/etc"]
    if os.path.isdir("/opt"):
        a += ["--ro-bind", "/opt", "/opt"]
    a += ["--proc", "/proc", "--dev", "/dev", "--bind", root + "/tmp", "/tmp", "--bind", root + "/home", "/home/user",
          "--bind", root + "/workspace", "/workspace", "--chdir", "/workspace"]
    return a + [shell, "-c", "true"]


def time_floor(argv, runs, warmup, cwd, shell, bwrap_mode):
    # The environment the server gives a command (Isolation.environment), so the shell does the same work.
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/home/user" if bwrap_mode else os.path.dirname(cwd) + "/home",
           "TMPDIR": "/tmp" if bwrap_mode else os.path.dirname(cwd) + "/tmp",
           "USER": "user", "LOGNAME": "user", "SHELL": shell, "LANG": "C.UTF-8", "TERM": "xterm",
           "PWD": "/workspace" if bwrap_mode else cwd, "MIOSA_SANDBOX": "1", "PYTHONUNBUFFERED": "1"}
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=True)
        if i >= warmup:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url")
    ap.add_argument("key")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    runs = max(1, min(args.runs, MAX_RUNS))
    warmup = max(0, min(args.warmup, 100))
    base = args.base_url.rstrip("/")
    if not base.rsplit("/", 1)[-1].startswith("v"):
        base += "/api/v1"

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {args.key}"}, timeout=60) as c:
        r = c.post("/sandboxes", json={"name": f"bench-exec-{time.time_ns()}"})
        r.raise_for_status()
        sid = r.json()["data"]["id"]
        try:
            probe = c.post(f"/sandboxes/{sid}/exec", json={"command": "pwd"}).json()["data"]
            mode = "bwrap" if probe["stdout"] == "/workspace\n" else "none"
            api = []
            for i in range(warmup + runs):
                t0 = time.perf_counter()
                resp = c.post(f"/sandboxes/{sid}/exec", json={"command": "true"})
                elapsed = (time.perf_counter() - t0) * 1000
                if resp.status_code != 200 or resp.json()["data"]["exit_code"] != 0:
                    sys.exit(f"exec failed: {resp.status_code} {resp.text[:200]}")
                if i >= warmup:
                    api.append(elapsed)
        finally:
            c.delete(f"/sandboxes/{sid}")

    shell = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as root:
        for sub in ("workspace", "tmp", "home"):
            os.makedirs(os.path.join(root, sub))
        bwrap = shutil.which("bwrap")
        if mode == "bwrap" and bwrap:
            floor_argv, floor_name = bwrap_argv(bwrap, root, shell), "bwrap ... sh -c true"
        else:
            floor_argv, floor_name = [shell, "-c", "true"], "sh -c true"
        floor = time_floor(floor_argv, runs, warmup, os.path.join(root, "workspace"), shell,
                           floor_argv[0] != shell)

    a50, a99 = percentile(api, 50), percentile(api, 99)
    f50, f99 = percentile(floor, 50), percentile(floor, 99)
    print(f"isolation: {mode}; runs: {runs} (after {warmup} warm-up)")
    print(f"exec via API    p50 {a50:7.2f} ms  p99 {a99:7.2f} ms  mean {statistics.mean(api):7.2f} ms")
    print(f"{floor_name:<15} p50 {f50:7.2f} ms  p99 {f99:7.2f} ms  mean {statistics.mean(floor):7.2f} ms")
    print(f"ratio (API / direct spawn): p50 {a50 / f50:.2f}x  p99 {a99 / f99:.2f}x")
    print(json.dumps({"bench": "exec", "isolation": mode, "runs": runs,
                      "api_p50_ms": round(a50, 3), "api_p99_ms": round(a99, 3),
                      "floor_p50_ms": round(f50, 3), "floor_p99_ms": round(f99, 3),
                      "ratio_p50": round(a50 / f50, 3), "ratio_p99": round(a99 / f99, 3)}))


if __name__ == "__main__":
    main()
