"""Exec through the official Python SDK: quick exec, cwd/env, exit codes, timeouts, streams, code cells,
computer exec with a sandbox id, and the 409 on a stopped sandbox."""
import pytest
from miosa.errors import CommandTimeoutError, MiosaError, NotFoundError, PermissionError as MiosaPermissionError

from conftest import KEY_A_READONLY, KEY_B, unique


@pytest.fixture(scope="module")
def sb(server):
    s = server.client().sandboxes.create(name=unique("exec"), env={"FROM_CREATE": "yes"})
    yield s
    s.destroy()


def test_quick_exec_from_the_docs(sb):
    result = sb.exec.run("python3 -c 'print(1 + 1)'")
    assert result.stdout == "2\n"
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.duration_ms >= 0
    assert result.output == "2\n"


def test_cwd_and_env(sb):
    sb.exec.run("mkdir -p /workspace/sub && echo hi > /workspace/sub/f.txt")
    r = sb.exec.run("pwd; cat f.txt; echo $FOO $FROM_CREATE $HOME",
                    {"working_dir": "/workspace/sub", "env": {"FOO": "bar"}})
    assert r.stdout == "/workspace/sub\nhi\nbar yes /home/user\n"
    r2 = sb.run("pwd", {"cwd": "/tmp"})
    assert r2.stdout == "/tmp\n"


def test_files_persist_between_execs_in_the_workspace(sb):
    sb.exec.run("echo 'print(40 + 2)' > /workspace/app.py")
    assert sb.exec.run("python3 /workspace/app.py").stdout == "42\n"
    assert sb.exec.run("python3 app.py").stdout == "42\n"


def test_non_zero_exit_and_stderr(sb):
    r = sb.exec.run("echo oops >&2; exit 3")
    assert r.exit_code == 3
    assert r.stderr == "oops\n"
    assert r.stdout == ""


def test_timeout_kills_and_reports(sb, http):
    r = sb.exec.run("echo started; sleep 30", {"timeout_sec": 1})
    assert r.exit_code == 124
    assert r.stdout == "started\n"
    raw = http.post(f"/sandboxes/{sb.id}/exec", json={"command": "sleep 5", "timeout": 0.2}).json()["data"]
    assert raw["timed_out"] is True and raw["exit_code"] == 124 and raw["success"] is False
    with pytest.raises(CommandTimeoutError):
        sb.exec.run("true", {"timeout": 601})


def test_exec_result_carries_every_documented_field(sb, http):
    r = http.post(f"/sandboxes/{sb.id}/exec", json={"command": "echo x"})
    assert r.status_code == 200
    d = r.json()["data"]
    assert set(d) >= {"stdout", "stderr", "exit_code", "duration_ms", "output", "success", "timed_out", "truncated"}
    assert d["stdout"] == d["output"] == "x\n" and d["success"] is True and d["truncated"] is False


def test_exec_stream_yields_lines_then_exit(sb):
    events = list(sb.exec.stream("for i in 1 2 3; do echo line $i; done; echo warn >&2; exit 4"))
    kinds = [e.type for e in events]
    assert kinds[-1] == "exit" and events[-1].data["exit_code"] == 4
    assert [e.data["line"] for e in events if e.type == "stdout"] == ["line 1", "line 2", "line 3"]
    assert [e.data["line"] for e in events if e.type == "stderr"] == ["warn"]


def test_exec_stream_raw_framing(server, sb):
    with server.http() as h, h.stream("POST", f"/sandboxes/{sb.id}/exec/stream", json={"command": "echo a"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    assert body.endswith("\n\n")
    assert 'event: stdout\ndata: {"type":"stdout","line":"a"}\n\n' in body
    assert 'event: exit\ndata: {"type":"exit","exit_code":0' in body


def test_run_code_python_and_javascript(sb):
    r = sb.run_code("x = 20\nprint('side')\nx * 2 + 2")
    assert r.ok and r.stdout == "side\n" and r.result == 42 and r.language == "python"
    js = sb.run_code("const o = {a: [1, 2]}; console.log('js'); o", language="javascript")
    assert js.ok and js.stdout == "js\n" and js.result == {"a": [1, 2]}
    bad = sb.run_code("1 / 0")
    assert not bad.ok and "ZeroDivisionError" in bad.stderr
    assert sb.code_contexts() == ["default"]
    sb.reset_code()
    sb.reset_code(context="default")


def test_computer_exec_resolves_sandbox_ids(server, sb):
    client = server.client()
    computer = client.computers.get(sb.id)
    assert computer.id == sb.id
    assert computer.status == "running"
    r = computer.exec.bash("echo from-computer; exit 2")
    assert r.output.startswith("from-computer\n") and r.exit_code == 2 and r.success is False
    p = computer.exec.python("print(6 * 7)")
    assert p.output == "42\n" and p.exit_code == 0 and p.success is True


def test_computer_routes_are_bare_with_string_metadata(server, http):
    sbx = server.client().sandboxes.create(name=unique("comp"), metadata={"n": 2, "s": "x"})
    try:
        got = http.get(f"/computers/{sbx.id}").json()
        assert got["id"] == sbx.id and got["status"] == "running" and got["metadata"] == {"n": "2", "s": "x"}
        bare = http.post(f"/computers/{sbx.id}/exec", json={"command": "echo hi"}).json()
        assert bare["output"] == "hi\n" and bare["exit_code"] == 0 and bare["success"] is True and "data" not in bare
    finally:
        sbx.destroy()


def test_exec_on_a_stopped_sandbox_is_409(server, http):
    s = server.client().sandboxes.create(name=unique("stopped"))
    try:
        # Stop behind the handle's back: the SDK still believes it is running, so the server must refuse.
        assert http.post(f"/sandboxes/{s.id}/stop").status_code == 200
        with pytest.raises(MiosaError) as e:
            s.exec.run("true")
        assert e.value.status_code == 409
        r = http.post(f"/sandboxes/{s.id}/exec", json={"command": "true"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    finally:
        s.destroy()


def test_tenancy_and_scopes(server, sb):
    with pytest.raises(NotFoundError):
        server.client(key=KEY_B).computers.get(sb.id)
    other = server.http(key=KEY_B)
    assert other.post(f"/sandboxes/{sb.id}/exec", json={"command": "true"}).status_code == 404
    ro = server.http(key=KEY_A_READONLY)
    r = ro.post(f"/sandboxes/{sb.id}/exec", json={"command": "true"})
    assert r.status_code == 403


def test_bad_bodies_are_clear_errors(http, sb):
    r = http.post(f"/sandboxes/{sb.id}/exec", json={"command": 5, "env": {"A": 1}})
    assert r.status_code == 422
    assert set(r.json()["error"]["details"]) == {"command", "env.A"}
    r = http.post(f"/sandboxes/{sb.id}/exec", json={"command": "true", "cwd": "/workspace/../etc"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_path"
