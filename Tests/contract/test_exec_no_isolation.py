"""`--isolation none`: commands run on the host with the sandbox's workspace as their working directory."""
import pytest

from conftest import Server, unique


@pytest.fixture(scope="module")
def server():
    s = Server(["--isolation", "none"])
    yield s
    s.stop()


def test_exec_runs_in_the_host_workspace(server):
    sb = server.client().sandboxes.create(name=unique("plain"))
    try:
        assert sb.exec.run("python3 -c 'print(1 + 1)'").stdout == "2\n"
        cwd = sb.exec.run("pwd").stdout.strip()
        assert cwd.endswith(f"/sandboxes/{sb.id}/workspace") and cwd.startswith(server.data_dir)
        sb.exec.run("echo 'print(42)' > app.py")
        assert sb.exec.run("python3 app.py").stdout == "42\n"
        assert sb.exec.run("echo $HOME").stdout.strip() == cwd[: -len("workspace")] + "home"
        r = sb.exec.run("sleep 30", {"timeout": 1})
        assert r.exit_code == 124
    finally:
        sb.destroy()


def test_processes_work_without_isolation(server):
    sb = server.client().sandboxes.create(name=unique("plain-proc"))
    try:
        pid = sb.processes.start("echo up; sleep 1000")["pid"]
        events = []
        for e in sb.processes.stream(pid):
            events.append(e)
            if e.get("line") == "up":
                sb.processes.stop(pid)
        assert events[0]["line"] == "up" and events[-1]["type"] == "exit" and events[-1]["status"] == "killed"
    finally:
        sb.destroy()
