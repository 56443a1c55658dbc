"""API keys, presets, L2 keys and scoped tokens through the official Python SDK (platform-contract B7)."""
import pytest
from miosa.errors import AuthenticationError, MiosaError, NotFoundError, PermissionError, RateLimitError, ValidationError

from conftest import KEY_A_READONLY, KEY_B, Server, unique

DEFAULT_WS = "11111111-aaaa-4aaa-8aaa-111111111111"


@pytest.fixture(autouse=True)
def real_clock(server):
    yield
    with server.control() as c:
        c.post("/_mock/clock", json={"reset": True})


def test_create_answers_the_plaintext_once_and_the_key_works(server, client):
    created = client.api_keys.create(name=unique("ci"), scopes=["sandboxes:*"])
    token = created["token"]
    assert token.startswith("msk_live_") and len(token) == len("msk_live_") + 32
    assert created["key"] == token and created["prefix"] == token[:16]
    assert created["scopes"] == ["sandboxes:*"] and created["status"] == "active"
    assert created["last_used_at"] is None and created["created_at"].endswith("Z")

    new = server.client(key=token)
    assert isinstance(new.sandboxes.list(), object)
    me = new.account.whoami()
    assert me["key"]["id"] == created["id"] and me["scopes"] == ["sandboxes:*"] and me["auth_type"] == "api_key"
    assert me["tenant"]["id"] == "11111111-1111-4111-8111-111111111111" and me["workspace"]["id"] == DEFAULT_WS

    listed = {k["id"]: k for k in client.api_keys.list()}
    assert created["id"] in listed
    for k in listed.values():
        assert "token" not in k and "key" not in k and "key_hash" not in k
    got = client.api_keys.get(created["id"])
    assert got["prefix"] == token[:16] and "token" not in got
    assert got["last_used_at"] is not None  # the whoami above used it


def test_a_key_is_refused_outside_its_scopes(server, client):
    ro = client.api_keys.create(name=unique("ro"), scopes=["sandboxes:read"])
    limited = server.client(key=ro["token"])
    limited.sandboxes.list()
    with pytest.raises(PermissionError) as e:
        limited.sandboxes.create()
    assert e.value.status_code == 403 and e.value.code == "insufficient_scope"
    with pytest.raises(PermissionError):
        limited.api_keys.list()
    # The fixture's read-only key cannot manage keys either.
    with pytest.raises(PermissionError):
        server.client(key=KEY_A_READONLY).api_keys.create(name="nope")


def test_no_escalation_and_unknown_scopes(server, client):
    admin = client.api_keys.create(name=unique("keys-admin"), scopes=["api_keys:write", "sandboxes:read"])
    sub = server.client(key=admin["token"])
    with pytest.raises(PermissionError):
        sub.api_keys.create(name="escalate", scopes=["*"])
    with pytest.raises(PermissionError):
        sub.api_keys.create(name="escalate", scopes=["sandboxes:write"])
    ok = sub.api_keys.create(name="narrower", scopes=["sandboxes:read"])
    assert ok["scopes"] == ["sandboxes:read"]
    # Without scopes a new key inherits its creator's.
    assert sub.api_keys.create(name="inherit")["scopes"] == ["api_keys:write", "sandboxes:read"]
    # Rotating a stronger key would hand its scopes over.
    with pytest.raises(PermissionError):
        sub.api_keys.rotate("11111111-0000-4000-8000-000000000001")
    with pytest.raises(ValidationError) as e:
        client.api_keys.create(name="bad", scopes=["sandboxes:read", "rockets:launch"])
    assert "rockets:launch" in str(e.value.details)
    with pytest.raises(ValidationError):
        client.api_keys.create(name="", scopes=["*"])
    with pytest.raises(ValidationError):
        client.api_keys.create(name="past", expires_at="2001-01-01T00:00:00Z")
    seen = client.api_keys.create(name=unique("seen"), scopes=["sandboxes:create", "sandboxes:exec", "intelligence:*"])
    runner = server.client(key=seen["token"])
    sb = runner.sandboxes.create()
    assert sb.exec.run("echo hi").stdout == "hi\n"
    # Exec is its own permission: a write key can neither run commands nor grant exec.
    writer = server.client(key=client.api_keys.create(name=unique("w"), scopes=["sandboxes:write", "api_keys:write"])["token"])
    with pytest.raises(PermissionError):
        writer.sandboxes.get(sb.id).exec.run("echo no")
    with pytest.raises(PermissionError):
        writer.api_keys.create(name="exec", scopes=["sandboxes:exec"])
    assert writer.api_keys.create(name="create", scopes=["sandboxes:create"])["scopes"] == ["sandboxes:create"]
    # Create is the narrow part of write: a create-only key cannot destroy what it made.
    with pytest.raises(PermissionError):
        sb.destroy()
    client.sandboxes.delete(sb.id)


def test_revoke_refuses_the_key_on_the_next_request(server, client):
    k = client.api_keys.create(name=unique("revoke"))
    victim = server.client(key=k["token"])
    victim.sandboxes.list()  # now cached as verified
    client.api_keys.delete(k["id"])
    with pytest.raises(AuthenticationError) as e:
        victim.sandboxes.list()
    assert e.value.status_code == 401
    assert client.api_keys.get(k["id"])["status"] == "revoked"
    assert k["id"] not in {x["id"] for x in client.api_keys.list()}
    assert k["id"] in {x["id"] for x in client.api_keys.list(include_revoked="true")}
    client.api_keys.delete(k["id"])  # revoking twice is fine
    with pytest.raises(MiosaError) as e:
        client.api_keys.rotate(k["id"])
    assert e.value.status_code == 409


def test_rotate_replaces_the_secret(server, client):
    k = client.api_keys.create(name=unique("rotate"), scopes=["sandboxes:read"])
    old = server.client(key=k["token"])
    old.sandboxes.list()
    rotated = client.api_keys.rotate(k["id"])
    assert rotated["id"] == k["id"] and rotated["token"] != k["token"] and rotated["key"] == rotated["token"]
    assert rotated["prefix"] == rotated["token"][:16]
    with pytest.raises(AuthenticationError):
        old.sandboxes.list()
    server.client(key=rotated["token"]).sandboxes.list()
    types = [e["type"] for e in client.api_keys.events(k["id"])]
    assert types[:2] == ["api_key.rotated", "api_key.created"]
    assert [e["type"] for e in client.api_keys.events(k["id"], event_type="api_key.created")] == ["api_key.created"]


def test_update_disable_and_enable(server, client):
    k = client.api_keys.create(name=unique("upd"), scopes=["sandboxes:read"])
    user = server.client(key=k["token"])
    user.sandboxes.list()
    assert client.api_keys.update(k["id"], status="disabled")["status"] == "disabled"
    with pytest.raises(AuthenticationError):
        user.sandboxes.list()
    updated = client.api_keys.update(k["id"], status="active", name="renamed", scopes=["sandboxes:read", "templates:read"])
    assert updated["name"] == "renamed" and updated["scopes"] == ["sandboxes:read", "templates:read"]
    user.sandboxes.list()
    with pytest.raises(ValidationError):
        client.api_keys.update(k["id"], status="deleted")


def test_other_tenants_keys_are_invisible(server):
    with pytest.raises(NotFoundError):
        server.client(key=KEY_B).api_keys.get("11111111-0000-4000-8000-000000000001")
    assert all(k["tenant_id"] == "22222222-2222-4222-8222-222222222222" for k in server.client(key=KEY_B).api_keys.list())


def test_presets(server, client):
    names = {p["name"]: p for p in client.api_keys.presets()}
    assert names["full-access"]["scopes"] == ["*"] and names["full-access"]["built_in"] is True
    assert "sandboxes:read" in names["read-only"]["scopes"]
    name = unique("preset").lower()
    made = client.api_keys.create_preset(name=name, scopes=["sandboxes:read"], description="viewers")
    assert made["built_in"] is False
    assert name in {p["name"] for p in client.api_keys.presets()}
    assert client.api_keys.create(name="from preset", preset=name)["scopes"] == ["sandboxes:read"]
    with pytest.raises(MiosaError) as e:
        client.api_keys.create_preset(name=name, scopes=["*"])
    assert e.value.status_code == 409
    with pytest.raises(MiosaError) as e:
        client.api_keys.delete_preset("full-access")
    assert e.value.status_code == 409
    client.api_keys.delete_preset(name)
    with pytest.raises(NotFoundError):
        client.api_keys.delete_preset(name)


def test_l2_key_for_an_external_user(server, client):
    k = client.api_keys.create_scoped(external_user_id="end-user-7", scopes=["sandboxes:read"])
    assert k["token"].startswith("msk_u_") and k["kind"] == "scoped_key"
    assert client.api_keys.get(k["id"])["end_user"]["external_user_id"] == "end-user-7"
    l2 = server.client(key=k["token"])
    l2.sandboxes.list()
    with pytest.raises(PermissionError):
        l2.sandboxes.create()
    assert l2.account.whoami()["user"]["external_user_id"] == "end-user-7"
    with pytest.raises(ValidationError):
        client.api_keys.create_scoped(external_user_id="x", scopes=["nope"])


def test_scoped_tokens_expire_by_the_mock_clock(server, client):
    minted = client.tokens.create_scoped(user_id="end-user-1", workspace_id=DEFAULT_WS, expires_in_seconds=60,
                                         scopes=["sandboxes:read"])
    assert minted["scopes"] == ["sandboxes:read"] and minted["expires_at"].endswith("Z")
    assert minted["token"].count(".") == 2  # JWT-shaped
    holder = server.client(key=minted["token"])
    holder.sandboxes.list()
    me = holder.account.whoami()
    assert me["auth_type"] == "scoped_token" and me["user"]["id"] == "end-user-1"
    with pytest.raises(PermissionError):
        holder.sandboxes.create()
    assert minted["id"] in {t["id"] for t in client.tokens.list_scoped()}
    with server.control() as c:
        assert c.post("/_mock/clock", json={"advance_seconds": 61}).status_code == 200
    with pytest.raises(AuthenticationError):
        holder.sandboxes.list()
    listed = {t["id"]: t for t in client.tokens.list_scoped()}
    assert listed[minted["id"]]["status"] == "expired"
    assert minted["id"] in {t["id"] for t in client.tokens.list_scoped(status="expired")}
    assert minted["id"] not in {t["id"] for t in client.tokens.list_scoped(status="active")}


def test_scoped_token_validation_and_revocation(server, client):
    with pytest.raises(ValidationError):
        client.tokens.create_scoped(user_id="u", workspace_id=DEFAULT_WS, expires_in_seconds=86401)
    with pytest.raises(ValidationError):
        client.tokens.create_scoped(user_id="u", workspace_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(PermissionError):
        server.client(key=KEY_A_READONLY).tokens.create_scoped(user_id="u", workspace_id=DEFAULT_WS)
    t = client.tokens.create_scoped(user_id="u", workspace_id=DEFAULT_WS)  # inherits every scope of the caller
    assert t["scopes"] == ["*"]
    holder = server.client(key=t["token"])
    holder.sandboxes.list()
    client.tokens.delete_scoped(t["id"])
    with pytest.raises(AuthenticationError):
        holder.sandboxes.list()
    with pytest.raises(NotFoundError):
        client.tokens.delete_scoped("00000000-0000-4000-8000-000000000000")


def test_keys_survive_a_restart(server, client):
    k = client.api_keys.create(name=unique("durable"), scopes=["sandboxes:read"])
    server.restart()
    server.client(key=k["token"]).sandboxes.list()
    assert server.client().api_keys.get(k["id"])["name"] == k["name"]


def test_auth_endpoints_are_limited_per_credential():
    s = Server(extra_args=["--rate-limit-auth", "3"])
    try:
        with s.control() as c:
            assert c.post("/_mock/clock", json={"set": "2031-01-01T00:00:00Z"}).status_code == 200
        client = s.client()
        k = client.api_keys.create(name="one")
        client.tokens.create_scoped(user_id="u", workspace_id=DEFAULT_WS)
        client.api_keys.rotate(k["id"])
        with pytest.raises(RateLimitError) as e:
            client.api_keys.create(name="four")
        assert e.value.retry_after == 60
        with s.http() as h:
            r = h.post("/api-keys/scoped", json={"external_user_id": "x", "scopes": ["sandboxes:read"]})
            assert r.status_code == 429 and r.headers["x-ratelimit-limit"] == "3"
            # Reads are general traffic, not auth traffic.
            listed = h.get("/api-keys")
            assert listed.status_code == 200 and listed.headers["x-ratelimit-limit"] == "300"
        # Another credential has its own budget.
        s.client(key=KEY_B).api_keys.create(name="b")
        with s.control() as c:
            c.post("/_mock/clock", json={"advance_seconds": 60})
        client.api_keys.create(name="next minute")
    finally:
        s.stop()
