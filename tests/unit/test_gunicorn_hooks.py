"""The gunicorn role's server hooks and reload helper (roles/gunicorn/files), on the controller.

What needs systemd and a real gunicorn (the hand-over itself) is proven by
the Molecule scenarios; here, each piece on its own: the environment a
successor starts with, the command it runs, the in-process health answer,
readiness counted across workers and told to systemd (with its barrier),
and the reload helper's wait for a successor that takes over, dies or
hangs.
"""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "flaskops_gunicorn", ROOT / "roles" / "gunicorn" / "files" / "flaskops_gunicorn.py")
hooks = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hooks)


class FakeSystemd:
    """A notification socket that records messages and honours BARRIER=1."""

    def __init__(self, path):
        self.path = str(path)
        self.messages = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 4096, 4)
            except (TimeoutError, socket.timeout):
                continue
            self.messages.append(data.decode())
            for fd in fds:  # a barrier: closing the fd releases the sender
                os.close(fd)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(tmp_path / "notify")
    yield fake
    fake.close()


def test_a_successor_gets_the_reload_environment_but_keeps_per_process_values():
    reload_env = {"SECRET_KEY": "new", "PATH": "/usr/bin", "MAINPID": "10",
                  "JOURNAL_STREAM": "8:2", "NOTIFY_SOCKET": "/run/other"}
    predecessor = {"SECRET_KEY": "old", "REMOVED": "gone", "JOURNAL_STREAM": "8:1",
                   "NOTIFY_SOCKET": "/run/systemd/notify", "LISTEN_FDS": "1"}
    merged = hooks.reload_environment(reload_env, predecessor)
    assert merged == {"SECRET_KEY": "new", "PATH": "/usr/bin", "JOURNAL_STREAM": "8:1",
                      "NOTIFY_SOCKET": "/run/systemd/notify", "LISTEN_FDS": "1"}


def test_a_successor_runs_gunicorn_from_the_release_the_link_points_to_now(tmp_path):
    (tmp_path / "releases" / "b" / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "b")
    python, argv = hooks.successor_command(str(tmp_path / "current" / ".venv"), "/etc/gunicorn/x.conf.py")
    venv = tmp_path / "releases" / "b" / ".venv"
    assert python == str(venv / "bin" / "python")
    assert argv == [python, str(venv / "bin" / "gunicorn"), "--config", "/etc/gunicorn/x.conf.py"]


def wsgi_app(status, query=""):
    def application(environ, start_response):
        assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/healthz", query)
        start_response(status, [("Content-Type", "text/plain")])
        return [b"body"]
    return application


@pytest.mark.parametrize("status", ["200 OK", "500 INTERNAL SERVER ERROR"])
def test_the_health_path_is_answered_in_process(status):
    assert hooks.answer_health(wsgi_app(status, "deep=1"), "/healthz?deep=1") == (status, "body")


class FakeServer(SimpleNamespace):
    pass


def make_worker(master, workers, application, log):
    return SimpleNamespace(ppid=master, wsgi=application, log=log,
                           cfg=SimpleNamespace(workers=workers, worker_class_str="sync"))


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)


def start_master(tmp_path, monkeypatch, systemd, predecessor=0, health="/healthz"):
    runtime = tmp_path / "run"
    runtime.mkdir(exist_ok=True)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(runtime))
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.path)
    server_hooks = hooks.server_hooks("/srv/app/current", "/srv/app/current/.venv",
                                      "/etc/gunicorn/app.conf.py", health)
    server_hooks["on_starting"](FakeServer(master_pid=predecessor, log=Log()))
    return server_hooks, runtime


def wait_for(predicate, seconds=3.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_readiness_is_told_once_every_worker_has_loaded_the_app(tmp_path, monkeypatch, systemd):
    server_hooks, runtime = start_master(tmp_path, monkeypatch, systemd)
    assert "NOTIFY_SOCKET" not in os.environ, "gunicorn's own early READY=1 is held back"
    master = os.getpid()
    log = Log()
    server_hooks["post_worker_init"](make_worker(master, 2, wsgi_app("200 OK"), log))
    time.sleep(0.2)
    assert systemd.messages == [], "one worker of two is not ready"
    # The second worker (another process in real life: another marker file).
    (runtime / f"ready.{master}.999999").touch()
    server_hooks["post_worker_init"](make_worker(master, 2, wsgi_app("200 OK"), log))
    assert wait_for(lambda: systemd.messages)
    assert systemd.messages[0].startswith("READY=1\nSTATUS=Serving ")
    assert (runtime / f"announced.{master}").exists()
    # A worker replacing another later says nothing.
    server_hooks["post_worker_init"](make_worker(master, 2, wsgi_app("200 OK"), log))
    time.sleep(0.2)
    assert len(systemd.messages) == 1


def test_a_successor_takes_over_and_stops_its_predecessor(tmp_path, monkeypatch, systemd):
    predecessor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        server_hooks, runtime = start_master(tmp_path, monkeypatch, systemd, predecessor.pid)
        master = os.getpid()
        log = Log()
        server_hooks["post_worker_init"](make_worker(master, 1, wsgi_app("200 OK"), log))
        assert predecessor.wait(timeout=5) == -signal.SIGTERM
        assert systemd.messages[0] == f"MAINPID={master}\nSTATUS=Serving {os.getcwd()}"
        assert systemd.messages[1] == "BARRIER=1"
        assert (runtime / f"announced.{master}").exists()
        assert any("answered 200 OK" in line for line in log.lines)
    finally:
        predecessor.kill()


def test_a_successor_whose_worker_fails_the_health_path_never_takes_over(
        tmp_path, monkeypatch, systemd):
    predecessor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        server_hooks, runtime = start_master(tmp_path, monkeypatch, systemd, predecessor.pid)
        worker = make_worker(os.getpid(), 1, wsgi_app("500 INTERNAL SERVER ERROR"), Log())
        with pytest.raises(RuntimeError, match=r"answered '500 INTERNAL SERVER ERROR' .* \(body\)"):
            server_hooks["post_worker_init"](worker)
        time.sleep(0.2)
        assert systemd.messages == []
        assert predecessor.poll() is None, "the running master keeps serving"
        assert not list(runtime.glob("ready.*"))
    finally:
        predecessor.kill()


def test_without_a_runtime_folder_gunicorn_keeps_its_own_readiness(tmp_path, monkeypatch, systemd):
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.path)
    server_hooks = hooks.server_hooks("/srv/app/current", "/srv/app/current/.venv", "/c.py", "/h")
    server_hooks["on_starting"](FakeServer(master_pid=0, log=Log()))
    assert os.environ["NOTIFY_SOCKET"] == systemd.path


def test_pre_exec_hands_the_reload_environment_and_the_live_release_to_the_successor(
        tmp_path, monkeypatch, systemd):
    (tmp_path / "releases" / "new" / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "new")
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(runtime))
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.path)
    server_hooks = hooks.server_hooks(str(tmp_path / "current"), str(tmp_path / "current" / ".venv"),
                                      "/etc/gunicorn/app.conf.py")
    server_hooks["on_starting"](FakeServer(master_pid=0, log=Log()))
    (runtime / f"env.{os.getppid()}").write_text(json.dumps({"SECRET_KEY": "rotated"}))
    server = FakeServer(START_CTX={0: "/old/python", "args": ["/old/python", "x"], "cwd": "/old"},
                        cfg=SimpleNamespace(env_orig={"SECRET_KEY": "old", "JOURNAL_STREAM": "1:2"}),
                        systemd=False, LISTENERS=[])
    server_hooks["pre_exec"](server)
    venv = tmp_path / "releases" / "new" / ".venv"
    assert server.START_CTX[0] == str(venv / "bin" / "python")
    assert server.START_CTX["cwd"] == str(tmp_path / "releases" / "new")
    assert server.cfg.env_orig == {"SECRET_KEY": "rotated", "JOURNAL_STREAM": "1:2"}
    assert (runtime / f"successor.{os.getppid()}").read_text() == str(os.getpid())
    assert not (runtime / f"env.{os.getppid()}").exists(), "the secrets do not linger in /run"


MOVE = textwrap.dedent("""\
    import importlib.util, os, socket, sys
    spec = importlib.util.spec_from_file_location("hooks", sys.argv[1])
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    os.close(3) if os.path.exists("/proc/self/fd/3") else None
    first, second = socket.socket(), socket.socket()
    first.bind(("127.0.0.1", 0)); second.bind(("127.0.0.1", 0))
    # Where gunicorn leaves them: 3 is free or taken by something else.
    names = [first.getsockname(), second.getsockname()]
    hooks.move_listeners([second.fileno(), first.fileno()])
    moved = [socket.socket(fileno=os.dup(fd)).getsockname() for fd in (3, 4)]
    print(moved == [names[1], names[0]], os.get_inheritable(3), os.get_inheritable(4))
    """)


def test_listening_sockets_are_moved_where_a_new_master_looks_for_them():
    result = subprocess.run([sys.executable, "-c", MOVE, str(SPEC.origin)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.stdout.split() == ["True", "True", "True"], result.stderr


MAIN = textwrap.dedent("""\
    import os, signal, subprocess, sys, time
    folder, behaviour = sys.argv[1], sys.argv[2]
    def usr2(*_):
        assert os.path.exists(os.path.join(folder, f"env.{os.getpid()}"))
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(%s)" %
                                  ("0.3" if behaviour == "dies" else "30")])
        with open(os.path.join(folder, f"successor.{os.getpid()}"), "w") as f:
            f.write(str(child.pid))
        if behaviour == "takes-over":
            open(os.path.join(folder, f"announced.{child.pid}"), "w").close()
        if behaviour == "dies":
            child.wait()
    signal.signal(signal.SIGUSR2, usr2)
    print("ready", flush=True)
    time.sleep(30)
    """)


# A successor that dies or takes over is given time to start Python even on
# a busy machine; a hung one is given a second.
@pytest.mark.parametrize(("behaviour", "code", "said", "wait"), [
    ("takes-over", 0, "took over", 8.0),
    ("dies", 1, "exited before it was ready", 8.0),
    ("hangs", 1, "no new master took over within 1s", 1.0),
])
def test_the_reload_helper_waits_for_the_successor(tmp_path, behaviour, code, said, wait):
    main = subprocess.Popen([sys.executable, "-c", MAIN, str(tmp_path), behaviour],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert main.stdout.readline().strip() == "ready"
        out = []
        writer = SimpleNamespace(write=out.append, flush=lambda: None)
        started = time.monotonic()
        assert hooks.reload(main.pid, wait, str(tmp_path), {"SECRET_KEY": "s"}, out=writer) == code
        assert said in "".join(out)
        assert time.monotonic() - started < 10
        successor = int((tmp_path / f"successor.{main.pid}").read_text()) if code else None
        if behaviour == "hangs":
            assert wait_for(lambda: not hooks.alive(successor)), "a hung successor is stopped"
        assert not (tmp_path / f"env.{main.pid}").exists()
    finally:
        main.kill()


def test_notify_barrier_waits_for_systemd(tmp_path, systemd):
    hooks.notify(systemd.path, "STATUS=x", barrier=True)
    assert systemd.messages == ["STATUS=x", "BARRIER=1"]


def test_the_helper_refuses_to_run_outside_a_unit(monkeypatch, capsys):
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    assert hooks.main(["helper"]) == 2
    assert hooks.main(["helper", "reload", "12", "5"]) == 2
    assert "RuntimeDirectory" in capsys.readouterr().err
