"""SSE streams through the official Python SDK: sandbox events, tenant events, file watch.

Each stream is read in a daemon thread into a queue, so every wait is bounded. A stream only sees what
happens after it is connected, and the SDK gives no signal when that is, so the waits "poke" (repeat a
harmless action) until the first event shows the stream is live; assertions come after that.
"""
import json
import os
import queue
import threading
import time

import httpx
import pytest

from conftest import GENEROUS_LIMITS, KEY_A, KEY_A_READONLY, KEY_B, Server, unique

_END = object()


@pytest.fixture(scope="module")
def server():
    s = Server(extra_args=GENEROUS_LIMITS + ["--sse-heartbeat-ms", "300", "--watch-debounce-ms", "10"])
    yield s
    s.stop()


class Collector:
    """Iterates an SDK stream in a daemon thread; `wait_for` reads it with a deadline."""

    def __init__(self, make_stream):
        self.q = queue.Queue()
        self.error = None
        self.seen = []

        def run():
            try:
                for ev in make_stream():
                    self.q.put(ev)
            except Exception as e:  # the server stopping ends the thread this way
                self.error = e
            finally:
                self.q.put(_END)

        threading.Thread(target=run, daemon=True).start()

    def wait_for(self, pred, timeout=10.0, poke=None, poke_every=0.25):
        deadline = time.monotonic() + timeout
        next_poke = 0.0
        while time.monotonic() < deadline:
            if poke and time.monotonic() >= next_poke:
                poke()
                next_poke = time.monotonic() + poke_every
            try:
                ev = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if ev is _END:
                raise AssertionError(f"stream ended ({self.error!r}); saw {self.seen}")
            self.seen.append(ev)
            if pred(ev):
                return ev
        raise AssertionError(f"timed out; saw {self.seen}")

    def ended(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if ev is _END:
                return True
            self.seen.append(ev)
        return False


def test_sandbox_events_stream_sees_another_clients_action(server):
    sb = server.client().sandboxes.create(name=unique("ev"))
    other = server.client().sandboxes.get(sb.id)
    events = Collector(lambda: sb.events.stream())
    counter = iter(range(1000))
    first = events.wait_for(lambda e: e["type"] == "sandbox.updated",
                            poke=lambda: other.update(metadata={"poke": str(next(counter))}))
    payload = json.loads(first["data"])
    assert payload["type"] == "sandbox.updated" and payload["sandbox_id"] == sb.id
    assert payload["id"] == first["id"] and int(first["id"]) > 0
    assert payload["data"]["id"] == sb.id

    other.stop()
    stopped = events.wait_for(lambda e: e["type"] == "sandbox.stopped")
    assert int(stopped["id"]) > int(first["id"])
    assert json.loads(stopped["data"])["data"]["state"] == "stopped"
    ids = [int(e["id"]) for e in events.seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    other.destroy()
    events.wait_for(lambda e: e["type"] == "sandbox.destroyed")
    assert events.ended(), "a sandbox's stream ends once the sandbox is destroyed"


def test_tenant_event_stream_filters_by_type_and_tenant(server):
    client = server.client()
    stream = Collector(lambda: client.events.stream(types=["sandbox.ready"]))
    created = []

    def poke():
        server.client(KEY_B).sandboxes.create(name=unique("b"))  # tenant B: never visible to A
        created.append(server.client().sandboxes.create(name=unique("t")).id)

    ev = stream.wait_for(lambda e: e.get("type") == "sandbox.ready", poke=poke, poke_every=0.5)
    assert ev["sandbox_id"] in created
    assert ev["_event_type"] == "message"  # the SDK's known quirk: the type has to be in the JSON
    assert all(e.get("type") == "sandbox.ready" and e["sandbox_id"] in created for e in stream.seen)
    assert all(e["tenant_id"] == ev["tenant_id"] for e in stream.seen)


def test_tenant_admin_stream_with_scope(server):
    client = server.client()
    user = unique("usr")
    stream = Collector(lambda: client.tenant.events.stream(types=["sandbox.*"], scope=f"external_user:{user}"))
    ev = stream.wait_for(lambda e: True, poke=lambda: (client.sandboxes.create(name=unique("noise")),
                                                       client.sandboxes.create(name=unique("u"), external_user_id=user)),
                         poke_every=0.5)
    assert ev["type"].startswith("sandbox.")
    assert ev["data"]["external_user_id"] == user


def test_stream_errors_are_enveloped(server):
    with server.http(KEY_A_READONLY) as ro:
        r = ro.get("/events/stream")
        assert r.status_code == 403 and r.json()["error"]["code"]
    with server.http() as h:
        r = h.get("/tenant/events/stream", params={"scope": "galaxy:1"})
        assert r.status_code == 422 and "scope" in r.json()["error"]["details"]
        r = h.get("/sandboxes/00000000-0000-4000-8000-000000000000/events")
        assert r.status_code == 404 and r.headers["x-request-id"]


def test_last_event_id_replays_then_goes_live(server):
    sb = server.client().sandboxes.create(name=unique("replay"))
    sb.update(metadata={"step": "1"})
    url = f"{server.base_url}/sandboxes/{sb.id}/events"
    headers = {"Authorization": f"Bearer {KEY_A}", "Accept": "text/event-stream", "Last-Event-ID": "0"}
    with httpx.stream("GET", url, headers=headers, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        names = []
        for line in r.iter_lines():
            if line.startswith("event: "):
                names.append(line[7:])
            if len(names) == 3:
                break
        assert names == ["sandbox.created", "sandbox.ready", "sandbox.updated"]


def test_files_watch_sees_disk_writes(server):
    sb = server.client().sandboxes.create(name=unique("watch"))
    ws = os.path.join(server.data_dir, "sandboxes", sb.id, "workspace")
    # A sandbox's directories are made on its first file call, exec or watch, not at create.
    assert not os.path.exists(ws)
    sb.files.write("/workspace/first.txt", "x")
    assert os.path.isdir(ws)
    watch = Collector(lambda: sb.files.watch())
    counter = iter(range(1000))

    def poke():
        with open(os.path.join(ws, f"probe-{next(counter)}.txt"), "w") as f:
            f.write("x")

    # The first probe may predate the watch (then it is reported as modified); once any probe is seen the
    # watch is live, and a file written from then on must be reported as created.
    watch.wait_for(lambda e: e.path.startswith("/workspace/probe-"), poke=poke)
    with open(os.path.join(ws, "fresh.txt"), "w") as f:
        f.write("x")
    fresh = watch.wait_for(lambda e: e.path == "/workspace/fresh.txt")
    assert fresh.event == "created" and fresh.is_dir is False

    def next_for(path, kind):
        return watch.wait_for(lambda e: e.path == path and e.event == kind)

    app = os.path.join(ws, "app.py")
    with open(app, "w") as f:
        f.write("print('hi')\n")
    next_for("/workspace/app.py", "created")
    time.sleep(0.05)  # beyond the debounce window: a separate change
    with open(app, "a") as f:
        f.write("print('again')\n")
    next_for("/workspace/app.py", "modified")
    os.makedirs(os.path.join(ws, "src"))
    os.rename(app, os.path.join(ws, "src", "main.py"))
    moved = watch.wait_for(lambda e: e.event == "renamed")
    assert moved.path == "/workspace/src/main.py" and moved.old_path == "/workspace/app.py"
    os.remove(os.path.join(ws, "src", "main.py"))
    next_for("/workspace/src/main.py", "deleted")
    sb.destroy()
    assert watch.ended(), "destroying the sandbox ends its watch streams"
