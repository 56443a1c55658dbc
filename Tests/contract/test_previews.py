"""Preview tokens and share links through the official Python SDK, and the public preview URL they hand
out (served from the sandbox's /workspace without an API key)."""
import httpx
import pytest
from miosa.errors import NotFoundError, ValidationError

from conftest import KEY_B, unique


@pytest.fixture
def site(client):
    sb = client.sandboxes.create(name=unique("site"))
    sb.files.write_many([{"path": "/workspace/index.html", "content": "<h1>Hello</h1>"},
                         {"path": "/workspace/css/app.css", "content": "h1 { color: red }"}])
    return sb


def test_preview_token_serves_the_workspace(server, site):
    tok = site.preview_token()
    assert tok["token"].startswith("mp_") and tok["scope"] == "read" and tok["expires_at"].endswith("Z")
    assert f"/api/v1/preview/{site.id}/" in tok["url"] and f"mt={tok['token']}" in tok["url"]
    r = httpx.get(tok["url"])  # no API key
    assert r.status_code == 200 and r.text == "<h1>Hello</h1>" and r.headers["content-type"].startswith("text/html")
    css = httpx.get(f"{server.base_url}/preview/{site.id}/css/app.css", params={"mt": tok["token"]})
    assert css.text == "h1 { color: red }" and css.headers["content-type"].startswith("text/css")
    with httpx.Client() as browser:  # the cookie set by the first hit lets relative links work
        assert browser.get(tok["url"]).status_code == 200
        assert browser.get(f"{server.base_url}/preview/{site.id}/css/app.css").status_code == 200
    missing = httpx.get(f"{server.base_url}/preview/{site.id}/nope.js", params={"mt": tok["token"]})
    assert missing.status_code == 404


def test_preview_token_scope_and_errors(server, client, site):
    interact = site.preview_token(expires_in=60, scope="interact")
    assert interact["scope"] == "interact"
    with pytest.raises(ValidationError):
        site.preview_token(scope="admin")
    with server.http() as h:
        raw = h.post(f"/sandboxes/{site.id}/preview-token", json={"expires_in": 120})
        assert raw.status_code == 200 and "data" not in raw.json()  # bare, as Go decodes it
    assert httpx.get(f"{server.base_url}/preview/{site.id}/").status_code == 401
    assert httpx.get(f"{server.base_url}/preview/{site.id}/", params={"mt": "mp_wrong"}).status_code == 401
    other = client.sandboxes.create(name=unique("other"))
    foreign = other.preview_token()["token"]
    assert httpx.get(f"{server.base_url}/preview/{site.id}/", params={"mt": foreign}).status_code == 401
    with server.http(KEY_B) as h:
        assert h.post(f"/sandboxes/{site.id}/preview-token", json={}).status_code == 404
    site.stop()
    r = httpx.get(interact["url"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "sandbox_not_running"


def test_shares_create_list_access_revoke(server, site):
    share = site.share.create(expires_in=86_400)
    assert share["share_id"].startswith("ms_") and share["scope"] == "read" and share["expires_at"].endswith("Z")
    assert f"ms={share['share_id']}" in share["share_url"]
    assert httpx.get(share["share_url"]).text == "<h1>Hello</h1>"
    forever = site.share.create()
    assert forever["expires_at"] is None
    listed = {s["share_id"] for s in site.share.list()}
    assert listed == {share["share_id"], forever["share_id"]}
    site.share.revoke(share["share_id"])
    gone = httpx.get(share["share_url"])
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "share_revoked"
    assert {s["share_id"] for s in site.share.list()} == {forever["share_id"]}
    with pytest.raises(NotFoundError):
        site.share.revoke("ms_does_not_exist")
    with server.http() as h:
        created = h.post(f"/sandboxes/{site.id}/shares", json={"scope": "read", "expires_in_sec": 60})
        assert created.status_code == 201 and "data" not in created.json()
        listing = h.get(f"/sandboxes/{site.id}/shares").json()
        assert isinstance(listing["data"], list) and listing["page"]["total"] == 2


def test_tokens_survive_restart(server, site):
    tok = site.preview_token()
    share = site.share.create()
    server.restart()
    assert httpx.get(tok["url"]).status_code == 200
    assert httpx.get(share["share_url"]).status_code == 200
