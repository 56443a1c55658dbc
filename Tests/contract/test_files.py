"""Sandbox files through the official Python SDK: /fs/* and legacy /files/* routes (and the SDK's fallback
from one to the other), binary round trips, list depth, tree depth, write_many, path confinement,
inferred operations, multipart upload on /computers, the 10 MB limit, and restart."""
import base64
import os
from pathlib import Path

import httpx
import pytest
from miosa.errors import MiosaError, NotFoundError, PayloadTooLargeError, PermissionError as MiosaPermissionError, ValidationError
from miosa.resources.files import FilesResource

from conftest import KEY_A_READONLY, KEY_B, unique

BINARY = bytes(range(256)) * 64 + b"\r\n--boundary\r\n\x00\xff"


@pytest.fixture(scope="module")
def sb(server):
    return server.client().sandboxes.create(name=unique("files"))


class NoCanonicalRoutes(httpx.BaseTransport):
    """A server without /fs/*: every /fs/ request answers 404, as an older platform would."""

    def __init__(self, inner):
        self.inner = inner
        self.paths = []

    def handle_request(self, request):
        self.paths.append((request.method, request.url.raw_path.decode()))
        if "/fs/" in request.url.path:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no /fs routes here"}})
        return self.inner.handle_request(request)


def legacy_only(server, sandbox_id):
    client = server.client()
    hook = NoCanonicalRoutes(client._transport._client._transport)
    client._transport._client._transport = hook
    return client.sandboxes.get(sandbox_id), hook


def test_write_read_text_and_binary(sb):
    sb.files.write("/workspace/hello.txt", "héllo wörld\n")
    assert sb.files.read_text("/workspace/hello.txt") == "héllo wörld\n"
    sb.files.write("/workspace/bin/blob.bin", BINARY)
    assert sb.files.read("/workspace/bin/blob.bin") == BINARY
    sb.upload("relative.txt", b"relative to /workspace")
    assert sb.download("/workspace/relative.txt") == b"relative to /workspace"
    assert sb.read_file("/workspace/relative.txt") == "relative to /workspace"
    sb.files.write("/workspace/hello.txt", "")  # truncate to empty
    assert sb.files.read("/workspace/hello.txt") == b""


def test_stat_file_and_directory(sb):
    sb.files.write("/workspace/stat/a.txt", "12345")
    st = sb.files.stat("/workspace/stat/a.txt")
    assert st["path"] == "/workspace/stat/a.txt" and st["size"] == 5 and st["is_dir"] is False
    assert st["mode"] == "0644" and st["modified_at"].endswith("Z")
    assert sb.files.stat("/workspace/stat")["is_dir"] is True
    with pytest.raises(NotFoundError) as e:
        sb.files.stat("/workspace/stat/missing.txt")
    assert e.value.code == "file_not_found"


def test_list_with_depth(sb):
    for p in ["/workspace/ls/a.txt", "/workspace/ls/sub/b.txt", "/workspace/ls/sub/deeper/c.txt"]:
        sb.files.write(p, p)
    top = sb.files.list("/workspace/ls")
    assert top["path"] == "/workspace/ls"
    assert [(e["name"], e["is_dir"]) for e in top["entries"]] == [("a.txt", False), ("sub", True)]
    assert top["entries"][0]["size"] == len("/workspace/ls/a.txt") and top["entries"][0]["modified_at"]
    deep = sb.files.list("/workspace/ls", depth=3)
    assert {e["path"] for e in deep["entries"]} == {
        "/workspace/ls/a.txt", "/workspace/ls/sub", "/workspace/ls/sub/b.txt",
        "/workspace/ls/sub/deeper", "/workspace/ls/sub/deeper/c.txt"}
    with pytest.raises(NotFoundError):
        sb.files.list("/workspace/nope")


def test_tree_depth_and_bare_shape(server, sb):
    for p in ["/workspace/tr/x.txt", "/workspace/tr/d1/y.txt", "/workspace/tr/d1/d2/z.txt"]:
        sb.files.write(p, "x")
    tree = sb.files.tree("/workspace/tr", depth=1)
    assert tree["type"] == "dir" and tree["name"] == "tr" and tree["path"] == "/workspace/tr"
    names = {c["name"]: c for c in tree["children"]}
    assert set(names) == {"d1", "x.txt"}
    assert names["x.txt"]["type"] == "file" and names["x.txt"]["size"] == 1
    assert "children" not in names["d1"]  # depth 1 stops here
    full = sb.files.tree("/workspace/tr", depth=3)
    d1 = next(c for c in full["children"] if c["name"] == "d1")
    d2 = next(c for c in d1["children"] if c["name"] == "d2")
    assert [c["name"] for c in d2["children"]] == ["z.txt"]
    with server.http() as h:  # Go decodes this route bare: no envelope
        body = h.get(f"/sandboxes/{sb.id}/files/tree", params={"path": "/workspace/tr", "depth": 1}).json()
        assert "data" not in body and body["path"] == "/workspace/tr"


def test_write_many_white_label_flow(server):
    """The seed docs' white-label flow: create attributed sandbox, write_many, then read it back."""
    client = server.client()
    sb = client.sandboxes.create(name="smile-dental", external_user_id="usr_dr_smith",
                                 external_project_id="proj_landing_page", external_workspace_id="ws_smile_dental",
                                 metadata={"plan": "pro"})
    assert sb.wait_until_ready(timeout=10)
    result = sb.files.write_many([{"path": "/workspace/index.html", "content": "<h1>Hello</h1>"},
                                  {"path": "/workspace/img.bin", "content": BINARY}])
    assert [w["path"] for w in result["written"]] == ["/workspace/index.html", "/workspace/img.bin"]
    assert result["written"][0]["size_bytes"] == len("<h1>Hello</h1>") and result["failed"] == []
    assert sb.files.read_text("/workspace/index.html") == "<h1>Hello</h1>"
    assert sb.files.read("/workspace/img.bin") == BINARY
    sb.files.write_files([{"path": "/workspace/wf/a.py", "data": "print(1)"}])
    assert sb.files.read_text("/workspace/wf/a.py") == "print(1)"


def test_write_many_reports_failures_and_accepts_plain_content(server, sb):
    with server.http() as h:
        r = h.post(f"/sandboxes/{sb.id}/files/write-many", json={"files": [
            {"path": "/workspace/wm/plain.txt", "content": "plain text"},
            {"path": "/workspace/wm/b64.txt", "content_base64": base64.b64encode(b"b64!").decode()},
            {"path": "../escape.txt", "content": "x"},
            {"path": "/workspace/wm/bad.txt", "content_base64": "***"}]})
        assert r.status_code == 200
        body = r.json()
        assert "data" not in body  # bare {written, failed}
        assert [w["path"] for w in body["written"]] == ["/workspace/wm/plain.txt", "/workspace/wm/b64.txt"]
        assert {f["path"]: f["code"] for f in body["failed"]} == {"../escape.txt": "invalid_path",
                                                                  "/workspace/wm/bad.txt": "validation_error"}
    assert sb.files.read_text("/workspace/wm/plain.txt") == "plain text"
    assert sb.files.read_text("/workspace/wm/b64.txt") == "b64!"


def test_python_falls_back_to_legacy_files_routes(server, sb):
    legacy, hook = legacy_only(server, sb.id)
    name = "/workspace/legacy dir/a b#c?.bin"
    legacy.files.write(name, BINARY)
    assert legacy.files.read(name) == BINARY
    st = legacy.files.stat(name)
    assert st["size"] == len(BINARY) and st["is_dir"] is False
    res = legacy.files.write_many([{"path": "/workspace/legacy dir/m.txt", "content": "many"}])
    assert res["written"][0]["path"] == "/workspace/legacy dir/m.txt"
    assert sb.files.read_text("/workspace/legacy dir/m.txt") == "many"
    seen = [p for _, p in hook.paths]
    assert f"/api/v1/sandboxes/{sb.id}/files" in seen  # legacy write
    assert f"/api/v1/sandboxes/{sb.id}/files/workspace/legacy%20dir/a%20b%23c%3F.bin" in seen  # legacy read
    assert f"/api/v1/sandboxes/{sb.id}/files/stat" in seen and f"/api/v1/sandboxes/{sb.id}/files/write-many" in seen


def test_legacy_write_decodes_base64_content(server, sb):
    with server.http() as h:
        r = h.post(f"/sandboxes/{sb.id}/files", json={"path": "/workspace/leg.txt", "content": base64.b64encode(b"decoded").decode()})
        assert r.status_code == 200 and r.json()["data"]["size_bytes"] == 7
        assert h.get(f"/sandboxes/{sb.id}/files/workspace/leg.txt").content == b"decoded"
        bad = h.post(f"/sandboxes/{sb.id}/files", json={"path": "/workspace/leg2.txt", "content": "not base64!"})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["content"]
        r = h.post(f"/sandboxes/{sb.id}/fs/write", json={"path": "/workspace/verbatim.txt", "content": "aGk="})
        assert h.get(f"/sandboxes/{sb.id}/fs/download", params={"path": "/workspace/verbatim.txt"}).content == b"aGk="
        d = h.get(f"/sandboxes/{sb.id}/fs/download", params={"path": "/workspace/verbatim.txt"})
        assert d.headers["content-type"] == "application/octet-stream"


def test_errors_for_missing_files_directories_and_bad_paths(sb):
    with pytest.raises(NotFoundError) as e:
        sb.files.read("/workspace/does-not-exist.txt")
    assert e.value.code == "file_not_found"
    sb.files.write("/workspace/adir/f.txt", "x")
    with pytest.raises(ValidationError) as e:
        sb.files.read("/workspace/adir")
    assert e.value.code == "is_a_directory"
    with pytest.raises(ValidationError) as e:
        sb.files.write("/workspace/adir", "x")
    assert e.value.code == "is_a_directory"
    for bad in ["../etc/passwd", "/workspace/../etc/passwd", "/etc/passwd", "/home/other/x"]:
        with pytest.raises(ValidationError) as e:
            sb.files.write(bad, "x")
        assert e.value.code == "invalid_path", bad
    with pytest.raises(ValidationError) as e:
        sb.files.read("/workspace/adir/f.txt/sub")
    assert e.value.code == "not_a_directory"


def test_symlinks_out_of_the_sandbox_are_refused(server, sb, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    sb.files.write("/workspace/first.txt", "x")  # the sandbox's directories exist from its first file call on
    ws = Path(server.data_dir) / "sandboxes" / sb.id / "workspace"
    os.symlink(outside, ws / "escape")
    os.symlink(tmp_path / "nowhere" / "x.txt", ws / "dangling")
    os.symlink("inside-target.txt", ws / "inside-link")
    (ws / "inside-target.txt").write_text("inside")
    with pytest.raises(ValidationError) as e:
        sb.files.read("/workspace/escape/secret.txt")
    assert e.value.code == "invalid_path"
    with pytest.raises(ValidationError):
        sb.files.write("/workspace/escape/new.txt", "x")
    with pytest.raises(ValidationError):
        sb.files.write("/workspace/dangling", "x")
    assert not (tmp_path / "nowhere").exists() and not (outside / "new.txt").exists()
    assert sb.files.read_text("/workspace/inside-link") == "inside"  # links inside the sandbox are fine
    names = {e["name"]: e for e in sb.files.list("/workspace")["entries"]}
    assert names["escape"]["is_symlink"] is True and names["escape"]["is_dir"] is False  # listed, never followed
    with server.http() as h:  # the link itself can be removed
        assert h.request("DELETE", f"/sandboxes/{sb.id}/files", json={"path": "/workspace/escape"}).status_code == 204
    assert (outside / "secret.txt").read_text() == "secret"


def test_inferred_operations(server, sb):
    base = f"/sandboxes/{sb.id}"
    with server.http() as h:
        assert h.post(base + "/files/mkdir", json={"path": "/workspace/ops/a/b", "recursive": True, "mode": "0750"}).status_code == 201
        assert sb.files.stat("/workspace/ops/a/b")["mode"] == "0750"
        assert h.post(base + "/files/mkdir", json={"path": "/workspace/ops/x/y", "recursive": False}).json()["error"]["code"] == "file_not_found"
        sb.files.write("/workspace/ops/a/f.txt", "data")
        r = h.post(base + "/files/rename", json={"from": "/workspace/ops/a/f.txt", "to": "/workspace/ops/moved/g.txt"})
        assert r.status_code == 200 and r.json()["data"]["old_path"] == "/workspace/ops/a/f.txt"
        assert sb.files.read_text("/workspace/ops/moved/g.txt") == "data"
        assert h.post(base + "/fs/copy", json={"from": "/workspace/ops/moved", "to": "/workspace/ops/copy"}).json()["error"]["code"] == "is_a_directory"
        assert h.post(base + "/fs/copy", json={"from": "/workspace/ops/moved", "to": "/workspace/ops/copy", "recursive": True}).status_code == 200
        assert sb.files.read_text("/workspace/ops/copy/g.txt") == "data"
        assert h.post(base + "/files/chmod", json={"path": "/workspace/ops/copy/g.txt", "mode": "0600"}).status_code == 200
        assert sb.files.stat("/workspace/ops/copy/g.txt")["mode"] == "0600"
        assert h.post(base + "/files/chmod", json={"path": "/workspace/ops/copy/g.txt", "mode": "rwx"}).status_code == 422
        full = h.request("DELETE", base + "/files", json={"path": "/workspace/ops/copy"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "directory_not_empty"
        assert h.request("DELETE", base + "/files", json={"path": "/workspace/ops/copy", "recursive": True}).status_code == 204
        assert h.delete(base + "/files", params={"path": "/workspace/ops/moved/g.txt"}).status_code == 204
        assert h.delete(base + "/files", params={"path": "/workspace"}).json()["error"]["code"] == "invalid_path"
    with pytest.raises(NotFoundError):
        sb.files.stat("/workspace/ops/copy")


def test_multipart_upload_and_download_on_computers(server, sb, tmp_path):
    local = tmp_path / "photo.bin"
    local.write_bytes(BINARY)
    files = FilesResource(server.client()._transport, sb.id)
    resp = files.upload(local, "/workspace/uploads/")
    assert resp.success is True
    assert files.download("/workspace/uploads/photo.bin") == BINARY
    assert sb.files.read("/workspace/uploads/photo.bin") == BINARY
    with server.http() as h:
        r = h.post(f"/computers/{sb.id}/files/upload", files={"file": ("ignored.bin", b"\x00named\xff")},
                   data={"path": "/workspace/uploads/exact.bin"})
        assert r.status_code == 200 and r.json()["path"] == "/workspace/uploads/exact.bin"
        assert h.get(f"/computers/{sb.id}/files/download", params={"path": "/workspace/uploads/exact.bin"}).content == b"\x00named\xff"
        bad = h.post(f"/computers/{sb.id}/files/upload", content=b"--x\r\nnot really", headers={"Content-Type": "multipart/form-data; boundary=zzz"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_multipart"


def test_uploads_over_10_mb_are_413(server, sb):
    big = b"\x01" * (10 * 1024 * 1024 + 1)
    with pytest.raises(PayloadTooLargeError):
        sb.files.write("/workspace/big.bin", big)
    with server.http() as h:
        r = h.post(f"/computers/{sb.id}/files/upload", files={"file": ("big.bin", big)}, data={"path": "/workspace/big.bin"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    exact = b"\x02" * (10 * 1024 * 1024)
    sb.files.write("/workspace/exact.bin", exact)
    assert len(sb.files.read("/workspace/exact.bin")) == len(exact)
    with pytest.raises(NotFoundError):
        sb.files.read("/workspace/big.bin")


def test_not_running_cross_tenant_and_scopes(server):
    client = server.client()
    sb = client.sandboxes.create(name=unique("state"))
    sb.files.write("/workspace/k.txt", "k")
    with server.http(KEY_B) as h:
        assert h.get(f"/sandboxes/{sb.id}/fs/download", params={"path": "/workspace/k.txt"}).status_code == 404
    ro = server.client(KEY_A_READONLY).sandboxes.get(sb.id)
    assert ro.files.read_text("/workspace/k.txt") == "k"
    with pytest.raises(MiosaPermissionError):
        ro.files.write("/workspace/k.txt", "no")
    sb.stop()
    with server.http() as h:
        r = h.post(f"/sandboxes/{sb.id}/fs/write", json={"path": "/workspace/k.txt", "content": "x"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "sandbox_not_running"
        assert h.get(f"/sandboxes/{sb.id}/files", params={"path": "/workspace"}).status_code == 409
    with pytest.raises(MiosaError):
        sb.files.write("/workspace/k.txt", "x")  # the SDK itself refuses a non-running sandbox


def test_files_survive_restart(server):
    sb = server.client().sandboxes.create(name=unique("persist"))
    sb.files.write("/workspace/keep.bin", BINARY)
    server.restart()
    again = server.client().sandboxes.get(sb.id)
    assert again.files.read("/workspace/keep.bin") == BINARY
