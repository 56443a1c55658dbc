#!/usr/bin/env python3
"""Stream benchmarks for a running miosa-mock (standard library only).

    bench/streams.py BASE_URL API_KEY DATA_DIR [--writes N] [--subscribers N] [--rounds N]

1. File watch latency: one `GET /sandboxes/{id}/files/watch` stream; N files written one at a time straight
   into `DATA_DIR/sandboxes/<id>/workspace`; time from each write to its `created` frame at the client.
   The server's debounce window (`--watch-debounce-ms`, default 20) is part of every figure, on purpose.
2. Fan-out: N subscribers on `GET /sandboxes/{id}/events` (raw sockets, one select loop); one PATCH per
   round; time from sending the PATCH to each subscriber's `sandbox.updated` frame. The client is one
   Python thread reading N sockets, so its own pace is part of the tail.

Prints figures, then one JSON line. The server must not run with --memory (the data dir is written to),
and needs `--rate-limit off` (N subscribers are N requests within a minute).
Only loopback addresses are allowed.
"""
import argparse
import json
import os
import resource
import selectors
import socket
import statistics
import sys
import time
import urllib.parse
import urllib.request

DEADLINE_S = 5.0


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


class API:
    def __init__(self, base, key):
        base = base.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        self.base, self.key = base, key
        u = urllib.parse.urlparse(base)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("bench/streams.py: only loopback servers are benchmarked")
        self.host, self.port, self.prefix = u.hostname, u.port or 80, u.path

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def open_stream(self, path):
        """A connected socket with the SSE request sent and the response head read."""
        s = socket.create_connection((self.host, self.port), timeout=10)
        s.sendall((f"GET {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.key}\r\n"
                   f"Accept: text/event-stream\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("stream closed before its head")
            head += chunk
        status = head.split(b" ", 2)[1]
        if status == b"429":
            sys.exit("bench/streams.py: rate limited; run the server with --rate-limit off")
        if status != b"200":
            raise RuntimeError(f"stream answered {status.decode()}: {head[:200]!r}")
        return s, head.split(b"\r\n\r\n", 1)[1]


def bench_watch(api, data_dir, sandbox_id, writes):
    ws = os.path.join(data_dir, "sandboxes", sandbox_id, "workspace")
    # A sandbox's directories are made on first use: list the workspace through the API first.
    api.call("GET", f"/sandboxes/{sandbox_id}/files?path=/workspace")
    if not os.path.isdir(ws):
        sys.exit(f"bench/streams.py: {ws} does not exist (is DATA_DIR the server's --data-dir, without --memory?)")
    sock, buf = api.open_stream(f"/sandboxes/{sandbox_id}/files/watch?path=/workspace")
    sock.settimeout(0.2)
    # The stream is live once a probe shows up.
    probe = 0
    while True:
        probe += 1
        with open(os.path.join(ws, f"probe-{probe}.txt"), "w") as f:
            f.write("p")
        try:
            buf += sock.recv(65536)
        except socket.timeout:
            pass
        if b'"created"' in buf or probe > 50:
            break
    sock.settimeout(DEADLINE_S)
    latencies, missed = [], 0
    for i in range(writes):
        marker = f'"path":"/workspace/bench-{i}.txt"'.encode()
        buf = b""
        t0 = time.perf_counter()
        with open(os.path.join(ws, f"bench-{i}.txt"), "w") as f:
            f.write("x" * 64)
        deadline = t0 + DEADLINE_S
        while marker not in buf and time.perf_counter() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        if marker in buf:
            latencies.append((time.perf_counter() - t0) * 1000)
        else:
            missed += 1
    sock.close()
    return latencies, missed


def raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bench_fanout(api, sandbox_id, subscribers, rounds):
    limit = raise_nofile(subscribers + 256)
    subscribers = min(subscribers, max(1, limit - 128))
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(subscribers):
        s, rest = api.open_stream(f"/sandboxes/{sandbox_id}/events")
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, len(socks) - 1)
    marker = b"event: sandbox.updated"
    all_lat, per_round = [], []
    for r in range(rounds):
        tails = [b""] * subscribers
        done = [None] * subscribers
        t0 = time.perf_counter()
        api.call("PATCH", f"/sandboxes/{sandbox_id}", {"metadata": {"round": str(r)}})
        remaining = subscribers
        deadline = t0 + DEADLINE_S * 2
        while remaining and time.perf_counter() < deadline:
            for key, _ in sel.select(timeout=0.5):
                i = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if done[i] is None:
                    data = tails[i] + chunk
                    if marker in data:
                        done[i] = (time.perf_counter() - t0) * 1000
                        remaining -= 1
                    tails[i] = data[-len(marker):]
        got = [d for d in done if d is not None]
        all_lat += got
        per_round.append({"delivered": len(got), "p99_ms": pct(got, 99)})
        time.sleep(0.05)
    for s in socks:
        s.close()
    return subscribers, all_lat, per_round


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url")
    ap.add_argument("api_key")
    ap.add_argument("data_dir")
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    api = API(a.base_url, a.api_key)
    writes = max(1, min(a.writes, 5000))
    subs = max(1, min(a.subscribers, 10000))
    rounds = max(1, min(a.rounds, 100))

    sandbox = api.call("POST", "/sandboxes", {"name": f"bench-streams-{os.getpid()}"})["data"]["id"]
    try:
        lat, missed = bench_watch(api, a.data_dir, sandbox, writes)
        print(f"file watch: {len(lat)} writes, p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, "
              f"max {max(lat):.2f} ms, missed {missed}" if lat else f"file watch: no events ({missed} missed)")
        n, fan, rounds_info = bench_fanout(api, sandbox, subs, rounds)
        expected = n * rounds
        print(f"fan-out: {n} subscribers x {rounds} rounds, delivered {len(fan)}/{expected}, "
              f"p50 {pct(fan, 50):.2f} ms, p99 {pct(fan, 99):.2f} ms, max {max(fan):.2f} ms" if fan else "fan-out: nothing delivered")
    finally:
        try:
            api.call("DELETE", f"/sandboxes/{sandbox}")
        except Exception:
            pass
    result = {
        "bench": "streams",
        "watch_writes": writes, "watch_missed": missed,
        "watch_p50_ms": round(pct(lat, 50), 3) if lat else None,
        "watch_p99_ms": round(pct(lat, 99), 3) if lat else None,
        "watch_mean_ms": round(statistics.mean(lat), 3) if lat else None,
        "fanout_subscribers": n, "fanout_rounds": rounds,
        "fanout_delivered": len(fan), "fanout_expected": expected,
        "fanout_p50_ms": round(pct(fan, 50), 3) if fan else None,
        "fanout_p99_ms": round(pct(fan, 99), 3) if fan else None,
        "fanout_max_ms": round(max(fan), 3) if fan else None,
    }
    print(json.dumps(result))
    ok = missed == 0 and len(fan) == expected
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
