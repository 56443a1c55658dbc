"""Rate limits through the official Python SDK and httpx: headers, 429 shape, recovery by the mock clock, flags."""
import pytest
from miosa.errors import RateLimitError

from conftest import KEY_B, Server

# A minute boundary: freezing the clock here makes every window start fresh and Retry-After exact.
BOUNDARY = "2031-01-01T00:00:00Z"
BOUNDARY_EPOCH = 1924992000


@pytest.fixture(scope="module")
def server():
    s = Server(extra_args=["--rate-limit-general", "5", "--rate-limit-unauthenticated", "3"])
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh_window(server):
    with server.control() as c:
        assert c.post("/_mock/reset").status_code == 200
        assert c.post("/_mock/clock", json={"set": BOUNDARY}).json()["data"]["mode"] == "frozen"


def test_every_response_carries_the_counters(server, http):
    ok = http.get("/sandboxes")
    missing = http.get("/sandboxes/00000000-0000-4000-8000-000000000000")
    invalid = http.post("/sandboxes", json={"size": "nope"})
    for i, r in enumerate([ok, missing, invalid]):
        assert r.headers["x-ratelimit-limit"] == "5"
        assert r.headers["x-ratelimit-remaining"] == str(4 - i)
        assert r.headers["x-ratelimit-reset"] == str(BOUNDARY_EPOCH + 60)


def test_429_after_the_limit_then_recovery_when_the_clock_moves(server, client, http):
    for _ in range(5):
        client.sandboxes.list()
    with pytest.raises(RateLimitError) as e:
        client.sandboxes.list()
    assert e.value.status_code == 429 and e.value.code == "rate_limited"
    assert e.value.retry_after == 60 and e.value.retry_after_ms == 60000
    raw = http.get("/sandboxes")
    assert raw.status_code == 429
    assert raw.headers["retry-after"] == "60" and raw.headers["x-ratelimit-remaining"] == "0"
    body = raw.json()
    assert body["retry_after"] == 60 and body["error"]["retry_after"] == 60
    assert body["request_id"] == raw.headers["x-request-id"]
    # Another workspace has its own budget.
    with server.http(key=KEY_B) as other:
        assert other.get("/sandboxes").status_code == 200
    with server.control() as c:
        c.post("/_mock/clock", json={"advance_seconds": 30})
        assert http.get("/sandboxes").headers["retry-after"] == "30"
        c.post("/_mock/clock", json={"advance_seconds": 30})
    client.sandboxes.list()  # would raise RateLimitError in the old window
    assert http.get("/sandboxes").headers["x-ratelimit-remaining"] == "3"


def test_unauthenticated_limit_is_per_address(server):
    with server.http(key=None) as anon:
        for _ in range(3):
            assert anon.get("/no-such-thing").status_code == 404
        limited = anon.get("/no-such-thing")
        assert limited.status_code == 429 and limited.headers["x-ratelimit-limit"] == "3"
    with server.control() as c:
        for _ in range(5):
            h = c.get("/_mock/health")
            assert h.status_code == 200 and "x-ratelimit-limit" not in h.headers


def test_off_flag_and_environment_overrides(monkeypatch):
    off = Server(extra_args=["--rate-limit", "off", "--rate-limit-general", "1"])
    try:
        with off.http() as h:
            for _ in range(4):
                r = h.get("/sandboxes")
                assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers
    finally:
        off.stop()
    monkeypatch.setenv("MIOSA_MOCK_RATE_LIMIT_GENERAL", "2")
    env = Server()
    try:
        with env.http() as h:
            assert [h.get("/sandboxes").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        env.stop()
