"""Background processes through the official Python SDK: start, list, get, logs, stream, stop; background
commands; persistence of status and logs across a restart."""
import time

import pytest
from miosa.errors import NotFoundError

from conftest import KEY_B, unique


@pytest.fixture(scope="module")
def sb(server):
    s = server.client().sandboxes.create(name=unique("procs"))
    yield s
    s.destroy()


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    return cond()


def test_start_list_get_logs_stop(sb):
    proc = sb.processes.start("echo ready; echo oops >&2; sleep 1000", name="server", env={"PORT": "8000"})
    pid = proc["pid"]
    assert isinstance(pid, str) and pid.isdigit()
    assert proc["name"] == "server" and proc["status"] == "running" and proc["state"] == "running"
    assert proc["exit_code"] is None and proc["started_at"].endswith("Z")

    assert pid in [p["pid"] for p in sb.processes.list()]
    got = sb.processes.get(pid)
    assert got["pid"] == pid and got["command"].startswith("echo ready")

    assert wait_for(lambda: sb.processes.logs(pid) == "ready\noops\n")
    assert sb.processes.logs(pid, tail=1) == "oops\n"

    sb.processes.stop(pid)  # answers once it has ended
    after = sb.processes.get(int(pid))
    assert after["status"] == "killed" and after["exited_at"] is not None
    assert after["exit_code"] == 143
    assert sb.processes.logs(pid) == "ready\noops\n"
    sb.processes.stop(pid)  # idempotent


def test_env_reaches_the_process(sb):
    pid = sb.processes.start("echo $GREETING", env={"GREETING": "hello"})["pid"]
    assert wait_for(lambda: sb.processes.get(pid)["status"] == "exited")
    assert sb.processes.get(pid)["exit_code"] == 0
    assert sb.processes.logs(pid) == "hello\n"


def test_stream_follows_output_until_exit(sb):
    pid = sb.processes.start("for i in 1 2 3; do echo tick $i; sleep 0.1; done; echo bad >&2; exit 2")["pid"]
    events = list(sb.processes.stream(pid))
    lines = [(e["stream"], e["line"]) for e in events if e["type"] in ("stdout", "stderr")]
    assert lines == [("stdout", "tick 1"), ("stdout", "tick 2"), ("stdout", "tick 3"), ("stderr", "bad")]
    assert all(e["pid"] == pid and e["data"] == e["line"] for e in events if e["type"] != "exit")
    assert events[-1] == {"type": "exit", "pid": pid, "exit_code": 2, "status": "exited"}


def test_stream_of_a_finished_process_replays_then_exits(sb):
    pid = sb.processes.start("echo done")["pid"]
    assert wait_for(lambda: sb.processes.get(pid)["status"] == "exited")
    events = list(sb.processes.stream(pid))
    assert [e.get("line") for e in events] == ["done", None]
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 0


def test_background_command_kill_and_status(sb):
    bg = sb.commands.run("sleep 1000", background=True)
    assert bg.pid >= 1000 and bg.sandbox_id == sb.id
    assert bg.status()["status"] == "running"
    bg.kill()
    assert bg.status()["status"] == "killed"


def test_process_timeout(sb):
    pid = sb.processes._sandbox._transport.request(
        "POST", f"/sandboxes/{sb.id}/processes", json_body={"command": "sleep 30", "timeout": 0.3})["pid"]
    assert wait_for(lambda: sb.processes.get(pid)["status"] == "killed")


def test_unknown_pid_and_other_tenants(server, sb, http):
    with pytest.raises(NotFoundError):
        sb.processes.get("999999")
    assert http.get(f"/sandboxes/{sb.id}/processes/abc").status_code == 404
    assert http.delete(f"/sandboxes/{sb.id}/processes/999999").status_code == 404
    pid = sb.processes.start("sleep 1000")["pid"]
    other = server.http(key=KEY_B)
    assert other.get(f"/sandboxes/{sb.id}/processes/{pid}").status_code == 404
    assert other.delete(f"/sandboxes/{sb.id}/processes/{pid}").status_code == 404
    assert sb.processes.get(pid)["status"] == "running"
    sb.processes.stop(pid)


def test_stop_sandbox_ends_its_processes(server):
    s = server.client().sandboxes.create(name=unique("stopme"))
    pid = s.processes.start("sleep 1000")["pid"]
    s.stop()
    assert wait_for(lambda: s.processes.get(pid)["status"] == "killed")
    s.destroy()


def test_status_and_logs_survive_a_restart(server):
    client = server.client()
    s = client.sandboxes.create(name=unique("persist"))
    done = s.processes.start("echo finished")["pid"]
    running = s.processes.start("echo alive; sleep 1000")["pid"]
    assert wait_for(lambda: s.processes.get(done)["status"] == "exited")
    assert wait_for(lambda: s.processes.logs(running) == "alive\n")
    server.restart()
    s2 = server.client().sandboxes.get(s.id)
    assert s2.processes.get(done)["status"] == "exited"
    assert s2.processes.logs(done) == "finished\n"
    after = s2.processes.get(running)
    assert after["status"] == "killed" and after["exited_at"] is not None
    assert s2.processes.logs(running) == "alive\n"
    # pids keep counting after a restart
    assert int(s2.processes.start("true")["pid"]) > int(running)
    s2.destroy()
