#!/usr/bin/env python3
"""Measuring helpers for scripts/bench (standard library only, loopback only, every wait bounded).

Subcommands:
  free-port                         print a free TCP port on 127.0.0.1
  wait-http URL [--timeout S]       poll until URL answers 200; print the milliseconds it took
  request METHOD URL [-H K:V] [--data BODY] [--show-headers]
                                    one request; print the body (and headers), exit 1 unless 2xx
  seed-sandboxes BASE KEY N         create N sandboxes; print the id of the first
  cold-start --url U --runs N -- CMD...
                                    N times: spawn CMD ({port} and {dir} are replaced by a fresh port and
                                    temp dir), time spawn → first 200 from U, stop it; print JSON
  rss PID                           print JSON with the RSS of PID and its descendants (kB)
  conns --pid P --url U --n N       open N keep-alive connections, one request each, hold them idle,
                                    print JSON with the RSS before and while they are held
  report --in JSONL --out JSON      render the Markdown tables and write results.json (--in may also be a
                                    results.json written before: it keeps the raw rows and is re-rendered)
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse


# ---------------------------------------------------------------- small HTTP client (raw sockets)

def _split(url):
    u = urllib.parse.urlsplit(url)
    assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only: " + url
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    return u.hostname, u.port or 80, target


def _read_response(sock, deadline):
    """Reads one HTTP/1.1 response (Content-Length or chunked); returns (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()

    def more():
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        c = sock.recv(65536)
        if not c:
            raise ConnectionError("closed mid-body")
        return c

    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            rest += more()
        return status, headers, rest[:n]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += more()
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += more()
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, headers, body
    # No length: read to close (HTTP/1.0 style servers).
    try:
        while True:
            rest += more()
    except ConnectionError:
        pass
    return status, headers, rest


def http(method, url, headers=None, body=None, timeout=5.0):
    host, port, target = _split(url)
    data = body.encode() if isinstance(body, str) else (body or b"")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if data or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(data)}")
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        return _read_response(s, deadline)


def probe(url, timeout=0.5, headers=None):
    """Status of GET url, or None when nothing answers yet."""
    try:
        return http("GET", url, headers, timeout=timeout)[0]
    except (OSError, ConnectionError, ValueError, IndexError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes and memory

def _children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def tree_rss_kb(pid):
    """VmRSS of pid plus all its descendants (nginx: master + worker)."""
    kids = _children()
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(kids.get(p, []))
    return total, len(seen)


def stop(proc, grace=5.0):
    """SIGTERM the process group, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


# ---------------------------------------------------------------- subcommands

def _headers(pairs):
    return dict((k.strip(), v.strip()) for k, v in (h.split(":", 1) for h in pairs))


def cmd_cold_start(a):
    hdrs = _headers(a.header)
    runs, failures = [], []
    for i in range(a.runs):
        port = free_port()
        d = tempfile.mkdtemp(prefix="bench-cold-")
        def fill(x):
            return x.replace("{port}", str(port)).replace("{dir}", d)
        for t in a.template:  # SRC:DST, e.g. an nginx config naming the port
            src, dst = t.split(":", 1)
            with open(src) as f, open(fill(dst), "w") as g:
                g.write(fill(f.read()))
        argv = [fill(x) for x in a.cmd]
        url = a.url.replace("{port}", str(port))
        log = open(os.path.join(d, "log"), "wb")
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=d)
        deadline = time.monotonic() + a.timeout
        ms = None
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if probe(url, timeout=1.0, headers=hdrs) == 200:
                    ms = (time.perf_counter() - t0) * 1000
                    break
                time.sleep(0.001)
        finally:
            stop(proc)
            log.close()
            if ms is None:
                with open(os.path.join(d, "log"), "rb") as f:
                    failures.append(f.read()[-400:].decode("utf-8", "replace"))
            shutil.rmtree(d, ignore_errors=True)
        if ms is None:
            break  # one failure is enough to report; do not spend minutes on a broken peer
        runs.append(round(ms, 1))
    out = {"runs": runs, "median_ms": round(statistics.median(runs), 1) if runs else None}
    if failures:
        out["error"] = failures[0].strip().splitlines()[-1] if failures[0].strip() else "did not answer 200"
    print(json.dumps(out))


def cmd_conns(a):
    host, port, target = _split(a.url)
    before, _ = tree_rss_kb(a.pid)
    socks, failed = [], 0
    deadline = time.monotonic() + a.timeout
    req = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    for k, v in (h.split(":", 1) for h in a.header):
        req += f"{k.strip()}: {v.strip()}\r\n".encode()
    req += b"\r\n"
    for _ in range(a.n):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(req)
            _read_response(s, time.monotonic() + 5)
            socks.append(s)
        except (OSError, ConnectionError, ValueError, IndexError):
            failed += 1
    time.sleep(a.settle)
    # Count the connections the server still holds open (a closed one reads EOF at once).
    still = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue
            still += 1
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    during, nproc = tree_rss_kb(a.pid)
    for s in socks:
        s.close()
    print(json.dumps({"requested": a.n, "opened": len(socks), "held_open": still, "failed": failed,
                      "rss_before_kb": before, "rss_kb": during, "delta_kb": during - before, "processes": nproc}))


def cmd_seed(a):
    first = None
    for i in range(a.n):
        status, _, body = http("POST", a.base + "/sandboxes", {"Authorization": "Bearer " + a.key,
                                                              "Content-Type": "application/json"},
                               json.dumps({"name": f"bench-{i}", "metadata": {"bench": "seed"}}))
        if status != 201:
            sys.exit(f"seeding failed: {status} {body[:200]!r}")
        if first is None:
            first = json.loads(body)["data"]["id"]
    print(first)


def cmd_request(a):
    headers = _headers(a.header)
    status, h, body = http(a.method, a.url, headers, a.data, timeout=a.timeout)
    if a.show_headers:
        print(f"HTTP {status}")
        for k, v in h.items():
            print(f"{k}: {v}")
        print()
    sys.stdout.write(body.decode("utf-8", "replace"))
    sys.exit(0 if 200 <= status < 300 else 1)


def cmd_wait(a):
    hdrs = _headers(a.header)
    t0 = time.perf_counter()
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if probe(a.url, timeout=1.0, headers=hdrs) == 200:
            print(round((time.perf_counter() - t0) * 1000, 1))
            return
        time.sleep(0.01)
    sys.exit(f"{a.url} did not answer 200 within {a.timeout} s")


def cmd_rss(a):
    kb, n = tree_rss_kb(a.pid)
    print(json.dumps({"rss_kb": kb, "processes": n}))


# ---------------------------------------------------------------- report

def _fmt(x, nd=1):
    return "n/a" if x is None else f"{x:,.{nd}f}"


def _ratio(a, b):
    return None if not a or not b else round(a / b, 2)


def valid(x):
    """A run whose failed answers (non-2xx, connect/read/write errors; not timeouts) stay under 1 %."""
    e = x.get("errors", {})
    failed = sum(v for k, v in e.items() if k != "timeout")
    return bool(x.get("rps")) and failed <= 0.01 * max(1, x.get("requests", 0))


def cmd_report(a):
    source = open(a.inp).read()
    try:
        rows = json.loads(source)["raw"]  # a results.json written before: re-render it
    except (ValueError, KeyError, TypeError):
        rows = [json.loads(l) for l in source.splitlines() if l.strip()]
    meta = next((r for r in rows if r["kind"] == "meta"), {})
    loads = [r for r in rows if r["kind"] == "load"]
    starts = {r["server"]: r for r in rows if r["kind"] == "start"}
    mems = {}
    for r in rows:
        if r["kind"] in ("rss_idle", "conns", "rss_after_load"):
            mems.setdefault(r["server"], {})[r["kind"]] = r
    notes = [r["text"] for r in rows if r["kind"] == "note"]
    extras = {r["name"]: r["data"] for r in rows if r["kind"] == "extra"}

    # Several rounds: keep the median round of each (server, workload) by req/s.
    grouped = {}
    for r in loads:
        grouped.setdefault((r["server"], r["workload"]), []).append(r)
    merged = []
    for (server, workload), rs in grouped.items():
        ok = [r for r in rs if r.get("rps")]
        pick = sorted(ok, key=lambda r: r["rps"])[len(ok) // 2] if ok else rs[0]
        m = dict(pick)
        m["rounds"] = [r.get("rps") for r in rs]
        m["seq"] = min(r.get("seq", 0) for r in rs)
        merged.append(m)

    def best(server, workload):
        return next((r for r in merged if r["server"] == server and r["workload"] == workload), None)

    nginx = best("nginx", "get")
    nginx_rps = nginx.get("rps") if nginx else None
    for r in merged:
        # A run where more than 1 % of the answers were errors measured the error path, not the workload.
        # (Timeouts, answers slower than wrk's 2 s, are counted in the error column but keep the row.)
        nerr = sum(r.get("errors", {}).values())
        r["error_count"] = nerr
        if r.get("rps") and not valid(r):
            r["invalid"] = f"{nerr - r.get('errors', {}).get('timeout', 0)} of {r['requests']} requests failed"
            r["rps_measured"] = r.pop("rps")
    peers = [r for r in merged if r.get("peer") and r.get("rps")]
    fastest = {}
    for kind in ("read", "write"):
        c = [r for r in peers if r["class"] == kind]
        fastest[kind] = max(c, key=lambda r: r["rps"]) if c else None
    # Ratios pair runs of the same round (the machine's load drifts between rounds), then take the median;
    # write workloads pair with the read round of the same number.

    def per_round(server, workload):
        return {x.get("round", 1): x["rps"] for x in grouped.get((server, workload), []) if valid(x)}
    nginx_rounds = per_round("nginx", "get")
    peer_rounds = {}
    for (server, workload), rs in grouped.items():
        for x in rs:
            if x.get("peer") and valid(x):
                key = (x["class"], x.get("round", 1))
                if x["rps"] > peer_rounds.get(key, {}).get("rps", 0):
                    peer_rounds[key] = x
    for r in merged:
        mine = per_round(r["server"], r["workload"]) if r.get("rps") else {}
        xs = [v / nginx_rounds[k] for k, v in mine.items() if k in nginx_rounds]
        r["x_nginx"] = round(statistics.median(xs), 2) if xs else _ratio(r.get("rps"), nginx_rps)
        r["x_nginx_rounds"] = [round(x, 3) for x in xs]
        fp = fastest.get(r.get("class"))
        if fp and r["server"] == "miosa-mock" and r.get("rps"):
            ys = [v / peer_rounds[(r["class"], k)]["rps"] for k, v in mine.items() if (r["class"], k) in peer_rounds]
            r["x_fastest_peer"] = round(statistics.median(ys), 2) if ys else _ratio(r.get("rps"), fp["rps"])
            r["x_fastest_peer_rounds"] = [round(y, 3) for y in ys]
            r["fastest_peer"] = f'{fp["server"]} {fp["workload"]}'
        else:
            r["x_fastest_peer"] = None
            r["fastest_peer"] = None

    out = []
    out.append(f"miosa-mock bench, {meta.get('date', '?')}, {meta.get('cores', '?')} cores, "
               f"wrk -t{meta.get('threads')} -c{meta.get('connections')} -d{meta.get('duration')} "
               f"(warm-up {meta.get('warmup')}), rounds {meta.get('rounds')}, loopback")
    out.append("")
    multi = any(len(r.get("rounds", [])) > 1 for r in merged)
    out.append("| server | workload | req/s | p50 ms | p99 ms | × nginx | × fastest peer | non-2xx/errors |"
               + (" req/s per round |" if multi else ""))
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" --- |" if multi else ""))
    order = ["nginx", "miosa-mock", "wiremock", "moto", "localstripe"]
    merged.sort(key=lambda r: (order.index(r["server"]) if r["server"] in order else 99, r.get("seq", 0)))
    for r in merged:
        if r.get("skipped"):
            out.append(f"| {r['server']} | {r['label']} | skipped: {r['skipped']} | | | | | |" + (" |" if multi else ""))
            continue
        if r.get("invalid"):
            out.append(f"| {r['server']} | {r['label']} | invalid: {r['invalid']} | | | | | {r['error_count']} |" + (" |" if multi else ""))
            continue
        err = r.get("errors", {})
        nerr = sum(err.values()) if err else 0
        spread = (" " + ", ".join(_fmt(x, 0) for x in r.get("rounds", []) if x) + " |") if multi else ""
        out.append(f"| {r['server']} | {r['label']} | {_fmt(r.get('rps'), 0)} | {_fmt(r.get('p50_us', 0) / 1000, 2)} | "
                   f"{_fmt(r.get('p99_us', 0) / 1000, 2)} | {_fmt(r.get('x_nginx'), 2)} | "
                   f"{_fmt(r.get('x_fastest_peer'), 2) if r.get('x_fastest_peer') is not None else ''} | {nerr} |{spread}")
    out.append("")
    out.append("| server | cold start to first 200 (median) | idle RSS | RSS with 1000 idle keep-alive conns | conns held open |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    servers = [s for s in order if s in starts or s in mems] + [s for s in list(starts) + list(mems) if s not in order]
    seen = set()
    for s in servers:
        if s in seen:
            continue
        seen.add(s)
        st = starts.get(s, {})
        m = mems.get(s, {})
        cold = (f"{_fmt(st.get('median_ms'))} ms (n={len(st.get('runs', []))})" if st.get("median_ms") is not None
                else ("n/a: " + st.get("error", "not run")) if st else "not run")
        idle = m.get("rss_idle", {}).get("rss_kb")
        c = m.get("conns")
        conn_txt = (f"{_fmt(c['rss_kb'] / 1024)} MB (+{_fmt(c['delta_kb'] / 1024)} MB)" if c else "not run")
        held = f"{c['held_open']}/{c['requested']}" if c else ""
        out.append(f"| {s} | {cold} | {_fmt(idle / 1024) + ' MB' if idle else 'n/a'} | {conn_txt} | {held} |")
    for s, m in mems.items():
        if "rss_after_load" in m:
            notes.append(f"{s}: RSS after the load runs {_fmt(m['rss_after_load']['rss_kb'] / 1024)} MB")

    # Goals (issue 2 and issue 8).
    ours = {w: best("miosa-mock", w) for w in ("get", "create", "list", "replay")}
    st = starts.get("miosa-mock", {})
    mm = mems.get("miosa-mock", {})
    goals = []

    def goal(name, target, value, ok, shown):
        goals.append({"goal": name, "target": target, "measured": value, "met": ok, "shown": shown})

    for w, name in (("get", "GET sandbox"), ("create", "durable create")):
        r = ours[w]
        if r and (r.get("invalid") or r.get("skipped")):
            goal(f"{name} (run invalid)", "a valid run", None, False, r.get("invalid") or r.get("skipped"))
    g = ours["get"]
    fp = fastest["read"]
    if g and g.get("x_nginx") is not None:
        goal("GET sandbox vs nginx", "≥ 0.5×", g["x_nginx"], g["x_nginx"] >= 0.5, f"{g['x_nginx']:.2f}×")
    if g and g.get("x_fastest_peer") is not None:
        goal("GET sandbox vs fastest peer", "≥ 3×", g["x_fastest_peer"], g["x_fastest_peer"] >= 3,
             f"{g['x_fastest_peer']:.2f}× ({fp['server']})")
    c = ours["create"]
    if c and c.get("x_nginx") is not None:
        goal("durable create vs nginx", "≥ 0.1×", c["x_nginx"], c["x_nginx"] >= 0.1, f"{c['x_nginx']:.2f}×")
    if st.get("median_ms") is not None:
        goal("cold start to /_mock/health 200", "≤ 150 ms", st["median_ms"], st["median_ms"] <= 150, f"{st['median_ms']} ms")
    if "rss_idle" in mm:
        v = mm["rss_idle"]["rss_kb"] / 1024
        goal("idle RSS", "≤ 30 MB", round(v, 1), v <= 30, f"{v:.1f} MB")
    if "conns" in mm:
        v = mm["conns"]["delta_kb"] / 1024
        held = mm["conns"]["held_open"]
        goal("1000 idle connections", "≤ +50 MB", round(v, 1), v <= 50 and held >= 1000,
             f"+{v:.1f} MB ({held} held)")
    out.append("")
    out.append("| goal | target | measured | met |")
    out.append("| --- | --- | --- | --- |")
    for x in goals:
        out.append(f"| {x['goal']} | {x['target']} | {x['shown']} | {'yes' if x['met'] else 'NO'} |")

    if extras:
        out.append("")
        for name, data in extras.items():
            out.append(f"{name}: {json.dumps(data)}")
    if notes:
        out.append("")
        out.extend(f"- {n}" for n in notes)
    text = "\n".join(out)
    print(text)

    doc = {"meta": meta, "loads": merged, "starts": starts, "memory": mems, "goals": goals,
           "extras": extras, "notes": notes, "table_markdown": text, "raw": rows}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="sub", required=True)
    sub.add_parser("free-port").set_defaults(fn=lambda a: print(free_port()))
    s = sub.add_parser("wait-http"); s.add_argument("url"); s.add_argument("--timeout", type=float, default=30)
    s.add_argument("-H", "--header", action="append", default=[])
    s.set_defaults(fn=cmd_wait)
    s = sub.add_parser("request"); s.add_argument("method"); s.add_argument("url")
    s.add_argument("-H", "--header", action="append", default=[]); s.add_argument("--data")
    s.add_argument("--show-headers", action="store_true"); s.add_argument("--timeout", type=float, default=10)
    s.set_defaults(fn=cmd_request)
    s = sub.add_parser("seed-sandboxes"); s.add_argument("base"); s.add_argument("key"); s.add_argument("n", type=int)
    s.set_defaults(fn=cmd_seed)
    s = sub.add_parser("cold-start"); s.add_argument("--url", required=True); s.add_argument("--runs", type=int, default=10)
    s.add_argument("--timeout", type=float, default=30); s.add_argument("-H", "--header", action="append", default=[])
    s.add_argument("--template", action="append", default=[], help="SRC:DST copied with {port} and {dir} filled in")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_cold_start)
    s = sub.add_parser("rss"); s.add_argument("pid", type=int); s.set_defaults(fn=cmd_rss)
    s = sub.add_parser("conns"); s.add_argument("--pid", type=int, required=True); s.add_argument("--url", required=True)
    s.add_argument("--n", type=int, default=1000); s.add_argument("-H", "--header", action="append", default=[])
    s.add_argument("--settle", type=float, default=1.0); s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=cmd_conns)
    s = sub.add_parser("report"); s.add_argument("--in", dest="inp", required=True); s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_report)
    a = p.parse_args()
    if a.sub == "cold-start" and a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    a.fn(a)


if __name__ == "__main__":
    main()
