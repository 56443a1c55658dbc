"""Webhooks through the official Python SDK: CRUD, validation, isolation, signed deliveries checked with the SDK's
own verify_signature, retries, test pings, replay, the catalog, the control listing, restart, idempotent replays."""
import uuid

import pytest
from miosa.errors import MiosaError, NotFoundError, PermissionError as MiosaPermissionError, ValidationError
from miosa.resources.webhooks import verify_signature

from conftest import GENEROUS_LIMITS, KEY_A_READONLY, KEY_B, Server, unique
from receiver import Receiver

KEY_A_ID = "11111111-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def server():
    s = Server(extra_args=GENEROUS_LIMITS + ["--webhook-retry-delays-ms", "100,100"])
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(server):
    """Every test starts from the fixtures, so no webhook of an earlier test delivers into this one's receiver."""
    with server.control() as c:
        assert c.post("/_mock/reset").status_code == 200


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_crud_secret_once(client, receiver):
    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created", "sandbox.*"], description="ci")
    assert hook["secret"].startswith("whsec_")
    assert hook["url"] == receiver.url and hook["active"] is True
    assert hook["events"] == ["sandbox.created", "sandbox.*"]
    got = client.webhooks.get(hook["id"])
    assert "secret" not in got and got["secret_preview"].startswith("whsec_")
    assert hook["id"] in [w["id"] for w in client.webhooks.list()]

    own = client.webhooks.create(url=receiver.url, events=["sandbox.destroyed"], secret="my-own-secret-123")
    assert own["secret"] == "my-own-secret-123"

    updated = client.webhooks.update(hook["id"], active=False, events=["sandbox.ready"])
    assert updated["active"] is False and updated["events"] == ["sandbox.ready"]
    assert [w["id"] for w in client.webhooks.list(active="false")] == [hook["id"]]
    client.webhooks.delete(hook["id"])
    with pytest.raises(NotFoundError):
        client.webhooks.get(hook["id"])


def test_validation_names_the_bad_field(client):
    with pytest.raises(ValidationError) as e:
        client.webhooks.create(url="http://127.0.0.1:9/x", events=["sandbox.created", "bogus.thing"])
    assert e.value.status_code == 422 and "bogus.thing" in e.value.details["events"]
    with pytest.raises(ValidationError) as e:
        client.webhooks.create(url="not a url", events=["sandbox.created"])
    assert "url" in e.value.details
    with pytest.raises(ValidationError) as e:
        client.webhooks.create(url="http://127.0.0.1:9/x", events=[])
    assert "events" in e.value.details


def test_tenant_isolation_and_scopes(server, client):
    hook = client.webhooks.create(url="http://127.0.0.1:9/x", events=["sandbox.created"])
    other = server.client(key=KEY_B)
    with pytest.raises(NotFoundError):
        other.webhooks.get(hook["id"])
    with pytest.raises(NotFoundError):
        other.webhooks.deliveries(hook["id"])
    assert other.webhooks.list() == []
    with pytest.raises(MiosaPermissionError):
        server.client(key=KEY_A_READONLY).webhooks.list()


def test_delivery_is_signed_and_verifies_with_the_sdk_helper(client, receiver):
    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    sb = client.sandboxes.create(name=unique("hooked"))
    [req] = receiver.wait(1)
    h, body = req["headers"], req["body"]
    assert verify_signature(body, h["x-miosa-signature"], hook["secret"])
    assert client.webhooks.verify_signature(body, h["x-miosa-signature"], hook["secret"])
    assert not verify_signature(body, h["x-miosa-signature"], "whsec_wrong")
    assert not verify_signature(body + b" ", h["x-miosa-signature"], hook["secret"])
    assert h["content-type"] == "application/json" and h["user-agent"] == "miosa-mock-webhooks"
    assert h["x-miosa-event"] == "sandbox.created"
    event = req["json"]
    assert event["id"] == event["delivery_id"] == h["x-miosa-delivery"]
    assert event["event"] == event["type"] == "sandbox.created"
    assert event["occurred_at"] == event["timestamp"] and event["occurred_at"].endswith("Z")
    assert event["tenant_id"] and event["data"]["id"] == sb.id and event["data"]["name"] == sb.name
    [attempt] = client.webhooks.deliveries(hook["id"])
    assert attempt["success"] is True and attempt["status_code"] == 200 and attempt["attempt"] == 1
    assert attempt["delivery_id"] == h["x-miosa-delivery"] and attempt["event_type"] == "sandbox.created"
    assert attempt["response_body"] == "ok" and attempt["duration_ms"] >= 0 and attempt["error"] is None


def test_failed_deliveries_are_retried_with_the_same_id(client, receiver):
    receiver.answer(500, 502)
    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    client.sandboxes.create(name=unique("retry"))
    got = receiver.wait(3)
    assert len({r["headers"]["x-miosa-delivery"] for r in got}) == 1
    assert [r["headers"]["x-miosa-attempt"] for r in got] == ["1", "2", "3"]
    assert all(verify_signature(r["body"], r["headers"]["x-miosa-signature"], hook["secret"]) for r in got)
    attempts = client.webhooks.deliveries(hook["id"])
    for _ in range(100):  # the last attempt row lands just after the receiver answers
        if len(attempts) == 3:
            break
        attempts = client.webhooks.deliveries(hook["id"])
    assert [a["attempt"] for a in attempts] == [3, 2, 1]
    assert [a["success"] for a in attempts] == [True, False, False]
    assert [a["status_code"] for a in attempts] == [200, 502, 500]
    assert attempts[1]["will_retry"] is True and attempts[0]["will_retry"] is False


def test_test_ping_answers_with_the_attempt(client, receiver):
    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    result = client.webhooks.test(hook["id"])
    assert result["event_type"] == "webhook.test" and result["success"] is True and result["status_code"] == 200
    [req] = receiver.received()
    assert req["headers"]["x-miosa-event"] == "webhook.test"
    assert req["headers"]["x-miosa-delivery"] == result["delivery_id"]
    assert verify_signature(req["body"], req["headers"]["x-miosa-signature"], hook["secret"])


def test_what_the_mock_cannot_deliver(client):
    https = client.webhooks.create(url="https://127.0.0.1:9/x", events=["sandbox.created"])
    result = client.webhooks.test(https["id"])
    assert result["success"] is False and result["status_code"] is None
    assert "https:// URLs cannot be delivered" in result["error"]
    dns = client.webhooks.create(url="http://hooks.example.com/x", events=["sandbox.created"])
    assert client.webhooks.test(dns["id"])["error"] == "host not resolvable in the mock"


def test_catalog_and_replay(client, receiver):
    catalog = client.event_subscriptions.webhook_events()
    assert "sandbox.created" in catalog["data"]["sandbox"] and "webhook.delivered" in catalog["events"]
    assert catalog["signing"] == {"header": "x-miosa-signature", "algorithm": "hmac-sha256", "format": "sha256=<hex>"}
    assert set(catalog["delivery_headers"]) == {"x-miosa-event", "x-miosa-delivery", "x-miosa-signature"}

    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    client.sandboxes.create(name=unique("replay"))
    [first] = receiver.wait(1)
    replay_id = str(uuid.uuid4())
    queued = client.event_subscriptions.replay_delivery(hook["id"], first["headers"]["x-miosa-delivery"], replay_id=replay_id)
    assert queued["state"] == "queued" and queued["replay_of"] == first["headers"]["x-miosa-delivery"]
    second = receiver.wait(2)[1]
    assert second["headers"]["x-miosa-delivery"] == queued["id"] == second["json"]["id"]
    assert second["json"]["replay_of"] == first["headers"]["x-miosa-delivery"]
    assert second["json"]["data"] == first["json"]["data"]
    with pytest.raises(MiosaError) as e:
        client.event_subscriptions.replay_delivery(hook["id"], first["headers"]["x-miosa-delivery"], replay_id=replay_id)
    assert e.value.status_code == 409


def test_control_api_shows_attempts_even_when_nothing_listens(server, client):
    hook = client.webhooks.create(url="http://127.0.0.1:9/nobody", events=["sandbox.created"])
    sb = client.sandboxes.create(name=unique("nobody"))
    with server.control() as c:
        rows = []
        for _ in range(500):
            rows = c.get("/_mock/webhooks/deliveries", params={"webhook_id": hook["id"]}).json()["data"]
            if len(rows) == 3:
                break
            __import__("time").sleep(0.02)
    assert [r["attempt"] for r in rows] == [3, 2, 1]
    assert all(r["success"] is False and "connection failed" in r["error"] for r in rows)
    request = rows[0]["request"]
    assert request["url"] == "http://127.0.0.1:9/nobody" and request["body"]["data"]["id"] == sb.id
    assert verify_signature(request["raw_body"], request["headers"]["X-Miosa-Signature"], hook["secret"])


def test_pending_retry_survives_restart(server, client, receiver):
    with server.control() as c:  # frozen: the retry (due 100 ms later by the server clock) waits for us
        assert c.post("/_mock/clock", json={"set": "2031-01-01T00:00:00Z"}).status_code == 200
    receiver.answer(503)
    hook = client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    client.sandboxes.create(name=unique("restart"))
    [first] = receiver.wait(1)
    for _ in range(100):
        if client.webhooks.deliveries(hook["id"]):
            break
    server.restart()
    client = server.client()
    assert client.webhooks.get(hook["id"])["url"] == receiver.url
    assert len(receiver.received()) == 1
    with server.control() as c:
        assert c.post("/_mock/clock", json={"advance_seconds": 1}).status_code == 200
    second = receiver.wait(2)[1]
    assert second["headers"]["x-miosa-delivery"] == first["headers"]["x-miosa-delivery"]
    assert second["headers"]["x-miosa-attempt"] == "2" and second["body"] == first["body"]


def test_idempotent_replay_sends_no_second_webhook(client, receiver):
    client.webhooks.create(url=receiver.url, events=["sandbox.created"])
    key, name = str(uuid.uuid4()), unique("idem")
    a = client.sandboxes.create(name=name, idempotency_key=key)
    b = client.sandboxes.create(name=name, idempotency_key=key)
    assert a.id == b.id
    sentinel = client.sandboxes.create(name=unique("sentinel"))  # delivered after anything the replay could cause
    receiver.wait(2)
    delivered = sorted(r["json"]["data"]["id"] for r in receiver.received("sandbox.created"))
    assert delivered == sorted([a.id, sentinel.id])
    assert len(client.audit_log.list(type="sandbox.created", resource_id=a.id)) == 1
