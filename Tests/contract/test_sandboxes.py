"""Sandboxes through the official Python SDK: CRUD, envelopes, errors, pagination, isolation, restart."""
import pytest
from miosa.errors import AuthenticationError, NotFoundError, PermissionError as MiosaPermissionError, ValidationError

from conftest import KEY_A_READONLY, KEY_B, unique


def test_create_get_update_delete(client):
    name = unique("crud")
    sb = client.sandboxes.create(name=name, metadata={"env": "staging", "n": 2}, timeout_sec=300,
                                 external_user_id="usr_1", external_project_id="proj_1", external_workspace_id="ws_1")
    assert sb.state == "running" and sb.ready
    assert sb.name == name and sb.metadata == {"env": "staging", "n": 2}
    assert sb.timeout_sec == 300 and sb.external_user_id == "usr_1"
    assert sb.cpu_count == 2 and sb.memory_mb == 4096 and sb.size == "small"
    assert sb.workspace_id

    got = client.sandboxes.get(sb.id)
    assert got.id == sb.id and got.name == name

    sb.update(name=name + "-b", slug=unique("slug"), timeout_sec=600, always_on=True, metadata={"v": "2"})
    again = client.sandboxes.get(sb.id)
    assert again.name == name + "-b" and again.always_on and again.timeout_sec == 600
    assert again.metadata == {"v": "2"}

    sb.destroy()
    assert client.sandboxes.get(sb.id).state == "destroyed"
    assert sb.id not in [s.id for s in client.sandboxes.list()]


def test_list_filters_by_state_and_external_ids(client):
    user = unique("usr")
    a = client.sandboxes.create(name=unique("a"), external_user_id=user)
    b = client.sandboxes.create(name=unique("b"), external_user_id=user)
    b.stop()
    running = {s.id for s in client.sandboxes.list(state="running", external_user_id=user)}
    assert running == {a.id}
    stopped = {s.id for s in client.sandboxes.list(state="stopped", external_user_id=user)}
    assert stopped == {b.id}


def test_ownership_selectors_autocreate_workspace_and_project(http):
    slug = unique("clinic")
    r = http.post("/sandboxes", json={"template": "miosa-sandbox", "workspace_slug": slug, "project_slug": "lead-magnet",
                                      "external_workspace_id": "clinic_123"})
    assert r.status_code == 201
    d = r.json()["data"]
    assert d["workspace_slug"] == slug and d["project_slug"] == "lead-magnet"
    r2 = http.post("/sandboxes", json={"workspace_slug": slug, "project_slug": "lead-magnet"})
    assert r2.json()["data"]["workspace_id"] == d["workspace_id"]
    assert r2.json()["data"]["project_id"] == d["project_id"]


def test_pagination_envelope(http):
    tag = unique("page")
    for i in range(3):
        assert http.post("/sandboxes", json={"name": f"{tag}-{i}", "external_project_id": tag}).status_code == 201
    r = http.get("/sandboxes", params={"external_project_id": tag, "page_size": 2})
    body = r.json()
    assert body["page"] == {"page": 1, "page_size": 2, "total": 3}
    assert len(body["data"]) == 2
    r2 = http.get("/sandboxes", params={"external_project_id": tag, "page_size": 2, "page": 2})
    assert len(r2.json()["data"]) == 1
    assert http.get("/sandboxes", params={"page_size": 101}).status_code == 400
    assert http.get("/sandboxes", params={"page": 0}).status_code == 400
    assert http.get("/sandboxes").json()["page"]["page_size"] == 20


def test_error_envelopes(server, http):
    r = http.get("/sandboxes/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404
    body = r.json()
    assert body["error"]["code"] == "sandbox_not_found"
    assert body["error"]["request_id"] == r.headers["x-request-id"] == body["request_id"]
    assert body["message"] == body["error"]["message"]

    bad = http.post("/sandboxes", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"

    v = http.post("/sandboxes", json={"timeout_sec": -1, "slug": "Not A Slug"})
    assert v.status_code == 422
    assert set(v.json()["error"]["details"]) == {"timeout_sec", "slug"}

    assert http.get("/no-such-route").status_code == 404
    m = http.put("/sandboxes")
    assert m.status_code == 405 and "GET" in m.headers["allow"]


def test_sdk_raises_typed_errors(server, client):
    with pytest.raises(NotFoundError) as e:
        client.sandboxes.get("00000000-0000-4000-8000-000000000000")
    assert e.value.request_id and e.value.request_id.startswith("req_")
    with pytest.raises(AuthenticationError):
        server.client(key="msk_live_unknown").sandboxes.list()
    with pytest.raises(ValidationError):
        client.sandboxes.create(name="x", timeout_sec=-5)


def test_missing_scope_is_403(server, client):
    sb = client.sandboxes.create(name=unique("scoped"))
    ro = server.client(key=KEY_A_READONLY)
    assert ro.sandboxes.get(sb.id).id == sb.id
    with pytest.raises(MiosaPermissionError):
        ro.sandboxes.create(name="nope")


def test_tenant_isolation(server, client):
    sb = client.sandboxes.create(name=unique("mine"))
    other = server.client(key=KEY_B)
    with pytest.raises(NotFoundError):
        other.sandboxes.get(sb.id)
    assert sb.id not in [s.id for s in other.sandboxes.list()]
    with pytest.raises(NotFoundError):
        other.sandboxes.delete(sb.id)
    assert client.sandboxes.get(sb.id).state == "running"


def test_state_survives_restart(server, client):
    sb = client.sandboxes.create(name=unique("durable"), metadata={"keep": True})
    server.restart()
    again = server.client().sandboxes.get(sb.id)
    assert again.name == sb.name and again.metadata == {"keep": True} and again.state == "running"


def test_readiness(server, client, http):
    sb = client.sandboxes.create(name=unique("ready"))
    r = http.get(f"/sandboxes/{sb.id}/readiness").json()["data"]
    assert r["ready"] is True and r["status"] == "ready"
    assert all(c["status"] == "ready" for c in r["components"].values())
    with http.stream("GET", f"/sandboxes/{sb.id}/readiness/stream") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        text = "".join(s.iter_text())
    assert "event: ready" in text and text.endswith("\n\n")
    sb.wait_until_ready(timeout=5)
