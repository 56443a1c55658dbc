"""Idempotency-Key through the official Python SDK and httpx: replay, mismatch, in-progress, expiry, restart, retries."""
import threading
import uuid

import pytest
from miosa.errors import ValidationError

from conftest import KEY_B, unique


@pytest.fixture(autouse=True)
def no_faults(server):
    with server.control() as c:
        c.delete("/_mock/faults")
    yield
    with server.control() as c:
        c.delete("/_mock/faults")


def named(client, name):
    return [s for s in client.sandboxes.list() if s.name == name]


def test_sdk_create_twice_with_one_key_makes_one_sandbox(client):
    name, key = unique("idem"), str(uuid.uuid4())
    a = client.sandboxes.create(name=name, idempotency_key=key)
    b = client.sandboxes.create(name=name, idempotency_key=key)
    assert a.id == b.id
    assert len(named(client, name)) == 1


def test_replay_is_byte_for_byte_with_replay_headers(server, http):
    key = uuid.uuid4().hex  # the Go SDK's 32-hex shape
    body = {"name": unique("bytes"), "metadata": {"a": 1}}
    first = http.post("/sandboxes", json=body, headers={"Idempotency-Key": key})
    second = http.post("/sandboxes", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["idempotency-replayed"] == "true"
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    assert second.headers["content-type"] == first.headers["content-type"]
    # Another tenant's key has its own key space.
    with server.http(key=KEY_B) as other:
        b = other.post("/sandboxes", json=body, headers={"Idempotency-Key": key})
        assert b.status_code == 201 and "idempotent-replayed" not in b.headers
        assert b.json()["data"]["id"] != first.json()["data"]["id"]


def test_stored_4xx_replays_with_its_request_id(http):
    key = f"promote:{uuid.uuid4()}:production"
    bad = http.post("/sandboxes", json={"size": "gigantic"}, headers={"Idempotency-Key": key})
    again = http.post("/sandboxes", json={"size": "gigantic"}, headers={"Idempotency-Key": key})
    assert bad.status_code == again.status_code == 422
    assert again.content == bad.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["request_id"] == again.headers["x-request-id"] == bad.headers["x-request-id"]


def test_same_key_other_request_is_422(client):
    key = str(uuid.uuid4())
    client.sandboxes.create(name=unique("first"), idempotency_key=key)
    with pytest.raises(ValidationError) as e:
        client.sandboxes.create(name=unique("second"), idempotency_key=key)
    assert e.value.status_code == 422 and e.value.code == "idempotency_key_reused"
    assert e.value.request_id


def test_repeat_while_first_runs_is_409_then_replays(server, client, http):
    sb = client.sandboxes.create(name=unique("slow"))
    with server.control() as c:
        rule = c.post("/_mock/faults", json={"method": "POST", "path_pattern": "/sandboxes/*/stop", "delay_ms": 2000,
                                             "times": 1}).json()["data"]
        key = str(uuid.uuid4())
        result = {}

        def first():
            with server.http() as h:
                result["r"] = h.post(f"/sandboxes/{sb.id}/stop", headers={"Idempotency-Key": key})

        t = threading.Thread(target=first)
        t.start()
        # The rule counts a hit in the same loop turn that the request claims its key, so once the
        # hit shows, the key is held (bounded wait, no sleep-and-hope).
        for _ in range(500):
            if c.get("/_mock/faults").json()["data"][0]["hits"] == 1:
                break
            threading.Event().wait(0.01)
        assert c.get("/_mock/faults").json()["data"][0]["id"] == rule["id"]

        busy = http.post(f"/sandboxes/{sb.id}/stop", headers={"Idempotency-Key": key})
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "idempotency_key_in_progress"

        t.join(timeout=30)
        assert result["r"].status_code == 200
        done = http.post(f"/sandboxes/{sb.id}/stop", headers={"Idempotency-Key": key})
        assert done.status_code == 200 and done.headers["idempotent-replayed"] == "true"
        assert done.content == result["r"].content
        # A stop without the key is a second, real stop: 409 invalid transition (the first one ran once).
        assert http.post(f"/sandboxes/{sb.id}/stop").status_code == 409


def test_key_is_free_again_after_24_hours(server, http):
    key = str(uuid.uuid4())
    first = http.post("/sandboxes", json={"name": unique("day")}, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    with server.control() as c:
        assert c.post("/_mock/clock", json={"advance_seconds": 86400 + 1}).status_code == 200
    other = http.post("/sandboxes", json={"name": unique("next-day")}, headers={"Idempotency-Key": key})
    assert other.status_code == 201 and "idempotent-replayed" not in other.headers
    assert other.json()["data"]["id"] != first.json()["data"]["id"]


def test_records_survive_restart(server, client):
    name, key = unique("durable"), str(uuid.uuid4())
    a = client.sandboxes.create(name=name, idempotency_key=key)
    raw_key, body = str(uuid.uuid4()), {"name": unique("durable-raw")}
    with server.http() as http:
        raw = http.post("/sandboxes", json=body, headers={"Idempotency-Key": raw_key})
    server.restart()
    with server.http() as http:
        r = http.post("/sandboxes", json=body, headers={"Idempotency-Key": raw_key})
        assert r.headers.get("idempotent-replayed") == "true" and r.content == raw.content
    again = server.client().sandboxes.create(name=name, idempotency_key=key)
    assert again.id == a.id
    assert len(named(server.client(), name)) == 1


def test_sdk_retries_a_503_and_the_retry_creates_once(server):
    name = unique("retry")
    with server.control() as c:
        c.delete("/_mock/requests")
        c.post("/_mock/faults", json={"method": "POST", "path_pattern": "/sandboxes", "status": 503, "times": 1,
                                      "retry_after": 0.05})
        sb = server.client(max_retries=2).sandboxes.create(name=name)
        assert sb.name == name
        calls = c.get("/_mock/requests", params={"path": "/sandboxes", "method": "POST"}).json()["data"]
    assert [x["status"] for x in calls] == [503, 201]
    assert calls[0]["idempotency_key"] and calls[0]["idempotency_key"] == calls[1]["idempotency_key"]
    assert calls[0]["fault_id"] and calls[1]["fault_id"] is None
    assert len(named(server.client(), name)) == 1
