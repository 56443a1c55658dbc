"""Tenant plan, preview domain, branding and whoami through the official Python SDK (platform-contract B1)."""
import pytest
from miosa.errors import MiosaError, PermissionError, ValidationError

from conftest import KEY_A_READONLY, KEY_B

TENANT_A = "11111111-1111-4111-8111-111111111111"


def test_plan_limits_and_live_usage(server, client, http):
    before = client.tenant.current()
    assert before["id"] == TENANT_A and before["name"] == "Tenant A" and before["plan"] == "pro"
    assert before["status"] == "active" and before["created_at"].endswith("Z")
    assert all(isinstance(v, int) for v in before["limits"].values())  # Go: map[string]int
    assert all(isinstance(v, int) for v in before["usage"].values())
    assert all(isinstance(v, str) for v in before["metadata"].values())
    sb = client.sandboxes.create()
    after = client.tenant.current()
    assert after["usage"]["sandboxes"] == before["usage"]["sandboxes"] + 1
    assert after["usage"]["running_sandboxes"] == before["usage"]["running_sandboxes"] + 1
    client.sandboxes.delete(sb.id)
    assert client.tenant.current()["usage"]["running_sandboxes"] == before["usage"]["running_sandboxes"]
    raw = http.get("/tenant/plan").json()
    assert raw["plan"] == "pro" and raw["data"]["plan"] == "pro"  # E+B
    assert server.client(key=KEY_B).tenant.current()["name"] == "Tenant B"
    with pytest.raises(PermissionError):
        server.client(key=KEY_A_READONLY).tenant.current()


def test_preview_domain_lifecycle(server, client, http):
    pd = client.tenant.preview_domain
    empty = pd.get()
    assert empty["domain"] is None and empty["verified_at"] is None and empty["cname_target"]
    with pytest.raises(MiosaError) as e:
        pd.verify()
    assert e.value.status_code == 409
    set_ = pd.set("Previews.Example.com")
    assert set_["domain"] == "previews.example.com" and set_["verified_at"] is None
    verified = pd.verify()
    assert verified["verified"] is True and verified["target"] == empty["cname_target"]
    assert verified["records"][0]["type"] == "CNAME" and verified["records"][0]["name"] == "*.previews.example.com"
    assert pd.get()["verified_at"] is not None
    # Go sends {"domain": d}; a new domain must verify again.
    r = http.put("/tenant/preview-domain", json={"domain": "apps.example.org"})
    assert r.status_code == 200 and r.json()["domain"] == "apps.example.org" and r.json()["verified_at"] is None
    with pytest.raises(ValidationError):
        pd.set("not a domain")
    assert http.put("/tenant/preview-domain", json={}).status_code == 422
    pd.delete()
    assert pd.get()["domain"] is None
    assert server.client(key=KEY_B).tenant.preview_domain.get()["domain"] is None


def test_branding_wrapped_flat_and_validation(server, client, http):
    b = client.tenant.branding
    start = b.get()
    assert start["product_name"] is None and "custom_css" in start and start["updated_at"] is None
    set_ = b.set({"product_name": "ClinicIQ", "primary_color": "#112233", "logo_url": "https://cdn.example.com/l.png",
                  "support_email": "help@example.com"})
    assert set_["product_name"] == "ClinicIQ" and set_["primary_color"] == "#112233" and set_["updated_at"]
    # Go's flat body and key set, merged with what is there.
    r = http.put("/tenant/branding", json={"app_name": "Clinic", "favicon_url": "https://cdn.example.com/f.ico",
                                           "custom_css": "body{}", "product_name": None})
    assert r.status_code == 200
    got = b.get()
    assert got["app_name"] == "Clinic" and got["primary_color"] == "#112233" and got["product_name"] is None
    with pytest.raises(ValidationError) as e:
        b.set({"primary_color": "red", "logo_url": "javascript:alert(1)", "support_email": "nope", "shade": "x"})
    assert set(e.value.details) == {"primary_color", "logo_url", "support_email", "shade"}
    assert b.get()["app_name"] == "Clinic"  # a refused write changes nothing
    # /settings/branding is the same record.
    assert client.settings.get_branding()["app_name"] == "Clinic"
    assert client.settings.update_branding(background_color="#FFFFFF")["background_color"] == "#FFFFFF"
    assert b.get()["background_color"] == "#FFFFFF"
    b.delete()
    assert all(b.get()[k] is None for k in ("app_name", "primary_color", "background_color"))
    assert server.client(key=KEY_B).tenant.branding.get()["app_name"] is None


def test_whoami(server, client):
    me = client.account.whoami()
    assert me["tenant"]["id"] == TENANT_A and me["organization"]["id"] == TENANT_A
    assert me["key"]["id"] == "11111111-0000-4000-8000-000000000001" and me["scopes"] == ["*"]
    assert me["workspace"]["slug"] == "default" and me["plan"] == "pro" and me["user"] is None
    assert "token" not in me["key"] and "key_hash" not in me["key"]
    ro = server.client(key=KEY_A_READONLY).account.whoami()  # no scope needed
    assert ro["scopes"] == ["sandboxes:read"]


def test_settings_survive_a_restart(server, client):
    client.tenant.branding.set({"product_name": "Durable"})
    client.tenant.preview_domain.set("keep.example.com")
    server.restart()
    c = server.client()
    assert c.tenant.branding.get()["product_name"] == "Durable"
    assert c.tenant.preview_domain.get()["domain"] == "keep.example.com"
