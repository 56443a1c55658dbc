"""Sandbox templates through the official Python SDK: list, get, create, build-spec schema, validate,
builds, delete (INFER), tenant isolation, and seeding a sandbox's workspace from fixtures/templates/."""
import pytest
from miosa.errors import MiosaError, NotFoundError, PermissionError as MiosaPermissionError, ValidationError

from conftest import KEY_B, unique

SPEC = {"from": "miosa-sandbox", "vcpu": 2, "memoryMib": 4096, "steps": [{"run": "pip install flask"}],
        "env": {"FLASK_ENV": "development"}, "startCmd": "flask run", "previewPort": 5000}


def test_list_and_get_builtins(client):
    templates = client.sandbox_templates.list()
    ids = [t["id"] for t in templates]
    assert "miosa-sandbox" in ids and "python" in ids
    raw = client.sandboxes.list_templates()
    assert raw["default_template_id"] == "miosa-sandbox" and raw["page"]["total"] >= 2
    t = client.sandbox_templates.get("miosa-sandbox")
    assert t["id"] == "miosa-sandbox" and t["built_in"] is True and t["status"] == "ready" and t["workdir"] == "/workspace"
    raw_get = client.sandboxes.get_template("python")
    assert raw_get["data"]["id"] == "python" and raw_get["id"] == "python"  # enveloped and bare (TS reads it raw)
    with pytest.raises(NotFoundError):
        client.sandbox_templates.get("no-such-template")


def test_build_spec_schema_and_validate(client):
    schema = client.sandbox_templates.build_spec_schema()
    assert schema["type"] == "object" and schema["required"] == ["from"] and "startCmd" in schema["properties"]
    assert client.sandbox_templates.validate(SPEC) == {"valid": True, "errors": [], "build_spec": SPEC}
    bad = client.sandboxes.validate_build_spec({"vcpu": 99, "steps": "x", "colour": "red"})
    assert bad["valid"] is False
    assert all(isinstance(e, str) for e in bad["errors"])
    joined = " | ".join(bad["errors"])
    assert "from" in joined and "vcpu" in joined and "steps" in joined and "colour" in joined


def test_create_get_builds_and_delete(client):
    name = unique("tpl")
    t = client.sandbox_templates.create(name=name, build_spec=SPEC, slug=name, description="flask app",
                                        metadata={"owner": "team-a"})
    assert t["name"] == name and t["build_spec"] == SPEC and t["built_in"] is False and t["tenant_id"]
    assert t["preview_port"] == 5000 and t["start_command"] == "flask run" and t["current_build_id"]
    assert client.sandbox_templates.get(t["id"])["slug"] == name
    assert t["id"] in [x["id"] for x in client.sandbox_templates.list()]
    builds = client.sandbox_templates.list_builds(t["id"])
    assert len(builds) == 1 and builds[0]["status"] == "ready" and builds[0]["template_id"] == t["id"]
    spec2 = dict(SPEC, startCmd="gunicorn app:app")
    b2 = client.sandbox_templates.create_build(t["id"], build_spec=spec2, metadata={"reason": "gunicorn"})
    assert b2["state"] == "ready" and b2["build_spec"] == spec2
    got = client.sandboxes.get_template_build(b2["id"])["data"]
    assert got["id"] == b2["id"] and got["sandbox_template_id"] == t["id"]
    after = client.sandbox_templates.get(t["id"])
    assert after["current_build_id"] == b2["id"] and after["start_command"] == "gunicorn app:app"
    assert [b["id"] for b in client.sandbox_templates.list_builds(t["id"])] == [b2["id"], builds[0]["id"]]

    sb = client.sandboxes.create(name=unique("from-tpl"), template_id=t["id"])
    assert sb.template_id == t["id"]
    with pytest.raises(MiosaError) as e:
        client._transport.request("DELETE", f"/sandbox-templates/{t['id']}")
    assert e.value.status_code == 409 and e.value.code == "template_in_use"


def test_create_validation_and_conflicts(server, client):
    with pytest.raises(ValidationError) as e:
        client.sandbox_templates.create(name="broken", build_spec={"vcpu": 0})
    assert e.value.body["errors"] and "build_spec" in e.value.body["error"]["details"]
    slug = unique("dup")
    client.sandbox_templates.create(name="one", build_spec={"from": "python"}, slug=slug)
    with server.http() as h:
        r = h.post("/sandbox-templates", json={"name": "two", "build_spec": {"from": "python"}, "slug": slug})
        assert r.status_code == 409 and r.json()["error"]["code"] == "slug_taken"
        assert h.post("/sandbox-templates", json={"build_spec": {"from": "python"}}).status_code == 422
        r = h.post("/sandbox-templates/miosa-sandbox/builds", json={})
        assert r.status_code == 403 and r.json()["error"]["code"] == "template_built_in"


def test_delete_inferred(server, client):
    t = client.sandbox_templates.create(name=unique("del"), build_spec={"from": "node:20"})
    sb = client.sandboxes.create(name=unique("user"), template_id=t["id"])
    with server.http() as h:
        assert h.delete(f"/sandbox-templates/{t['id']}").status_code == 409
        sb.destroy()
        assert h.delete(f"/sandbox-templates/{t['id']}").status_code == 204
        assert h.get(f"/sandbox-templates/{t['id']}").status_code == 404
        r = h.delete("/sandbox-templates/python")
        assert r.status_code == 403 and r.json()["error"]["code"] == "template_built_in"


def test_templates_are_tenant_owned(server, client):
    t = client.sandbox_templates.create(name=unique("private"), build_spec={"from": "python"})
    other = server.client(KEY_B)
    with pytest.raises(NotFoundError):
        other.sandbox_templates.get(t["id"])
    assert t["id"] not in [x["id"] for x in other.sandbox_templates.list()]
    with pytest.raises(ValidationError):
        other.sandboxes.create(name=unique("b"), template_id=t["id"])
    with server.http(KEY_B) as h:
        assert h.delete(f"/sandbox-templates/{t['id']}").status_code == 404


def test_new_sandbox_is_seeded_from_fixture_template_folder(client):
    sb = client.sandboxes.create(name=unique("py"), template_id="python")
    assert "hello from the python template" in sb.files.read_text("/workspace/main.py")
    plain = client.sandboxes.create(name=unique("plain"))
    assert plain.files.list("/workspace")["entries"] == []
