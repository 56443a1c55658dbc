"""The audit log through the official Python SDK and httpx: actions and actors, cursor and page paging, filters,
isolation, idempotent replays, restart."""
import uuid

import pytest
from miosa.errors import PermissionError as MiosaPermissionError, ValidationError

from conftest import KEY_A_READONLY, KEY_B, unique

KEY_A_ID = "11111111-0000-4000-8000-000000000001"


def test_sandbox_actions_are_recorded_with_their_actor(client):
    sb = client.sandboxes.create(name=unique("audited"))
    sb.stop()
    sb.destroy()
    entries = client.audit_log.list(resource_id=sb.id)
    assert [e["action"] for e in entries] == ["sandbox.destroyed", "sandbox.stopped", "sandbox.created"]
    for e in entries:
        assert e["actor_id"] == KEY_A_ID and e["actor_type"] == "api_key"
        assert e["resource"] == e["resource_type"] == "sandbox" and e["resource_id"] == sb.id
        assert e["type"] == e["action"] and e["created_at"] == e["inserted_at"] and e["created_at"].endswith("Z")
        assert "ip_address" in e and isinstance(e["metadata"], dict)
    assert entries[-1]["metadata"]["name"] == sb.name


def test_cursor_paging_through_the_sdk(client, http):
    project = unique("proj")
    ids = [client.sandboxes.create(name=unique("page"), external_project_id=project).id for _ in range(5)]
    ours = set(ids)
    seen, after = [], None
    for _ in range(20):
        page = client.audit_log.list(type="sandbox.created", limit=2, after=after)
        if not page:
            break
        seen += [e["resource_id"] for e in page]
        if set(seen) >= ours:
            break
        after = page[-1]["id"]  # the SDK drops next_cursor; it equals the last id
    assert [s for s in seen if s in ours] == list(reversed(ids))

    # The raw shape: next_cursor (the last id, null at the end) and items, as the TS/Elixir docs read them.
    body = http.get("/audit-log", params={"type": "sandbox.created", "limit": 2}).json()
    assert body["items"] == body["data"] and body["next_cursor"] == body["data"][-1]["id"]
    cursor, pages = body["next_cursor"], 1
    while cursor:
        body = http.get("/audit-log", params={"type": "sandbox.created", "limit": 2, "after": cursor}).json()
        cursor, pages = body["next_cursor"], pages + 1
        assert pages < 100
    assert body["next_cursor"] is None and body["has_more"] is False


def test_page_mode_as_go_sends_it(client, http):
    for _ in range(3):
        client.sandboxes.create(name=unique("go"))
    everything = http.get("/audit-log", params={"action": "sandbox.created", "per_page": 100}).json()
    total = everything["meta"]["total"]
    assert total >= 3 and everything["total"] == total
    second = http.get("/audit-log", params={"action": "sandbox.created", "page": 2, "per_page": 1}).json()
    assert second["meta"] == {"page": 2, "per_page": 1, "total": total}
    assert second["data"][0]["id"] == everything["data"][1]["id"]


def test_filters(server, client, http):
    sb = client.sandboxes.create(name=unique("filters"))
    sb.stop()
    assert [e["action"] for e in client.audit_log.list(resource_id=sb.id, type="sandbox.stopped")] == ["sandbox.stopped"]
    assert len(client.audit_log.list(resource_id=sb.id, resource_type="sandbox", actor_id=KEY_A_ID)) == 2
    assert client.audit_log.list(resource_id=sb.id, actor_id="someone-else") == []
    assert client.audit_log.list(resource_id=sb.id, since="2999-01-01T00:00:00Z") == []
    assert len(client.audit_log.list(resource_id=sb.id, until="2999-01-01T00:00:00Z")) == 2
    # Go's spelling: resource=
    assert len(http.get("/audit-log", params={"resource": "sandbox", "resource_id": sb.id}).json()["data"]) == 2
    with pytest.raises(ValidationError):
        client.audit_log.list(since="yesterday")
    with pytest.raises(ValidationError):
        client.audit_log.list(after="not-a-cursor")


def test_webhook_changes_are_audited(client):
    hook = client.webhooks.create(url="http://127.0.0.1:9/x", events=["sandbox.created"])
    client.webhooks.update(hook["id"], active=False)
    client.webhooks.delete(hook["id"])
    entries = client.audit_log.list(resource_id=hook["id"])
    assert [e["action"] for e in entries] == ["webhook.deleted", "webhook.updated", "webhook.created"]
    assert all("secret" not in e["metadata"] and e["resource_type"] == "webhook" for e in entries)


def test_idempotent_replay_adds_no_entry(client):
    key = str(uuid.uuid4())
    a = client.sandboxes.create(name=unique("once"), idempotency_key=key)
    b = client.sandboxes.create(name=a.name, idempotency_key=key)
    assert a.id == b.id
    assert len(client.audit_log.list(resource_id=a.id)) == 1


def test_isolation_and_scope(server, client):
    sb = client.sandboxes.create(name=unique("mine"))
    assert server.client(key=KEY_B).audit_log.list(resource_id=sb.id) == []
    with pytest.raises(MiosaPermissionError):
        server.client(key=KEY_A_READONLY).audit_log.list()


def test_entries_survive_restart(server, client):
    sb = client.sandboxes.create(name=unique("durable"))
    before = client.audit_log.list(resource_id=sb.id)
    server.restart()
    assert server.client().audit_log.list(resource_id=sb.id) == before


def test_platform_actions_are_recorded(client):
    key = client.api_keys.create(name=unique("audited-key"), scopes=["sandboxes:read"])
    client.api_keys.delete(key["id"])
    actions = [e["action"] for e in client.audit_log.list(resource_id=key["id"])]
    assert actions == ["api_key.revoked", "api_key.created"]
    ws = client.workspaces.create(name=unique("audited-ws"))
    [entry] = client.audit_log.list(resource_id=ws.id, type="workspace.created")
    assert entry["actor_id"] == KEY_A_ID and entry["resource_type"] == "workspace"
    assert all("secret" not in k and "token" not in k for e in client.audit_log.list(type="api_key.*") for k in e["metadata"])
