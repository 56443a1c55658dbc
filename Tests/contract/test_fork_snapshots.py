"""Fork and per-sandbox snapshots through the official Python SDK: copies of /workspace and env vars,
bare fork replies, snapshot create/list/quick/restore/delete, and persistence across a restart."""
import pytest
from miosa.errors import MiosaError, NotFoundError

from conftest import KEY_B, unique


@pytest.fixture
def source(client):
    sb = client.sandboxes.create(name=unique("src"), metadata={"team": "a"}, external_user_id="usr_1")
    sb.files.write("/workspace/app/main.py", "print('v1')\n")
    sb.files.write("/workspace/data.bin", bytes(range(256)))
    sb.env.set([{"key": "MODE", "value": "dev"}, {"key": "TOKEN", "value": "t0k", "encrypted": True}])
    return sb


def test_fork_copies_workspace_and_env(client, source):
    fork = source.fork(name=unique("fork"), metadata={"role": "copy"})
    assert fork.id != source.id and fork.state == "running"
    assert fork.metadata == {"role": "copy"} and fork.external_user_id == "usr_1"
    assert fork.files.read_text("/workspace/app/main.py") == "print('v1')\n"
    assert fork.files.read("/workspace/data.bin") == bytes(range(256))
    assert {v["key"]: (v["value"], v["encrypted"]) for v in fork.env.list()} == {"MODE": ("dev", False), "TOKEN": ("********", True)}
    fork.files.write("/workspace/app/main.py", "print('fork')\n")  # the copies are independent
    assert source.files.read_text("/workspace/app/main.py") == "print('v1')\n"
    assert client.sandboxes.get(fork.id).name == fork.name


def test_fork_reply_is_bare_with_status_and_string_metadata(server, source):
    with server.http() as h:
        r = h.post(f"/sandboxes/{source.id}/fork", json={"timeout_sec": 120})
        assert r.status_code == 201
        body = r.json()
        assert "data" not in body and body["id"] and body["status"] == body["state"] == "running"
        assert body["metadata"] == {"team": "a"} and body["forked_from"] == source.id and body["timeout_sec"] == 120
        assert body["name"] == source.name + "-fork"
        bad = h.post(f"/sandboxes/{source.id}/fork", json={"template_id": "no-such-template"})
        assert bad.status_code == 422
    with server.http(KEY_B) as h:
        assert h.post(f"/sandboxes/{source.id}/fork", json={}).status_code == 404


def test_snapshot_create_list_quick_and_delete(client, source):
    snap = source.snapshots.create("before refactor")
    assert snap["sandbox_id"] == source.id and snap["status"] == "ready" and snap["comment"] == "before refactor"
    assert snap["keep"] is False and snap["retention_seconds"] > 0 and snap["expires_at"].endswith("Z")
    assert snap["file_count"] == 2
    quick = source.snapshot()
    assert isinstance(quick, str) and quick != snap["id"]
    listed = [s["id"] for s in source.snapshots.list()]
    assert listed == [quick, snap["id"]]  # newest first
    source.snapshots.delete(quick)
    assert [s["id"] for s in source.snapshots.list()] == [snap["id"]]
    with pytest.raises(NotFoundError):
        source.snapshots.delete(quick)


def test_restore_creates_a_sandbox_from_the_checkpoint(client, source):
    snap = source.snapshots.create()
    source.files.write("/workspace/app/main.py", "print('v2')\n")
    source.env.set([{"key": "MODE", "value": "prod"}])
    restored = source.snapshots.restore(snap["id"])
    assert restored.id != source.id and restored.state == "running"
    assert restored.files.read_text("/workspace/app/main.py") == "print('v1')\n"
    assert {v["key"]: v["value"] for v in restored.env.list()}["MODE"] == "dev"
    assert source.files.read_text("/workspace/app/main.py") == "print('v2')\n"  # the source is untouched
    assert source.snapshots.list()[0]["last_used_at"] is not None


def test_fork_from_snapshot_id(client, source):
    snap = source.snapshots.create("v1")
    source.files.write("/workspace/app/main.py", "print('v3')\n")
    fork = source.fork(snapshot_id=snap["id"])
    assert fork.files.read_text("/workspace/app/main.py") == "print('v1')\n"
    with pytest.raises(NotFoundError):
        source.fork(snapshot_id="00000000-0000-4000-8000-000000000000")


def test_snapshot_options_and_errors(server, source):
    with server.http() as h:
        r = h.post(f"/sandboxes/{source.id}/snapshots", json={"keep": True, "comment": "pinned"})
        assert r.status_code == 201
        d = r.json()["data"]
        assert d["keep"] is True and d["expires_at"] is None
        r = h.post(f"/sandboxes/{source.id}/snapshots", json={"retention_seconds": 3600})
        assert r.json()["data"]["retention_seconds"] == 3600
        assert h.post(f"/sandboxes/{source.id}/snapshots", json={"retention_seconds": "soon"}).status_code == 422
        listed = h.get(f"/sandboxes/{source.id}/snapshots").json()
        assert isinstance(listed["data"], list) and listed["page"]["total"] == len(listed["data"])
        assert h.post(f"/sandboxes/{source.id}/restore/00000000-0000-4000-8000-000000000000", json={}).status_code == 404
    with server.http(KEY_B) as h:
        assert h.get(f"/sandboxes/{source.id}/snapshots").status_code == 404


def test_destroyed_source_forks_only_from_snapshots(server, client):
    sb = client.sandboxes.create(name=unique("doomed"))
    sb.files.write("/workspace/last.txt", "last words")
    snap = sb.snapshots.create()
    sb.destroy()
    with server.http() as h:
        r = h.post(f"/sandboxes/{sb.id}/fork", json={})
        assert r.status_code == 409 and r.json()["error"]["code"] == "sandbox_destroyed"
        r = h.post(f"/sandboxes/{sb.id}/fork", json={"snapshot_id": snap["id"]})
        assert r.status_code == 201
    again = client.sandboxes.get(r.json()["id"])
    assert again.files.read_text("/workspace/last.txt") == "last words"


def test_snapshots_survive_restart(server):
    client = server.client()
    sb = client.sandboxes.create(name=unique("snap-persist"))
    sb.files.write("/workspace/p.txt", "persisted")
    snap = sb.snapshots.create()
    server.restart()
    client = server.client()
    sb = client.sandboxes.get(sb.id)
    assert [s["id"] for s in sb.snapshots.list()] == [snap["id"]]
    assert sb.snapshots.restore(snap["id"]).files.read_text("/workspace/p.txt") == "persisted"


def test_stopped_sandbox_forks_from_its_disk(server, client):
    sb = client.sandboxes.create(name=unique("stopped"))
    sb.files.write("/workspace/kept.txt", "on disk")
    sb.stop()
    with pytest.raises(MiosaError):
        sb.fork()  # the Python SDK refuses client-side; the server itself forks a stopped sandbox's disk
    with server.http() as h:
        r = h.post(f"/sandboxes/{sb.id}/fork", json={})
        assert r.status_code == 201 and r.json()["state"] == "running"
    assert client.sandboxes.get(r.json()["id"]).files.read_text("/workspace/kept.txt") == "on disk"
