"""The /_mock control API and /openapi.json: journal, faults, clock, reset, --no-control-api."""
import uuid

import pytest
from miosa.errors import ServerError

from conftest import KEY_A, Server, unique


@pytest.fixture
def control(server):
    with server.control() as c:
        yield c
        c.delete("/_mock/faults")


def test_journal_records_sdk_calls(server, client, control):
    control.delete("/_mock/requests")
    name = unique("journal")
    sb = client.sandboxes.create(name=name)
    client.sandboxes.get(sb.id)
    control.get("/_mock/health")
    body = control.get("/_mock/requests").json()
    entries = body["data"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/api/v1/sandboxes", 201), ("GET", f"/api/v1/sandboxes/{sb.id}", 200)]
    create = entries[0]
    assert create["idempotency_key"]  # the SDK always sends one on create
    assert create["request_id"].startswith("req_") and create["replayed"] is False
    assert isinstance(create["duration_ms"], int) and create["time"].endswith("Z")
    assert body["capacity"] == 1000
    only_get = control.get("/_mock/requests", params={"method": "GET", "path": "/sandboxes/*"}).json()["data"]
    assert [e["path"] for e in only_get] == [f"/api/v1/sandboxes/{sb.id}"]
    assert control.get("/_mock/requests", params={"limit": 1}).json()["data"][0]["method"] == "GET"
    assert control.delete("/_mock/requests").json()["data"]["deleted"] == 2
    assert control.get("/_mock/requests").json()["data"] == []


def test_next_two_posts_get_503(server, control):
    rule = control.post("/_mock/faults", json={"method": "POST", "path_pattern": "/api/v1/sandboxes", "status": 503,
                                               "error_code": "no_capacity", "message": "try later", "times": 2})
    assert rule.status_code == 201
    rid = rule.json()["data"]["id"]
    assert [r["id"] for r in control.get("/_mock/faults").json()["data"]] == [rid]
    c = server.client()  # max_retries=0
    for _ in range(2):
        with pytest.raises(ServerError) as e:
            c.sandboxes.create(name=unique("faulted"))
        assert e.value.status_code == 503 and e.value.code == "no_capacity" and e.value.message == "try later"
    assert c.sandboxes.create(name=unique("fine")).state == "running"
    listed = control.get("/_mock/faults").json()["data"][0]
    assert listed["hits"] == 2 and listed["remaining"] == 0 and listed["exhausted"] is True
    assert control.delete(f"/_mock/faults/{rid}").status_code == 204
    assert control.delete(f"/_mock/faults/{rid}").status_code == 404
    bad = control.post("/_mock/faults", json={"path_pattern": "no-slash", "status": 700})
    assert bad.status_code == 422 and set(bad.json()["error"]["details"]) == {"path_pattern", "status"}


def test_glob_faults_never_touch_the_control_api(server, http, control):
    control.post("/_mock/faults", json={"path_pattern": "/**", "status": 500})
    assert http.get("/sandboxes").status_code == 500
    assert control.get("/_mock/health").status_code == 200
    assert control.get("/_mock/faults").status_code == 200
    assert control.delete("/_mock/faults").json()["data"]["deleted"] == 1
    assert http.get("/sandboxes").status_code == 200


def test_clock_moves_timestamps_and_survives_restart(server, client, control):
    assert control.get("/_mock/clock").json()["data"]["mode"] == "real"
    frozen = control.post("/_mock/clock", json={"set": "2032-02-03T04:05:06Z"}).json()["data"]
    assert frozen == {**frozen, "mode": "frozen", "now": "2032-02-03T04:05:06Z", "frozen_at": "2032-02-03T04:05:06Z"}
    moved = control.post("/_mock/clock", json={"advance_seconds": 60}).json()["data"]
    assert moved["now"] == "2032-02-03T04:06:06Z"
    sb = client.sandboxes.create(name=unique("clocked"))
    assert str(sb.created_at).startswith("2032-02-03")
    server.restart()
    with server.control() as c:
        after = c.get("/_mock/clock").json()["data"]
        assert after["now"] == "2032-02-03T04:06:06Z" and after["mode"] == "frozen"
        real = c.post("/_mock/clock", json={"mode": "real"}).json()["data"]
        assert real["mode"] == "real" and real["now"].startswith("2032-02-03T04:06")
        assert c.post("/_mock/clock", json={"reset": True}).json()["data"]["offset_seconds"] == 0
        assert c.post("/_mock/clock", json={"advance_seconds": "later"}).status_code == 422


def test_reset_restores_the_fixtures(server, client, control):
    client.sandboxes.create(name=unique("before-reset"))
    control.post("/_mock/faults", json={"path_pattern": "/nothing", "status": 500})
    control.post("/_mock/clock", json={"advance_seconds": 3600})
    assert control.post("/_mock/reset").json()["data"]["reset"] is True
    assert control.get("/_mock/requests").json()["data"] == []
    assert control.get("/_mock/faults").json()["data"] == []
    assert client.sandboxes.list() == []
    assert control.get("/_mock/clock").json()["data"]["offset_seconds"] == 0
    assert server.client(key=KEY_A).sandboxes.create(name="after-reset").name == "after-reset"


def test_openapi_lists_every_route(server, control):
    doc = control.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = doc["paths"]
    create = paths["/api/v1/sandboxes"]["post"]
    assert create["security"] == [{"bearerAuth": []}] and create["x-rate-limit-scope"] == "general"
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    get = paths["/api/v1/sandboxes/{id}"]["get"]
    assert get["parameters"][0] == {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    for path, method in [("/_mock/reset", "post"), ("/_mock/clock", "get"), ("/_mock/clock", "post"),
                         ("/_mock/faults", "post"), ("/_mock/faults/{id}", "delete"), ("/_mock/requests", "get"),
                         ("/_mock/health", "get")]:
        assert paths[path][method]["security"] == [] and paths[path][method]["x-rate-limit-scope"] == "exempt"


def test_no_control_api_flag():
    s = Server(extra_args=["--no-control-api"])
    try:
        with s.control() as c:
            assert c.get("/_mock/health").status_code == 200
            for method, path in [("POST", "/_mock/reset"), ("GET", "/_mock/clock"), ("GET", "/_mock/requests"),
                                 ("POST", "/_mock/faults")]:
                assert c.request(method, path).status_code == 404, path
            assert "/_mock/reset" not in c.get("/openapi.json").json()["paths"]
    finally:
        s.stop()
