"""Sandbox environment variables through the official Python SDK (GET/PUT/DELETE /sandboxes/{id}/env)."""
import pytest
from miosa.errors import NotFoundError, PermissionError as MiosaPermissionError, ValidationError

from conftest import KEY_A_READONLY, KEY_B, unique


def by_key(items):
    return {v["key"]: v for v in items}


def test_create_env_shows_up_and_set_upserts(client):
    sb = client.sandboxes.create(name=unique("env"), env={"FROM_CREATE": "1"})
    assert sb.env.list() == [{"key": "FROM_CREATE", "value": "1", "encrypted": False}]
    listed = sb.env.set([{"key": "DATABASE_URL", "value": "postgres://db"}, {"key": "DEBUG", "value": "1"}])
    assert [v["key"] for v in listed] == ["DATABASE_URL", "DEBUG", "FROM_CREATE"]  # merged, sorted by key
    sb.env.set([{"key": "DEBUG", "value": "0"}])  # one pair updates one key and keeps the rest
    now = by_key(sb.env.get())
    assert now["DEBUG"]["value"] == "0" and now["DATABASE_URL"]["value"] == "postgres://db" and "FROM_CREATE" in now


def test_encrypted_values_are_masked(client):
    sb = client.sandboxes.create(name=unique("env-secret"))
    sb.env.set([{"key": "API_TOKEN", "value": "s3cr3t", "encrypted": True}, {"key": "PLAIN", "value": "p"}])
    vars = by_key(sb.env.list())
    assert vars["API_TOKEN"] == {"key": "API_TOKEN", "value": "********", "encrypted": True}
    assert vars["PLAIN"]["value"] == "p"


def test_delete_and_missing_key(client):
    sb = client.sandboxes.create(name=unique("env-del"))
    sb.env.set([{"key": "GONE", "value": "x"}, {"key": "STAYS", "value": "y"}])
    sb.env.delete("GONE")
    assert [v["key"] for v in sb.env.list()] == ["STAYS"]
    with pytest.raises(NotFoundError) as e:
        sb.env.delete("GONE")
    assert e.value.code == "env_var_not_found"


def test_validation_names_each_bad_var(client):
    sb = client.sandboxes.create(name=unique("env-bad"))
    with pytest.raises(ValidationError) as e:
        sb.env.set([{"key": "1BAD", "value": "x"}, {"key": "OK", "value": 5}, {"key": "BIG", "value": "x" * (32 * 1024 + 1)}])
    details = e.value.body["error"]["details"]
    assert set(details) == {"vars[0].key", "vars[1].value", "vars[2].value"}
    assert sb.env.list() == []  # nothing written when anything is invalid


def test_replace_flag_and_envelopes(server, client):
    sb = client.sandboxes.create(name=unique("env-replace"))
    sb.env.set([{"key": "A", "value": "1"}, {"key": "B", "value": "2"}])
    with server.http() as h:
        r = h.put(f"/sandboxes/{sb.id}/env", params={"replace": "true"}, json={"vars": [{"key": "C", "value": "3"}]})
        assert r.status_code == 200 and r.json() == {"data": [{"key": "C", "value": "3", "encrypted": False}]}
        assert h.get(f"/sandboxes/{sb.id}/env").json() == {"data": [{"key": "C", "value": "3", "encrypted": False}]}
        assert h.delete(f"/sandboxes/{sb.id}/env/C").status_code == 204
        assert h.put(f"/sandboxes/{sb.id}/env", json={"nope": 1}).status_code == 422


def test_tenants_and_scopes(server, client):
    sb = client.sandboxes.create(name=unique("env-iso"))
    sb.env.set([{"key": "MINE", "value": "a"}])
    other = server.client(KEY_B)
    with pytest.raises(NotFoundError):
        other.sandboxes.get(sb.id)
    with server.http(KEY_B) as h:
        assert h.get(f"/sandboxes/{sb.id}/env").status_code == 404
        assert h.put(f"/sandboxes/{sb.id}/env", json={"vars": [{"key": "X", "value": "1"}]}).status_code == 404
    ro = server.client(KEY_A_READONLY).sandboxes.get(sb.id)
    assert ro.env.list()[0]["key"] == "MINE"
    with pytest.raises(MiosaPermissionError):
        ro.env.set([{"key": "X", "value": "1"}])


def test_env_survives_restart(server):
    sb = server.client().sandboxes.create(name=unique("env-persist"))
    sb.env.set([{"key": "KEEP", "value": "me"}])
    server.restart()
    assert server.client().sandboxes.get(sb.id).env.list() == [{"key": "KEEP", "value": "me", "encrypted": False}]
