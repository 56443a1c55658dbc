"""Workspaces and projects through the official Python SDK (platform-contract B8, B12)."""
import pytest
from miosa.errors import MiosaError, NotFoundError, PermissionError, ValidationError, WorkspaceNameExistsError

from conftest import KEY_A_READONLY, KEY_B, unique

DEFAULT_WS = "11111111-aaaa-4aaa-8aaa-111111111111"


def test_workspace_crud(server, client, http):
    name = unique("Team")
    ws = client.workspaces.create(name, description="the team", metadata={"tier": "gold", "seats": 5})
    assert ws.name == name and ws.reused is False and ws.slug == name.lower()
    assert ws.metadata == {"tier": "gold", "seats": "5"}  # strings for Go's map[string]string
    assert ws.tenant_id == "11111111-1111-4111-8111-111111111111" and ws.created_at is not None

    raw = http.get(f"/workspaces/{ws.id}").json()
    assert raw["id"] == ws.id and raw["data"]["id"] == ws.id  # E+B: Go reads it bare

    assert ws.id in [w.id for w in client.workspaces.list()]
    got = client.workspaces.get(ws.id)
    assert got.description == "the team"
    updated = client.workspaces.update(ws.id, name=name + " renamed", metadata={"tier": "silver"})
    assert updated.name == name + " renamed" and updated.metadata == {"tier": "silver"} and updated.slug == ws.slug

    listed = http.get("/workspaces", params={"per_page": 1}).json()
    assert listed["meta"]["per_page"] == 1 and listed["total"] >= 2 and listed["data"][0]["id"] == DEFAULT_WS

    client.workspaces.delete(ws.id)
    with pytest.raises(NotFoundError):
        client.workspaces.get(ws.id)


def test_reuse_by_external_id_and_name_conflicts(server, client, http):
    ext = unique("cust")
    first = client.workspaces.create(unique("@alex"), external_workspace_id=ext, external_user_id="alex")
    assert first.reused is False
    again = client.workspaces.create("any other name", external_workspace_id=ext)
    assert again.reused is True and again.id == first.id and again.name == first.name
    raw = http.post("/workspaces", json={"name": "x", "external_workspace_id": ext})
    assert raw.status_code == 200 and raw.json()["reused"] is True
    fresh = http.post("/workspaces", json={"name": unique("fresh")})
    assert fresh.status_code == 201

    with pytest.raises(WorkspaceNameExistsError) as e:
        client.workspaces.create(first.name)
    assert e.value.status_code == 409 and e.value.code == "WORKSPACE_NAME_EXISTS"
    assert e.value.body["error"]["existing"]["id"] == first.id
    twin = client.workspaces.create(first.name, allow_duplicate_name=True)
    assert twin.id != first.id and twin.slug == first.slug + "-2"
    with pytest.raises(WorkspaceNameExistsError):
        client.workspaces.update(twin.id, name=fresh.json()["name"])
    with pytest.raises(ValidationError):
        client.workspaces.create("")


def test_default_workspace_is_protected_and_scopes_apply(server, client):
    with pytest.raises(MiosaError) as e:
        client.workspaces.delete(DEFAULT_WS)
    assert e.value.status_code == 409
    with pytest.raises(PermissionError):
        server.client(key=KEY_A_READONLY).workspaces.list()
    with pytest.raises(NotFoundError):
        server.client(key=KEY_B).workspaces.get(DEFAULT_WS)


def test_workspace_computers_and_sandbox_selectors_agree(server, client):
    slug = unique("squad").lower()
    sb = client.sandboxes.create(name=unique("in-ws"), workspace_slug=slug, metadata={"n": 1})
    ws = [w for w in client.workspaces.list() if w.slug == slug]
    assert len(ws) == 1  # created by the sandbox's selector, visible here
    computers = client.workspaces.list_computers(ws[0].id)
    assert [c.id for c in computers] == [sb.id]
    assert computers[0].status == "running" and computers[0].data.workspace_id == ws[0].id
    assert computers[0].data.metadata == {"n": "1"}
    # A sandbox created by workspace_name finds the same workspace by its slug.
    other = client.sandboxes.create(workspace_name=slug)
    assert other.workspace_id == ws[0].id
    # A workspace whose slug differs from its name's is still found by name.
    named = client.workspaces.create(unique("Named WS"))
    client.workspaces.update(named.id, slug=unique("elsewhere").lower())
    assert client.sandboxes.create(workspace_name=named.name).workspace_id == named.id
    # Deleting the workspace keeps its sandboxes, in the default workspace.
    client.workspaces.delete(ws[0].id)
    assert client.sandboxes.get(sb.id).workspace_id == DEFAULT_WS


def test_projects(server, client, http):
    ws = client.workspaces.create(unique("Proj WS"))
    p = client.projects.create("Clinic IQ", workspace_id=ws.id, description="d", metadata={"k": 1})
    assert p["workspace_id"] == ws.id and p["slug"] == "clinic-iq" and p["metadata"] == {"k": 1}
    assert p["sandbox_count"] == 0
    dup = client.projects.create("Clinic IQ", workspace_id=ws.id)
    assert dup["slug"] == "clinic-iq-2"
    with pytest.raises(MiosaError) as e:
        client.projects.create("x", workspace_id=ws.id, slug="clinic-iq")
    assert e.value.status_code == 409
    by_slug = client.projects.create("By slug", workspace_slug=ws.slug)
    assert by_slug["workspace_id"] == ws.id
    default_p = client.projects.create(unique("default proj"))
    assert default_p["workspace_id"] == DEFAULT_WS
    with pytest.raises(ValidationError):
        client.projects.create("x", workspace_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValidationError):
        client.projects.create("")

    assert {x["id"] for x in client.projects.list(workspace_id=ws.id)} == {p["id"], dup["id"], by_slug["id"]}
    sb = client.sandboxes.create(project_id=p["id"])
    assert sb.workspace_id == ws.id and client.projects.get(p["id"])["sandbox_count"] == 1

    upd = client.projects.update(p["id"], name="Clinic IQ 2", slug="clinic-two", description="new")
    assert upd["name"] == "Clinic IQ 2" and upd["slug"] == "clinic-two" and upd["description"] == "new"
    with pytest.raises(MiosaError) as e:
        client.projects.update(dup["id"], slug="clinic-two")
    assert e.value.status_code == 409

    target = client.workspaces.create(unique("Target WS"))
    moved = client.projects.move(p["id"], target.id)
    assert moved["workspace_id"] == target.id
    assert client.sandboxes.get(sb.id).workspace_id == target.id
    with pytest.raises(ValidationError):
        client.projects.move(p["id"], "00000000-0000-4000-8000-000000000000")

    client.projects.delete(p["id"])
    with pytest.raises(NotFoundError):
        client.projects.get(p["id"])
    assert client.sandboxes.get(sb.id).state == "running"  # the sandbox stays
    assert http.get(f"/projects/{dup['id']}").json()["data"]["id"] == dup["id"]
    with pytest.raises(NotFoundError):
        server.client(key=KEY_B).projects.get(dup["id"])


def test_workspaces_survive_a_restart(server, client):
    ext = unique("ext")
    ws = client.workspaces.create(unique("Durable"), external_workspace_id=ext)
    server.restart()
    again = server.client().workspaces.create("other", external_workspace_id=ext)
    assert again.reused is True and again.id == ws.id and again.name == ws.name
